/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"bytes"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// NewMachine returns a bootstrap data Secret, a CAPI Machine and its CustomMachine (the product's
// usage shape: t3.large, a 50 GiB gp3 root volume, a role tag), shared by the test suites.
func NewMachine(ns, clusterName, name string, controlPlane bool) (*corev1.Secret, *clusterv1.Machine, *infrav1.CustomMachine) {
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-bootstrap",
			Labels: map[string]string{clusterv1.ClusterNameLabel: clusterName}},
		Type: clusterv1.ClusterSecretType,
		Data: map[string][]byte{"value": []byte("#cloud-config\nruncmd: [echo " + name + "]\n")},
	}
	labels := map[string]string{clusterv1.ClusterNameLabel: clusterName}
	if controlPlane {
		labels[clusterv1.MachineControlPlaneLabel] = ""
	}
	machine := &clusterv1.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: clusterv1.MachineSpec{
			ClusterName: clusterName,
			Version:     "v1.36.3",
			Bootstrap:   clusterv1.Bootstrap{DataSecretName: &secret.Name},
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{
				APIGroup: infrav1.GroupVersion.Group, Kind: "CustomMachine", Name: name,
			},
		},
	}
	cm := &infrav1.CustomMachine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{clusterv1.ClusterNameLabel: clusterName}},
		Spec: infrav1.CustomMachineSpec{
			InstanceType: "t3.large", ImageID: "ami-0123456789abcdef0",
			RootVolume: &infrav1.Volume{Size: 50, Type: "gp3"},
			Tags:       map[string]string{"role": "node"},
		},
	}
	return secret, machine, cm
}

// SyncBuffer collects a subprocess's output safely while a test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail returns the last n lines written (a suite prints them when it fails).
func (b *SyncBuffer) Tail(n int) string {
	lines := strings.Split(b.String(), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// NewCluster returns a CAPI Cluster whose infrastructure is the CustomCluster of the same name.
func NewCluster(ns, name string, paused bool) *clusterv1.Cluster {
	return &clusterv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: clusterv1.ClusterSpec{
			Paused: &paused,
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{
				APIGroup: infrav1.GroupVersion.Group, Kind: "CustomCluster", Name: name,
			},
		},
	}
}

// NewCustomCluster returns a CustomCluster with the product's usage shape: a VPC with a public and
// a private subnet, an API security group, an internet-facing load balancer and a team tag.
func NewCustomCluster(ns, name string) *infrav1.CustomCluster {
	return &infrav1.CustomCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: infrav1.CustomClusterSpec{
			Region: "us-east-1",
			NetworkSpec: infrav1.NetworkSpec{
				VPC: infrav1.VPCSpec{CIDRBlock: "10.0.0.0/16"},
				Subnets: []infrav1.SubnetSpec{
					{CIDRBlock: "10.0.1.0/24", AvailabilityZone: "us-east-1a", IsPublic: true},
					{CIDRBlock: "10.0.2.0/24", AvailabilityZone: "us-east-1b"},
				},
				SecurityGroups: []infrav1.SecurityGroupSpec{{Name: "api", IngressRules: []infrav1.IngressRule{
					{Protocol: "tcp", FromPort: 6443, ToPort: 6443, CIDRBlocks: []string{"0.0.0.0/0"}},
				}}},
			},
			LoadBalancerSpec: &infrav1.LoadBalancerSpec{Scheme: "internet-facing", Type: "network", Port: 6443},
			AdditionalTags:   map[string]string{"team": "infra"},
		},
	}
}
