/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package manager_test builds cmd/manager and runs it as a subprocess against a real API server
// (envtest), checking its probes, its metrics endpoint, graceful shutdown and flag errors.
package manager_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// buildManager compiles ./cmd/manager into a temporary directory.
func buildManager(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "manager")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	cmd.Dir = envtestutil.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/manager: %v\n%s", err, out)
	}
	return bin
}

var freePort = envtestutil.FreePort

func terraformPath(t *testing.T) string {
	t.Helper()
	p := filepath.Join(envtestutil.RepoRoot(), "bin", "terraform")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("bin/terraform missing (run `make tools`): %v", err)
	}
	return p
}

// get fetches url and returns the status code and body.
func get(ctx context.Context, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitFor200 polls url until it answers 200 or the deadline passes (or the process exits).
func waitFor200(t *testing.T, url string, exited <-chan struct{}, logs *envtestutil.SyncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("manager exited before %s answered; logs:\n%s", url, logs.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		code, body, err := get(ctx, url)
		cancel()
		if err == nil && code == http.StatusOK {
			return body
		}
		last = fmt.Sprintf("code=%d err=%v body=%q", code, err, body)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within 60s (last: %s); logs:\n%s", url, last, logs.String())
	return ""
}

func TestManagerServesProbesAndMetrics(t *testing.T) {
	bin := buildManager(t)

	env, _, err := envtestutil.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}

	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	healthAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin,
		"--kubeconfig="+kubeconfig,
		"--metrics-bind-address="+metricsAddr,
		"--health-probe-bind-address="+healthAddr,
		"--terraform-path="+terraformPath(t),
		"--work-dir="+filepath.Join(dir, "work"),
		"--module-root="+dir,
		"--customcluster-concurrency=3",
		"--custommachine-concurrency=7",
	)
	cmd.Env = append(os.Environ(), "POD_NAME=manager-test", "KUBECONFIG=")
	logs := &envtestutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	if body := waitFor200(t, "http://"+healthAddr+"/healthz", exited, logs); body != "ok" {
		t.Errorf("/healthz body = %q, want ok", body)
	}
	if body := waitFor200(t, "http://"+healthAddr+"/readyz", exited, logs); body != "ok" {
		t.Errorf("/readyz body = %q, want ok", body)
	}
	// The controllers (and their metrics) start once the manager's caches have synced, a moment
	// after the probes answer.
	var metrics string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if metrics = waitFor200(t, "http://"+metricsAddr+"/metrics", exited, logs); strings.Contains(metrics, "controller_runtime_max_concurrent_reconciles{") {
			break
		}
	}
	for _, want := range []string{"# TYPE controller_runtime_", "controller_runtime_reconcile_total", "go_goroutines"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q; manager logs:\n%s", want, logs.String())
		}
	}
	// The per-kind concurrency flags reach the two controllers.
	limits := map[string]bool{}
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "controller_runtime_max_concurrent_reconciles{") {
			limits[l[strings.LastIndex(l, " ")+1:]] = true
		}
	}
	if !limits["3"] || !limits["7"] {
		t.Errorf("want controllers with max_concurrent_reconciles 3 and 7 (--customcluster-concurrency, --custommachine-concurrency), got:\n%s",
			grepLines(metrics, "controller_runtime_max_concurrent_reconciles{"))
	}
	if !strings.Contains(logs.String(), `"msg":"using engine","engine":"terraform"`) {
		t.Errorf("manager did not log the terraform binary it uses; logs:\n%s", logs.String())
	}

	// SIGTERM stops the manager cleanly.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		stopped = true
		if waitErr != nil {
			t.Errorf("manager exited with %v after SIGTERM; logs:\n%s", waitErr, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("manager did not stop within 30s of SIGTERM; logs:\n%s", logs.String())
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestManagerRejectsBadConfiguration checks that the manager exits non-zero with a clear message
// on an invalid flag and on a terraform binary it cannot use, before touching any cluster.
func TestManagerRejectsBadConfiguration(t *testing.T) {
	bin := buildManager(t)
	cases := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"approval mode", []string{"--approval-mode=sometimes"}, 2,
			[]string{"invalid flags", `--approval-mode must be "auto" or "manual", got "sometimes"`}},
		{"concurrency", []string{"--custommachine-concurrency=0", "--max-concurrent-runs=0"}, 2,
			[]string{"--custommachine-concurrency must be at least 1", "--max-concurrent-runs must be at least 1"}},
		{"unknown flag", []string{"--no-such-flag"}, 2, []string{"flag provided but not defined: -no-such-flag"}},
		{"missing terraform", []string{"--terraform-path=" + filepath.Join(t.TempDir(), "no-terraform"), "--kubeconfig=/nonexistent"}, 1,
			[]string{"cannot resolve the terraform binary", "no-terraform"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, c.args...).CombinedOutput()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("want exit code %d, got err=%v; output:\n%s", c.wantCode, err, out)
			}
			if exitErr.ExitCode() != c.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", exitErr.ExitCode(), c.wantCode, out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
