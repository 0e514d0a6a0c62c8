/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from this run")

// env is the live stack the plugin's commands run against: envtest's kube-apiserver and etcd,
// CAPI's core reconcilers, this provider and real terraform on the embedded simulated modules.
type env struct {
	stack      *envtestutil.Stack
	k8s        client.Client
	kubeconfig string
}

func startEnv(t *testing.T) *env {
	t.Helper()
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	st, err := envtestutil.StartStack(ctx, envtestutil.StackOptions{WorkDir: filepath.Join(dir, "work")})
	if err != nil {
		cancel()
		t.Fatalf("starting the stack: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stopping the stack: %v", err)
		}
		cancel()
	})
	// Reads go to the API server, not the manager's cache: a test reads right after it writes.
	direct, err := client.New(st.Env.Config, client.Options{Scheme: st.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{stack: st, k8s: direct, kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := envtestutil.WriteKubeconfig(st.Env.Config, e.kubeconfig); err != nil {
		t.Fatal(err)
	}
	return e
}

// capc runs one plugin command in-process, as `kubectl capc args...` with stdin in.
func (e *env) capc(t *testing.T, in io.Reader, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	if in == nil {
		in = strings.NewReader("")
	}
	a := newApp(genericiooptions.IOStreams{In: in, Out: &out, ErrOut: &out})
	cmd := a.command()
	cmd.SetArgs(append(args, "--kubeconfig", e.kubeconfig))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

func (e *env) mustCapc(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.capc(t, nil, args...)
	if err != nil {
		t.Fatalf("kubectl capc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// volatile matches what differs between runs: ages, times, digests and ids, preview tokens.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "<time>"},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<uuid>"},
	{regexp.MustCompile(`kubectl-capc-\d+-[0-9a-f]+`), "<token>"},
	{regexp.MustCompile(`\b[0-9a-f]{8,64}\b`), "<hex>"},
	{regexp.MustCompile(`\b\d+(s|m|h|d|y)(\d+(s|m|h|d))?\b`), "<age>"},
	{regexp.MustCompile(`[ \t]+`), " "},
	{regexp.MustCompile(` +\n`), "\n"},
}

func normalize(s string) string {
	for _, v := range volatile {
		s = v.re.ReplaceAllString(s, v.with)
	}
	return s
}

// golden compares the normalized output with testdata/<name>.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	got = normalize(got)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/kubectl-capc -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// eventually polls cond every 200 ms for up to 2 minutes.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (e *env) machine(t *testing.T, ns, name string) *infrav1.CustomMachine {
	t.Helper()
	cm := &infrav1.CustomMachine{}
	if err := e.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
		t.Fatal(err)
	}
	return cm
}

func (e *env) waitResult(t *testing.T, ns, name string, want infrav1.RunResult, digestNot string) *infrav1.CustomMachine {
	t.Helper()
	var cm *infrav1.CustomMachine
	eventually(t, "custommachine "+name+" "+string(want), func(ctx context.Context) (bool, error) {
		cm = e.machine(t, ns, name)
		ts := cm.Status.Terraform
		if ts == nil || ts.LastRunResult != want || ts.Plan == nil || ts.Plan.Digest == digestNot {
			return false, nil
		}
		// A finished run releases its lock after it returns: wait for that too, so that what the
		// commands print next does not depend on when the release lands.
		li, err := tfstate.ReadLock(ctx, kubernetes.NewForConfigOrDie(e.stack.Env.Config), tfstate.ObjectRef{Kind: "CustomMachine", Namespace: ns, Name: name})
		return err == nil && li == nil, err
	})
	return cm
}
