/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package health

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// TestRemediation: CAPI's MachineHealthCheck, acting on the Machine condition that mirrors the
// CustomMachine's Ready, and its MachineSet replace a worker whose fake-cloud instance was
// deleted. The new Machine gets a new instance (a new providerID); the old Machine's CustomMachine,
// state and leftovers are gone, and the fake cloud holds exactly the instances in use.
//
// The management cluster's API server stands in for the workload cluster (its kubeconfig
// Secret points there, as in CAPI's own tests), and a Node object for the control-plane
// machine's kubelet: MachineHealthCheck only judges workers once the control plane is initialized,
// which CAPI decides from a control-plane Machine with a Node.
func TestRemediation(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	ns := "remediation"
	newCluster(t, ns)
	kubeconfig, err := envtestutil.Kubeconfig(st.Env.Config)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: clusterName + "-kubeconfig", Labels: map[string]string{clusterv1.ClusterNameLabel: clusterName}},
		Type:       clusterv1.ClusterSecretType, Data: map[string][]byte{"value": kubeconfig},
	})).To(Succeed())
	cp := newMachine(t, ns, "cp-0", true, "auto")
	g.Expect(c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "remediation-cp-0"},
		Spec: corev1.NodeSpec{ProviderID: cp.Spec.ProviderID}})).To(Succeed())
	g.Eventually(func(g Gomega) {
		cl := &clusterv1.Cluster{}
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: clusterName}, cl)).To(Succeed())
		g.Expect(conditions.IsTrue(cl, clusterv1.ClusterControlPlaneInitializedCondition)).To(BeTrue(), "cluster: %v", cl.Status.Conditions)
	}, 2*time.Minute, 250*time.Millisecond).Should(Succeed())

	workers(t, ns)
	old := workerMachine(g, ns, "")
	oldCM := waitProvisioned(t, ns, old.Spec.InfrastructureRef.Name)
	instanceAction(g, http.MethodDelete, "/v1/instances/"+oldCM.Status.InstanceID)

	var replacement *infrav1.CustomMachine
	g.Eventually(func(g Gomega) {
		err := c.Get(ctx, client.ObjectKeyFromObject(old), &clusterv1.Machine{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the unhealthy Machine is still there: %v", err)
		m := workerMachine(g, ns, old.Name)
		replacement = &infrav1.CustomMachine{}
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: m.Spec.InfrastructureRef.Name}, replacement)).To(Succeed())
		g.Expect(conditions.IsTrue(replacement, infrav1.ReadyCondition)).To(BeTrue(), "replacement: %v", replacement.Status.Conditions)
	}, 4*time.Minute, time.Second).Should(Succeed())

	g.Expect(replacement.Spec.ProviderID).NotTo(BeEmpty())
	g.Expect(replacement.Spec.ProviderID).NotTo(Equal(oldCM.Spec.ProviderID))
	g.Eventually(func(g Gomega) {
		g.Expect(instances(g, oldCM.Name)).To(BeEmpty())
		g.Expect(stateSecrets(g, ns, oldCM.Name)).To(BeEmpty())
		err := c.Get(ctx, client.ObjectKeyFromObject(oldCM), &infrav1.CustomMachine{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
	}, time.Minute, 250*time.Millisecond).Should(Succeed())
	g.Expect(instances(g, replacement.Name)).To(HaveLen(1))
	g.Expect(instances(g, cp.Name)).To(HaveLen(1))
	var all []map[string]any
	g.Expect(func() (err error) { all, err = cloud.Instances(""); return err }()).To(Succeed())
	inNS := 0
	for _, i := range all {
		if n, _ := i["name"].(string); n == cp.Name || n == replacement.Name || n == oldCM.Name {
			inNS++
		}
	}
	g.Expect(inNS).To(Equal(2), "the control plane's and the replacement's instances, nothing orphaned")
}

// workers creates a MachineSet of one fakecloud worker and a MachineHealthCheck that remediates a
// Machine whose infrastructure has been not Ready for a second. Machines never get Nodes here, so
// the node startup timeout is off.
func workers(t *testing.T, ns string) {
	g := NewWithT(t)
	labels := map[string]string{"pool": "workers", clusterv1.ClusterNameLabel: clusterName}
	bootstrap := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers-bootstrap", Labels: map[string]string{clusterv1.ClusterNameLabel: clusterName}},
		Type: clusterv1.ClusterSecretType, Data: map[string][]byte{"value": []byte("#cloud-config\n")}}
	_, _, proto := envtestutil.NewMachine(ns, clusterName, "workers", false)
	proto.Spec.Module, proto.Spec.CredentialsRef = fakecloudModule, credentials
	tmpl := &infrav1.CustomMachineTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers"},
		Spec: infrav1.CustomMachineTemplateSpec{Template: infrav1.CustomMachineTemplateResource{Spec: proto.Spec}}}
	ms := &clusterv1.MachineSet{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers", Labels: map[string]string{clusterv1.ClusterNameLabel: clusterName}},
		Spec: clusterv1.MachineSetSpec{
			ClusterName: clusterName, Replicas: ptr.To[int32](1),
			Selector: metav1.LabelSelector{MatchLabels: labels},
			Template: clusterv1.MachineTemplateSpec{ObjectMeta: clusterv1.ObjectMeta{Labels: labels}, Spec: clusterv1.MachineSpec{
				ClusterName: clusterName, Version: "v1.36.3",
				Bootstrap: clusterv1.Bootstrap{DataSecretName: ptr.To(bootstrap.Name)},
				InfrastructureRef: clusterv1.ContractVersionedObjectReference{
					APIGroup: infrav1.GroupVersion.Group, Kind: "CustomMachineTemplate", Name: tmpl.Name},
			}},
		}}
	mhc := &clusterv1.MachineHealthCheck{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers"},
		Spec: clusterv1.MachineHealthCheckSpec{
			ClusterName: clusterName, Selector: metav1.LabelSelector{MatchLabels: map[string]string{"pool": "workers"}},
			Checks: clusterv1.MachineHealthCheckChecks{
				NodeStartupTimeoutSeconds: ptr.To[int32](0),
				UnhealthyMachineConditions: []clusterv1.UnhealthyMachineCondition{{
					Type: clusterv1.MachineInfrastructureReadyCondition, Status: metav1.ConditionFalse, TimeoutSeconds: ptr.To[int32](1)}},
			},
		}}
	for _, o := range []client.Object{bootstrap, tmpl, ms, mhc} {
		g.Expect(c.Create(ctx, o)).To(Succeed())
	}
}

// workerMachine is the MachineSet's one Machine other than skip.
func workerMachine(g Gomega, ns, skip string) *clusterv1.Machine {
	var found *clusterv1.Machine
	g.Eventually(func(g Gomega) {
		l := &clusterv1.MachineList{}
		g.Expect(c.List(ctx, l, client.InNamespace(ns), client.MatchingLabels{"pool": "workers"})).To(Succeed())
		found = nil
		for i := range l.Items {
			if l.Items[i].Name != skip && l.Items[i].DeletionTimestamp.IsZero() {
				found = &l.Items[i]
			}
		}
		g.Expect(found).NotTo(BeNil())
	}, time.Minute, 250*time.Millisecond).Should(Succeed())
	return found
}
