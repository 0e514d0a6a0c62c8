/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package clusterctl_test installs nothing: it builds the release artifacts with `make release`,
// lays them out as a clusterctl local repository and runs the self-built clusterctl v1.14.2
// against it (`generate provider`, `generate cluster` for every flavor), then checks that every
// generated object is accepted by a real API server (server-side dry-run) with CAPI's core and
// kubeadm CRDs installed.
package clusterctl_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

const (
	version   = "v0.1.0"
	defaultNS = "default"
)

var (
	cfg *rest.Config
	// repo is the local clusterctl repository, config the clusterctl config file pointing at it.
	repo, config, home string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "capc-clusterctl-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := layOutRepository(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	env, c, err := envtestutil.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	cfg = c
	capi, err := envtestutil.CAPICRDDir() // <module>/core/config/crd/bases
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	capiRoot := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(capi))))
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{
		Paths: []string{
			filepath.Join(capiRoot, "controlplane", "kubeadm", "config", "crd", "bases"),
			filepath.Join(capiRoot, "bootstrap", "kubeadm", "config", "crd", "bases"),
		},
		ErrorIfPathMissing: true,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "installing kubeadm CRDs:", err)
		return 1
	}
	return m.Run()
}

// layOutRepository runs `make release` into <tmp>/out and copies the artifacts to
// <tmp>/repo/infrastructure-custom/v0.1.0/, the layout of a clusterctl local repository.
func layOutRepository(tmp string) error {
	out := filepath.Join(tmp, "out")
	// The plugin is built for this machine only: cross-builds add minutes and test nothing more here.
	cmd := exec.Command("make", "-C", envtestutil.RepoRoot(), "release", "RELEASE_TAG="+version, "RELEASE_DIR="+out,
		"PLUGIN_PLATFORMS="+runtime.GOOS+"/"+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("make release: %w\n%s", err, b)
	}
	repo = filepath.Join(tmp, "repo", "infrastructure-custom", version)
	if err := os.MkdirAll(repo, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(repo, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	home = filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return err
	}
	config = filepath.Join(tmp, "clusterctl.yaml")
	return os.WriteFile(config, []byte(fmt.Sprintf(`providers:
- name: custom
  url: file://%s/infrastructure-components.yaml
  type: InfrastructureProvider
`, repo)), 0o644)
}

// clusterctl runs bin/clusterctl with the test's config, a private HOME and only the given
// variables in its environment (nothing of the user's: no kubeconfig, no clusterctl config).
func clusterctl(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	bin := filepath.Join(envtestutil.RepoRoot(), "bin", "clusterctl")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("bin/clusterctl missing (run `make clusterctl`): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--config", config)...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"KUBECONFIG=" + filepath.Join(home, "no-kubeconfig"), "CLUSTERCTL_DISABLE_VERSIONCHECK=true",
	}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func decode(t *testing.T, data string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := envtestutil.DecodeObjects(strings.NewReader(data))
	if err != nil {
		t.Fatalf("clusterctl output: %v", err)
	}
	return objs
}

func newClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dryRunCreate asks the API server to validate obj as a create (server-side dry-run) with strict
// field validation, so unknown or misspelt fields fail instead of being pruned. Objects that exist
// already (our CRDs, installed by envtest) are validated as an update instead.
func dryRunCreate(ctx context.Context, c client.Client, obj *unstructured.Unstructured) error {
	o := obj.DeepCopy()
	err := c.Create(ctx, o, client.DryRunAll, client.FieldValidation("Strict"))
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur := &unstructured.Unstructured{}
	cur.SetGroupVersionKind(obj.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), cur); err != nil {
		return err
	}
	o = obj.DeepCopy()
	o.SetResourceVersion(cur.GetResourceVersion())
	return c.Update(ctx, o, client.DryRunAll, client.FieldValidation("Strict"))
}

func kindNames(objs []*unstructured.Unstructured) map[string][]string {
	out := map[string][]string{}
	for _, o := range objs {
		out[o.GetKind()] = append(out[o.GetKind()], o.GetName())
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

func TestGenerateProvider(t *testing.T) {
	ctx := context.Background()
	stdout, stderr, err := clusterctl(t, nil, "generate", "provider", "--infrastructure", "custom:"+version)
	if err != nil {
		t.Fatalf("clusterctl generate provider: %v\n%s", err, stderr)
	}
	objs := decode(t, stdout)
	got := kindNames(objs)
	want := map[string][]string{
		"Namespace": {"capc-system"},
		"CustomResourceDefinition": {
			"customclusters.infrastructure.cluster.x-k8s.io",
			"customclustertemplates.infrastructure.cluster.x-k8s.io",
			"custommachines.infrastructure.cluster.x-k8s.io",
			"custommachinetemplates.infrastructure.cluster.x-k8s.io",
			"custompolicies.infrastructure.cluster.x-k8s.io",
		},
		"Deployment": {"capc-controller-manager"},
	}
	for kind, names := range want {
		if strings.Join(got[kind], ",") != strings.Join(names, ",") {
			t.Errorf("%s: got %v, want %v", kind, got[kind], names)
		}
	}
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding"} {
		if len(got[kind]) == 0 {
			t.Errorf("no %s in the components", kind)
		}
	}
	if strings.Contains(stdout, "${") {
		t.Errorf("generate provider left a variable unsubstituted")
	}

	var deploy *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			deploy = o
		}
		if l := o.GetLabels()["cluster.x-k8s.io/provider"]; l != "infrastructure-custom" {
			t.Errorf("%s %s: provider label %q", o.GetKind(), o.GetName(), l)
		}
	}
	if deploy != nil {
		containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
		if len(containers) != 1 || containers[0].(map[string]any)["name"] != "manager" {
			t.Fatalf("Deployment containers: %v", containers)
		}
		m := containers[0].(map[string]any)
		if img := m["image"]; img != "ghcr.io/company/cluster-api-provider-custom:"+version {
			t.Errorf("default image %v", img)
		}
		if args := fmt.Sprint(m["args"]); !strings.Contains(args, "--approval-mode=auto") {
			t.Errorf("args lack the default approval mode: %s", args)
		}
	}

	// Every object is accepted by the API server. The Namespace is created for real so the
	// namespaced objects can be validated in it.
	c := newClient(t)
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			if err := c.Create(ctx, o.DeepCopy()); err != nil {
				t.Fatalf("creating Namespace: %v", err)
			}
		}
	}
	for _, o := range objs {
		if err := dryRunCreate(ctx, c, o); err != nil {
			t.Errorf("dry-run create %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}

	// Provider variables can be set at install time.
	stdout, stderr, err = clusterctl(t, map[string]string{"CAPC_IMAGE": "registry.example/capc:dev", "CAPC_APPROVAL_MODE": "manual"},
		"generate", "provider", "--infrastructure", "custom:"+version)
	if err != nil {
		t.Fatalf("clusterctl generate provider with variables: %v\n%s", err, stderr)
	}
	for _, s := range []string{"image: registry.example/capc:dev", "--approval-mode=manual"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("generate provider with variables: %q missing", s)
		}
	}
}

func TestGenerateCluster(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	full := map[string]string{
		"CUSTOM_REGION":      "us-east-1",
		"KUBERNETES_VERSION": "v1.36.3",
		"CUSTOM_IMAGE_ID":    "ami-0123456789abcdef0",
	}
	cases := []struct {
		flavor   string
		vars     map[string]string
		required []string
		kinds    []string
	}{
		{
			flavor: "", vars: full,
			required: []string{"CUSTOM_IMAGE_ID", "CUSTOM_REGION", "KUBERNETES_VERSION"},
			kinds:    []string{"Cluster", "CustomCluster", "CustomMachineTemplate", "CustomMachineTemplate", "KubeadmConfigTemplate", "KubeadmControlPlane", "MachineDeployment"},
		},
		{
			flavor: "clusterclass", vars: full,
			required: []string{"CUSTOM_IMAGE_ID", "CUSTOM_REGION", "KUBERNETES_VERSION"},
			kinds:    []string{"Cluster", "ClusterClass", "CustomClusterTemplate", "CustomMachineTemplate", "CustomMachineTemplate", "KubeadmConfigTemplate", "KubeadmControlPlaneTemplate"},
		},
		{
			flavor: "simulated", vars: map[string]string{"KUBERNETES_VERSION": "v1.36.3"},
			required: []string{"KUBERNETES_VERSION"},
			kinds:    []string{"Cluster", "CustomCluster", "CustomMachineTemplate", "CustomMachineTemplate", "KubeadmConfigTemplate", "KubeadmControlPlane", "MachineDeployment"},
		},
	}
	for _, tc := range cases {
		name := tc.flavor
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"generate", "cluster", "demo-" + name, "--infrastructure", "custom:" + version,
				"--target-namespace", defaultNS, "--control-plane-machine-count", "3", "--worker-machine-count", "2"}
			if tc.flavor != "" {
				args = append(args, "--flavor", tc.flavor)
			}

			// --list-variables names exactly the required variables.
			stdout, stderr, err := clusterctl(t, nil, append(args, "--list-variables")...)
			if err != nil {
				t.Fatalf("--list-variables: %v\n%s", err, stderr)
			}
			req := stdout[strings.Index(stdout, "Required Variables:"):]
			req = req[:strings.Index(req, "Optional Variables:")]
			var got []string
			for _, l := range strings.Split(req, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(l), "- "); ok {
					got = append(got, v)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.required, ",") {
				t.Errorf("required variables %v, want %v", got, tc.required)
			}

			// Each missing required variable fails with a message naming it.
			for _, missing := range tc.required {
				vars := map[string]string{}
				for k, v := range tc.vars {
					if k != missing {
						vars[k] = v
					}
				}
				_, stderr, err := clusterctl(t, vars, args...)
				if err == nil {
					t.Errorf("without %s: clusterctl succeeded", missing)
				} else if !strings.Contains(stderr, "value for variables ["+missing+"] is not set") {
					t.Errorf("without %s: unclear error: %s", missing, stderr)
				}
			}

			stdout, stderr, err = clusterctl(t, tc.vars, args...)
			if err != nil {
				t.Fatalf("clusterctl %s: %v\n%s", strings.Join(args, " "), err, stderr)
			}
			if strings.Contains(stdout, "${") {
				t.Errorf("unsubstituted variable in the output")
			}
			objs := decode(t, stdout)
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.GetKind())
				if o.GetNamespace() != defaultNS {
					t.Errorf("%s %s in namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
				}
				if err := dryRunCreate(ctx, c, o); err != nil {
					t.Errorf("dry-run create %s %s: %v", o.GetKind(), o.GetName(), err)
				}
			}
			sort.Strings(kinds)
			if strings.Join(kinds, ",") != strings.Join(tc.kinds, ",") {
				t.Errorf("kinds %v, want %v", kinds, tc.kinds)
			}
			checkValues(t, name, objs)
		})
	}
}

// checkValues spot-checks that the variables landed where they belong.
func checkValues(t *testing.T, flavor string, objs []*unstructured.Unstructured) {
	t.Helper()
	str := func(o *unstructured.Unstructured, path ...string) string {
		v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
		return fmt.Sprint(v)
	}
	for _, o := range objs {
		switch o.GetKind() + "/" + flavor {
		case "CustomCluster/default":
			if str(o, "spec", "region") != "us-east-1" || str(o, "spec", "module", "name") != "aws" {
				t.Errorf("CustomCluster spec: %v", o.Object["spec"])
			}
		case "CustomCluster/simulated":
			if str(o, "spec", "module", "name") != "simulated" {
				t.Errorf("simulated CustomCluster module: %v", o.Object["spec"])
			}
		case "KubeadmControlPlane/default", "KubeadmControlPlane/simulated":
			if str(o, "spec", "replicas") != "3" || str(o, "spec", "version") != "v1.36.3" {
				t.Errorf("KubeadmControlPlane spec: replicas %s version %s", str(o, "spec", "replicas"), str(o, "spec", "version"))
			}
		case "MachineDeployment/default", "MachineDeployment/simulated":
			if str(o, "spec", "replicas") != "2" {
				t.Errorf("MachineDeployment replicas %s", str(o, "spec", "replicas"))
			}
		case "CustomMachineTemplate/default":
			if str(o, "spec", "template", "spec", "instanceType") != "t3.large" || str(o, "spec", "template", "spec", "imageId") != "ami-0123456789abcdef0" {
				t.Errorf("CustomMachineTemplate spec: %v", o.Object["spec"])
			}
		case "Cluster/clusterclass":
			if str(o, "spec", "topology", "classRef", "name") != "custom" || str(o, "spec", "topology", "controlPlane", "replicas") != "3" {
				t.Errorf("Cluster topology: %v", o.Object["spec"])
			}
		}
	}
}
