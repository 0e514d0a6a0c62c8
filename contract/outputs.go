/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package contract

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// ClusterOutputs are the outputs a cluster module offers the controllers. The json tags are the
// output names; `contract:"required"` marks the outputs the controllers cannot finish without;
// `api` names the object's field the output fills (what the API's limits are checked on).
type ClusterOutputs struct {
	ControlPlaneEndpoint *struct {
		Host string `json:"host"`
		Port int32  `json:"port"`
	} `json:"control_plane_endpoint" contract:"required" api:"spec.controlPlaneEndpoint"`
	VPCID            string   `json:"vpc_id" api:"status.network.vpcId"`
	SubnetIDs        []string `json:"subnet_ids" api:"status.network.subnets"`
	SecurityGroupIDs []string `json:"security_group_ids" api:"status.network.securityGroups"`
	LoadBalancer     *struct {
		DNSName string `json:"dns_name"`
		ARN     string `json:"arn"`
	} `json:"load_balancer" api:"status.loadBalancer"`
	FailureDomains []struct {
		Name         string            `json:"name"`
		ControlPlane *bool             `json:"control_plane"`
		Attributes   map[string]string `json:"attributes"`
	} `json:"failure_domains" api:"status.failureDomains"`
}

// MachineOutputs are the outputs a machine module offers the controllers; `contract:"extension"`
// marks an output a module may offer (a module without it is not warned about).
type MachineOutputs struct {
	ProviderID    string `json:"provider_id" contract:"required" api:"spec.providerID"`
	InstanceID    string `json:"instance_id" api:"status.instanceId"`
	InstanceState string `json:"instance_state" api:"status.instanceState"`
	Addresses     []struct {
		Type    string `json:"type"`
		Address string `json:"address"`
	} `json:"addresses" api:"status.addresses"`
	FailureDomain string          `json:"failure_domain" api:"status.failureDomain"`
	Health        json.RawMessage `json:"health" contract:"extension"`
}

// Output is one output the controllers read from a module of a kind.
type Output struct {
	Name string
	// APIField is the object's field the output fills (e.g. status.addresses), if any.
	APIField string
	// Required outputs are needed for correctness: without them the controllers cannot finish
	// (control_plane_endpoint for clusters, provider_id for machines). Missing optional outputs
	// only leave status fields empty and are reported as warnings.
	Required bool
	// Extension outputs offer something extra (a machine's health): a module without one is
	// not warned about.
	Extension bool
}

// Outputs returns the contract outputs of kind in the order of its struct, required ones first.
func Outputs(kind string) []Output {
	var t reflect.Type
	switch kind {
	case KindCluster:
		t = reflect.TypeFor[ClusterOutputs]()
	case KindMachine:
		t = reflect.TypeFor[MachineOutputs]()
	default:
		return nil
	}
	var required, rest []Output
	for i := range t.NumField() {
		f := t.Field(i)
		o := Output{Name: strings.Split(f.Tag.Get("json"), ",")[0], APIField: f.Tag.Get("api")}
		switch f.Tag.Get("contract") {
		case "required":
			o.Required = true
			required = append(required, o)
			continue
		case "extension":
			o.Extension = true
		}
		rest = append(rest, o)
	}
	return append(required, rest...)
}

// Health statuses of the machine module's health output.
const (
	Healthy   = "healthy"
	Unhealthy = "unhealthy"
	Unknown   = "unknown"
)

// Health is the machine module's optional health output: a status, or an object
// {status, message}. A module without it has no opinion (Status "").
type Health struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func (h Health) String() string {
	if h.Message == "" {
		return "module output health is " + h.Status
	}
	return fmt.Sprintf("module output health is %s: %s", h.Status, h.Message)
}

// ParseHealth reads a health output's JSON value (empty or null: no opinion).
func ParseHealth(raw json.RawMessage) (Health, error) {
	var h Health
	if len(raw) == 0 || string(raw) == "null" {
		return h, nil
	}
	if err := json.Unmarshal(raw, &h.Status); err != nil {
		if err := json.Unmarshal(raw, &h); err != nil {
			return Health{}, fmt.Errorf("module output health must be a string or an object {status, message}: %w", err)
		}
	}
	h.Status = strings.ToLower(strings.TrimSpace(h.Status))
	switch h.Status {
	case Healthy, Unhealthy, Unknown:
		return h, nil
	}
	return Health{}, fmt.Errorf("module output health has status %q (want healthy, unhealthy or unknown)", h.Status)
}
