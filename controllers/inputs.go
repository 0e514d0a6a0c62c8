/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/contract"
)

// variables are an object's module inputs, each parsed once: the contract's, rendered from its
// spec, and its spec.variables (implied types; checkModule converts them to the module's
// declared types and lets the contract's take precedence).
type variables struct {
	contract, extras map[string]cty.Value
}

// clusterVariables renders a CustomCluster's spec into the cluster module's contract variables
// (modules/README.md) beside the user's extra spec.variables.
func clusterVariables(clusterName string, cc *infrav1.CustomCluster) (variables, error) {
	extras, err := extraVariables(cc.Spec.Variables)
	if err != nil {
		return variables{}, err
	}
	vars := map[string]cty.Value{}
	s := cc.Spec
	vars[contract.VarClusterName] = cty.StringVal(clusterName)
	vars[contract.VarNamespace] = cty.StringVal(cc.Namespace)
	vars[contract.VarRegion] = cty.StringVal(s.Region)
	vars[contract.VarVPC] = cty.ObjectVal(map[string]cty.Value{
		"cidr_block": optString(s.NetworkSpec.VPC.CIDRBlock),
		"id":         optString(s.NetworkSpec.VPC.ID),
	})
	vars[contract.VarSubnets] = subnetsValue(s.NetworkSpec.Subnets)
	vars[contract.VarSecurityGroups] = securityGroupsValue(s.NetworkSpec.SecurityGroups)
	vars[contract.VarLoadBalancer] = loadBalancerValue(s.LoadBalancerSpec)
	vars[contract.VarTags] = stringMap(s.AdditionalTags)
	return variables{contract: vars, extras: extras}, nil
}

// machineInput gathers what a machine's variables are rendered from.
type machineInput struct {
	ClusterName   string
	Machine       *infrav1.CustomMachine
	Cluster       *infrav1.CustomCluster
	UserData      string
	FailureDomain string
	ControlPlane  bool
}

// machineVariables renders a CustomMachine's spec into the machine module's contract variables.
func machineVariables(in machineInput) (variables, error) {
	extras, err := extraVariables(in.Machine.Spec.Variables)
	if err != nil {
		return variables{}, err
	}
	vars := map[string]cty.Value{}
	s := in.Machine.Spec
	tags := map[string]string{}
	for k, v := range in.Cluster.Spec.AdditionalTags {
		tags[k] = v
	}
	for k, v := range s.Tags {
		tags[k] = v
	}
	vars[contract.VarClusterName] = cty.StringVal(in.ClusterName)
	vars[contract.VarMachineName] = cty.StringVal(in.Machine.Name)
	vars[contract.VarInstanceType] = cty.StringVal(s.InstanceType)
	vars[contract.VarImageID] = cty.StringVal(s.ImageID)
	vars[contract.VarSSHKeyName] = optString(s.SSHKeyName)
	vars[contract.VarSubnetID] = optString(s.SubnetID)
	vars[contract.VarSecurityGroupIDs] = stringList(s.SecurityGroupIDs)
	vars[contract.VarIAMInstanceProfile] = optString(s.IAMInstanceProfile)
	vars[contract.VarRootVolume] = volumeValue(s.RootVolume)
	vols := make([]cty.Value, 0, len(s.AdditionalVolumes))
	for i := range s.AdditionalVolumes {
		vols = append(vols, volumeValue(&s.AdditionalVolumes[i]))
	}
	vars[contract.VarAdditionalVolumes] = listOf(vols, contract.VolumeType)
	vars[contract.VarUserData] = cty.StringVal(in.UserData)
	vars[contract.VarTags] = stringMap(tags)
	vars[contract.VarFailureDomain] = optString(in.FailureDomain)
	vars[contract.VarControlPlane] = cty.BoolVal(in.ControlPlane)
	vars[contract.VarCluster] = clusterOutputsValue(in.Cluster)
	return variables{contract: vars, extras: extras}, nil
}

// sensitiveMachineVariables never appear in logs, errors or plan text.
var sensitiveMachineVariables = contract.Sensitive(contract.KindMachine)

// extraVariables converts spec.variables (a JSON object) into cty values of their implied types;
// the module's declared types convert them further when terraform reads them.
func extraVariables(raw *apiextensionsv1.JSON) (map[string]cty.Value, error) {
	out := map[string]cty.Value{}
	if raw == nil || len(raw.Raw) == 0 || string(raw.Raw) == "null" {
		return out, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw.Raw, &obj); err != nil {
		return nil, fmt.Errorf("spec.variables must be a JSON object: %w", err)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !validIdentifier(k) {
			return nil, fmt.Errorf("spec.variables key %q is not a valid terraform variable name", k)
		}
		ty, err := ctyjson.ImpliedType(obj[k])
		if err != nil {
			return nil, fmt.Errorf("spec.variables.%s: %w", k, err)
		}
		v, err := ctyjson.Unmarshal(obj[k], ty)
		if err != nil {
			return nil, fmt.Errorf("spec.variables.%s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

func validIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !letter && (i == 0 || r != '-' && (r < '0' || r > '9')) {
			return false
		}
	}
	return true
}
