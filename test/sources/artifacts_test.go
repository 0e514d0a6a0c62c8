/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package sources

import (
	"bytes"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// Flux's media types for an artifact pushed with `flux push artifact`.
const (
	fluxConfigType  types.MediaType = "application/vnd.cncf.flux.config.v1+json"
	fluxContentType types.MediaType = "application/vnd.cncf.flux.content.v1.tar+gzip"
)

// pushArtifact pushes the module tree in dir to ref as `flux push artifact` does: an OCI manifest
// with Flux's config media type, one tar+gzip content layer, and the source and revision
// annotations.
func pushArtifact(t *testing.T, g Gomega, ref, dir, revision string) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, fluxConfigType)
	img, err := mutate.Append(img, mutate.Addendum{Layer: static.NewLayer(tarGz(t, dir), fluxContentType)})
	g.Expect(err).NotTo(HaveOccurred())
	img = mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.source":   "https://git.example.com/infra/modules",
		"org.opencontainers.image.revision": revision,
		"org.opencontainers.image.created":  time.Now().UTC().Format(time.RFC3339),
	}).(v1.Image)
	r, err := name.ParseReference(ref, name.Insecure)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(remote.Write(r, img)).To(Succeed())
}

// fluxSource is a Flux source of kind polling every 2 s.
func fluxSource(ns, kind, name string, spec map[string]any) *unstructured.Unstructured {
	spec["interval"] = "2s"
	spec["timeout"] = "30s"
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": kind,
		"metadata": map[string]any{"namespace": ns, "name": name}, "spec": spec,
	}}
}

// provisionFrom provisions a workload from a Flux source's artifact (path teams/a) and returns
// the machine's module revision once it matches want.
func provisionFrom(g Gomega, ns, kind, src string, want func(string) bool) workload {
	module := &infrav1.ModuleSource{SourceRef: &infrav1.SourceReference{Kind: kind, Name: src}, Path: "teams/a"}
	w := newWorkload(ns, strings.ToLower(kind), module)
	w.create(g)
	_, cm := w.provisioned(g)
	g.Expect(want(cm.Status.Terraform.ModuleRevision)).To(BeTrue(), "module revision %q", cm.Status.Terraform.ModuleRevision)
	return w
}

// waitRevision waits until the machine runs a module revision other than old, and returns it.
func waitRevision(g Gomega, w workload, old string) string {
	cm := w.cm
	g.Eventually(func(g Gomega) {
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
		g.Expect(cm.Status.Terraform.ModuleRevision).NotTo(Equal(old))
		g.Expect(cm.Status.Terraform.LastRunResult).To(Equal(infrav1.RunSucceeded))
	}, time.Minute, 250*time.Millisecond).Should(Succeed(), "the new artifact reaches the machine by itself")
	return cm.Status.Terraform.ModuleRevision
}

// The module tree from an OCIRepository: an OCI registry (go-containerregistry's, served over
// HTTP as a registry is) holding the artifact pushed as `flux push artifact` pushes it; a new push
// to the tag reaches the machine by itself.
func TestOCIRepository(t *testing.T) {
	g := NewWithT(t)
	reg := httptest.NewServer(registry.New())
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	dir := t.TempDir()
	writeRepo(t, dir)
	pushArtifact(t, g, host+"/infra/modules:v1", dir, "main@sha1:1111111111111111111111111111111111111111")

	ns := newNamespace(g)
	src := fluxSource(ns, "OCIRepository", "modules", map[string]any{"url": "oci://" + host + "/infra/modules",
		"ref": map[string]any{"tag": "v1"}, "insecure": true})
	g.Expect(stack.Client.Create(ctx, src)).To(Succeed())
	w := provisionFrom(g, ns, "OCIRepository", "modules", func(rev string) bool { return strings.HasPrefix(rev, "v1@sha256:") })
	first := w.cm.Status.Terraform.ModuleRevision

	g.Expect(writeFile(filepath.Join(dir, "shared", "label", "main.tf"), labelModule("v2"))).To(Succeed())
	pushArtifact(t, g, host+"/infra/modules:v1", dir, "main@sha1:2222222222222222222222222222222222222222")
	g.Expect(waitRevision(g, w, first)).To(HavePrefix("v1@sha256:"))
	w.deleted(g)
}

// s3Put sends one S3 PUT request (a bucket, or an object with its content) as an S3 client does.
func s3Put(g Gomega, url string, body []byte) {
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	g.Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	_ = resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), "PUT %s", url)
}

// The module tree from a Bucket: an S3-compatible server (gofakes3, spoken to over the S3 API)
// holding the tree's files as objects, as `aws s3 sync` or `mc mirror` leave them; a changed
// object reaches the machine.
func TestBucket(t *testing.T) {
	g := NewWithT(t)
	s3 := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(s3.Close)
	s3Put(g, s3.URL+"/infra-modules", nil)
	dir := t.TempDir()
	writeRepo(t, dir)
	sync := func() {
		g.Expect(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			key, _ := filepath.Rel(dir, p)
			s3Put(g, s3.URL+"/infra-modules/"+filepath.ToSlash(key), b)
			return nil
		})).To(Succeed())
	}
	sync()

	ns := newNamespace(g)
	src := fluxSource(ns, "Bucket", "modules", map[string]any{"provider": "generic", "bucketName": "infra-modules",
		"endpoint": strings.TrimPrefix(s3.URL, "http://"), "insecure": true})
	g.Expect(stack.Client.Create(ctx, src)).To(Succeed())
	w := provisionFrom(g, ns, "Bucket", "modules", func(rev string) bool { return strings.HasPrefix(rev, "sha256:") })
	first := w.cm.Status.Terraform.ModuleRevision

	g.Expect(writeFile(filepath.Join(dir, "shared", "label", "main.tf"), labelModule("v2"))).To(Succeed())
	sync()
	g.Expect(waitRevision(g, w, first)).To(HavePrefix("sha256:"))
	w.deleted(g)
}
