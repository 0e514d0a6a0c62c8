/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package health

import (
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

const clusterName = "wl"

var (
	fakecloudModule = &infrav1.ModuleSource{Name: "fakecloud"}
	credentials     = &infrav1.LocalObjectReference{Name: envtestutil.FakeCloudCredentialsName}
)

// newCluster creates a namespace with the fake cloud's credentials and a provisioned fakecloud
// Cluster + CustomCluster named wl.
func newCluster(t *testing.T, ns string) {
	g := NewWithT(t)
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	secret, cc := cloud.FakeCloudObjects(ns, clusterName)
	g.Expect(c.Create(ctx, secret)).To(Succeed())
	g.Expect(c.Create(ctx, cc)).To(Succeed())
	g.Expect(c.Create(ctx, envtestutil.NewCluster(ns, clusterName, false))).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
		g.Expect(conditions.IsTrue(cc, infrav1.ReadyCondition)).To(BeTrue(), "cluster: %v", cc.Status.Conditions)
	}, 2*time.Minute, 250*time.Millisecond).Should(Succeed())
}

var (
	shared     sync.Once
	sharedOnce bool
)

// sharedCluster is the namespace of one provisioned cluster that tests share (a cluster costs a
// terraform apply and a plan per drift check); their machines have names of their own.
func sharedCluster(t *testing.T) string {
	const ns = "health"
	shared.Do(func() { newCluster(t, ns); sharedOnce = true })
	if !sharedOnce {
		t.Fatal("the shared cluster failed in an earlier test")
	}
	return ns
}

// newMachine creates a fakecloud Machine + CustomMachine, waits until it is provisioned, then sets
// its approval mode (manual mode would hold the first apply for approval too).
// eachMode runs body in parallel for auto and manual approval, each with a provisioned worker
// machine of its own, prefix-<mode> (instance names are the fake cloud's, shared by every
// namespace), in the shared cluster.
func eachMode(t *testing.T, prefix string, body func(t *testing.T, g Gomega, ns, name, mode string, cm *infrav1.CustomMachine)) {
	t.Parallel()
	for _, mode := range []string{"auto", "manual"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ns := sharedCluster(t)
			name := prefix + "-" + mode
			body(t, NewWithT(t), ns, name, mode, newMachine(t, ns, name, false, mode))
		})
	}
}

func newMachine(t *testing.T, ns, name string, controlPlane bool, approval string) *infrav1.CustomMachine {
	g := NewWithT(t)
	secret, machine, cm := envtestutil.NewMachine(ns, clusterName, name, controlPlane)
	cm.Spec.Module, cm.Spec.CredentialsRef = fakecloudModule, credentials
	for _, o := range []client.Object{secret, machine, cm} {
		g.Expect(c.Create(ctx, o)).To(Succeed())
	}
	cm = waitProvisioned(t, ns, name)
	patch := client.MergeFrom(cm.DeepCopy())
	cm.Annotations = map[string]string{infrav1.ApprovalAnnotation: approval}
	g.Expect(c.Patch(ctx, cm, patch)).To(Succeed())
	return cm
}

func waitProvisioned(t *testing.T, ns, name string) *infrav1.CustomMachine {
	cm := &infrav1.CustomMachine{}
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm)).To(Succeed())
		g.Expect(conditions.IsTrue(cm, infrav1.ReadyCondition)).To(BeTrue(), "machine: %v", cm.Status.Conditions)
		g.Expect(cm.Spec.ProviderID).NotTo(BeEmpty())
	}, 2*time.Minute, 250*time.Millisecond).Should(Succeed())
	return cm
}

// readyReason is the CustomMachine's Ready condition (status and reason).
func readyReason(g Gomega, cm *infrav1.CustomMachine) *metav1.Condition {
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
	cond := conditions.Get(cm, infrav1.ReadyCondition)
	g.Expect(cond).NotTo(BeNil())
	return cond
}

// waitNotReady waits until the CustomMachine is Ready=False with reason and a message that
// contains message.
func waitNotReady(g Gomega, cm *infrav1.CustomMachine, reason, message string) {
	g.Eventually(func(g Gomega) {
		cond := readyReason(g, cm)
		g.Expect(cond.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(cond.Reason).To(Equal(reason))
		g.Expect(cond.Message).To(ContainSubstring(message))
	}, time.Minute, 250*time.Millisecond).Should(Succeed())
}

// instances are the fake cloud's live instances named name (a CustomMachine's name).
func instances(g Gomega, name string) []map[string]any {
	items, err := cloud.Instances(name)
	g.Expect(err).NotTo(HaveOccurred())
	return items
}

func instanceAction(g Gomega, method, path string) {
	g.Expect(cloud.Do(method, path, nil, nil)).To(Succeed())
}

// warnings counts the Warning events with reason on the object named name.
func warnings(g Gomega, ns, name, reason string) int {
	evs := &corev1.EventList{}
	g.Expect(c.List(ctx, evs, client.InNamespace(ns))).To(Succeed())
	n := 0
	for _, e := range evs.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason && e.Type == corev1.EventTypeWarning {
			n++
		}
	}
	return n
}

// waitWarning waits for the one Warning event with reason on the object named name. The recorder
// writes events asynchronously, so the event may land after the condition that goes with it.
func waitWarning(g Gomega, ns, name, reason string) {
	g.Eventually(func(g Gomega) int { return warnings(g, ns, name, reason) }, 10*time.Second, 100*time.Millisecond).Should(Equal(1))
}

// stateSecrets are the state and plan Secrets of a CustomMachine.
func stateSecrets(g Gomega, ns, name string) []corev1.Secret {
	l := &corev1.SecretList{}
	g.Expect(c.List(ctx, l, client.InNamespace(ns), client.MatchingLabels{
		tfstate.LabelKind: "custommachine", tfstate.LabelName: name})).To(Succeed())
	return l.Items
}

// deleteMachine deletes a Machine as remediation would and waits until its CustomMachine, its
// state and its instances are gone.
func deleteMachine(t *testing.T, ns, name string) {
	g := NewWithT(t)
	m := &clusterv1.Machine{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	g.Expect(c.Delete(ctx, m)).To(Succeed())
	g.Eventually(func(g Gomega) {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &infrav1.CustomMachine{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "CustomMachine still there: %v", err)
		g.Expect(stateSecrets(g, ns, name)).To(BeEmpty())
		g.Expect(instances(g, name)).To(BeEmpty())
	}, 2*time.Minute, 250*time.Millisecond).Should(Succeed())
}
