/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package tfrunner_test runs tfrunner against the real terraform binary and a real API server.
package tfrunner_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

var (
	kube       kubernetes.Interface
	restConfig *rest.Config
	binary     *tfrunner.Binary
	nsSeq      atomic.Int64
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if code, ok := tfrunner.ShimMain(); ok { // started as a runner's terraform shim
		return code
	}
	if os.Getenv(helperEnv) != "" {
		return runKillHelper()
	}
	root := envtestutil.RepoRoot()
	assets, err := envtestutil.Assets()
	if err != nil {
		fmt.Fprintln(os.Stderr, "SKIP integration:", err)
		return 0
	}
	// Only Secrets and Leases are needed: no CRDs, faster start.
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	restConfig = cfg
	kube = kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	binary, err = tfrunner.ResolveBinary(ctx, engineOptions(root))
	if err != nil {
		fmt.Fprintln(os.Stderr, "terraform:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "engine: %s %s (%s)\n", binary.Engine, binary.Version, binary.Path)
	return m.Run()
}

// newNamespace creates a fresh namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", nsSeq.Add(1), strings.ToLower(strings.ReplaceAll(t.Name(), "_", "-")))
	if len(name) > 60 {
		name = name[:60]
	}
	name = strings.Trim(strings.ReplaceAll(name, "/", "-"), "-")
	_, err := kube.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return name
}

func newRunner(t *testing.T, workDir, holder string, mut ...func(*tfrunner.Config)) *tfrunner.Runner {
	t.Helper()
	cfg := tfrunner.Config{Binary: binary, WorkDir: workDir, Kube: kube, Holder: holder,
		Logger: testr.New(t), CancelGrace: 10 * time.Second}
	if tfrunner.ShimSupported { // terraform runs under the shim, as in the manager
		cfg.Shim, _ = os.Executable()
	}
	// Sandboxed as in the manager; the suite's modules sleep in local-exec provisioners, so the
	// sandbox may run the shell and coreutils (the operator's --sandbox-allow-read).
	cfg.SandboxReadPaths = shellPaths
	return envtestutil.NewRunner(t, cfg, mut...)
}

var shellPaths = []string{"/bin", "/usr/bin"}

// unsandboxed is for modules that reach outside their workspace by design (markers the test
// reads, a kill of the manager): the sandbox would stop them; test/security is its suite.
func unsandboxed(c *tfrunner.Config) { c.Sandbox = tfrunner.SandboxOff }

// writeModule writes files into a temp dir and returns it as a module file tree.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func listSecrets(t *testing.T, ns string) []corev1.Secret {
	t.Helper()
	l, err := kube.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// engineOptions picks the engine the suite runs against: terraform (bin/terraform) by default,
// OpenTofu (bin/tofu) with CAPC_ENGINE=tofu; `make test` runs the suite with both.
func engineOptions(root string) tfrunner.BinaryOptions {
	if os.Getenv("CAPC_ENGINE") == tfrunner.EngineTofu {
		return tfrunner.BinaryOptions{Engine: tfrunner.EngineTofu, Path: filepath.Join(root, "bin", "tofu")}
	}
	return tfrunner.BinaryOptions{Path: filepath.Join(root, "bin", "terraform")}
}
