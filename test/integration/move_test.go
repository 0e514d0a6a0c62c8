/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package integration

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// gatherSeries returns the series of a metric family whose labels include want.
func gatherSeries(name string, want map[string]string) []*dto.Metric {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	var out []*dto.Metric
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, want) {
				out = append(out, m)
			}
		}
	}
	return out
}

// metricSum adds up a metric family's counters, gauges and histogram sample counts whose labels
// include want.
func metricSum(name string, want map[string]string) float64 {
	sum := 0.0
	for _, m := range gatherSeries(name, want) {
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return sum
}

// objectSeries counts the series of a per-object metric family for one object (the alert rules in
// config/prometheus select on them).
func objectSeries(name, kind, ns, objName string) int {
	return len(gatherSeries(name, map[string]string{"kind": kind, "namespace": ns, "name": objName}))
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

var _ = Describe("clusterctl move safety and run metrics", func() {
	It("blocks move while terraform runs, labels state for move, and counts the run", func() {
		applies := metricSum("capc_terraform_run_duration_seconds", map[string]string{"operation": "apply", "result": "success"})
		ns := newNamespace()
		cluster, cc := newCluster(ns, "slow", false)
		secret, machine, cm := newMachine(ns, "slow", "slow-0", false)
		cm.Spec.Module = &infrav1.ModuleSource{Path: "test"}
		cm.Spec.Variables = &apiextensionsv1.JSON{Raw: []byte(`{"seconds":4}`)}
		cm.Spec.RootVolume = nil
		create(cc, cluster, secret, machine, cm)

		By("the block-move annotation is there while the apply runs")
		// The annotation is written right before terraform starts and the in-flight gauge counts
		// the process once it runs: checked together, within the 4 s the slow apply takes.
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed()) // the cache may lag the create
			g.Expect(cm.Annotations).To(HaveKey(clusterctlv1.BlockMoveAnnotation))
			g.Expect(metricSum("capc_terraform_runs_in_flight", nil)).To(BeNumerically(">=", 1))
			g.Expect(objectSeries("capc_terraform_run_started_timestamp_seconds", "CustomMachine", ns, cm.Name)).To(Equal(1),
				"the run holding its lock has a started series")
		}).Should(Succeed())

		By("and gone once the machine is provisioned")
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
			g.Expect(cm.Status.Initialization.Provisioned).To(HaveValue(BeTrue()))
			g.Expect(cm.Annotations).NotTo(HaveKey(clusterctlv1.BlockMoveAnnotation))
		}).Should(Succeed())
		Eventually(func() int {
			return objectSeries("capc_terraform_run_started_timestamp_seconds", "CustomMachine", ns, cm.Name)
		}).
			Should(BeZero(), "a released lock has no started series")
		Expect(metricSum("capc_terraform_run_duration_seconds", map[string]string{"operation": "apply", "result": "success"})).
			To(BeNumerically(">=", applies+2), "the cluster's and the machine's applies are observed")

		By("state Secrets travel with their object in a move")
		list := &corev1.SecretList{}
		Expect(k8s.List(ctx, list, client.InNamespace(ns), client.HasLabels{clusterctlv1.ClusterctlMoveLabel})).To(Succeed())
		owners := map[string]bool{}
		for _, s := range list.Items {
			for _, o := range s.OwnerReferences {
				owners[o.Kind+"/"+o.Name+"/"+string(o.UID)] = true
			}
		}
		Expect(owners).To(HaveKey("CustomMachine/slow-0/" + string(cm.UID)))
		Expect(owners).To(HaveKey("CustomCluster/slow/" + string(get(cc).UID)))
	})
})
