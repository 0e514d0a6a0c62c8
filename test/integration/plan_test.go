/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package integration

import (
	"encoding/json"
	"maps"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// annotate merges annotations into obj on the server.
func annotate(obj client.Object, kv ...string) {
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	a := maps.Clone(obj.GetAnnotations())
	if a == nil {
		a = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		a[kv[i]] = kv[i+1]
	}
	obj.SetAnnotations(a)
	Expect(k8s.Patch(ctx, obj, patch)).To(Succeed())
}

// pendingPlan waits for a plan awaiting approval that satisfies match and returns it.
func pendingPlan(cc *infrav1.CustomCluster, match func(*infrav1.PlanStatus) bool) *infrav1.PlanStatus {
	var plan *infrav1.PlanStatus
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
		g.Expect(cc.Status.Terraform).NotTo(BeNil())
		g.Expect(cc.Status.Terraform.LastRunResult).To(Equal(infrav1.RunPendingApproval))
		g.Expect(conditionStatus(cc.Status.Conditions, infrav1.PlanApprovedCondition)).To(HavePrefix("False/"))
		plan = cc.Status.Terraform.Plan
		g.Expect(match(plan)).To(BeTrue(), "plan %+v", plan)
	}).Should(Succeed())
	return plan
}

func waitApplied(cc *infrav1.CustomCluster, digest string) {
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
		g.Expect(cc.Status.Terraform.LastRunResult).To(Equal(infrav1.RunSucceeded))
		g.Expect(cc.Status.Terraform.Plan.Digest).To(Equal(digest))
		g.Expect(conditionStatus(cc.Status.Conditions, infrav1.PlanApprovedCondition)).To(HavePrefix("True"))
		g.Expect(cc.Annotations).NotTo(HaveKey(infrav1.ApprovePlanAnnotation), "the approval is consumed")
	}).Should(Succeed())
}

var _ = Describe("Plan previews and approvals", func() {
	It("holds a manual-mode cluster until exactly its plan is approved, refusing stale digests", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "manual", false)
		cc.Annotations = map[string]string{infrav1.ApprovalAnnotation: "manual"}
		create(cc, cluster)

		By("a plan with adds and nothing created")
		first := pendingPlan(cc, func(p *infrav1.PlanStatus) bool { return p != nil && p.Add > 0 && p.Digest != "" })
		Expect(cc.Status.Initialization.Provisioned).To(BeNil())
		Expect(objectSeries("capc_plan_awaiting_approval_since_timestamp_seconds", "CustomCluster", ns, cc.Name)).To(Equal(1))
		Expect(conditionMessage(cc.Status.Conditions, infrav1.PlanApprovedCondition)).To(ContainSubstring("approve-plan=" + first.Digest))
		ref := tfstate.ObjectRef{Kind: "CustomCluster", Namespace: ns, Name: cc.Name}
		st, err := runner.GetState(ctx, ref)
		Expect(err).NotTo(HaveOccurred())
		Expect(st).To(BeNil(), "manual mode must not create anything before approval")

		By("a wrong digest is refused with a reason")
		annotate(cc, infrav1.ApprovePlanAnnotation, "0000bad")
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
			g.Expect(conditionStatus(cc.Status.Conditions, infrav1.PlanApprovedCondition)).To(Equal("False/" + infrav1.StalePlanReason))
		}).Should(Succeed())
		Expect(cc.Status.Terraform.Plan.Digest).To(Equal(first.Digest), "a refused approval keeps the pending plan")

		By("a spec change makes the old digest stale and shows a new plan")
		patch := client.MergeFrom(cc.DeepCopy())
		cc.Spec.AdditionalTags = map[string]string{"team": "infra", "env": "test"}
		Expect(k8s.Patch(ctx, cc, patch)).To(Succeed())
		second := pendingPlan(cc, func(p *infrav1.PlanStatus) bool { return p.Digest != first.Digest })
		annotate(cc, infrav1.ApprovePlanAnnotation, first.Digest)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
			g.Expect(conditionMessage(cc.Status.Conditions, infrav1.PlanApprovedCondition)).To(ContainSubstring(first.Digest))
		}).Should(Succeed())
		Expect(cc.Status.Initialization.Provisioned).To(BeNil())

		By("the right digest applies that plan")
		annotate(cc, infrav1.ApprovePlanAnnotation, second.Digest)
		waitApplied(cc, second.Digest)
		Expect(cc.Status.Initialization.Provisioned).To(HaveValue(BeTrue()))
		Expect(objectSeries("capc_plan_awaiting_approval_since_timestamp_seconds", "CustomCluster", ns, cc.Name)).To(BeZero())
	})

	It("holds a destructive change in auto mode until allow-destroy", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "destructive", false)
		create(cc, cluster)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
			g.Expect(cc.Status.Initialization.Provisioned).To(HaveValue(BeTrue()))
		}).Should(Succeed())

		patch := client.MergeFrom(cc.DeepCopy())
		cc.Spec.NetworkSpec.Subnets[1].CIDRBlock = "10.0.3.0/24" // forces the subnet's replacement
		Expect(k8s.Patch(ctx, cc, patch)).To(Succeed())
		plan := pendingPlan(cc, func(p *infrav1.PlanStatus) bool { return p.Replace > 0 })
		Expect(plan.Resources).To(ContainElement(HaveField("Action", "replace")))

		annotate(cc, infrav1.AllowDestroyAnnotation, "true")
		waitApplied(cc, plan.Digest)
	})

	It("detects drift (a resource missing from state) and corrects it once approved", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "drift", false)
		cc.Annotations = map[string]string{infrav1.ApprovalAnnotation: "manual"}
		create(cc, cluster)
		first := pendingPlan(cc, func(p *infrav1.PlanStatus) bool { return p.Add > 0 })
		annotate(cc, infrav1.ApprovePlanAnnotation, first.Digest)
		waitApplied(cc, first.Digest)

		By("removing a resource from the stored state, out of band")
		ref := tfstate.ObjectRef{Kind: "CustomCluster", Namespace: ns, Name: cc.Name}
		st, err := runner.GetState(ctx, ref)
		Expect(err).NotTo(HaveOccurred())
		var state map[string]any
		Expect(json.Unmarshal(st.Raw, &state)).To(Succeed())
		resources := state["resources"].([]any)
		Expect(len(resources)).To(BeNumerically(">", 1))
		state["resources"] = resources[1:]
		state["serial"] = float64(st.Serial + 1)
		raw, err := json.Marshal(state)
		Expect(err).NotTo(HaveOccurred())
		_, err = runner.PutState(ctx, ref, raw)
		Expect(err).NotTo(HaveOccurred())

		By("a refresh plan (plan-preview) reports the drift")
		annotate(cc, infrav1.PlanPreviewAnnotation, "check-1")
		drift := pendingPlan(cc, func(p *infrav1.PlanStatus) bool { return p.PreviewToken == "check-1" && p.Add > 0 })
		Expect(conditionStatus(cc.Status.Conditions, infrav1.InSyncCondition)).To(Equal("False/" + infrav1.DriftedReason))
		Expect(objectSeries("capc_drifted_since_timestamp_seconds", "CustomCluster", ns, cc.Name)).To(Equal(1))

		annotate(cc, infrav1.ApprovePlanAnnotation, drift.Digest)
		waitApplied(cc, drift.Digest)
		Expect(conditionStatus(cc.Status.Conditions, infrav1.InSyncCondition)).To(HavePrefix("True"))
		Expect(objectSeries("capc_drifted_since_timestamp_seconds", "CustomCluster", ns, cc.Name)).To(BeZero())
	})
})

var _ = Describe("Plan text", func() {
	It("keeps user data and sensitive values out of the plan Secret and status", func() {
		ns := newNamespace()
		cluster, cc := newCluster(ns, "plantext", false)
		const canary = "canary-bootstrap-91c2e7"
		secret, machine, cm := newMachine(ns, "plantext", "pt-0", false)
		secret.Data["value"] = []byte("#cloud-config\nwrite_files: [{content: " + canary + "}]\n")
		cm.Annotations = map[string]string{infrav1.ApprovalAnnotation: "manual"}
		create(cc, cluster, secret, machine, cm)

		var planSecret corev1.Secret
		Eventually(func(g Gomega) {
			list := &corev1.SecretList{}
			g.Expect(k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{"custom.infrastructure.cluster.x-k8s.io/kind": "custommachine"})).To(Succeed())
			found := false
			for _, s := range list.Items {
				if len(s.Data["plan.txt"]) > 0 {
					planSecret, found = s, true
				}
			}
			g.Expect(found).To(BeTrue())
		}).Should(Succeed())
		text := string(planSecret.Data["plan.txt"])
		Expect(text).To(ContainSubstring("terraform_data.instance will be created"))
		Expect(text).NotTo(ContainSubstring(canary))
		Expect(string(planSecret.Data["summary.json"])).NotTo(ContainSubstring(canary))
		status, err := json.Marshal(get(cm).Status)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(status)).NotTo(ContainSubstring(canary))
		events := &corev1.EventList{}
		Expect(k8s.List(ctx, events, client.InNamespace(ns))).To(Succeed())
		for _, e := range events.Items {
			Expect(e.Message).NotTo(ContainSubstring(canary))
		}
	})
})
