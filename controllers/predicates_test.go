/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

func TestMachineInputsChanged(t *testing.T) {
	base := func() *clusterv1.Machine {
		return &clusterv1.Machine{ObjectMeta: metav1.ObjectMeta{Name: "m", Generation: 2, Labels: map[string]string{"a": "b"}}}
	}
	now := metav1.Now()
	tests := []updateCase[*clusterv1.Machine]{
		{"status only (CAPI mirroring a condition)", func(m *clusterv1.Machine) { m.Status.Phase = "Provisioning" }, false},
		{"spec (generation)", func(m *clusterv1.Machine) { m.Generation++ }, true},
		{"control-plane label", func(m *clusterv1.Machine) { m.Labels[clusterv1.MachineControlPlaneLabel] = "" }, true},
		{"paused annotation", func(m *clusterv1.Machine) { m.Annotations = map[string]string{clusterv1.PausedAnnotation: ""} }, true},
		{"deletion", func(m *clusterv1.Machine) { m.DeletionTimestamp = &now }, true},
	}
	checkUpdates(t, machineInputsChanged(), base, tests)
}

// updateCase is an update (change applied to a fresh object) and whether the predicate passes it.
type updateCase[T client.Object] struct {
	name   string
	change func(T)
	want   bool
}

func checkUpdates[T client.Object](t *testing.T, p predicate.Predicate, base func() T, tests []updateCase[T]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := base()
			tt.change(n)
			if got := p.Update(event.UpdateEvent{ObjectOld: base(), ObjectNew: n}); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClusterOutputsChanged(t *testing.T) {
	base := func() *infrav1.CustomCluster {
		return &infrav1.CustomCluster{ObjectMeta: metav1.ObjectMeta{Name: "c", Generation: 1,
			Labels: map[string]string{clusterv1.ClusterNameLabel: "c"}}}
	}
	tests := []updateCase[*infrav1.CustomCluster]{
		{"a drift check (terraform status)", func(c *infrav1.CustomCluster) {
			c.Status.Terraform = &infrav1.TerraformStatus{LastRunResult: infrav1.RunSucceeded}
		}, false},
		{"a condition", func(c *infrav1.CustomCluster) { setReady(c, "") }, false},
		{"network outputs", func(c *infrav1.CustomCluster) { c.Status.Network = &infrav1.NetworkStatus{} }, true},
		{"failure domains", func(c *infrav1.CustomCluster) {
			c.Status.FailureDomains = []clusterv1.FailureDomain{{Name: "a"}}
		}, true},
		{"spec", func(c *infrav1.CustomCluster) { c.Generation++ }, true},
	}
	checkUpdates(t, clusterOutputsChanged(), base, tests)
}
