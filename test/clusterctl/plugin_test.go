/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package clusterctl_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// TestKrewPlugin installs the release's kubectl-capc the way users do: the real krew reads the
// release's manifest (capc.yaml) and this machine's archive, checks its sha256 and installs it;
// then the real kubectl finds it on PATH and runs `kubectl capc` against the API server.
func TestKrewPlugin(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repo, "capc.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		APIVersion string `json:"apiVersion"`
		Metadata   struct{ Name string }
		Spec       struct {
			Version   string
			Platforms []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				}
				URI, SHA256, Bin string
			}
		}
	}
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Metadata.Name != "capc" || m.Spec.Version != version || len(m.Spec.Platforms) != 1 {
		t.Fatalf("krew manifest: %+v", m)
	}
	p := m.Spec.Platforms[0]
	if p.Selector.MatchLabels["os"] != runtime.GOOS || p.Selector.MatchLabels["arch"] != runtime.GOARCH || p.Bin != "kubectl-capc" {
		t.Fatalf("platform: %+v", p)
	}
	archive := filepath.Join(repo, path.Base(p.URI))
	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != p.SHA256 {
		t.Fatalf("the manifest's sha256 %s is not the archive's", p.SHA256)
	}

	bin := filepath.Join(envtestutil.RepoRoot(), "bin")
	krewRoot := t.TempDir()
	env := append(os.Environ(), "KREW_ROOT="+krewRoot, "HOME="+t.TempDir())
	install := exec.Command(filepath.Join(bin, "krew"), "install", "--manifest="+filepath.Join(repo, "capc.yaml"), "--archive="+archive)
	install.Env = env
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("krew install: %v\n%s", err, out)
	}

	if _, err := os.Stat(filepath.Join(krewRoot, "store", "capc", version, "LICENSE")); err != nil {
		t.Errorf("the installed plugin has no LICENSE (Apache-2.0): %v", err)
	}

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := envtestutil.WriteKubeconfig(cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) string {
		t.Helper()
		c := exec.Command(filepath.Join(bin, "kubectl"), args...)
		// Only krew's bin on PATH: the plugin must come from the installed archive.
		c.Env = append(env, "PATH="+filepath.Join(krewRoot, "bin"), "KUBECONFIG="+kubeconfig)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := kubectl("plugin", "list"); !strings.Contains(out, filepath.Join(krewRoot, "bin", "kubectl-capc")) {
		t.Fatalf("kubectl plugin list does not show the installed plugin:\n%s", out)
	}
	if out := kubectl("capc", "--version"); !strings.Contains(out, version) {
		t.Fatalf("kubectl capc --version: %s", out)
	}
	if out := kubectl("capc", "status", "-A"); !strings.Contains(out, "No CustomClusters or CustomMachines found.") {
		t.Fatalf("kubectl capc status -A: %s", out)
	}
}
