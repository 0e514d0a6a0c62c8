/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package contract is the module contract, written once: the kinds of root module, the variables
// the controllers pass (names and exact cty types) and the outputs they read (the structs they
// decode into, whose json tags are the output names). The controllers render and decode with it,
// modulecheck checks modules against it and the embedded modules are tested against it; nothing
// else spells a contract name. It imports only cty: never controllers, tfrunner or modulecheck.
package contract

import (
	"sort"

	"github.com/zclconf/go-cty/cty"
)

// Kinds of root module.
const (
	KindCluster = "cluster"
	KindMachine = "machine"
)

// Variable names of the contract (modules/README.md has their shapes).
const (
	VarClusterName        = "cluster_name"
	VarNamespace          = "namespace"
	VarRegion             = "region"
	VarVPC                = "vpc"
	VarSubnets            = "subnets"
	VarSecurityGroups     = "security_groups"
	VarLoadBalancer       = "load_balancer"
	VarTags               = "tags"
	VarMachineName        = "machine_name"
	VarInstanceType       = "instance_type"
	VarImageID            = "image_id"
	VarSSHKeyName         = "ssh_key_name"
	VarSubnetID           = "subnet_id"
	VarSecurityGroupIDs   = "security_group_ids"
	VarIAMInstanceProfile = "iam_instance_profile"
	VarRootVolume         = "root_volume"
	VarAdditionalVolumes  = "additional_volumes"
	VarUserData           = "user_data"
	VarFailureDomain      = "failure_domain"
	VarControlPlane       = "control_plane"
	VarCluster            = "cluster"
)

// Variable is one variable the controllers always pass to a module of a kind.
type Variable struct {
	Name string
	// Type is the exact cty type the controllers render (controllers/inputs.go, values.go).
	Type cty.Type
	// MayBeNull is true when the controllers pass null for an empty spec field, so the module
	// must not declare the variable `nullable = false` without a default.
	MayBeNull bool
	// Sensitive variables are never logged; a module should declare them `sensitive = true`.
	Sensitive bool
}

// The cty shapes the controllers render (controllers/values.go builds values of exactly these).
var (
	stringList = cty.List(cty.String)
	stringMap  = cty.Map(cty.String)

	SubnetType = cty.Object(map[string]cty.Type{
		"cidr_block": cty.String, "availability_zone": cty.String, "is_public": cty.Bool, "id": cty.String,
	})
	IngressRuleType = cty.Object(map[string]cty.Type{
		"description": cty.String, "protocol": cty.String, "from_port": cty.Number, "to_port": cty.Number,
		"cidr_blocks": stringList,
	})
	SecurityGroupType = cty.Object(map[string]cty.Type{"name": cty.String, "ingress_rules": cty.List(IngressRuleType)})
	LoadBalancerType  = cty.Object(map[string]cty.Type{
		"scheme": cty.String, "type": cty.String, "port": cty.Number, "cross_zone": cty.Bool,
	})
	VolumeType = cty.Object(map[string]cty.Type{
		"device_name": cty.String, "size": cty.Number, "type": cty.String, "iops": cty.Number, "encrypted": cty.Bool,
	})
	VPCType           = cty.Object(map[string]cty.Type{"cidr_block": cty.String, "id": cty.String})
	FailureDomainType = cty.Object(map[string]cty.Type{
		"name": cty.String, "control_plane": cty.Bool, "attributes": stringMap,
	})
	// ClusterType is the machine module's `cluster` variable: the cluster module's outputs as
	// recorded in the CustomCluster, plus its name, region, VPC CIDR and subnet specs.
	ClusterType = cty.Object(map[string]cty.Type{
		"name":   cty.String,
		"region": cty.String,
		"control_plane_endpoint": cty.Object(map[string]cty.Type{
			"host": cty.String, "port": cty.Number,
		}),
		"vpc_id":             cty.String,
		"vpc_cidr":           cty.String,
		"subnet_ids":         stringList,
		"subnets":            cty.List(SubnetType),
		"security_group_ids": stringList,
		"load_balancer":      cty.Object(map[string]cty.Type{"dns_name": cty.String, "arn": cty.String}),
		"failure_domains":    cty.List(FailureDomainType),
	})
)

var contractVariables = map[string][]Variable{
	KindCluster: {
		{Name: VarClusterName, Type: cty.String},
		{Name: VarNamespace, Type: cty.String},
		{Name: VarRegion, Type: cty.String},
		{Name: VarVPC, Type: VPCType},
		{Name: VarSubnets, Type: cty.List(SubnetType)},
		{Name: VarSecurityGroups, Type: cty.List(SecurityGroupType)},
		{Name: VarLoadBalancer, Type: LoadBalancerType, MayBeNull: true},
		{Name: VarTags, Type: stringMap},
	},
	KindMachine: {
		{Name: VarClusterName, Type: cty.String},
		{Name: VarMachineName, Type: cty.String},
		{Name: VarInstanceType, Type: cty.String},
		{Name: VarImageID, Type: cty.String},
		{Name: VarSSHKeyName, Type: cty.String, MayBeNull: true},
		{Name: VarSubnetID, Type: cty.String, MayBeNull: true},
		{Name: VarSecurityGroupIDs, Type: stringList},
		{Name: VarIAMInstanceProfile, Type: cty.String, MayBeNull: true},
		{Name: VarRootVolume, Type: VolumeType, MayBeNull: true},
		{Name: VarAdditionalVolumes, Type: cty.List(VolumeType)},
		{Name: VarUserData, Type: cty.String, Sensitive: true},
		{Name: VarTags, Type: stringMap},
		{Name: VarFailureDomain, Type: cty.String, MayBeNull: true},
		{Name: VarControlPlane, Type: cty.Bool},
		{Name: VarCluster, Type: ClusterType},
	},
}

// Known reports whether kind is a kind of root module (cluster or machine).
func Known(kind string) bool { _, ok := contractVariables[kind]; return ok }

// Variables returns the contract variables of kind, sorted by name (nil for an unknown kind).
func Variables(kind string) []Variable {
	out := append([]Variable(nil), contractVariables[kind]...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// VariableNamed returns kind's contract variable called name.
func VariableNamed(kind, name string) (Variable, bool) {
	for _, v := range contractVariables[kind] {
		if v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}

// Sensitive names kind's variables whose values never appear in logs, errors or plan text.
func Sensitive(kind string) []string {
	var out []string
	for _, v := range contractVariables[kind] {
		if v.Sensitive {
			out = append(out, v.Name)
		}
	}
	return out
}
