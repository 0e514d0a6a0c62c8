/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package jobmode runs the provider in job mode (--runner=job) with real Kubernetes parts: the
// envtest API server, the real kube-controller-manager's Job, TTL-after-finished and garbage
// collector controllers, CAPI's core reconcilers and this provider in-process, and the provider's
// own binary as the runner (`manager runner`) with the real terraform. This machine has no
// container runtime, so a node agent (envtestutil.NodeAgent) plays the kubelet: it binds the
// Jobs' pods and runs their container as a local process.
package jobmode

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfjob"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

type env struct {
	stack *envtestutil.Stack
	k8s   client.Client
	kube  kubernetes.Interface
	agent *envtestutil.NodeAgent
	jobs  *jobLog
	// requests is every request the manager sent (controllers and runner alike).
	requests *requestLog
	proxy    *envtestutil.CutProxy // between runner pods and the API server
}

// requestLog records the method and path of each request through a wrapped transport.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		l.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

// matching lists the recorded requests whose path contains s.
func (l *requestLog) matching(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.reqs {
		if strings.Contains(r, s) {
			out = append(out, r)
		}
	}
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// jobLog records every runner Job created, by name.
type jobLog struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (l *jobLog) names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for n := range l.seen {
		out = append(out, n)
	}
	return out
}

func start(t *testing.T, adjust func(*envtestutil.StackOptions)) *env {
	t.Helper()
	out := io.Discard
	if os.Getenv("CAPC_TEST_VERBOSE") != "" {
		out = os.Stderr
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(out)))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	managerBin, err := envtestutil.BuildManager(dir)
	if err != nil {
		t.Fatal(err)
	}
	requests := &requestLog{}
	opts := envtestutil.StackOptions{WorkDir: filepath.Join(dir, "work"), WrapTransport: requests.wrap, Jobs: envtestutil.RunnerJobs()}
	if adjust != nil {
		adjust(&opts)
	}
	st, err := envtestutil.StartStack(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Stop() })
	node, err := envtestutil.StartJobNode(ctx, st, dir, managerBin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(node.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, dir)
		}
	})
	kube, err := kubernetes.NewForConfig(st.Env.Config)
	if err != nil {
		t.Fatal(err)
	}
	// Reads go to the API server, not a manager's cache: a test reads right after it writes.
	direct, err := client.New(st.Env.Config, client.Options{Scheme: st.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{stack: st, k8s: direct, kube: kube, agent: node.Agent, jobs: &jobLog{seen: map[string]bool{}}, requests: requests, proxy: node.Proxy}
	go e.recordJobs(ctx)
	return e
}

func dumpLogs(t *testing.T, dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "node", "*.log"))
	logs = append(logs, filepath.Join(dir, "kube-controller-manager.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		t.Logf("=== %s\n%s", filepath.Base(l), b)
	}
}

// namespace creates ns with the runner's identity (config/rbac/runner).
func (e *env) namespace(t *testing.T, ns string) {
	t.Helper()
	if err := envtestutil.RunnerNamespace(context.Background(), e.k8s, ns); err != nil {
		t.Fatal(err)
	}
}

func (e *env) recordJobs(ctx context.Context) {
	for ctx.Err() == nil {
		list, err := e.kube.BatchV1().Jobs("").List(ctx, metav1.ListOptions{LabelSelector: tfstate.LabelRole + "=run"})
		if err == nil {
			e.jobs.mu.Lock()
			for _, j := range list.Items {
				e.jobs.seen[j.Namespace+"/"+j.Name] = true
			}
			e.jobs.mu.Unlock()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var waitFor = envtestutil.WaitFor

func TestJobModeProvisionAndDelete(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	ns := "jobs"
	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cloud"},
		Data: map[string][]byte{"SIMULATED_TOKEN": []byte("tok-only-for-the-runner-pod")}}
	cluster, cc := envtestutil.NewCluster(ns, "jm", false), envtestutil.NewCustomCluster(ns, "jm")
	cc.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: "cloud"}
	secret, machine, cm := envtestutil.NewMachine(ns, "jm", "jm-0", true)
	cm.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: "cloud"}
	e.namespace(t, ns)
	for _, o := range []client.Object{creds, cluster, cc, secret, machine, cm} {
		if err := e.k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 4*time.Minute, "the cluster and machine provisioned through runner Jobs", func(ctx context.Context) (bool, error) {
		if err := e.k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm); err != nil {
			return false, err
		}
		return cm.Spec.ProviderID != "" && cm.Status.Initialization.Provisioned != nil && *cm.Status.Initialization.Provisioned, nil
	})
	if n := e.stack.Runner.Processes(); n != 0 {
		t.Fatalf("the manager started %d terraform processes in job mode", n)
	}
	// The outputs a runner Job read back are published like local mode's.
	if name := cm.Status.Terraform.OutputsSecret; name == "" {
		t.Fatal("no outputs Secret named in status")
	} else if out, err := e.kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{}); err != nil || string(out.Data["provider_id"]) != `"`+cm.Spec.ProviderID+`"` {
		t.Fatalf("outputs Secret %s: the provider_id key is not the machine's providerID (%v)", name, err)
	}
	jobs := e.jobs.names()
	if len(jobs) < 2 {
		t.Fatalf("runner Jobs seen: %v, want one per object at least", jobs)
	}
	t.Logf("runner Jobs: %v", jobs)
	credsSeen := 0
	for pod, env := range e.agent.Envs {
		for _, kv := range env {
			if kv == tfjob.CredentialsEnvPrefix+"SIMULATED_TOKEN=tok-only-for-the-runner-pod" {
				credsSeen++
			}
		}
		_ = pod
	}
	if credsSeen == 0 {
		t.Fatal("no runner pod received the credentials Secret as environment")
	}
	// The manager never asked for the credentials Secret, by name or in a list of Secrets (its
	// own Secret requests are by name or carry a label selector of its objects).
	if r := e.requests.matching("/secrets/cloud"); len(r) > 0 {
		t.Fatalf("the manager requested the credentials Secret: %v", r)
	}
	for _, r := range e.requests.matching("/secrets?") {
		if strings.HasPrefix(r, "GET ") && !strings.Contains(r, "labelSelector=") {
			t.Fatalf("the manager listed Secrets without a selector (credentials included): %s", r)
		}
	}
	if len(e.requests.matching("/secrets")) == 0 {
		t.Fatal("no Secret request recorded: the request log sees nothing")
	}
	// The runner's identity is confined to its namespace's run objects.
	u, err := e.stack.Env.AddUser(envtest.User{Name: "system:serviceaccount:" + ns + ":capc-runner",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(u.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sa.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the runner's ServiceAccount lists Secrets of another namespace: %v", err)
	}
	if _, err := sa.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the runner's ServiceAccount lists pods: %v", err)
	}
	// The manager deletes a Job once it read its result.
	waitFor(t, time.Minute, "finished runner Jobs deleted", func(ctx context.Context) (bool, error) {
		list, err := e.kube.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: tfstate.LabelRole + "=run"})
		return err == nil && len(list.Items) == 0, err
	})

	if err := e.k8s.Delete(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 4*time.Minute, "the cluster and machine destroyed through runner Jobs", func(ctx context.Context) (bool, error) {
		secrets, err := e.kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: tfstate.LabelKind})
		if err != nil {
			return false, err
		}
		var left []string
		for _, s := range secrets.Items {
			left = append(left, s.Name)
		}
		gone := apiGone(ctx, e.k8s, cc) && apiGone(ctx, e.k8s, cm)
		return gone && len(left) == 0, nil
	})
	if n := e.stack.Runner.Processes(); n != 0 {
		t.Fatalf("the manager started %d terraform processes in job mode", n)
	}
	destroyJobs := len(e.jobs.names()) - len(jobs)
	if destroyJobs < 2 {
		t.Fatalf("%d destroy Jobs, want one per object", destroyJobs)
	}
	fmt.Fprintf(os.Stderr, "job mode: %d Jobs (%s)\n", len(e.jobs.names()), strings.Join(e.jobs.names(), ", "))
	_ = batchv1.JobComplete
}

func apiGone(ctx context.Context, c client.Client, o client.Object) bool {
	err := c.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopyObject().(client.Object))
	return err != nil && strings.Contains(err.Error(), "not found")
}
