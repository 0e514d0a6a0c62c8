/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package integration

import (
	"io/fs"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/modules"
)

// Every waiting state wakes up by itself: the awaited object is created (or fixed) late, and the
// waiting object converges with nothing else touching it. controllers/wait.go says what wakes
// each state.

// waitFor waits until obj's Ready condition is False with reason and a message containing msg.
func waitFor(obj interface {
	client.Object
	GetConditions() []metav1.Condition
}, reason, msg string) {
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		g.Expect(conditionStatus(obj.GetConditions(), infrav1.ReadyCondition)).To(Equal("False/" + reason))
		g.Expect(conditionMessage(obj.GetConditions(), infrav1.ReadyCondition)).To(ContainSubstring(msg))
	}).Should(Succeed())
}

func clusterConverges(cc *infrav1.CustomCluster) {
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
		g.Expect(ptr.Deref(cc.Status.Initialization.Provisioned, false)).To(BeTrue())
	}).Should(Succeed())
}

func machineConverges(cm *infrav1.CustomMachine) {
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		g.Expect(cm.Spec.ProviderID).NotTo(BeEmpty())
		g.Expect(ptr.Deref(cm.Status.Initialization.Provisioned, false)).To(BeTrue())
		// The status written with providerID observed the generation that write produced.
		g.Expect(cm.Status.ObservedGeneration).To(Equal(cm.Generation))
		for _, c := range cm.Status.Conditions {
			g.Expect(c.ObservedGeneration).To(Equal(cm.Generation), "condition %s", c.Type)
		}
		g.Expect(cm.Finalizers).To(ContainElement(infrav1.MachineFinalizer))
		g.Expect(cm.Annotations).NotTo(HaveKey(clusterctlv1.BlockMoveAnnotation))
	}).Should(Succeed())
}

// provisionedCluster creates a Cluster and CustomCluster and waits until they are provisioned.
func provisionedCluster(ns, name string) {
	cluster, cc := newCluster(ns, name, false)
	create(cc, cluster)
	clusterConverges(cc)
}

var _ = Describe("Waiting states wake up by themselves", func() {
	It("WaitingForOwner (CustomCluster): the Cluster is created late", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "late", false)
		create(cc)
		waitFor(cc, infrav1.WaitingForOwnerReason, "owner reference")
		create(cluster)
		clusterConverges(cc)
	})

	It("WaitingForOwner (CustomMachine): the Machine is created late", func() {
		ns := newNamespace()
		provisionedCluster(ns, "c")
		secret, machine, cm := newMachine(ns, "c", "late-machine", true)
		create(cm)
		waitFor(cm, infrav1.WaitingForOwnerReason, "owner reference")
		create(secret, machine)
		machineConverges(cm)
	})

	It("WaitingForClusterInfrastructure: the CustomCluster is created late", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "c", false)
		secret, machine, cm := newMachine(ns, "c", "m", true)
		create(cluster, secret, machine, cm)
		waitFor(cm, infrav1.WaitingForClusterInfraReason, "infrastructure")
		create(cc)
		machineConverges(cm)
	})

	It("WaitingForBootstrapData: the bootstrap data Secret is created late", func() {
		ns := newNamespace()
		provisionedCluster(ns, "c")
		secret, machine, cm := newMachine(ns, "c", "m", true)
		create(machine, cm)
		waitFor(cm, infrav1.WaitingForBootstrapDataReason, "not found")
		create(secret)
		machineConverges(cm)
	})

	It("WaitingForBootstrapData: the bootstrap data Secret gets its value late", func() {
		ns := newNamespace()
		provisionedCluster(ns, "c")
		secret, machine, cm := newMachine(ns, "c", "m", true)
		value := secret.Data["value"]
		secret.Data = map[string][]byte{"format": []byte("cloud-config")}
		create(secret, machine, cm)
		waitFor(cm, infrav1.WaitingForBootstrapDataReason, "has no 'value' key")
		patch := client.MergeFrom(secret.DeepCopy())
		secret.Data["value"] = value
		Expect(k8s.Patch(ctx, secret, patch)).To(Succeed())
		machineConverges(cm)
	})

	It("CredentialsNotFound: the credentials Secret is created late", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "c", false)
		cc.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: "creds"}
		create(cc, cluster)
		waitFor(cc, infrav1.CredentialsNotFoundReason, "creds")
		create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
			Data: map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("AKIAEXAMPLEEXAMPLE")}})
		clusterConverges(cc)
	})

	It("CredentialsInvalid: a refused key is removed from the Secret", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "c", false)
		cc.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: "creds"}
		creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
			Data: map[string][]byte{"AWS_ACCESS_KEY_ID": []byte("AKIAEXAMPLEEXAMPLE"), "TF_LOG": []byte("trace")}}
		create(creds, cc, cluster)
		waitFor(cc, infrav1.CredentialsInvalidReason, `key "TF_LOG"`)
		patch := client.MergeFrom(creds.DeepCopy())
		delete(creds.Data, "TF_LOG")
		Expect(k8s.Patch(ctx, creds, patch)).To(Succeed())
		clusterConverges(cc)
	})

	It("ModuleInvalid: the module ConfigMap is created late", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "c", false)
		cc.Spec.Module = &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "module"}}
		create(cc, cluster)
		waitFor(cc, infrav1.ModuleInvalidReason, "module")
		mod, err := modules.Get("simulated", contract.KindCluster)
		Expect(err).NotTo(HaveOccurred())
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "module"}, Data: map[string]string{}}
		Expect(fs.WalkDir(mod, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(mod, p)
			cm.Data[p] = string(b)
			return err
		})).To(Succeed())
		create(cm)
		clusterConverges(cc)
	})
})
