/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package jobmode runs the provider in job mode (--runner=job) on a real node: the envtest API
// server, a kubelet with containerd, kube-scheduler and kube-controller-manager (envtestutil.Node),
// CAPI's core reconcilers and this provider in-process, and the provider image built by `make
// docker-build` running each runner Job as a container (non-root, read-only, Landlock under the
// runtime's seccomp profile) with the real terraform against the fake cloud.
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

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

type env struct {
	stack *envtestutil.Stack
	js    *envtestutil.JobStack
	node  *envtestutil.Node
	k8s   client.Client
	kube  kubernetes.Interface
	fc    *envtestutil.FakeCloud
	jobs  *jobLog
	// requests is every request the manager sent (controllers and runner alike).
	requests *requestLog
	proxy    *envtestutil.CutProxy // between runner pods and the API server
}

// image is the provider image's OCI archive, built once for the package (TestMain).
var image string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "capc-jobmode-image")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if os.Geteuid() == 0 {
		if image, err = envtestutil.BuildImage(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
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

// jobLog records every runner Job created, by name, and the last seen state of each runner pod.
type jobLog struct {
	mu   sync.Mutex
	seen map[string]bool
	pods map[string]corev1.Pod
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
	return startSlow(t, time.Second, adjust)
}

// startSlow starts the node, the stack and a fake cloud whose instances stay pending for delay
// (the provider waits for them to run: a create takes that long).
func startSlow(t *testing.T, delay time.Duration, adjust func(*envtestutil.StackOptions)) *env {
	t.Helper()
	if image == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("job mode's real node needs root in CI")
		}
		t.Skip("a real node needs root")
	}
	out := io.Discard
	if os.Getenv("CAPC_TEST_VERBOSE") != "" {
		out = os.Stderr
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(out)))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	dir := t.TempDir()
	fc, err := envtestutil.StartFakeCloud("jobmode-token", "-running-delay", delay.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fc.Stop)
	requests := &requestLog{}
	opts := envtestutil.StackOptions{WorkDir: filepath.Join(dir, "work"), WrapTransport: requests.wrap}
	js, err := envtestutil.StartJobStack(ctx, opts, filepath.Join(dir, "node"), image, adjust)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(js.Stop)
	t.Cleanup(func() {
		if t.Failed() {
			for _, d := range []string{"kubelet", "containerd", "kube-controller-manager"} {
				t.Logf("=== %s\n%s", d, js.Node.LogTail(d))
			}
			dumpPodLogs(t, js.Node)
		}
	})
	kube, err := kubernetes.NewForConfig(js.Env.Config)
	if err != nil {
		t.Fatal(err)
	}
	// Reads go to the API server, not a manager's cache: a test reads right after it writes.
	direct, err := client.New(js.Env.Config, client.Options{Scheme: js.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{stack: js.Stack, js: js, node: js.Node, k8s: direct, kube: kube, fc: fc,
		jobs: &jobLog{seen: map[string]bool{}, pods: map[string]corev1.Pod{}}, requests: requests, proxy: js.Proxy}
	go e.recordJobs(ctx)
	return e
}

// dumpPodLogs logs the end of each container log the kubelet wrote.
func dumpPodLogs(t *testing.T, n *envtestutil.Node) {
	for _, l := range n.ContainerLogs("*", "*", "*") {
		b, _ := os.ReadFile(l)
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		t.Logf("=== %s\n%s", l, b)
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
	sel := metav1.ListOptions{LabelSelector: tfstate.LabelRole + "=run"}
	for ctx.Err() == nil {
		list, err := e.kube.BatchV1().Jobs("").List(ctx, sel)
		pods, perr := e.kube.CoreV1().Pods("").List(ctx, sel)
		e.jobs.mu.Lock()
		if err == nil {
			for _, j := range list.Items {
				e.jobs.seen[j.Namespace+"/"+j.Name] = true
			}
		}
		if perr == nil {
			for _, p := range pods.Items {
				e.jobs.pods[p.Namespace+"/"+p.Name] = p
			}
		}
		e.jobs.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
}

// runnerPods is the last seen state of every runner pod.
func (e *env) runnerPods() []corev1.Pod {
	e.jobs.mu.Lock()
	defer e.jobs.mu.Unlock()
	var out []corev1.Pod
	for _, p := range e.jobs.pods {
		out = append(out, p)
	}
	return out
}

var waitFor = envtestutil.WaitFor

// A cluster and a machine on the fake cloud are provisioned and destroyed by runner Jobs on the
// real node: the image's runner, as its non-root user with the pod's security context and
// terraform sandboxed, reads the credentials (the fake cloud's token) only in its pod.
func TestJobModeProvisionAndDelete(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	ns := "jobs"
	creds, cluster, cc, secret, machine, cm := e.fakeCloudObjects(ns, "jm", "jm-0")
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
	if inst, err := e.fc.Instances("jm-0"); err != nil || len(inst) != 1 {
		t.Fatalf("fake cloud instances named jm-0: %v (%v), want 1: the runner pod had the token", inst, err)
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
	e.checkRunnerPods(t)
	e.checkCredentialsStayInPods(t, ns)
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
		st, err := e.fc.Stats()
		return apiGone(ctx, e.k8s, cc) && apiGone(ctx, e.k8s, cm) && len(secrets.Items) == 0 && st.Total == 0, err
	})
	if n := e.stack.Runner.Processes(); n != 0 {
		t.Fatalf("the manager started %d terraform processes in job mode", n)
	}
	if destroyJobs := len(e.jobs.names()) - len(jobs); destroyJobs < 2 {
		t.Fatalf("%d destroy Jobs, want one per object", destroyJobs)
	}
	fmt.Fprintf(os.Stderr, "job mode: %d Jobs (%s)\n", len(e.jobs.names()), strings.Join(e.jobs.names(), ", "))
}

// fakeCloudObjects are cluster name and its machine on the fake cloud module in ns, with the
// credentials Secret both use.
func (e *env) fakeCloudObjects(ns, name, machineName string) (*corev1.Secret, *clusterv1.Cluster, *infrav1.CustomCluster, *corev1.Secret, *clusterv1.Machine, *infrav1.CustomMachine) {
	creds, cc := e.fc.FakeCloudObjects(ns, name)
	cluster := envtestutil.NewCluster(ns, name, false)
	secret, machine, cm := envtestutil.NewMachine(ns, name, machineName, true)
	cm.Spec.Module = &infrav1.ModuleSource{Name: "fakecloud"}
	cm.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: envtestutil.FakeCloudCredentialsName}
	return creds, cluster, cc, secret, machine, cm
}

// checkRunnerPods checks what the node ran: every runner pod ran the imported image to success
// as uid 65532 under the RuntimeDefault seccomp profile, read-only, with no capabilities.
func (e *env) checkRunnerPods(t *testing.T) {
	t.Helper()
	pods := e.runnerPods()
	if len(pods) == 0 {
		t.Fatal("no runner pod seen")
	}
	for _, p := range pods {
		c, sc := p.Spec.Containers[0], p.Spec.SecurityContext
		switch {
		case p.Spec.NodeName != e.node.Name:
			t.Errorf("pod %s ran on %q, not the node", p.Name, p.Spec.NodeName)
		case c.Image != envtestutil.RunnerImage || c.ImagePullPolicy != corev1.PullIfNotPresent:
			t.Errorf("pod %s: image %s, pull %s", p.Name, c.Image, c.ImagePullPolicy)
		case *sc.RunAsUser != 65532 || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault || !*c.SecurityContext.ReadOnlyRootFilesystem:
			t.Errorf("pod %s security: %+v %+v", p.Name, sc, c.SecurityContext)
		case len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Terminated == nil ||
			p.Status.ContainerStatuses[0].State.Terminated.ExitCode != 0 || p.Status.ContainerStatuses[0].ImageID == "":
			t.Errorf("pod %s did not run the image to success: %+v", p.Name, p.Status.ContainerStatuses)
		}
	}
}

// checkCredentialsStayInPods checks that the credentials Secret reached the runner pods only:
// their container takes it as environment, and the manager never asked for it, by name or in a
// list of Secrets (its own Secret requests are by name or carry a label selector of its objects);
// and that the runner's identity is confined to its namespace's run objects.
func (e *env) checkCredentialsStayInPods(t *testing.T, ns string) {
	t.Helper()
	for _, p := range e.runnerPods() {
		if ef := p.Spec.Containers[0].EnvFrom; len(ef) != 1 || ef[0].SecretRef.Name != envtestutil.FakeCloudCredentialsName {
			t.Errorf("runner pod %s does not take the credentials Secret as environment: %+v", p.Name, ef)
		}
	}
	if r := e.requests.matching("/secrets/" + envtestutil.FakeCloudCredentialsName); len(r) > 0 {
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
	u, err := e.stack.Env.AddUser(envtest.User{Name: "system:serviceaccount:" + ns + ":capc-runner",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(u.Config())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := sa.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the runner's ServiceAccount lists Secrets of another namespace: %v", err)
	}
	if _, err := sa.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the runner's ServiceAccount lists pods: %v", err)
	}
}

func apiGone(ctx context.Context, c client.Client, o client.Object) bool {
	err := c.Get(ctx, client.ObjectKeyFromObject(o), o.DeepCopyObject().(client.Object))
	return err != nil && strings.Contains(err.Error(), "not found")
}
