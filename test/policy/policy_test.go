/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package policy

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/modules"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

const clusterName = "wl"

// ownerTag is a warn rule a team might keep beside the sample's deny rules.
const ownerTag = `package tags

import rego.v1

warn contains msg if {
	some rc in input.resource_changes
	rc.type == "fakecloud_instance"
	"create" in rc.change.actions
	not rc.change.after.tags.owner
	msg := sprintf("%s has no owner tag", [rc.address])
}
`

// samplePolicies are the Rego files of config/samples/policy/rego.
func samplePolicies(t *testing.T) map[string]string {
	dir := filepath.Join(envtestutil.RepoRoot(), "config", "samples", "policy", "rego")
	files := map[string]string{}
	for _, n := range []string{"instance_types.rego", "changes.rego"} {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = string(b)
	}
	return files
}

var providerNamespace sync.Once

// policyConfigMap creates a plan policy ConfigMap in the provider's namespace.
func policyConfigMap(t *testing.T, name string, files map[string]string) {
	providerNamespace.Do(func() {
		_ = c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: policyNamespace}})
	})
	NewWithT(t).Expect(c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: policyNamespace, Name: name}, Data: files})).To(Succeed())
}

// customPolicy creates a CustomPolicy governing the namespaces labelled capc-test=<selects>.
func customPolicy(t *testing.T, name, selects string, spec infrav1.CustomPolicySpec) *infrav1.CustomPolicy {
	spec.NamespaceSelector = metav1.LabelSelector{MatchLabels: map[string]string{"capc-test": selects}}
	p := &infrav1.CustomPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	NewWithT(t).Expect(c.Create(ctx, p)).To(Succeed())
	return p
}

// tenantNamespace creates namespace ns labelled capc-test=<label> with the fake cloud's
// credentials and the extra objects, then a fakecloud Cluster + CustomCluster (on module when
// set); ready waits until it is provisioned.
func tenantNamespace(t *testing.T, ns, label string, module *infrav1.ModuleSource, ready bool, extra ...client.Object) *infrav1.CustomCluster {
	g := NewWithT(t)
	g.Expect(c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"capc-test": label}}})).To(Succeed())
	secret, cc := cloud.FakeCloudObjects(ns, clusterName)
	if module != nil {
		cc.Spec.Module = module
	}
	for _, o := range append(extra, secret) {
		o.SetNamespace(ns)
		g.Expect(c.Create(ctx, o)).To(Succeed())
	}
	g.Expect(c.Create(ctx, cc)).To(Succeed())
	g.Expect(c.Create(ctx, envtestutil.NewCluster(ns, clusterName, false))).To(Succeed())
	if ready {
		waitCondition(t, cc, infrav1.ReadyCondition, metav1.ConditionTrue, "", "")
	}
	return cc
}

// newMachine creates a fakecloud worker Machine + CustomMachine of instanceType.
func newMachine(t *testing.T, ns, name, instanceType string) *infrav1.CustomMachine {
	secret, machine, cm := envtestutil.NewMachine(ns, clusterName, name, false)
	cm.Spec.Module = &infrav1.ModuleSource{Name: "fakecloud"}
	cm.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: envtestutil.FakeCloudCredentialsName}
	cm.Spec.InstanceType = instanceType
	for _, o := range []client.Object{secret, machine, cm} {
		NewWithT(t).Expect(c.Create(ctx, o)).To(Succeed())
	}
	return cm
}

// waitCondition waits until obj's condition typ has status, and reason and a message containing
// msg when they are not empty; obj is left as read last.
func waitCondition(t *testing.T, obj interface {
	client.Object
	conditions.Getter
}, typ string, status metav1.ConditionStatus, reason, msg string) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		cond := conditions.Get(obj, typ)
		g.Expect(cond).NotTo(BeNil(), "%s has no %s condition: %v", obj.GetName(), typ, obj.GetConditions())
		g.Expect(cond.Status).To(Equal(status), "%s %s: %v", obj.GetName(), typ, cond)
		if reason != "" {
			g.Expect(cond.Reason).To(Equal(reason), "%s %s: %v", obj.GetName(), typ, cond)
		}
		g.Expect(cond.Message).To(ContainSubstring(msg))
	}, 2*time.Minute, 250*time.Millisecond).Should(Succeed())
}

// events are the messages of the Warning events with reason on the object named name.
func events(g Gomega, ns, name, reason string) []string {
	evs := &corev1.EventList{}
	g.Expect(c.List(ctx, evs, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, e := range evs.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason && e.Type == corev1.EventTypeWarning {
			out = append(out, e.Message)
		}
	}
	return out
}

// TestPlanPolicies: the sample policy set judges every plan in the namespaces it governs. A
// denied instance type provisions nothing (an approval does not override it); fixing the spec
// applies. A warn is shown and does not hold the plan.
func TestPlanPolicies(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	files := samplePolicies(t)
	files["owner_tag.rego"] = ownerTag
	policyConfigMap(t, "plans-a", files)
	customPolicy(t, "plans-a", "plans-a", infrav1.CustomPolicySpec{
		PlanPolicies: []infrav1.PlanPolicySource{{ConfigMapRef: &infrav1.LocalObjectReference{Name: "plans-a"}}}})
	const ns = "team-plans"
	cc := tenantNamespace(t, ns, "plans-a", nil, true)
	waitCondition(t, cc, infrav1.PolicyPassedCondition, metav1.ConditionTrue, infrav1.PolicyPassedReason, "")

	big := newMachine(t, ns, "plans-big", "m5.24xlarge")
	const denial = "fakecloud_instance.this: instance type m5.24xlarge is not allowed (allowed: m5.large, m5.xlarge, t3.large, t3.medium) (ConfigMap capc-system/plans-a, main.deny)"
	waitCondition(t, big, infrav1.PolicyPassedCondition, metav1.ConditionFalse, infrav1.PolicyDeniedReason, denial)
	waitCondition(t, big, infrav1.ReadyCondition, metav1.ConditionFalse, infrav1.PolicyDeniedReason, denial)
	g.Expect(big.Status.Terraform.LastRunResult).To(Equal(infrav1.RunDenied))
	digest := big.Status.Terraform.Plan.Digest
	g.Expect(digest).NotTo(BeEmpty(), "the denied plan is kept for review")
	g.Eventually(func(g Gomega) []string { return events(g, ns, big.Name, infrav1.PolicyDeniedReason) }).
		Should(ConsistOf(ContainSubstring("Denied by ConfigMap capc-system/plans-a: plan " + digest[:12])))

	// An approval of the denied plan applies nothing.
	patch := client.MergeFrom(big.DeepCopy())
	big.Annotations = map[string]string{infrav1.ApprovePlanAnnotation: digest}
	g.Expect(c.Patch(ctx, big, patch)).To(Succeed())
	g.Consistently(func(g Gomega) {
		items, err := cloud.Instances(big.Name)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(items).To(BeEmpty())
		g.Expect(c.Get(ctx, client.ObjectKeyFromObject(big), big)).To(Succeed())
		g.Expect(conditions.IsFalse(big, infrav1.PolicyPassedCondition)).To(BeTrue())
		g.Expect(big.Spec.ProviderID).To(BeEmpty())
	}, 3*time.Second, 250*time.Millisecond).Should(Succeed())

	// Fixing the spec plans again, and the new plan passes (with the owner-tag warning).
	patch = client.MergeFrom(big.DeepCopy())
	big.Spec.InstanceType = "t3.large"
	g.Expect(c.Patch(ctx, big, patch)).To(Succeed())
	waitCondition(t, big, infrav1.ReadyCondition, metav1.ConditionTrue, "", "")
	waitCondition(t, big, infrav1.PolicyPassedCondition, metav1.ConditionTrue, infrav1.PolicyWarningsReason,
		"plan policies warn: fakecloud_instance.this has no owner tag (ConfigMap capc-system/plans-a, tags.warn)")
	g.Expect(cloud.Instances(big.Name)).To(HaveLen(1))
	g.Eventually(func(g Gomega) []string { return events(g, ns, big.Name, infrav1.PolicyWarningsReason) }).
		Should(ConsistOf("Plan policies ConfigMap capc-system/plans-a warn: fakecloud_instance.this has no owner tag (ConfigMap capc-system/plans-a, tags.warn)"))

	// A denied change of a provisioned machine leaves it standing (still Ready, same instance);
	// going back to what was applied clears the denial.
	instance := big.Status.InstanceID
	patch = client.MergeFrom(big.DeepCopy())
	big.Spec.InstanceType = "x1e.32xlarge"
	g.Expect(c.Patch(ctx, big, patch)).To(Succeed())
	waitCondition(t, big, infrav1.PolicyPassedCondition, metav1.ConditionFalse, infrav1.PolicyDeniedReason, "instance type x1e.32xlarge is not allowed")
	g.Expect(conditions.IsTrue(big, infrav1.ReadyCondition)).To(BeTrue(), "a denied change must not take a provisioned machine down: %v", big.Status.Conditions)
	patch = client.MergeFrom(big.DeepCopy())
	big.Spec.InstanceType = "t3.large"
	g.Expect(c.Patch(ctx, big, patch)).To(Succeed())
	waitCondition(t, big, infrav1.PolicyPassedCondition, metav1.ConditionTrue, infrav1.PolicyPassedReason, "")
	g.Expect(big.Status.Terraform.LastRunResult).NotTo(Equal(infrav1.RunDenied))
	g.Expect(big.Status.InstanceID).To(Equal(instance))
}

// TestPolicyEditRejudgesPendingPlan: a denied plan waits for a change; an edit of the policy
// ConfigMap (watched, not resynced) judges it again, and the machine provisions without a spec
// change.
func TestPolicyEditRejudgesPendingPlan(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	files := samplePolicies(t)
	policyConfigMap(t, "plans-b", files)
	customPolicy(t, "plans-b", "plans-b", infrav1.CustomPolicySpec{
		PlanPolicies: []infrav1.PlanPolicySource{{ConfigMapRef: &infrav1.LocalObjectReference{Name: "plans-b"}}}})
	const ns = "team-edit"
	tenantNamespace(t, ns, "plans-b", nil, true)
	cm := newMachine(t, ns, "edit-big", "m5.8xlarge")
	waitCondition(t, cm, infrav1.PolicyPassedCondition, metav1.ConditionFalse, infrav1.PolicyDeniedReason, "instance type m5.8xlarge is not allowed")

	pol := &corev1.ConfigMap{}
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: policyNamespace, Name: "plans-b"}, pol)).To(Succeed())
	patch := client.MergeFrom(pol.DeepCopy())
	pol.Data["instance_types.rego"] = replaceOnce(t, pol.Data["instance_types.rego"], `"m5.xlarge"}`, `"m5.xlarge", "m5.8xlarge"}`)
	g.Expect(c.Patch(ctx, pol, patch)).To(Succeed())
	waitCondition(t, cm, infrav1.ReadyCondition, metav1.ConditionTrue, "", "")
	waitCondition(t, cm, infrav1.PolicyPassedCondition, metav1.ConditionTrue, infrav1.PolicyPassedReason, "")

	// A policy that no longer compiles holds the next plan, naming the file and line.
	g.Expect(c.Get(ctx, client.ObjectKey{Namespace: policyNamespace, Name: "plans-b"}, pol)).To(Succeed())
	patch = client.MergeFrom(pol.DeepCopy())
	pol.Data["broken.rego"] = "package main\n\ndeny contains msg if {\n"
	g.Expect(c.Patch(ctx, pol, patch)).To(Succeed())
	waitCondition(t, cm, infrav1.PolicyPassedCondition, metav1.ConditionFalse, infrav1.PolicyInvalidReason, "broken.rego:")
}

// TestNamespaceRules: one manager, two namespaces under different rules. The same ConfigMap
// module (the fakecloud cluster module, provider company/fakecloud) is refused where a
// CustomPolicy narrows providers to hashicorp/*, and provisions where no rule narrows them; an
// edit of that CustomPolicy (watched) lets it through.
func TestNamespaceRules(t *testing.T) {
	t.Parallel()
	g := NewWithT(t)
	narrow := customPolicy(t, "hashicorp-only", "narrow", infrav1.CustomPolicySpec{Providers: []string{"hashicorp/*"}})
	customPolicy(t, "configmaps-ok", "open", infrav1.CustomPolicySpec{
		Modules: &infrav1.ModuleRules{Kinds: []infrav1.ModuleKind{infrav1.ModuleKindBundled, infrav1.ModuleKindConfigMap}}})
	module := &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "cluster-module"}}
	var narrowed, open *infrav1.CustomCluster
	for ns, label := range map[string]string{"team-narrow": "narrow", "team-open": "open"} {
		cc := tenantNamespace(t, ns, label, module, false, moduleConfigMap(t))
		if label == "narrow" {
			narrowed = cc
		} else {
			open = cc
		}
	}
	waitCondition(t, narrowed, infrav1.ModuleValidCondition, metav1.ConditionFalse, infrav1.ModuleNotAllowedReason,
		`provider "registry.terraform.io/company/fakecloud": used by`)
	waitCondition(t, narrowed, infrav1.ModuleValidCondition, metav1.ConditionFalse, "",
		"is not in the provider allow-list of CustomPolicy hashicorp-only (registry.terraform.io/hashicorp/*)")
	waitCondition(t, open, infrav1.ReadyCondition, metav1.ConditionTrue, "", "")
	g.Expect(narrowed.Status.Initialization.Provisioned).To(BeNil())

	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(narrow), narrow)).To(Succeed())
	narrow.Spec.Providers = append(narrow.Spec.Providers, "company/fakecloud")
	g.Expect(c.Update(ctx, narrow)).To(Succeed())
	waitCondition(t, narrowed, infrav1.ReadyCondition, metav1.ConditionTrue, "", "")
}

// moduleConfigMap is the fakecloud cluster module in a ConfigMap named cluster-module.
func moduleConfigMap(t *testing.T) *corev1.ConfigMap {
	fsys, err := modules.Get("fakecloud", "cluster")
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]string{}
	for _, n := range []string{"main.tf", "outputs.tf", "variables.tf"} {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			t.Fatal(err)
		}
		data[n] = string(b)
	}
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cluster-module"}, Data: data}
}

// replaceOnce replaces old in s, which must hold it.
func replaceOnce(t *testing.T, s, old, repl string) string {
	if !strings.Contains(s, old) {
		t.Fatalf("%q not found in:\n%s", old, s)
	}
	return strings.Replace(s, old, repl, 1)
}
