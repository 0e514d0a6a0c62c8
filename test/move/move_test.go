/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package move

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// cloudStats are the fake cloud's create and delete counts, all kinds together.
func cloudStats(g Gomega) (created, deleted int) {
	s, err := cloud.Stats()
	g.Expect(err).NotTo(HaveOccurred())
	for _, n := range s.Created {
		created += n
	}
	for _, n := range s.Deleted {
		deleted += n
	}
	return created, deleted
}

// workload creates, on the source, a fakecloud cluster with n control-plane machines and waits
// until everything is provisioned and the machines have nodes (set as CAPI's Machine controller
// would once a node joins: there are no workload clusters here).
func workload(t *testing.T, ns string, n int) (*infrav1.CustomCluster, []*infrav1.CustomMachine) {
	g := NewWithT(t)
	c := src.c
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	g.Expect(c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fakecloud"},
		StringData: map[string]string{"FAKECLOUD_ENDPOINT": cloud.URL, "FAKECLOUD_TOKEN": cloud.Token, "FAKECLOUD_RETRY_TIMEOUT": "5s"}})).To(Succeed())
	creds := &infrav1.LocalObjectReference{Name: "fakecloud"}
	mod := &infrav1.ModuleSource{Name: "fakecloud"}
	cluster := envtestutil.NewCluster(ns, "wl", false)
	cc := &infrav1.CustomCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "wl"}, Spec: infrav1.CustomClusterSpec{
		Region: "fc-1",
		NetworkSpec: infrav1.NetworkSpec{VPC: infrav1.VPCSpec{CIDRBlock: "10.0.0.0/16"}, Subnets: []infrav1.SubnetSpec{
			{CIDRBlock: "10.0.1.0/24", AvailabilityZone: "fc-1a"}, {CIDRBlock: "10.0.2.0/24", AvailabilityZone: "fc-1b"}}},
		LoadBalancerSpec: &infrav1.LoadBalancerSpec{Scheme: "internet-facing", Type: "network", Port: 6443},
		TerraformSpec:    infrav1.TerraformSpec{Module: mod, CredentialsRef: creds},
	}}
	g.Expect(c.Create(ctx, cc)).To(Succeed())
	g.Expect(c.Create(ctx, cluster)).To(Succeed())
	var cms []*infrav1.CustomMachine
	var machines []*clusterv1.Machine
	for i := 0; i < n; i++ {
		secret, machine, cm := envtestutil.NewMachine(ns, "wl", fmt.Sprintf("wl-cp-%d", i), true)
		cm.Spec.Module, cm.Spec.CredentialsRef = mod, creds
		g.Expect(c.Create(ctx, machine)).To(Succeed())
		// A bootstrap provider's config owns the data Secret and the Machine owns the config, so
		// clusterctl moves it; there is no bootstrap provider here: the Machine owns it directly.
		secret.OwnerReferences = []metav1.OwnerReference{{APIVersion: clusterv1.GroupVersion.String(), Kind: "Machine",
			Name: machine.Name, UID: machine.UID}}
		for _, o := range []client.Object{secret, cm} {
			g.Expect(c.Create(ctx, o)).To(Succeed())
		}
		cms, machines = append(cms, cm), append(machines, machine)
	}
	for i, m := range machines {
		g.Eventually(func(g Gomega) {
			g.Expect(c.Get(ctx, client.ObjectKeyFromObject(m), m)).To(Succeed())
			g.Expect(m.Spec.ProviderID).NotTo(BeEmpty())
			if !m.Status.NodeRef.IsDefined() {
				p := client.MergeFrom(m.DeepCopy())
				m.Status.NodeRef = clusterv1.MachineNodeReference{Name: fmt.Sprintf("node-%d", i)}
				g.Expect(c.Status().Patch(ctx, m, p)).To(Succeed())
			}
		}, 3*time.Minute, 250*time.Millisecond).Should(Succeed())
	}
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
		g.Expect(conditions.IsTrue(cluster, clusterv1.ClusterControlPlaneInitializedCondition)).To(BeTrue(), "control plane initialized")
	}, 2*time.Minute, 250*time.Millisecond).Should(Succeed())
	return cc, cms
}

// stateSerials maps each state Secret of ns to its serial label/annotation-free identity: its
// resourceVersion-independent data size and name, to show the move carried them unchanged.
func stateSecrets(g Gomega, c client.Client, ns string) map[string]string {
	list, err := envtestutil.StateSecrets(ctx, c, ns, "")
	g.Expect(err).NotTo(HaveOccurred())
	out := map[string]string{}
	for _, s := range list {
		out[s.Name] = fmt.Sprintf("%x", s.Data)
	}
	return out
}

func TestMoveIdle(t *testing.T) {
	g := NewWithT(t)
	ns := "move-" + rand.String(5)
	cc, cms := workload(t, ns, 2)
	before := stateSecrets(g, src.c, ns)
	g.Expect(before).NotTo(BeEmpty())
	created0, deleted0 := cloudStats(g)
	srcProcs, dstProcs := src.stack.Runner.Processes(), dst.stack.Runner.Processes()

	start := time.Now()
	out, err := clusterctlMove(ns)
	g.Expect(err).NotTo(HaveOccurred(), "clusterctl move:\n%s", out)
	took := time.Since(start)
	t.Logf("clusterctl move took %s", took.Round(time.Millisecond))

	By := func(s string) { t.Log(s) }
	By("the target reconciles everything to Provisioned with the moved state")
	targetProvisioned(g, cc, cms)
	g.Expect(stateSecrets(g, dst.c, ns)).To(Equal(before), "state Secrets travelled unchanged")

	By("the source deleted its objects without a destroy")
	sourceEmptied(g, cc)
	g.Consistently(func() int64 { return dst.stack.Runner.Processes() - dstProcs }, 5*time.Second, 250*time.Millisecond).Should(BeZero(), "no terraform on the target")
	g.Expect(src.stack.Runner.Processes()-srcProcs).To(BeZero(), "no terraform (no destroy) on the source")
	created, deleted := cloudStats(g)
	g.Expect([]int{created - created0, deleted - deleted0}).To(Equal([]int{0, 0}), "the move created and deleted nothing in the cloud")

	By("the target handles a spec change and a deletion normally")
	destroyed := targetHandlesChangeAndDeletion(t, cc, dstProcs, deleted0)
	t.Logf("figures: move %s; terraform processes during the move: source %d, target 0; cloud objects created/deleted by the move 0/0; destroyed by the target after: %d",
		took.Round(time.Millisecond), src.stack.Runner.Processes()-srcProcs, destroyed)
}

// describe shows the conditions of a namespace's custom objects on one side (for a failed wait).
func describe(mc *mgmt, ns string) string {
	out := mc.name + ":\n"
	ccs, cms := &infrav1.CustomClusterList{}, &infrav1.CustomMachineList{}
	_ = mc.c.List(ctx, ccs, client.InNamespace(ns))
	_ = mc.c.List(ctx, cms, client.InNamespace(ns))
	var objs []conditions.Getter
	for i := range ccs.Items {
		objs = append(objs, &ccs.Items[i])
	}
	for i := range cms.Items {
		objs = append(objs, &cms.Items[i])
	}
	for _, o := range objs {
		out += fmt.Sprintf("  %T %s:\n", o, o.(client.Object).GetName())
		for _, c := range o.GetConditions() {
			out += fmt.Sprintf("    %s=%s %s: %s\n", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	return out
}

// setFaults replaces the fake cloud's fault rules (nil clears them).
func setFaults(g Gomega, rules ...map[string]any) {
	if len(rules) == 0 {
		g.Expect(cloud.Do(http.MethodDelete, "/admin/faults", nil, nil)).To(Succeed())
		return
	}
	g.Expect(cloud.Do(http.MethodPost, "/admin/faults", map[string]any{"rules": rules}, nil)).To(Succeed())
}

// TestMoveMidRun: a move started while terraform applies a change waits (block-move) until the
// run is over, then carries the state that run wrote.
func TestMoveMidRun(t *testing.T) {
	g := NewWithT(t)
	ns := "move-" + rand.String(5)
	cc, cms := workload(t, ns, 1)
	srcProcs, dstProcs := src.stack.Runner.Processes(), dst.stack.Runner.Processes()

	t.Log("a tags change applied through a slow cloud (every update takes 4 s)")
	setFaults(g, map[string]any{"op": "update:*", "latency_ms": 4000})
	defer setFaults(g)
	serial := setTags(g, src, cc, map[string]string{"during": "move"})
	g.Eventually(func(g Gomega) {
		g.Expect(src.c.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
		g.Expect(cc.Annotations).To(HaveKey(clusterctlv1.BlockMoveAnnotation))
	}, time.Minute, 50*time.Millisecond).Should(Succeed())
	created0, deleted0 := cloudStats(g)

	start := time.Now()
	out, err := clusterctlMove(ns)
	took := time.Since(start)
	g.Expect(err).NotTo(HaveOccurred(), "clusterctl move:\n%s", out)
	t.Logf("clusterctl move took %s (it waited for the run)", took.Round(time.Millisecond))

	got := targetProvisioned(g, cc, cms)
	g.Expect(got.Status.Terraform.StateSerial).To(BeNumerically(">", serial), "the moved state is the one the run wrote")
	g.Expect(got.Annotations).NotTo(HaveKey(clusterctlv1.BlockMoveAnnotation))
	g.Consistently(func() int64 { return dst.stack.Runner.Processes() - dstProcs }, 5*time.Second, 250*time.Millisecond).Should(BeZero(), "no terraform on the target")
	sourceEmptied(g, cc)
	created, deleted := cloudStats(g)
	g.Expect([]int{created - created0, deleted - deleted0}).To(Equal([]int{0, 0}), "the move created and deleted nothing in the cloud")
	destroyed := targetHandlesChangeAndDeletion(t, cc, dstProcs, deleted0)
	t.Logf("figures: move %s; terraform processes on the source %d (the in-flight apply), on the target 0; cloud creates/deletes 0/0; destroyed by the target after: %d",
		took.Round(time.Millisecond), src.stack.Runner.Processes()-srcProcs, destroyed)
}

// targetHandlesChangeAndDeletion changes the moved CustomCluster's tags on the target (an apply
// there) and deletes the Cluster (a destroy there); it returns the cloud objects destroyed.
func targetHandlesChangeAndDeletion(t *testing.T, cc *infrav1.CustomCluster, dstProcs int64, deleted0 int) int {
	g := NewWithT(t)
	got := cc.DeepCopy()
	serial := setTags(g, dst, got, map[string]string{"moved": "yes"})
	g.Eventually(func(g Gomega) {
		g.Expect(dst.c.Get(ctx, client.ObjectKeyFromObject(cc), got)).To(Succeed())
		g.Expect(got.Status.Terraform).NotTo(BeNil())
		g.Expect(got.Status.Terraform.StateSerial).To(BeNumerically(">", serial), "the change was applied on the target")
		g.Expect(got.Status.Terraform.LastRunResult).To(Equal(infrav1.RunSucceeded))
		g.Expect(dst.stack.Runner.Processes()).To(BeNumerically(">", dstProcs))
	}, 2*time.Minute, 250*time.Millisecond).Should(Succeed())
	cluster := &clusterv1.Cluster{}
	g.Expect(dst.c.Get(ctx, client.ObjectKey{Namespace: cc.Namespace, Name: "wl"}, cluster)).To(Succeed())
	g.Expect(dst.c.Delete(ctx, cluster)).To(Succeed())
	g.Eventually(func(g Gomega) {
		err := dst.c.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
		g.Expect(err).To(HaveOccurred())
	}, 3*time.Minute, 500*time.Millisecond).Should(Succeed())
	_, deleted := cloudStats(g)
	g.Expect(deleted-deleted0).To(BeNumerically(">", 0), "the target destroyed the infrastructure")
	return deleted - deleted0
}

// targetProvisioned waits until the moved CustomCluster and CustomMachines are Ready (with their
// providerIDs) on the target, and returns the target's CustomCluster.
func targetProvisioned(g *WithT, cc *infrav1.CustomCluster, cms []*infrav1.CustomMachine) *infrav1.CustomCluster {
	got := &infrav1.CustomCluster{}
	g.Eventually(func(g Gomega) {
		g.Expect(dst.c.Get(ctx, client.ObjectKeyFromObject(cc), got)).To(Succeed())
		g.Expect(conditions.IsTrue(got, infrav1.ReadyCondition)).To(BeTrue())
		for _, cm := range cms {
			m := &infrav1.CustomMachine{}
			g.Expect(dst.c.Get(ctx, client.ObjectKeyFromObject(cm), m)).To(Succeed())
			g.Expect(conditions.IsTrue(m, infrav1.ReadyCondition)).To(BeTrue())
			g.Expect(m.Spec.ProviderID).NotTo(BeEmpty())
		}
	}, 2*time.Minute, 250*time.Millisecond).Should(Succeed(), func() string { return describe(dst, cc.Namespace) })
	return got
}

// sourceEmptied waits until the source has no CustomMachine and no CustomCluster of cc's namespace.
func sourceEmptied(g *WithT, cc *infrav1.CustomCluster) {
	g.Eventually(func(g Gomega) {
		l := &infrav1.CustomMachineList{}
		g.Expect(src.c.List(ctx, l, client.InNamespace(cc.Namespace))).To(Succeed())
		g.Expect(l.Items).To(BeEmpty())
		err := src.c.Get(ctx, client.ObjectKeyFromObject(cc), &infrav1.CustomCluster{})
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
		g.Expect(err).To(HaveOccurred())
	}, time.Minute, 250*time.Millisecond).Should(Succeed())
}

// setTags sets cc's additional tags on mc (cc is refreshed first) and returns the state serial
// it had before.
func setTags(g *WithT, mc *mgmt, cc *infrav1.CustomCluster, tags map[string]string) int64 {
	g.Expect(mc.c.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
	serial := cc.Status.Terraform.StateSerial
	p := client.MergeFrom(cc.DeepCopy())
	cc.Spec.AdditionalTags = tags
	g.Expect(mc.c.Patch(ctx, cc, p)).To(Succeed())
	return serial
}
