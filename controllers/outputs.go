/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"encoding/json"
	"fmt"

	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// machineHealth reads the health output from the plan this reconcile made or reported (the world
// as terraform's refresh found it, before any apply), else from the stored state: a drift check
// learns it without another terraform process. An output known only after apply is unknown.
func machineHealth(res tfrunner.Result) (contract.Health, error) {
	outs := res.Outputs
	if res.PlannedOutputs != nil {
		outs = res.PlannedOutputs
	}
	var o contract.MachineOutputs
	if err := decodeOutputs(outs, &o); err != nil {
		return contract.Health{}, err
	}
	return contract.ParseHealth(o.Health)
}

// decodeOutputs fills dst (a struct with json tags) from terraform outputs. Sensitive outputs are
// never copied into status, so they are skipped here.
func decodeOutputs(outs map[string]tfrunner.Output, dst any) error {
	plain := make(map[string]json.RawMessage, len(outs))
	for k, o := range outs {
		if !o.Sensitive {
			plain[k] = o.Value
		}
	}
	b, err := json.Marshal(plain)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("module outputs do not match the contract: %w", err)
	}
	return nil
}

// applyClusterOutputs maps the cluster module's outputs onto the CustomCluster. A user-set
// controlPlaneEndpoint is never overwritten.
func applyClusterOutputs(cc *infrav1.CustomCluster, outs map[string]tfrunner.Output) error {
	var o contract.ClusterOutputs
	if err := decodeOutputs(outs, &o); err != nil {
		return err
	}
	if o.ControlPlaneEndpoint == nil || o.ControlPlaneEndpoint.Host == "" || o.ControlPlaneEndpoint.Port <= 0 {
		return fmt.Errorf("module output control_plane_endpoint must be an object with a host and a positive port")
	}
	if !cc.Spec.ControlPlaneEndpoint.IsValid() {
		cc.Spec.ControlPlaneEndpoint = clusterv1.APIEndpoint{Host: o.ControlPlaneEndpoint.Host, Port: o.ControlPlaneEndpoint.Port}
	}
	cc.Status.Network = &infrav1.NetworkStatus{VPCID: o.VPCID, Subnets: o.SubnetIDs, SecurityGroups: o.SecurityGroupIDs}
	cc.Status.LoadBalancer = nil
	if o.LoadBalancer != nil {
		cc.Status.LoadBalancer = &infrav1.LoadBalancerStatus{DNSName: o.LoadBalancer.DNSName, ARN: o.LoadBalancer.ARN}
	}
	cc.Status.FailureDomains = nil
	for _, fd := range o.FailureDomains {
		if fd.Name == "" {
			return fmt.Errorf("module output failure_domains has an entry without a name")
		}
		cc.Status.FailureDomains = append(cc.Status.FailureDomains, clusterv1.FailureDomain{
			Name: fd.Name, ControlPlane: fd.ControlPlane, Attributes: fd.Attributes,
		})
	}
	cc.Status.Initialization.Provisioned = ptr.To(true)
	return nil
}

// applyMachineOutputs maps the machine module's outputs onto the CustomMachine. providerID is set
// once: a module that later reports a different one is an error, never a silent change. What the
// API allows (address types, sizes) is checked on the result (apiLimits), against the CRD itself.
func applyMachineOutputs(cm *infrav1.CustomMachine, outs map[string]tfrunner.Output) error {
	var o contract.MachineOutputs
	if err := decodeOutputs(outs, &o); err != nil {
		return err
	}
	if o.ProviderID == "" {
		return fmt.Errorf("module output provider_id is empty")
	}
	if cm.Spec.ProviderID != "" && cm.Spec.ProviderID != o.ProviderID {
		return fmt.Errorf("module output provider_id %q differs from the immutable spec.providerID %q", o.ProviderID, cm.Spec.ProviderID)
	}
	addrs := make([]clusterv1.MachineAddress, 0, len(o.Addresses))
	for _, a := range o.Addresses {
		addrs = append(addrs, clusterv1.MachineAddress{Type: clusterv1.MachineAddressType(a.Type), Address: a.Address})
	}
	cm.Spec.ProviderID = o.ProviderID
	cm.Status.InstanceID = o.InstanceID
	cm.Status.InstanceState = o.InstanceState
	cm.Status.Addresses = addrs
	cm.Status.FailureDomain = o.FailureDomain
	cm.Status.Initialization.Provisioned = ptr.To(true)
	return nil
}
