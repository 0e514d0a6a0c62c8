/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package integration

import (
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// provisioned creates a Cluster with one control-plane machine and waits for both to be provisioned.
func provisioned(ns, name string) (*clusterv1.Cluster, *infrav1.CustomCluster, *clusterv1.Machine, *infrav1.CustomMachine) {
	cluster, cc := newCluster(ns, name, false)
	secret, machine, cm := newMachine(ns, name, name+"-cp-0", true)
	create(cc, cluster, secret, machine, cm)
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		g.Expect(cm.Spec.ProviderID).NotTo(BeEmpty())
	}).Should(Succeed())
	return get(cluster), get(cc), get(machine), cm
}

var _ = Describe("CustomCluster and CustomMachine with the CAPI core controllers", func() {
	It("provisions the cluster infrastructure and machines, and CAPI picks it up", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "demo", false)
		create(cc, cluster)

		By("CAPI's Cluster reports infrastructure provisioned with the module's endpoint")
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			g.Expect(cluster.Status.Initialization.InfrastructureProvisioned).To(HaveValue(BeTrue()))
			g.Expect(cluster.Spec.ControlPlaneEndpoint.IsValid()).To(BeTrue())
		}).Should(Succeed())
		get(cc)
		Expect(cc.Spec.ControlPlaneEndpoint).To(Equal(cluster.Spec.ControlPlaneEndpoint))
		Expect(cc.Spec.ControlPlaneEndpoint.Port).To(BeEquivalentTo(6443))
		Expect(conditionStatus(cc.Status.Conditions, infrav1.ReadyCondition)).To(Equal("True/" + infrav1.ProvisionedReason))
		Expect(cc.Status.FailureDomains).To(HaveLen(2))
		Expect(cc.Status.Network).NotTo(BeNil())
		Expect(cc.Status.Network.VPCID).NotTo(BeEmpty())
		Expect(cc.Status.LoadBalancer).NotTo(BeNil())
		Expect(cc.Finalizers).To(ContainElement(infrav1.ClusterFinalizer))

		By("a Machine with bootstrap data gets a providerID and addresses through CAPI")
		secret, machine, cm := newMachine(ns, "demo", "demo-cp-0", true)
		create(secret, machine, cm)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(machine), machine)).To(Succeed())
			g.Expect(machine.Spec.ProviderID).To(HavePrefix("custom://us-east-1/i-"))
			g.Expect(machine.Status.Addresses).NotTo(BeEmpty())
		}).Should(Succeed())
		get(cm)
		Expect(cm.Spec.ProviderID).To(Equal(machine.Spec.ProviderID))
		Expect(cm.Status.Initialization.Provisioned).To(HaveValue(BeTrue()))
		Expect(cm.Status.InstanceID).NotTo(BeEmpty())
		Expect(conditionStatus(cm.Status.Conditions, infrav1.ReadyCondition)).To(Equal("True/" + infrav1.ProvisionedReason))
		Expect(stateSecrets(ns, "demo")).To(BeNumerically(">=", 2))

		By("a reconcile with nothing changed starts no terraform process")
		before := runner.Processes()
		patch := client.MergeFrom(cm.DeepCopy())
		cm.Annotations = map[string]string{"test/touch": time.Now().String()}
		Expect(k8s.Patch(ctx, cm, patch)).To(Succeed())
		Consistently(runner.Processes, 3*time.Second, 100*time.Millisecond).Should(Equal(before))
	})

	It("applies a tags change in place and never changes the providerID", func() {
		ns := newNamespace()
		_, _, _, cm := provisioned(ns, "tags")
		providerID := cm.Spec.ProviderID
		serial := cm.Status.Terraform.StateSerial

		patch := client.MergeFrom(cm.DeepCopy())
		cm.Spec.Tags = map[string]string{"role": "node", "cost-center": "42"}
		Expect(k8s.Patch(ctx, cm, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
			g.Expect(cm.Status.Terraform.StateSerial).To(BeNumerically(">", serial))
			g.Expect(cm.Status.Terraform.Plan).NotTo(BeNil())
			g.Expect(cm.Status.Terraform.Plan.Change).To(BeNumerically(">=", 1))
			g.Expect(cm.Status.Terraform.Plan.Replace).To(BeZero())
			g.Expect(cm.Status.Terraform.Plan.Destroy).To(BeZero())
			g.Expect(cm.Status.Terraform.Plan.Resources).To(ContainElement(infrav1.ResourceChange{
				Address: "terraform_data.instance", Action: "update"}))
		}).Should(Succeed())
		Expect(cm.Spec.ProviderID).To(Equal(providerID))
	})

	It("runs nothing while the Cluster is paused and converges once unpaused", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "paused", true)
		create(cluster)
		// CAPI sets no owner reference while paused; this is the state of a cluster paused after
		// creation (e.g. during clusterctl move), so the test sets it as CAPI would have.
		cc.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: clusterv1.GroupVersion.String(), Kind: "Cluster", Name: cluster.Name, UID: cluster.UID,
		}}
		create(cc)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
			g.Expect(conditionStatus(cc.Status.Conditions, infrav1.PausedCondition)).To(HavePrefix("True"))
		}).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
			g.Expect(cc.Status.Initialization.Provisioned).To(BeNil())
			g.Expect(cc.Status.Terraform).To(BeNil())
		}, 3*time.Second).Should(Succeed())

		patch := client.MergeFrom(cluster.DeepCopy())
		cluster.Spec.Paused = ptrBool(false)
		Expect(k8s.Patch(ctx, cluster, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
			g.Expect(cc.Status.Initialization.Provisioned).To(HaveValue(BeTrue()))
			g.Expect(conditionStatus(cc.Status.Conditions, infrav1.PausedCondition)).To(HavePrefix("False"))
		}).Should(Succeed())
	})

	It("deletes machines then the cluster, destroying resources and state", func() {
		ns := newNamespace()
		cluster, cc, machine, cm := provisioned(ns, "gone")
		Expect(k8s.Delete(ctx, cluster)).To(Succeed())
		for _, o := range []client.Object{cm, machine, cc, cluster} {
			Eventually(func() bool {
				return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(o), o))
			}).Should(BeTrue(), "%T %s should be gone", o, o.GetName())
		}
		Eventually(func() int { return stateSecrets(ns, "gone") }).Should(BeZero())
	})

	It("publishes every output in a Secret owned by the object, the small plain ones in status too", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "outs", false)
		secret, machine, cm := newMachine(ns, "outs", "outs-0", false)
		cm.Spec.Module = &infrav1.ModuleSource{Path: "test"}
		cm.Spec.RootVolume = nil
		create(cc, cluster, secret, machine, cm)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
			g.Expect(cm.Status.Initialization.Provisioned).To(HaveValue(BeTrue()))
			g.Expect(cm.Status.Terraform.OutputsSecret).NotTo(BeEmpty())
		}).Should(Succeed())
		ts := cm.Status.Terraform
		Expect(string(ts.Outputs["team"].Raw)).To(Equal(`"infra-outs-0"`))
		Expect(ts.Outputs).NotTo(HaveKey("provider_id"), "a contract output with a field of its own is there")
		Expect(ts.Outputs).NotTo(HaveKey("token"), "a sensitive output is never in status")
		Expect(ts.OutputsOmitted).To(Equal([]string{"inventory"}))

		out := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: ts.OutputsSecret}, out)).To(Succeed())
		Expect(out.Type).To(BeEquivalentTo("custom.infrastructure.cluster.x-k8s.io/outputs"))
		Expect(string(out.Data["token"])).To(HavePrefix(`"s3cr3t-`))
		var inventory []string
		Expect(json.Unmarshal(out.Data["inventory"], &inventory)).To(Succeed())
		Expect(inventory).To(HaveLen(200))
		Expect(metav1.IsControlledBy(out, cm)).To(BeTrue())

		Expect(k8s.Delete(ctx, machine)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(out), &corev1.Secret{}))
		}).Should(BeTrue(), "the outputs Secret goes with the object")
	})

	It("never gives two machines one providerID, across namespaces, and recovers when the holder goes", func() {
		// The test module's provider_id is a hash of the machine name alone: a lookup where a
		// create was meant, so same-named machines of two namespaces get the same one.
		machineIn := func(ns string) (*clusterv1.Machine, *infrav1.CustomMachine) {
			cluster, cc := newCluster(ns, "dup", false)
			secret, machine, cm := newMachine(ns, "dup", "dup-0", false)
			cm.Spec.Module = &infrav1.ModuleSource{Path: "test"}
			cm.Spec.RootVolume = nil
			create(cc, cluster, secret, machine, cm)
			return machine, cm
		}
		nsA, nsB := newNamespace(), newNamespace()
		machineA, cmA := machineIn(nsA)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cmA), cmA)).To(Succeed())
			g.Expect(cmA.Status.Initialization.Provisioned).To(HaveValue(BeTrue()))
		}).Should(Succeed())
		_, cmB := machineIn(nsB)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cmB), cmB)).To(Succeed())
			g.Expect(conditionStatus(cmB.Status.Conditions, infrav1.ReadyCondition)).To(Equal("False/" + infrav1.DuplicateProviderIDReason))
			g.Expect(conditionMessage(cmB.Status.Conditions, infrav1.ReadyCondition)).To(ContainSubstring(cmA.Spec.ProviderID + `" is CustomMachine ` + nsA + "/dup-0's"))
		}, time.Minute).Should(Succeed())
		Expect(cmB.Spec.ProviderID).To(BeEmpty())
		Expect(stateSecrets(nsB, "dup")).To(BeNumerically(">=", 2), "the refused machine's state is kept")
		events := &corev1.EventList{}
		Expect(k8s.List(ctx, events, client.InNamespace(nsB))).To(Succeed())
		Expect(events.Items).To(ContainElement(HaveField("Reason", infrav1.DuplicateProviderIDReason)))

		Expect(k8s.Delete(ctx, machineA)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cmB), cmB)).To(Succeed())
			g.Expect(cmB.Spec.ProviderID).To(Equal(cmA.Spec.ProviderID))
			g.Expect(cmB.Status.Initialization.Provisioned).To(HaveValue(BeTrue()))
		}, 2*time.Minute).Should(Succeed(), "the machine takes the providerID once its holder is gone")
	})

	It("releases a CustomMachine marked delete-for-move without destroying", func() {
		ns := newNamespace()
		_, _, _, cm := provisioned(ns, "move")
		patch := client.MergeFrom(cm.DeepCopy())
		cm.Annotations = map[string]string{clusterctlv1.DeleteForMoveAnnotation: ""}
		Expect(k8s.Patch(ctx, cm, patch)).To(Succeed())
		before := runner.Processes()
		Expect(k8s.Delete(ctx, cm)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)) }).Should(BeTrue())
		Expect(runner.Processes()).To(Equal(before), "no terraform destroy may run for a moved object")
	})

	It("keeps the finalizer with a clear condition while destroy fails, then retries", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "faildestroy", false)
		creds := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
			Data:       map[string][]byte{"UNRELATED": []byte("x")},
		}
		secret, machine, cm := newMachine(ns, "faildestroy", "fd-0", false)
		cm.Spec.Module = &infrav1.ModuleSource{Path: "test"}
		cm.Spec.Variables = &apiextensionsv1.JSON{Raw: []byte(`{"guard_destroy":true}`)}
		cm.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: "creds"}
		cm.Spec.RootVolume = nil
		create(creds, cc, cluster, secret, machine, cm)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
			g.Expect(cm.Status.Initialization.Provisioned).To(HaveValue(BeTrue()))
		}).Should(Succeed())

		Expect(k8s.Delete(ctx, cm)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
			g.Expect(cm.Finalizers).To(ContainElement(infrav1.MachineFinalizer))
			g.Expect(conditionStatus(cm.Status.Conditions, infrav1.ReadyCondition)).To(Equal("False/" + infrav1.DeletionFailedReason))
			g.Expect(readyMessage(cm.Status.Conditions)).To(ContainSubstring("ALLOW_DESTROY unset"))
		}).Should(Succeed())

		// A patch, not an update of the test's copy: the controller has labelled the Secret for
		// clusterctl move since.
		credsPatch := client.MergeFrom(creds.DeepCopy())
		creds.Data["ALLOW_DESTROY"] = []byte("1")
		Expect(k8s.Patch(ctx, creds, credsPatch)).To(Succeed())
		// Credentials Secrets are not watched; a touch skips the remaining backoff delay.
		patch := client.MergeFrom(get(cm).DeepCopy())
		cm.Annotations = map[string]string{"test/touch": "1"}
		Expect(k8s.Patch(ctx, cm, patch)).To(Succeed())
		Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)) }, 2*time.Minute).Should(BeTrue())
	})
})

func ptrBool(b bool) *bool { return &b }

func readyMessage(conds []metav1.Condition) string {
	for _, c := range conds {
		if c.Type == infrav1.ReadyCondition {
			return c.Message
		}
	}
	return ""
}
