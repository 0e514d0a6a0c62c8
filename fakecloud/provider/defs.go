/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package provider

// attrKind is the Terraform type of one attribute.
type attrKind int

const (
	aString attrKind = iota
	aBool
	aInt
	aStringList
	aIntList
	aStringMap
	aRules // list of ingress rule objects
)

// attrDef describes one resource attribute.
type attrDef struct {
	Name string
	Kind attrKind
	// Required / Optional are user arguments; Computed alone means the cloud assigns the value.
	Required, Optional, Computed bool
	Sensitive                    bool
	// Replace forces a new resource when the value changes (the cloud cannot change it).
	Replace bool
	// Stable computed values never change after create (UseStateForUnknown).
	Stable bool
	// Local attributes are the provider's own (not sent to or read from the cloud).
	Local bool
	// Default for Optional+Computed local attributes (strings only).
	Default string
	Desc    string
}

// resourceDef describes one resource type.
type resourceDef struct {
	Type  string // "instance" → fakecloud_instance
	Path  string // collection path, "/v1/instances"
	Desc  string
	Attrs []attrDef
	// WaitRunning makes Create wait until the "state" attribute is "running".
	WaitRunning bool
}

func idAttr() attrDef {
	return attrDef{Name: "id", Kind: aString, Computed: true, Stable: true, Desc: "Id the cloud assigned."}
}

// tokenAttr is the idempotency token every resource takes: set it to a value that survives a
// crash (e.g. from a terraform_data resource created first) and a create retried after its
// response was lost adopts the object instead of creating a second one.
func tokenAttr() attrDef {
	return attrDef{Name: "client_token", Kind: aString, Optional: true, Replace: true,
		Desc: "Idempotency token: a create with the token of a live object returns that object."}
}

func createdAt() attrDef {
	return attrDef{Name: "created_at", Kind: aString, Computed: true, Stable: true, Desc: "Creation time (RFC 3339)."}
}

func tagsAttr() attrDef {
	return attrDef{Name: "tags", Kind: aStringMap, Optional: true, Desc: "Tags (updated in place)."}
}

var resourceDefs = []resourceDef{
	{Type: "vpc", Path: "/v1/vpcs", Desc: "A VPC.", Attrs: []attrDef{
		idAttr(),
		{Name: "name", Kind: aString, Required: true, Desc: "Name (updated in place)."},
		{Name: "cidr_block", Kind: aString, Required: true, Replace: true, Desc: "IPv4 CIDR of the VPC."},
		tagsAttr(), createdAt(), tokenAttr(),
	}},
	{Type: "subnet", Path: "/v1/subnets", Desc: "A subnet of a VPC in one availability zone.", Attrs: []attrDef{
		idAttr(),
		{Name: "name", Kind: aString, Required: true},
		{Name: "vpc_id", Kind: aString, Required: true, Replace: true},
		{Name: "cidr_block", Kind: aString, Required: true, Replace: true, Desc: "Within the VPC's CIDR, not overlapping other subnets."},
		{Name: "availability_zone", Kind: aString, Required: true, Replace: true},
		{Name: "is_public", Kind: aBool, Optional: true},
		tagsAttr(), createdAt(), tokenAttr(),
	}},
	{Type: "security_group", Path: "/v1/security_groups", Desc: "A security group with ingress rules.", Attrs: []attrDef{
		idAttr(),
		{Name: "name", Kind: aString, Required: true, Replace: true},
		{Name: "vpc_id", Kind: aString, Required: true, Replace: true},
		{Name: "description", Kind: aString, Optional: true},
		{Name: "ingress_rules", Kind: aRules, Optional: true, Desc: "Ingress rules (updated in place)."},
		tagsAttr(), createdAt(), tokenAttr(),
	}},
	{Type: "load_balancer", Path: "/v1/load_balancers", Desc: "A load balancer across subnets.", Attrs: []attrDef{
		idAttr(),
		{Name: "name", Kind: aString, Required: true, Replace: true},
		{Name: "scheme", Kind: aString, Required: true, Replace: true, Desc: "internet-facing or internal."},
		{Name: "type", Kind: aString, Required: true, Replace: true, Desc: "network or application."},
		{Name: "port", Kind: aInt, Required: true, Desc: "Listener port."},
		{Name: "cross_zone", Kind: aBool, Optional: true},
		{Name: "subnet_ids", Kind: aStringList, Optional: true},
		tagsAttr(),
		{Name: "arn", Kind: aString, Computed: true, Stable: true},
		{Name: "dns_name", Kind: aString, Computed: true, Stable: true},
		createdAt(), tokenAttr(),
	}},
	{Type: "lb_target", Path: "/v1/lb_targets", Desc: "An instance registered with a load balancer.", Attrs: []attrDef{
		idAttr(),
		{Name: "load_balancer_arn", Kind: aString, Required: true, Replace: true},
		{Name: "instance_id", Kind: aString, Required: true, Replace: true},
		{Name: "port", Kind: aInt, Required: true, Replace: true},
		{Name: "load_balancer_id", Kind: aString, Computed: true, Stable: true},
		createdAt(), tokenAttr(),
	}},
	{Type: "instance", Path: "/v1/instances", WaitRunning: true, Desc: "A virtual machine; create waits until it is running.", Attrs: []attrDef{
		idAttr(),
		{Name: "name", Kind: aString, Required: true},
		{Name: "instance_type", Kind: aString, Required: true, Replace: true},
		{Name: "image_id", Kind: aString, Required: true, Replace: true},
		{Name: "subnet_id", Kind: aString, Required: true, Replace: true},
		{Name: "security_group_ids", Kind: aStringList, Optional: true},
		{Name: "ssh_key_name", Kind: aString, Optional: true, Replace: true},
		{Name: "iam_instance_profile", Kind: aString, Optional: true},
		{Name: "user_data", Kind: aString, Optional: true, Sensitive: true, Desc: "Bootstrap data (sensitive; updated in place)."},
		{Name: "root_volume_size", Kind: aInt, Optional: true, Replace: true},
		{Name: "data_volume_sizes", Kind: aIntList, Optional: true, Replace: true},
		tagsAttr(),
		{Name: "wait_timeout", Kind: aString, Optional: true, Computed: true, Local: true, Default: "10m",
			Desc: "How long create waits for the instance to be running (Go duration)."},
		{Name: "state", Kind: aString, Computed: true, Desc: "pending, running or stopped."},
		{Name: "private_ip", Kind: aString, Computed: true, Stable: true},
		{Name: "private_dns", Kind: aString, Computed: true, Stable: true},
		{Name: "availability_zone", Kind: aString, Computed: true, Stable: true},
		createdAt(), tokenAttr(),
	}},
}
