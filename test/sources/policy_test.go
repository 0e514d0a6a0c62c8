/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package sources

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// instanceTypes is a conftest policy allowing the given instance types (as the simulated
// module records them).
func instanceTypes(allowed ...string) string {
	return `package main

import rego.v1

allowed := {"` + strings.Join(allowed, `", "`) + `"}

deny contains msg if {
	some rc in input.resource_changes
	rc.type == "terraform_data"
	t := rc.change.after.input.instance_type
	not t in allowed
	msg := sprintf("%s: %s is not allowed", [rc.address, t])
}
`
}

// Plan policies from a GitRepository served by source-controller, as a platform team keeps them:
// a CustomPolicy names the source (and a directory of it); a change the policies deny waits,
// and a commit to the policy repository (a new artifact, watched) judges it again.
func TestPlanPoliciesFromGitRepository(t *testing.T) {
	g := NewWithT(t)
	repo := newBareRepo(t, g, filepath.Join(tmp, "git", "policies.git"))
	g.Expect(writeFile(filepath.Join(repo.dir, "terraform", "instance_types.rego"), instanceTypes("t3.large"))).To(Succeed())
	g.Expect(writeFile(filepath.Join(repo.dir, "README.md"), "# plan policies\n")).To(Succeed())
	repo.commit(g, "plan policies")
	ns := newNamespace(g)
	src := gitRepository(ns, "policies", gitServer+"/policies.git", "main")
	g.Expect(stack.Client.Create(ctx, src)).To(Succeed())
	pol := &infrav1.CustomPolicy{ObjectMeta: metav1.ObjectMeta{Name: "git-" + ns}, Spec: infrav1.CustomPolicySpec{
		NamespaceSelector: metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
		PlanPolicies: []infrav1.PlanPolicySource{{SourceRef: &infrav1.SourceReference{Kind: "GitRepository", Name: "policies", Namespace: ns},
			Path: "terraform"}},
	}}
	g.Expect(stack.Client.Create(ctx, pol)).To(Succeed())
	t.Cleanup(func() { _ = stack.Client.Delete(ctx, pol) })

	w := newWorkload(ns, "judged", &infrav1.ModuleSource{Name: "simulated"})
	w.create(g)
	_, cm := w.provisioned(g)
	policyPassed := func(g Gomega) string {
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		return condition(cm.Status.Conditions, infrav1.PolicyPassedCondition)
	}
	g.Expect(policyPassed(g)).To(HavePrefix("True/PolicyPassed"))

	p := client.MergeFrom(cm.DeepCopy())
	cm.Spec.InstanceType = "m5.large"
	g.Expect(stack.Client.Patch(ctx, cm, p)).To(Succeed())
	g.Eventually(policyPassed, time.Minute, 250*time.Millisecond).Should(And(HavePrefix("False/PolicyDenied"),
		ContainSubstring("terraform_data.instance: m5.large is not allowed (GitRepository "+ns+"/policies terraform, main.deny)")))

	g.Expect(writeFile(filepath.Join(repo.dir, "terraform", "instance_types.rego"), instanceTypes("t3.large", "m5.large"))).To(Succeed())
	repo.commit(g, "allow m5.large")
	// Judged again and passed; the change replaces the instance, so auto mode still holds it for
	// approval (the destructive guard is beside the policies, not replaced by them).
	g.Eventually(policyPassed, time.Minute, 250*time.Millisecond).Should(HavePrefix("True/PolicyPassed"))
	g.Expect(cm.Status.Terraform.LastRunResult).To(Equal(infrav1.RunPendingApproval))
	w.deleted(g)
}
