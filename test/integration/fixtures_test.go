/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package integration

import (
	"fmt"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// newNamespace creates a namespace of its own for one test.
func newNamespace() string {
	ns, err := envtestutil.NewNamespace(ctx, k8s, "it")
	Expect(err).NotTo(HaveOccurred())
	return ns
}

// newCluster returns a CAPI Cluster and the CustomCluster it references (the product's usage shape).
func newCluster(ns, name string, paused bool) (*clusterv1.Cluster, *infrav1.CustomCluster) {
	return envtestutil.NewCluster(ns, name, paused), envtestutil.NewCustomCluster(ns, name)
}

// newMachine returns a bootstrap data Secret, a Machine and its CustomMachine.
func newMachine(ns, clusterName, name string, controlPlane bool) (*corev1.Secret, *clusterv1.Machine, *infrav1.CustomMachine) {
	return envtestutil.NewMachine(ns, clusterName, name, controlPlane)
}

func create(objs ...client.Object) {
	for _, o := range objs {
		Expect(k8s.Create(ctx, o)).To(Succeed(), fmt.Sprintf("creating %T %s", o, o.GetName()))
	}
}

func get[T client.Object](o T) T {
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(o), o)).To(Succeed())
	return o
}

// stateSecrets counts the Secrets tfrunner keeps for a cluster's objects.
func stateSecrets(ns, clusterName string) int {
	list, err := envtestutil.StateSecrets(ctx, k8s, ns, clusterName)
	Expect(err).NotTo(HaveOccurred())
	return len(list)
}

func conditionStatus(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return string(c.Status) + "/" + c.Reason
		}
	}
	return ""
}

func conditionMessage(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}
