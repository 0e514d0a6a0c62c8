package modulecheck

import (
	"sort"

	"github.com/zclconf/go-cty/cty"
)

// Kinds of root module.
const (
	KindCluster = "cluster"
	KindMachine = "machine"
)

// ContractVariable is one variable the controllers always pass to a module of a kind.
type ContractVariable struct {
	Name string
	// Type is the exact cty type the controllers render (controllers/inputs.go, values.go).
	Type cty.Type
	// MayBeNull is true when the controllers pass null for an empty spec field, so the module
	// must not declare the variable `nullable = false` without a default.
	MayBeNull bool
	// Sensitive variables are never logged; a module should declare them `sensitive = true`.
	Sensitive bool
}

// ContractOutput is one output the controllers read from a module of a kind.
type ContractOutput struct {
	Name string
	// Required outputs are needed for correctness: without them the controllers cannot finish
	// (control_plane_endpoint for clusters, provider_id for machines). Missing optional outputs
	// only leave status fields empty and are reported as warnings.
	Required bool
	// Extension outputs offer something extra (a machine's health): a module without one is
	// not warned about.
	Extension bool
}

// The cty shapes the controllers render; keep in step with controllers/values.go (a test in
// controllers compares them).
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

var contractVariables = map[string][]ContractVariable{
	KindCluster: {
		{Name: "cluster_name", Type: cty.String},
		{Name: "namespace", Type: cty.String},
		{Name: "region", Type: cty.String},
		{Name: "vpc", Type: VPCType},
		{Name: "subnets", Type: cty.List(SubnetType)},
		{Name: "security_groups", Type: cty.List(SecurityGroupType)},
		{Name: "load_balancer", Type: LoadBalancerType, MayBeNull: true},
		{Name: "tags", Type: stringMap},
	},
	KindMachine: {
		{Name: "cluster_name", Type: cty.String},
		{Name: "machine_name", Type: cty.String},
		{Name: "instance_type", Type: cty.String},
		{Name: "image_id", Type: cty.String},
		{Name: "ssh_key_name", Type: cty.String, MayBeNull: true},
		{Name: "subnet_id", Type: cty.String, MayBeNull: true},
		{Name: "security_group_ids", Type: stringList},
		{Name: "iam_instance_profile", Type: cty.String, MayBeNull: true},
		{Name: "root_volume", Type: VolumeType, MayBeNull: true},
		{Name: "additional_volumes", Type: cty.List(VolumeType)},
		{Name: "user_data", Type: cty.String, Sensitive: true},
		{Name: "tags", Type: stringMap},
		{Name: "failure_domain", Type: cty.String, MayBeNull: true},
		{Name: "control_plane", Type: cty.Bool},
		{Name: "cluster", Type: ClusterType},
	},
}

var contractOutputs = map[string][]ContractOutput{
	KindCluster: {
		{Name: "control_plane_endpoint", Required: true},
		{Name: "vpc_id"}, {Name: "subnet_ids"}, {Name: "security_group_ids"},
		{Name: "load_balancer"}, {Name: "failure_domains"},
	},
	KindMachine: {
		{Name: "provider_id", Required: true},
		{Name: "instance_id"}, {Name: "instance_state"}, {Name: "addresses"}, {Name: "failure_domain"},
		{Name: "health", Extension: true},
	},
}

// Variables returns the contract variables of kind, sorted by name (nil for an unknown kind).
func Variables(kind string) []ContractVariable {
	out := append([]ContractVariable(nil), contractVariables[kind]...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Outputs returns the contract outputs of kind, required ones first.
func Outputs(kind string) []ContractOutput {
	return append([]ContractOutput(nil), contractOutputs[kind]...)
}

func contractVariable(kind, name string) (ContractVariable, bool) {
	for _, v := range contractVariables[kind] {
		if v.Name == name {
			return v, true
		}
	}
	return ContractVariable{}, false
}
