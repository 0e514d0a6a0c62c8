/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package sources runs user module trees end to end: a module repository whose root modules call
// shared modules through relative sources, delivered through spec.module.path (--module-root),
// a ConfigMap .tar.gz archive and a Flux GitRepository served by the real source-controller
// (bin/source-controller, built from the Go module proxy) from a git smart-HTTP server
// (Debian git's git-http-backend behind net/http/cgi), against envtest, CAPI's core reconcilers,
// this provider and the real terraform binary.
package sources

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

var (
	ctx        = context.Background()
	tmp        string
	stack      *envtestutil.Stack
	moduleRoot string
	gitURL     string // the module repository, served over smart HTTP
	gitBare    string
	gitServer  string // the git server's URL: <gitServer>/<name>.git serves <tmp>/git/<name>.git
	logs       = &envtestutil.SyncBuffer{}
	scLogs     = &envtestutil.SyncBuffer{}
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.Level(zapcore.InfoLevel)))
	code := envtestutil.Main(m, "sources", logs, func(dir string) (func(), error) {
		tmp = dir
		return start()
	})
	if code != 0 {
		fmt.Fprintf(os.Stderr, "---- source-controller logs (last 150 lines) ----\n%s\n", scLogs.Tail(150))
	}
	os.Exit(code)
}

// start brings up the git server, the stack (with Flux's CRDs) and source-controller.
func start() (func(), error) {
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	url, stopGit, err := startGitServer(filepath.Join(tmp, "git"))
	if err != nil {
		return stopAll, fmt.Errorf("git server: %w", err)
	}
	stops = append(stops, stopGit)
	gitServer = url
	gitURL, gitBare = url+"/modules.git", filepath.Join(tmp, "git", "modules.git")
	scBin, err := filepath.EvalSymlinks(filepath.Join(envtestutil.RepoRoot(), "bin", "source-controller"))
	if err != nil {
		return stopAll, fmt.Errorf("source-controller not built (make tools): %w", err)
	}
	moduleRoot = filepath.Join(tmp, "module-root")
	if err := os.MkdirAll(moduleRoot, 0o755); err != nil {
		return stopAll, err
	}
	stack, err = envtestutil.StartStack(ctx, envtestutil.StackOptions{
		WorkDir:    filepath.Join(tmp, "work"),
		ModuleRoot: moduleRoot,
		CRDDirs:    []string{filepath.Join(filepath.Dir(scBin), "crds")},
		Controller: controllers.Options{ClusterConcurrency: 2, MachineConcurrency: 4, ApprovalMode: "auto"},
	})
	if err != nil {
		return stopAll, fmt.Errorf("stack: %w", err)
	}
	stops = append(stops, func() { _ = stack.Stop() })
	stopSC, err := startSourceController(scBin)
	if err != nil {
		return stopAll, fmt.Errorf("source-controller: %w", err)
	}
	stops = append(stops, stopSC)
	return stopAll, nil
}

// startGitServer serves the bare repositories under root over git's smart HTTP protocol, as a
// git hosting service does, on 127.0.0.1.
func startGitServer(root string) (string, func(), error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", nil, err
	}
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", nil, fmt.Errorf("git --exec-path: %w", err)
	}
	h := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

// startSourceController runs Flux's source-controller against the envtest API server, its
// artifact server on a free local port.
func startSourceController(bin string) (func(), error) {
	kubeconfig := filepath.Join(tmp, "kubeconfig")
	if err := envtestutil.WriteKubeconfig(stack.Env.Config, kubeconfig); err != nil {
		return nil, err
	}
	storage := filepath.Join(tmp, "flux-storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	cmd := exec.Command(bin, "--storage-path="+storage, "--storage-addr="+addr, "--storage-adv-addr="+addr,
		"--metrics-addr=0", "--health-addr=0", "--log-level=info", "--interval-jitter-percentage=0")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "RUNTIME_NAMESPACE=flux-system")
	cmd.Stdout, cmd.Stderr = scLogs, scLogs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }, nil
}

// git runs git in dir with a fixed identity.
func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=infra", "GIT_AUTHOR_EMAIL=infra@example.com",
		"GIT_COMMITTER_NAME=infra", "GIT_COMMITTER_EMAIL=infra@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
