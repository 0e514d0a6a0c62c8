/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

func bg() context.Context { return context.Background() }

// newNamespace creates a namespace of its own for one suite.
func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns, err := envtestutil.NewNamespace(bg(), suite.k8s, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// fakeCloudModule selects the bundled fakecloud family.
func fakeCloudModule() *infrav1.ModuleSource { return &infrav1.ModuleSource{Name: "fakecloud"} }

// credentials is the Secret whose keys become the terraform environment: the fake cloud's
// endpoint and token, and a short provider retry timeout so a failing call fails the run soon.
func credentials(ns, name string, fc *fakeCloud, extra map[string]string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		StringData: map[string]string{
			"FAKECLOUD_ENDPOINT":      fc.URL,
			"FAKECLOUD_TOKEN":         fc.Token,
			"FAKECLOUD_RETRY_TIMEOUT": "5s",
		},
	}
	for k, v := range extra {
		s.StringData[k] = v
	}
	return s
}

// newCluster returns a CAPI Cluster and its CustomCluster (a VPC, one subnet per zone a and b,
// the two default security groups and the API load balancer in the fake cloud).
func newCluster(ns, name string, mod *infrav1.ModuleSource, creds string) (*clusterv1.Cluster, *infrav1.CustomCluster) {
	cc := &infrav1.CustomCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: infrav1.CustomClusterSpec{
			Region: "fc-1",
			NetworkSpec: infrav1.NetworkSpec{
				VPC: infrav1.VPCSpec{CIDRBlock: "10.0.0.0/16"},
				Subnets: []infrav1.SubnetSpec{
					{CIDRBlock: "10.0.1.0/24", AvailabilityZone: "fc-1a"},
					{CIDRBlock: "10.0.2.0/24", AvailabilityZone: "fc-1b"},
				},
			},
			LoadBalancerSpec: &infrav1.LoadBalancerSpec{Scheme: "internet-facing", Type: "network", Port: 6443},
			AdditionalTags:   map[string]string{"suite": "reliability"},
			TerraformSpec:    infrav1.TerraformSpec{Module: mod},
		},
	}
	if creds != "" {
		cc.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: creds}
	}
	return envtestutil.NewCluster(ns, name, false), cc
}

// newMachine returns a bootstrap data Secret, a Machine and its CustomMachine on module mod with
// the credentials Secret creds (both optional).
func newMachine(ns, clusterName, name string, controlPlane bool, mod *infrav1.ModuleSource, creds string) (*corev1.Secret, *clusterv1.Machine, *infrav1.CustomMachine) {
	secret, machine, cm := envtestutil.NewMachine(ns, clusterName, name, controlPlane)
	cm.Spec.Module = mod
	if creds != "" {
		cm.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: creds}
	}
	return secret, machine, cm
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := suite.k8s.Create(bg(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// waitFor polls check every interval until it reports done or timeout passes (then fails with
// the last detail).
func waitFor(t *testing.T, timeout time.Duration, what string, check func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var detail string
	for {
		var ok bool
		ok, detail = check()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, detail)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func findCond(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

func condString(conds []metav1.Condition, typ string) string {
	c := findCond(conds, typ)
	if c == nil {
		return typ + "=<none>"
	}
	return fmt.Sprintf("%s=%s/%s %q", typ, c.Status, c.Reason, c.Message)
}

// allProvisioned reports whether every CustomCluster and CustomMachine of ns is provisioned
// (machines with a providerID).
func allProvisioned(ns string) (bool, string) {
	ccs := &infrav1.CustomClusterList{}
	cms := &infrav1.CustomMachineList{}
	if err := suite.k8s.List(bg(), ccs, client.InNamespace(ns)); err != nil {
		return false, err.Error()
	}
	if err := suite.k8s.List(bg(), cms, client.InNamespace(ns)); err != nil {
		return false, err.Error()
	}
	var waiting []string
	for _, c := range ccs.Items {
		if c.Status.Initialization.Provisioned == nil || !*c.Status.Initialization.Provisioned {
			waiting = append(waiting, "CustomCluster "+c.Name+": "+condString(c.Status.Conditions, infrav1.ReadyCondition))
		}
	}
	done := 0
	for _, m := range cms.Items {
		if m.Spec.ProviderID == "" || m.Status.Initialization.Provisioned == nil || !*m.Status.Initialization.Provisioned {
			waiting = append(waiting, "CustomMachine "+m.Name+": "+condString(m.Status.Conditions, infrav1.ReadyCondition))
		} else {
			done++
		}
	}
	if len(waiting) > 0 {
		if len(waiting) > 5 {
			waiting = append(waiting[:5], fmt.Sprintf("... %d more", len(waiting)-5))
		}
		return false, fmt.Sprintf("%d/%d machines provisioned; waiting: %s", done, len(cms.Items), strings.Join(waiting, "; "))
	}
	return true, ""
}

// allGone reports whether ns holds no Cluster, Machine, CustomCluster or CustomMachine.
func allGone(ns string) (bool, string) {
	var left []string
	lists := map[string]client.ObjectList{
		"Cluster": &clusterv1.ClusterList{}, "Machine": &clusterv1.MachineList{},
		"CustomCluster": &infrav1.CustomClusterList{}, "CustomMachine": &infrav1.CustomMachineList{},
	}
	for kind, l := range lists {
		if err := suite.k8s.List(bg(), l, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		switch l := l.(type) {
		case *infrav1.CustomClusterList:
			for _, o := range l.Items {
				left = append(left, kind+" "+o.Name+" "+condString(o.Status.Conditions, infrav1.ReadyCondition))
			}
		case *infrav1.CustomMachineList:
			for _, o := range l.Items {
				left = append(left, kind+" "+o.Name+" "+condString(o.Status.Conditions, infrav1.ReadyCondition))
			}
		case *clusterv1.ClusterList:
			for _, o := range l.Items {
				left = append(left, kind+" "+o.Name)
			}
		case *clusterv1.MachineList:
			for _, o := range l.Items {
				left = append(left, kind+" "+o.Name)
			}
		}
	}
	if len(left) > 0 {
		if len(left) > 6 {
			left = append(left[:6], fmt.Sprintf("... %d more", len(left)-6))
		}
		return false, strings.Join(left, "; ")
	}
	return true, ""
}

// deleteClusters deletes every CAPI Cluster of ns (CAPI deletes machines, then the infrastructure).
func deleteClusters(t *testing.T, ns string) {
	t.Helper()
	if err := suite.k8s.DeleteAllOf(bg(), &clusterv1.Cluster{}, client.InNamespace(ns)); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

// stateSerials reads the serial annotation of every primary state Secret in ns, by Secret name.
func stateSerials(ns string) (map[string]int64, error) {
	l := &corev1.SecretList{}
	if err := suite.k8s.List(bg(), l, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, s := range l.Items {
		if string(s.Type) != "custom.infrastructure.cluster.x-k8s.io/tfstate" {
			continue
		}
		var n int64
		if _, err := fmt.Sscan(s.Annotations["custom.infrastructure.cluster.x-k8s.io/serial"], &n); err == nil {
			out[s.Name] = n
		}
	}
	return out, nil
}

// trackedIDs returns the cloud ids recorded in the terraform state of every CustomCluster and
// CustomMachine of ns (id -> "Kind/name").
func trackedIDs(t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	add := func(kind, name, cluster string) {
		st, err := suite.states.GetState(bg(), tfstate.ObjectRef{APIVersion: infrav1.GroupVersion.String(), Kind: kind, Namespace: ns, Name: name, ClusterName: cluster})
		if err != nil {
			t.Fatalf("reading state of %s %s: %v", kind, name, err)
		}
		if st == nil {
			return
		}
		var doc struct {
			Resources []struct {
				Instances []struct {
					Attributes map[string]any `json:"attributes"`
				} `json:"instances"`
			} `json:"resources"`
		}
		if err := json.Unmarshal(st.Raw, &doc); err != nil {
			t.Fatalf("decoding state of %s %s: %v", kind, name, err)
		}
		for _, r := range doc.Resources {
			for _, i := range r.Instances {
				if id, ok := i.Attributes["id"].(string); ok {
					out[id] = kind + "/" + name
				}
			}
		}
	}
	ccs := &infrav1.CustomClusterList{}
	cms := &infrav1.CustomMachineList{}
	if err := suite.k8s.List(bg(), ccs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if err := suite.k8s.List(bg(), cms, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, c := range ccs.Items {
		add("CustomCluster", c.Name, c.Labels[clusterv1.ClusterNameLabel])
	}
	for _, m := range cms.Items {
		add("CustomMachine", m.Name, m.Labels[clusterv1.ClusterNameLabel])
	}
	return out
}
