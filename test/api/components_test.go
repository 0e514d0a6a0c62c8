/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package api_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// clusterctlVar matches clusterctl's ${NAME:=default} variables.
var clusterctlVar = regexp.MustCompile(`\$\{([A-Za-z0-9_]+):=([^}]*)\}`)

// TestDefaultComponentsAreValid builds config/default with the self-built kustomize, substitutes
// every clusterctl variable with its default (as `clusterctl generate provider` does when none is
// set) and creates the result on the API server: the components must be accepted as they are.
func TestDefaultComponentsAreValid(t *testing.T) {
	kustomize := filepath.Join(envtestutil.RepoRoot(), "bin", "kustomize")
	if _, err := os.Stat(kustomize); err != nil {
		t.Fatalf("bin/kustomize missing (run `make tools`): %v", err)
	}
	cmd := exec.Command(kustomize, "build", filepath.Join(envtestutil.RepoRoot(), "config", "default"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build config/default: %v\n%s", err, stderr.String())
	}

	vars := clusterctlVar.FindAllSubmatch(out, -1)
	if len(vars) == 0 {
		t.Errorf("no ${VAR:=default} clusterctl variables in the components")
	}
	rendered := clusterctlVar.ReplaceAll(out, []byte("$2"))
	if bytes.Contains(rendered, []byte("${")) {
		t.Errorf("a clusterctl variable without a default remains: clusterctl would require it to be set")
	}

	objs, err := envtestutil.DecodeObjects(bytes.NewReader(rendered))
	if err != nil {
		t.Fatalf("components: %v", err)
	}

	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		if got := o.GetLabels()["cluster.x-k8s.io/provider"]; got != "infrastructure-custom" {
			t.Errorf("%s %s: label cluster.x-k8s.io/provider = %q, want infrastructure-custom", o.GetKind(), o.GetName(), got)
		}
		switch o.GetKind() {
		case "Namespace":
			if o.GetName() != "capc-system" {
				t.Errorf("Namespace is %q, want capc-system", o.GetName())
			}
		case "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
		default:
			if o.GetNamespace() != "capc-system" {
				t.Errorf("%s %s is in namespace %q, want capc-system", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
	}
	// ClusterRoles: the manager's, two for tenants, one for the platform team; Roles: leader election
	// and plan policy ConfigMaps, each in capc-system.
	for kind, n := range map[string]int{"Namespace": 1, "CustomResourceDefinition": 5, "Deployment": 1,
		"ServiceAccount": 1, "ClusterRole": 4, "ClusterRoleBinding": 1, "Role": 2, "RoleBinding": 2} {
		if kinds[kind] != n {
			t.Errorf("components hold %d %s, want %d", kinds[kind], kind, n)
		}
	}

	ctx := context.Background()
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			continue // installed by envtest from the same files
		}
		if err := k8s.Create(ctx, o); err != nil {
			t.Errorf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
			continue
		}
		if o.GetKind() == "Deployment" {
			checkDeployment(t, o)
		}
	}
	t.Cleanup(func() {
		for i := len(objs) - 1; i >= 0; i-- {
			if objs[i].GetKind() != "CustomResourceDefinition" {
				_ = k8s.Delete(ctx, objs[i])
			}
		}
	})
}

// checkDeployment asserts the manager Deployment's contract with clusterctl and the product spec.
func checkDeployment(t *testing.T, d *unstructured.Unstructured) {
	t.Helper()
	if d.GetName() != "capc-controller-manager" {
		t.Errorf("Deployment is %q, want capc-controller-manager", d.GetName())
	}
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("want one container, got %d", len(containers))
	}
	c := containers[0].(map[string]any)
	if c["name"] != "manager" {
		t.Errorf("container is %v, want manager", c["name"])
	}
	for path, want := range map[string]any{
		"resources.requests.cpu":                   "100m",
		"resources.requests.memory":                "128Mi",
		"resources.limits.cpu":                     "500m",
		"resources.limits.memory":                  "512Mi",
		"livenessProbe.httpGet.path":               "/healthz",
		"readinessProbe.httpGet.path":              "/readyz",
		"securityContext.readOnlyRootFilesystem":   true,
		"securityContext.allowPrivilegeEscalation": false,
		"securityContext.runAsNonRoot":             true,
	} {
		got, found, _ := unstructured.NestedFieldNoCopy(c, strings.Split(path, ".")...)
		if !found || got != want {
			t.Errorf("container %s = %v, want %v", path, got, want)
		}
	}
	args, _, _ := unstructured.NestedStringSlice(c, "args")
	for _, want := range []string{"--approval-mode=auto", "--drift-check-interval=10m", "--work-dir=/tmp/capc", "--health-probe-bind-address=:8081", "--metrics-bind-address=:8080"} {
		found := false
		for _, a := range args {
			found = found || a == want
		}
		if !found {
			t.Errorf("container args %v lack %s", args, want)
		}
	}
}
