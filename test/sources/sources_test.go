/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package sources

import (
	"os"
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

// A module tree under --module-root: the roots call shared modules through ../../../shared/...;
// editing the module only the machine uses makes the machine (and nothing else) plan and apply.
func TestPathModuleTree(t *testing.T) {
	g := NewWithT(t)
	writeRepo(t, filepath.Join(moduleRoot, "infra"))
	ns := newNamespace(g)
	w := newWorkload(ns, "tree", &infrav1.ModuleSource{Path: "infra/teams/a"})
	w.create(g)
	cc, cm := w.provisioned(g)
	g.Expect(cm.Status.Terraform.ModuleRevision).To(HavePrefix("infra/teams/a@sha256:"))
	ccHash, cmHash, cmRev := cc.Status.Terraform.AppliedInputsHash, cm.Status.Terraform.AppliedInputsHash, cm.Status.Terraform.ModuleRevision

	g.Expect(writeFile(filepath.Join(moduleRoot, "infra", "shared", "label", "main.tf"), labelModule("v2"))).To(Succeed())
	poke(g, cm)
	poke(g, cc)
	g.Eventually(func(g Gomega) {
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		g.Expect(cm.Status.Terraform.AppliedInputsHash).NotTo(Equal(cmHash))
		g.Expect(cm.Status.Terraform.LastRunResult).To(Equal(infrav1.RunSucceeded))
		g.Expect(cm.Status.Terraform.Plan.Change + cm.Status.Terraform.Plan.Replace).To(BeNumerically(">=", 1))
		g.Expect(cm.Status.Terraform.ModuleRevision).NotTo(Equal(cmRev))
	}, time.Minute, 250*time.Millisecond).Should(Succeed(), "the machine using the edited module applies it")
	g.Consistently(func(g Gomega) {
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
		g.Expect(cc.Status.Terraform.AppliedInputsHash).To(Equal(ccHash))
	}, 2*time.Second, 250*time.Millisecond).Should(Succeed(), "the cluster does not use the edited module")

	w.deleted(g)
}

// A local source that leaves --module-root is refused before anything runs, naming the source
// and the file.
func TestPathModuleEscapeRefused(t *testing.T) {
	g := NewWithT(t)
	writeRepo(t, filepath.Join(moduleRoot, "escape"))
	g.Expect(writeFile(filepath.Join(moduleRoot, "escape", "teams", "a", "machine", "label.tf"),
		"module \"label\" {\n  source = \"../../../../../outside\"\n  name   = var.machine_name\n}\n")).To(Succeed())
	ns := newNamespace(g)
	w := newWorkload(ns, "escape", &infrav1.ModuleSource{Path: "escape/teams/a"})
	w.create(g)
	g.Eventually(func(g Gomega) string {
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(w.cm), w.cm)).To(Succeed())
		return condition(w.cm.Status.Conditions, infrav1.ModuleValidCondition)
	}, time.Minute, 250*time.Millisecond).Should(And(HavePrefix("False/Invalid"),
		ContainSubstring(`module "label" (escape/teams/a/machine/label.tf:1): source "../../../../../outside" leaves the module tree`)))
	g.Expect(stateSecrets(g, ns, "escape")).To(BeNumerically("<=", 2), "only the cluster ran")
	g.Expect(w.cm.Status.Terraform).To(BeNil(), "the machine never ran terraform")
	w.deleted(g)
}

// The same tree as a .tar.gz in a ConfigMap's binaryData; an unsafe archive is refused.
func TestConfigMapArchive(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	writeRepo(t, dir)
	ns := newNamespace(g)
	arc := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "infra-modules"},
		BinaryData: map[string][]byte{"modules.tar.gz": tarGz(t, dir)}}
	g.Expect(stack.Client.Create(ctx, arc)).To(Succeed())
	w := newWorkload(ns, "archive", &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: arc.Name}, Path: "teams/a"})
	w.create(g)
	_, cm := w.provisioned(g)
	g.Expect(cm.Status.Terraform.ModuleRevision).To(HavePrefix("configmap/infra-modules@sha256:"))

	// An archive whose symlink leaves the tree.
	evil := t.TempDir()
	writeRepo(t, evil)
	g.Expect(writeFile(filepath.Join(evil, "placeholder"), "")).To(Succeed())
	g.Expect(os.Symlink("/etc/passwd", filepath.Join(evil, "teams", "a", "machine", "leak.tf"))).To(Succeed())
	bad := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "evil"}, BinaryData: map[string][]byte{"m.tgz": tarGz(t, evil)}}
	g.Expect(stack.Client.Create(ctx, bad)).To(Succeed())
	w2 := newWorkload(ns, "evil", &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: bad.Name}, Path: "teams/a"})
	w2.create(g)
	g.Eventually(func(g Gomega) string { // the cluster's (the machine waits for its cluster)
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(w2.cc), w2.cc)).To(Succeed())
		return condition(w2.cc.Status.Conditions, infrav1.ModuleValidCondition)
	}, time.Minute, 250*time.Millisecond).Should(And(HavePrefix("False/Invalid"),
		ContainSubstring(`entry "teams/a/machine/leak.tf" is a symlink to an absolute path`)))
	w2.deleted(g)
	w.deleted(g)
	if strings.Contains(logs.String(), "root:x:0:0") {
		t.Fatal("the manager logged /etc/passwd")
	}
}
