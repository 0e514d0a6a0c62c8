/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package sources

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// gitRepository is a Flux GitRepository polling the test's git server every 2 s.
func gitRepository(ns, name, url, branch string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec":     map[string]any{"url": url, "interval": "2s", "timeout": "30s", "ref": map[string]any{"branch": branch}},
	}}
	return u
}

// setBranch points the source at another branch (retrying while source-controller updates it).
func setBranch(g Gomega, src *unstructured.Unstructured, branch string) {
	g.Eventually(func(g Gomega) {
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(src), src)).To(Succeed())
		g.Expect(unstructured.SetNestedField(src.Object, branch, "spec", "ref", "branch")).To(Succeed())
		g.Expect(stack.Client.Update(ctx, src)).To(Succeed())
	}, 30*time.Second, 250*time.Millisecond).Should(Succeed())
}

// artifactRevision returns the source's status.artifact.revision ("" until it has one).
func artifactRevision(g Gomega, src *unstructured.Unstructured) string {
	g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(src), src)).To(Succeed())
	rev, _, _ := unstructured.NestedString(src.Object, "status", "artifact", "revision")
	return rev
}

// repoClone is a working clone of a repository that pushes to the git server's bare repository.

type repoClone struct{ dir, bare string }

// newRepo is the module repository (gitBare, served as gitURL) with writeRepo's tree committed.
func newRepo(t *testing.T, g Gomega) repoClone {
	r := newBareRepo(t, g, gitBare)
	writeRepo(t, r.dir)
	r.commit(g, "team modules")
	return r
}

// newBareRepo creates the bare repository bare (served by the git server) and a clone of it.
func newBareRepo(t *testing.T, g Gomega, bare string) repoClone {
	g.Expect(os.MkdirAll(bare, 0o755)).To(Succeed())
	_, err := git(bare, "init", "--bare", "--initial-branch=main")
	g.Expect(err).NotTo(HaveOccurred())
	r := repoClone{dir: t.TempDir(), bare: bare}
	_, err = git(r.dir, "init", "--initial-branch=main")
	g.Expect(err).NotTo(HaveOccurred())
	return r
}

// commit commits everything and pushes it; it returns the commit's sha1.
func (r repoClone) commit(g Gomega, msg string) string {
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-qm", msg}, {"push", "-q", r.bare, "main"}} {
		_, err := git(r.dir, args...)
		g.Expect(err).NotTo(HaveOccurred())
	}
	sha, err := git(r.dir, "rev-parse", "HEAD")
	g.Expect(err).NotTo(HaveOccurred())
	return sha
}

// The module tree from a GitRepository served by source-controller: provisioned at the pushed
// revision; a commit to the shared module one kind uses applies to that kind's objects only;
// in manual mode the new revision waits for approval; a source that goes un-Ready is a
// condition and loses nothing.
func TestGitRepository(t *testing.T) {
	g := NewWithT(t)
	repo := newRepo(t, g)
	first, err := git(repo.dir, "rev-parse", "HEAD")
	g.Expect(err).NotTo(HaveOccurred())
	ns := newNamespace(g)
	src := gitRepository(ns, "infra", gitURL, "main")
	g.Expect(stack.Client.Create(ctx, src)).To(Succeed())
	g.Eventually(func(g Gomega) string { return artifactRevision(g, src) }, time.Minute, 250*time.Millisecond).
		Should(Equal("main@sha1:"+first), "source-controller serves the pushed commit")

	module := &infrav1.ModuleSource{SourceRef: &infrav1.SourceReference{Kind: "GitRepository", Name: "infra"}, Path: "teams/a"}
	w := newWorkload(ns, "flux", module)
	w.create(g)
	cc, cm := w.provisioned(g)
	g.Expect(cm.Status.Terraform.ModuleRevision).To(Equal("main@sha1:" + first))
	ccHash, cmHash := cc.Status.Terraform.AppliedInputsHash, cm.Status.Terraform.AppliedInputsHash

	// A commit that changes the shared module only the machine calls.
	g.Expect(writeFile(filepath.Join(repo.dir, "shared", "label", "main.tf"), labelModule("v2"))).To(Succeed())
	second := repo.commit(g, "label v2")
	g.Eventually(func(g Gomega) {
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		g.Expect(cm.Status.Terraform.ModuleRevision).To(Equal("main@sha1:" + second))
		g.Expect(cm.Status.Terraform.AppliedInputsHash).NotTo(Equal(cmHash))
		g.Expect(cm.Status.Terraform.LastRunResult).To(Equal(infrav1.RunSucceeded))
	}, time.Minute, 250*time.Millisecond).Should(Succeed(), "the new revision reaches the machine by itself")
	g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
	g.Expect(cc.Status.Terraform.AppliedInputsHash).To(Equal(ccHash), "the cluster's modules did not change")

	// Manual approval: the next revision waits; the machine keeps the revision in use.
	p := client.MergeFrom(cm.DeepCopy())
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[infrav1.ApprovalAnnotation] = "manual"
	g.Expect(stack.Client.Patch(ctx, cm, p)).To(Succeed())
	g.Eventually(func(g Gomega) string { // the manager's cache has it before the next revision
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		return cm.Annotations[infrav1.ApprovalAnnotation]
	}, 10*time.Second, 50*time.Millisecond).Should(Equal("manual"))
	g.Expect(writeFile(filepath.Join(repo.dir, "shared", "label", "main.tf"), labelModule("v3"))).To(Succeed())
	third := repo.commit(g, "label v3")
	g.Eventually(func(g Gomega) {
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		g.Expect(cm.Status.Terraform.LastRunResult).To(Equal(infrav1.RunPendingApproval))
	}, time.Minute, 250*time.Millisecond).Should(Succeed())
	g.Expect(cm.Status.Terraform.ModuleRevision).To(Equal("main@sha1:"+second), "nothing changed before the approval")
	p = client.MergeFrom(cm.DeepCopy())
	cm.Annotations[infrav1.ApprovePlanAnnotation] = cm.Status.Terraform.Plan.Digest
	g.Expect(stack.Client.Patch(ctx, cm, p)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		g.Expect(cm.Status.Terraform.LastRunResult).To(Equal(infrav1.RunSucceeded))
		g.Expect(cm.Status.Terraform.ModuleRevision).To(Equal("main@sha1:" + third))
	}, time.Minute, 250*time.Millisecond).Should(Succeed(), "the approved plan of the new revision applies")

	// The source goes un-Ready (its branch is gone): a condition, nothing lost.
	secrets := stateSecrets(g, ns, "flux")
	moduleValid := func(g Gomega) string {
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		return condition(cm.Status.Conditions, infrav1.ModuleValidCondition)
	}
	setBranch(g, src, "gone")
	g.Eventually(moduleValid, time.Minute, 250*time.Millisecond).Should(And(HavePrefix("False/SourceNotReady"), ContainSubstring("GitRepository "+ns+"/infra is not Ready")))
	g.Expect(cm.Status.Initialization.Provisioned).To(HaveValue(BeTrue()))
	g.Expect(cm.Spec.ProviderID).NotTo(BeEmpty())
	g.Expect(cm.Status.Terraform.ModuleRevision).To(Equal("main@sha1:" + third))
	g.Expect(stateSecrets(g, ns, "flux")).To(Equal(secrets))
	setBranch(g, src, "main")
	g.Eventually(moduleValid, time.Minute, 250*time.Millisecond).Should(HavePrefix("True/"))

	w.deleted(g)
}

// An artifact the provider must not use: a source (suspended, so source-controller leaves its
// status alone) whose status names an archive with a symlink out of the tree, then one whose
// content does not match the advertised digest.
func TestUnsafeArtifact(t *testing.T) {
	g := NewWithT(t)
	evil := t.TempDir()
	writeRepo(t, evil)
	g.Expect(os.Symlink("/etc/passwd", filepath.Join(evil, "teams", "a", "machine", "leak.tf"))).To(Succeed())
	archive := tarGz(t, evil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	g.Expect(err).NotTo(HaveOccurred())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(archive) }), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	sum := sha256.Sum256(archive)

	ns := newNamespace(g)
	src := gitRepository(ns, "evil", gitURL, "main")
	g.Expect(unstructured.SetNestedField(src.Object, true, "spec", "suspend")).To(Succeed())
	g.Expect(stack.Client.Create(ctx, src)).To(Succeed())
	setArtifact := func(digest string) {
		g.Eventually(func(g Gomega) { // the client reads through the manager's cache: it may lag
			g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(src), src)).To(Succeed())
			now := metav1.Now().UTC().Format(time.RFC3339)
			src.Object["status"] = map[string]any{
				"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "stored artifact", "lastTransitionTime": now}},
				"artifact": map[string]any{"url": "http://" + l.Addr().String() + "/evil.tar.gz", "digest": digest,
					"revision": "main@sha1:0123456789abcdef0123456789abcdef01234567", "path": "evil.tar.gz", "lastUpdateTime": now},
			}
			g.Expect(stack.Client.Status().Update(ctx, src)).To(Succeed())
		}, 30*time.Second, 250*time.Millisecond).Should(Succeed())
	}
	setArtifact("sha256:" + hex.EncodeToString(sum[:]))

	w := newWorkload(ns, "evil", &infrav1.ModuleSource{SourceRef: &infrav1.SourceReference{Kind: "GitRepository", Name: "evil"}, Path: "teams/a"})
	w.create(g)
	moduleValid := func(g Gomega) string { // the cluster's (the machine waits for its cluster)
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(w.cc), w.cc)).To(Succeed())
		return condition(w.cc.Status.Conditions, infrav1.ModuleValidCondition)
	}
	g.Eventually(moduleValid, time.Minute, 250*time.Millisecond).Should(And(HavePrefix("False/Invalid"),
		ContainSubstring(`entry "teams/a/machine/leak.tf" is a symlink to an absolute path "/etc/passwd"`)))
	setArtifact("sha256:" + hex.EncodeToString(make([]byte, 32)))
	g.Eventually(moduleValid, time.Minute, 250*time.Millisecond).Should(And(HavePrefix("False/Invalid"), ContainSubstring("digest mismatch")))
	g.Expect(w.cc.Status.Terraform).To(BeNil(), "nothing ran")
	w.deleted(g)
}
