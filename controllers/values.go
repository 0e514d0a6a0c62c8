/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"github.com/zclconf/go-cty/cty"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/contract"
)

// optString maps "" to null so modules can use their own defaults.
func optString(s string) cty.Value {
	if s == "" {
		return cty.NullVal(cty.String)
	}
	return cty.StringVal(s)
}

func optNumber(n int32) cty.Value {
	if n == 0 {
		return cty.NullVal(cty.Number)
	}
	return cty.NumberIntVal(int64(n))
}

func listOf(vals []cty.Value, ty cty.Type) cty.Value {
	if len(vals) == 0 {
		return cty.ListValEmpty(ty)
	}
	return cty.ListVal(vals)
}

func stringList(ss []string) cty.Value {
	vals := make([]cty.Value, 0, len(ss))
	for _, s := range ss {
		vals = append(vals, cty.StringVal(s))
	}
	return listOf(vals, cty.String)
}

func stringMap(m map[string]string) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	vals := make(map[string]cty.Value, len(m))
	for k, v := range m {
		vals[k] = cty.StringVal(v)
	}
	return cty.MapVal(vals)
}

func subnetsValue(subnets []infrav1.SubnetSpec) cty.Value {
	vals := make([]cty.Value, 0, len(subnets))
	for _, s := range subnets {
		vals = append(vals, cty.ObjectVal(map[string]cty.Value{
			"cidr_block":        optString(s.CIDRBlock),
			"availability_zone": optString(s.AvailabilityZone),
			"is_public":         cty.BoolVal(s.IsPublic),
			"id":                optString(s.ID),
		}))
	}
	return listOf(vals, contract.SubnetType)
}

func securityGroupsValue(groups []infrav1.SecurityGroupSpec) cty.Value {
	vals := make([]cty.Value, 0, len(groups))
	for _, g := range groups {
		rules := make([]cty.Value, 0, len(g.IngressRules))
		for _, r := range g.IngressRules {
			rules = append(rules, cty.ObjectVal(map[string]cty.Value{
				"description": optString(r.Description),
				"protocol":    cty.StringVal(r.Protocol),
				"from_port":   cty.NumberIntVal(int64(r.FromPort)),
				"to_port":     cty.NumberIntVal(int64(r.ToPort)),
				"cidr_blocks": stringList(r.CIDRBlocks),
			}))
		}
		vals = append(vals, cty.ObjectVal(map[string]cty.Value{
			"name": cty.StringVal(g.Name), "ingress_rules": listOf(rules, contract.IngressRuleType),
		}))
	}
	return listOf(vals, contract.SecurityGroupType)
}

func loadBalancerValue(lb *infrav1.LoadBalancerSpec) cty.Value {
	if lb == nil {
		return cty.NullVal(contract.LoadBalancerType)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"scheme":     optString(lb.Scheme),
		"type":       optString(lb.Type),
		"port":       optNumber(lb.Port),
		"cross_zone": cty.BoolVal(lb.CrossZoneLoadBalancing),
	})
}

func volumeValue(v *infrav1.Volume) cty.Value {
	if v == nil {
		return cty.NullVal(contract.VolumeType)
	}
	enc := cty.NullVal(cty.Bool)
	if v.Encrypted != nil {
		enc = cty.BoolVal(*v.Encrypted)
	}
	return cty.ObjectVal(map[string]cty.Value{
		"device_name": optString(v.DeviceName),
		"size":        cty.NumberIntVal(int64(v.Size)),
		"type":        optString(v.Type),
		"iops":        optNumber(v.IOPS),
		"encrypted":   enc,
	})
}

// clusterOutputsValue passes the cluster's observed infrastructure (rebuilt from its module
// outputs into status) to machine modules as the `cluster` variable.
func clusterOutputsValue(cc *infrav1.CustomCluster) cty.Value {
	var vpcID string
	var subnetIDs, sgIDs []string
	if n := cc.Status.Network; n != nil {
		vpcID, subnetIDs, sgIDs = n.VPCID, n.Subnets, n.SecurityGroups
	}
	lb := cty.NullVal(contract.ClusterType.AttributeType("load_balancer"))
	if l := cc.Status.LoadBalancer; l != nil {
		lb = cty.ObjectVal(map[string]cty.Value{"dns_name": optString(l.DNSName), "arn": optString(l.ARN)})
	}
	ep := cc.Spec.ControlPlaneEndpoint
	return cty.ObjectVal(map[string]cty.Value{
		"name":   cty.StringVal(cc.Name),
		"region": cty.StringVal(cc.Spec.Region),
		"control_plane_endpoint": cty.ObjectVal(map[string]cty.Value{
			"host": cty.StringVal(ep.Host), "port": cty.NumberIntVal(int64(ep.Port)),
		}),
		"vpc_id":             optString(vpcID),
		"vpc_cidr":           optString(cc.Spec.NetworkSpec.VPC.CIDRBlock),
		"subnet_ids":         stringList(subnetIDs),
		"subnets":            subnetsValue(cc.Spec.NetworkSpec.Subnets),
		"security_group_ids": stringList(sgIDs),
		"load_balancer":      lb,
		"failure_domains":    failureDomainsValue(cc.Status.FailureDomains),
	})
}

func failureDomainsValue(fds []clusterv1.FailureDomain) cty.Value {
	vals := make([]cty.Value, 0, len(fds))
	for _, fd := range fds {
		vals = append(vals, cty.ObjectVal(map[string]cty.Value{
			"name":          cty.StringVal(fd.Name),
			"control_plane": cty.BoolVal(fd.ControlPlane != nil && *fd.ControlPlane),
			"attributes":    stringMap(fd.Attributes),
		}))
	}
	return listOf(vals, contract.FailureDomainType)
}
