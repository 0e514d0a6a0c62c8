package controllers

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// clusterVariables renders a CustomCluster's spec into the cluster module's contract variables
// (modules/README.md), merged over the user's extra spec.variables.
func clusterVariables(clusterName string, cc *infrav1.CustomCluster) (map[string]cty.Value, error) {
	vars, err := extraVariables(cc.Spec.Variables)
	if err != nil {
		return nil, err
	}
	s := cc.Spec
	vars["cluster_name"] = cty.StringVal(clusterName)
	vars["namespace"] = cty.StringVal(cc.Namespace)
	vars["region"] = cty.StringVal(s.Region)
	vars["vpc"] = cty.ObjectVal(map[string]cty.Value{
		"cidr_block": optString(s.NetworkSpec.VPC.CIDRBlock),
		"id":         optString(s.NetworkSpec.VPC.ID),
	})
	vars["subnets"] = subnetsValue(s.NetworkSpec.Subnets)
	vars["security_groups"] = securityGroupsValue(s.NetworkSpec.SecurityGroups)
	vars["load_balancer"] = loadBalancerValue(s.LoadBalancerSpec)
	vars["tags"] = stringMap(s.AdditionalTags)
	return vars, nil
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
func machineVariables(in machineInput) (map[string]cty.Value, error) {
	vars, err := extraVariables(in.Machine.Spec.Variables)
	if err != nil {
		return nil, err
	}
	s := in.Machine.Spec
	tags := map[string]string{}
	for k, v := range in.Cluster.Spec.AdditionalTags {
		tags[k] = v
	}
	for k, v := range s.Tags {
		tags[k] = v
	}
	vars["cluster_name"] = cty.StringVal(in.ClusterName)
	vars["machine_name"] = cty.StringVal(in.Machine.Name)
	vars["instance_type"] = cty.StringVal(s.InstanceType)
	vars["image_id"] = cty.StringVal(s.ImageID)
	vars["ssh_key_name"] = optString(s.SSHKeyName)
	vars["subnet_id"] = optString(s.SubnetID)
	vars["security_group_ids"] = stringList(s.SecurityGroupIDs)
	vars["iam_instance_profile"] = optString(s.IAMInstanceProfile)
	vars["root_volume"] = volumeValue(s.RootVolume)
	vols := make([]cty.Value, 0, len(s.AdditionalVolumes))
	for i := range s.AdditionalVolumes {
		vols = append(vols, volumeValue(&s.AdditionalVolumes[i]))
	}
	vars["additional_volumes"] = listOf(vols, volumeType)
	vars["user_data"] = cty.StringVal(in.UserData)
	vars["tags"] = stringMap(tags)
	vars["failure_domain"] = optString(in.FailureDomain)
	vars["control_plane"] = cty.BoolVal(in.ControlPlane)
	vars["cluster"] = clusterOutputsValue(in.Cluster)
	return vars, nil
}

// sensitiveMachineVariables never appear in logs, errors or plan text.
var sensitiveMachineVariables = []string{"user_data"}

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
