/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package api_test checks the CRDs against a real kube-apiserver (envtest, built by `make tools`):
// they install next to CAPI's, carry the contract label, accept the samples and reject invalid
// objects with a readable message.
package api_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

var (
	cfg    *rest.Config
	k8s    client.Client
	scheme = runtime.NewScheme()
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	utilruntime.Must(clusterv1.AddToScheme(scheme))
	utilruntime.Must(infrav1.AddToScheme(scheme))
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	env, c, err := envtestutil.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "test/api: %v\n", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "test/api: stopping envtest: %v\n", err)
		}
	}()
	cfg = c
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintf(os.Stderr, "test/api: client: %v\n", err)
		return 1
	}
	return m.Run()
}

// samplesDir is config/samples in the repository.
func samplesDir() string { return filepath.Join(envtestutil.RepoRoot(), "config", "samples") }

// readObjects decodes every YAML document of a file into unstructured objects.
func readObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := envtestutil.ReadObjects(path)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// sample returns the sample object of the given kind and name.
func sample(t *testing.T, file, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range readObjects(t, filepath.Join(samplesDir(), file)) {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %q in config/samples/%s", kind, name, file)
	return nil
}

// toTyped converts an unstructured object into a typed one.
func toTyped(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		t.Fatalf("converting %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// newNamespace creates a namespace for one test and deletes it at cleanup.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetGenerateName("api-test-")
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.GetName()
}
