/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package server

import (
	"fmt"
	"net/netip"
	"sort"
)

// fieldType is the JSON shape of one user-settable field.
type fieldType int

const (
	tString fieldType = iota
	tBool
	tNumber
	tStringList
	tNumberList
	tStringMap
	tRules // list of ingress rule objects
)

// field describes one user-settable field of a kind.
type field struct {
	Type     fieldType
	Required bool
	// Mutable fields may change with PATCH; others are fixed at create (400 on change).
	Mutable bool
	// Ref names the kind an id (or, for load balancers, an arn) in this field must exist in.
	Ref string
}

// kindSpec describes one resource kind.
type kindSpec struct {
	Name   string // "instance"
	Path   string // "instances"
	Prefix string // id prefix, "i-"
	Fields map[string]field
}

// Kinds are the resource kinds the fake cloud serves.
const (
	KindVPC           = "vpc"
	KindSubnet        = "subnet"
	KindSecurityGroup = "security_group"
	KindLoadBalancer  = "load_balancer"
	KindLBTarget      = "lb_target"
	KindInstance      = "instance"
)

var kinds = map[string]*kindSpec{
	KindVPC: {Name: KindVPC, Path: "vpcs", Prefix: "vpc-", Fields: map[string]field{
		"name":       {Type: tString, Required: true, Mutable: true},
		"cidr_block": {Type: tString, Required: true},
		"tags":       {Type: tStringMap, Mutable: true},
	}},
	KindSubnet: {Name: KindSubnet, Path: "subnets", Prefix: "subnet-", Fields: map[string]field{
		"name":              {Type: tString, Required: true, Mutable: true},
		"vpc_id":            {Type: tString, Required: true, Ref: KindVPC},
		"cidr_block":        {Type: tString, Required: true},
		"availability_zone": {Type: tString, Required: true},
		"is_public":         {Type: tBool, Mutable: true},
		"tags":              {Type: tStringMap, Mutable: true},
	}},
	KindSecurityGroup: {Name: KindSecurityGroup, Path: "security_groups", Prefix: "sg-", Fields: map[string]field{
		"name":          {Type: tString, Required: true},
		"vpc_id":        {Type: tString, Required: true, Ref: KindVPC},
		"description":   {Type: tString, Mutable: true},
		"ingress_rules": {Type: tRules, Mutable: true},
		"tags":          {Type: tStringMap, Mutable: true},
	}},
	KindLoadBalancer: {Name: KindLoadBalancer, Path: "load_balancers", Prefix: "lb-", Fields: map[string]field{
		"name":       {Type: tString, Required: true},
		"scheme":     {Type: tString, Required: true},
		"type":       {Type: tString, Required: true},
		"port":       {Type: tNumber, Required: true, Mutable: true},
		"cross_zone": {Type: tBool, Mutable: true},
		"subnet_ids": {Type: tStringList, Mutable: true, Ref: KindSubnet},
		"tags":       {Type: tStringMap, Mutable: true},
	}},
	KindLBTarget: {Name: KindLBTarget, Path: "lb_targets", Prefix: "lbt-", Fields: map[string]field{
		"load_balancer_arn": {Type: tString, Required: true, Ref: KindLoadBalancer},
		"instance_id":       {Type: tString, Required: true, Ref: KindInstance},
		"port":              {Type: tNumber, Required: true},
	}},
	KindInstance: {Name: KindInstance, Path: "instances", Prefix: "i-", Fields: map[string]field{
		"name":                 {Type: tString, Required: true, Mutable: true},
		"instance_type":        {Type: tString, Required: true},
		"image_id":             {Type: tString, Required: true},
		"subnet_id":            {Type: tString, Required: true, Ref: KindSubnet},
		"security_group_ids":   {Type: tStringList, Mutable: true, Ref: KindSecurityGroup},
		"ssh_key_name":         {Type: tString},
		"iam_instance_profile": {Type: tString, Mutable: true},
		"user_data":            {Type: tString, Mutable: true},
		"root_volume_size":     {Type: tNumber},
		"data_volume_sizes":    {Type: tNumberList},
		"tags":                 {Type: tStringMap, Mutable: true},
	}},
}

func init() {
	// Every kind takes an idempotency token, as cloud APIs do (AWS ClientToken, GCP requestId): a
	// create carrying the token of a live object returns that object instead of creating another.
	for _, k := range kinds {
		k.Fields["client_token"] = field{Type: tString}
	}
}

// KindNames lists the kinds, sorted.
func KindNames() []string {
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// kindByPath maps a collection path ("instances") to its kind.
func kindByPath(p string) *kindSpec {
	for _, k := range kinds {
		if k.Path == p {
			return k
		}
	}
	return nil
}

// checkType validates v (decoded JSON) against t; nil is always accepted (absent).
func checkType(name string, t fieldType, v any) error {
	if v == nil {
		return nil
	}
	bad := func(want string) error { return fmt.Errorf("field %q must be %s, got %T", name, want, v) }
	switch t {
	case tString:
		if _, ok := v.(string); !ok {
			return bad("a string")
		}
	case tBool:
		if _, ok := v.(bool); !ok {
			return bad("a boolean")
		}
	case tNumber:
		if _, ok := v.(float64); !ok {
			return bad("a number")
		}
	case tStringList, tNumberList:
		l, ok := v.([]any)
		if !ok {
			return bad("a list")
		}
		for i, e := range l {
			et := tString
			if t == tNumberList {
				et = tNumber
			}
			if e == nil {
				return fmt.Errorf("field %q[%d] must not be null", name, i)
			}
			if err := checkType(fmt.Sprintf("%s[%d]", name, i), et, e); err != nil {
				return err
			}
		}
	case tStringMap:
		m, ok := v.(map[string]any)
		if !ok {
			return bad("an object of strings")
		}
		for k, e := range m {
			if _, ok := e.(string); !ok {
				return fmt.Errorf("field %q[%q] must be a string, got %T", name, k, e)
			}
		}
	case tRules:
		l, ok := v.([]any)
		if !ok {
			return bad("a list of rules")
		}
		for i, e := range l {
			r, ok := e.(map[string]any)
			if !ok {
				return fmt.Errorf("field %q[%d] must be an object", name, i)
			}
			for k, ft := range map[string]fieldType{"description": tString, "protocol": tString, "from_port": tNumber, "to_port": tNumber, "cidr_blocks": tStringList} {
				if err := checkType(fmt.Sprintf("%s[%d].%s", name, i, k), ft, r[k]); err != nil {
					return err
				}
			}
			if p, _ := r["protocol"].(string); p == "" {
				return fmt.Errorf("field %q[%d].protocol is required", name, i)
			}
		}
	}
	return nil
}

// validateValues does the semantic checks a cloud would (CIDRs, ports, names).
func validateValues(kind string, attrs map[string]any) error {
	if s, ok := attrs["name"].(string); ok && (s == "" || len(s) > 255) {
		return fmt.Errorf("field \"name\" must be 1 to 255 characters")
	}
	if s, ok := attrs["cidr_block"].(string); ok {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Masked() != p {
			return fmt.Errorf("field \"cidr_block\" %q is not a valid network CIDR", s)
		}
	}
	if n, ok := attrs["port"].(float64); ok && (n < 1 || n > 65535 || n != float64(int(n))) {
		return fmt.Errorf("field \"port\" %v must be an integer in 1..65535", n)
	}
	if kind == KindLoadBalancer {
		if s, _ := attrs["scheme"].(string); s != "" && s != "internet-facing" && s != "internal" {
			return fmt.Errorf("field \"scheme\" must be \"internet-facing\" or \"internal\", got %q", s)
		}
	}
	if u, ok := attrs["user_data"].(string); ok && len(u) > 64*1024 {
		return fmt.Errorf("field \"user_data\" is %d bytes; the limit is 65536", len(u))
	}
	return nil
}
