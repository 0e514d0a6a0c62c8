/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package move runs the real clusterctl (bin/clusterctl, v1.14.2) `move` between two management
// clusters: two kube-apiservers, each with CAPI's core reconcilers and this provider in-process,
// their CRDs and provider inventory set up the way `clusterctl init` leaves them (taken from the
// release's infrastructure-components.yaml), and clusters on the fakecloud module (bin/fakecloud,
// its real Terraform provider from bin/tf-mirror).
package move

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

const (
	releaseTag  = "v0.1.0"
	capiVersion = "v1.14.2" // sigs.k8s.io/cluster-api in go.mod: the core provider both sides run
)

// mgmt is one management cluster: its stack, a direct client and a kubeconfig file.
type mgmt struct {
	name       string
	stack      *envtestutil.Stack
	c          client.Client
	kubeconfig string
}

var (
	ctx      = context.Background()
	src, dst *mgmt
	tmp      string
	cloud    *envtestutil.FakeCloud
	logs     = &envtestutil.SyncBuffer{}
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.Level(zapcore.InfoLevel)))
	os.Exit(envtestutil.Main(m, "move", logs, setup))
}

// setup starts the fake cloud and two management clusters set up from the release's components.
func setup(dir string) (func(), error) {
	tmp = dir
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	var err error
	if cloud, err = envtestutil.StartFakeCloud("move-token"); err != nil {
		return nil, fmt.Errorf("fakecloud: %w", err)
	}
	stops = append(stops, cloud.Stop)
	components, err := envtestutil.ReleaseComponents(filepath.Join(tmp, "release"), releaseTag)
	if err != nil {
		return stopAll, fmt.Errorf("release components: %w", err)
	}
	for _, p := range []**mgmt{&src, &dst} {
		name := "source"
		if p == &dst {
			name = "target"
		}
		if *p, err = startMgmt(name, components); err != nil {
			return stopAll, fmt.Errorf("%s management cluster: %w", name, err)
		}
		mc := *p
		stops = append(stops, func() { _ = mc.stack.Stop() })
	}
	return stopAll, nil
}

// startMgmt starts one management cluster and sets it up as `clusterctl init` would have.
func startMgmt(name string, components []*unstructured.Unstructured) (*mgmt, error) {
	st, err := envtestutil.StartStack(ctx, envtestutil.StackOptions{
		WorkDir:         filepath.Join(tmp, name),
		ProviderMirrors: []string{filepath.Join(envtestutil.RepoRoot(), "bin", "tf-mirror")},
		Controller:      controllers.Options{ClusterConcurrency: 2, MachineConcurrency: 4, ApprovalMode: "auto"},
	})
	if err != nil {
		return nil, err
	}
	mc := &mgmt{name: name, stack: st, kubeconfig: filepath.Join(tmp, name+".kubeconfig")}
	if err := apiextensionsv1.AddToScheme(st.Scheme); err != nil {
		return nil, err
	}
	if mc.c, err = client.New(st.Env.Config, client.Options{Scheme: st.Scheme}); err != nil {
		return nil, err
	}
	if err := envtestutil.WriteKubeconfig(st.Env.Config, mc.kubeconfig); err != nil {
		return nil, err
	}
	if err := initLikeClusterctl(mc, st.Env.Config, components); err != nil {
		_ = st.Stop()
		return nil, err
	}
	return mc, nil
}

// initLikeClusterctl does to an envtest API server (whose CRDs envtest installed) what
// `clusterctl init` leaves behind: every provider object labelled clusterctl.cluster.x-k8s.io and
// cluster.x-k8s.io/provider, and an inventory Provider per provider in its namespace. Ours come
// from the release's components (their labels, namespace and version); the core provider's
// from CAPI's own naming.
func initLikeClusterctl(mc *mgmt, cfg *rest.Config, components []*unstructured.Unstructured) error {
	dir, err := envtestutil.CAPICRDDir()
	if err != nil {
		return err
	}
	inventory := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(dir)))), "cmd", "clusterctl", "config", "manifest", "clusterctl-api.yaml")
	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{inventory}, ErrorIfPathMissing: true}); err != nil {
		return fmt.Errorf("installing the clusterctl inventory CRD: %w", err)
	}
	ours := map[string]map[string]string{} // CRD name -> labels from the components
	namespace := ""
	for _, o := range components {
		switch o.GetKind() {
		case "CustomResourceDefinition":
			ours[o.GetName()] = o.GetLabels()
		case "Namespace":
			namespace = o.GetName()
		}
	}
	if len(ours) == 0 || namespace == "" {
		return fmt.Errorf("the components have no CRDs or no Namespace")
	}
	crds := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := mc.c.List(ctx, crds); err != nil {
		return err
	}
	for i := range crds.Items {
		crd := &crds.Items[i]
		labels := map[string]string{"clusterctl.cluster.x-k8s.io": ""}
		if l, ok := ours[crd.Name]; ok {
			for k, v := range l {
				labels[k] = v
			}
		} else if strings.HasSuffix(crd.Spec.Group, "cluster.x-k8s.io") && crd.Spec.Group != "clusterctl.cluster.x-k8s.io" {
			labels["cluster.x-k8s.io/provider"] = "cluster-api"
		} else {
			continue
		}
		patch := client.MergeFrom(crd.DeepCopy())
		if crd.Labels == nil {
			crd.Labels = map[string]string{}
		}
		for k, v := range labels {
			crd.Labels[k] = v
		}
		if err := mc.c.Patch(ctx, crd, patch); err != nil {
			return fmt.Errorf("labelling CRD %s: %w", crd.Name, err)
		}
	}
	for _, p := range []struct{ ns, name, providerName, typ, version string }{
		{"capi-system", "cluster-api", "cluster-api", "CoreProvider", capiVersion},
		{namespace, "infrastructure-custom", "custom", "InfrastructureProvider", releaseTag},
	} {
		if err := mc.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.ns}}); err != nil && !strings.Contains(err.Error(), "already exists") {
			return err
		}
		prov := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "clusterctl.cluster.x-k8s.io/v1alpha3", "kind": "Provider",
			"metadata": map[string]any{"namespace": p.ns, "name": p.name,
				"labels": map[string]any{"clusterctl.cluster.x-k8s.io": "", "cluster.x-k8s.io/provider": p.name}},
			"providerName": p.providerName, "type": p.typ, "version": p.version,
		}}
		if err := mc.c.Create(ctx, prov); err != nil {
			return fmt.Errorf("inventory Provider %s: %w", p.name, err)
		}
	}
	return nil
}

// clusterctlMove runs `clusterctl move` from src to dst for namespace ns.
func clusterctlMove(ns string) (string, error) {
	home := filepath.Join(tmp, "home")
	_ = os.MkdirAll(home, 0o700)
	cmd := exec.Command(filepath.Join(envtestutil.RepoRoot(), "bin", "clusterctl"), "move",
		"--kubeconfig", src.kubeconfig, "--to-kubeconfig", dst.kubeconfig, "--namespace", ns, "-v", "3")
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	b, err := cmd.CombinedOutput()
	return string(b), err
}
