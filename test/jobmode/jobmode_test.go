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
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

const image = "capc-test/runner:dev"

type env struct {
	stack *envtestutil.Stack
	k8s   client.Client
	kube  kubernetes.Interface
	agent *envtestutil.NodeAgent
	jobs  *jobLog
	// requests is every request the manager sent (controllers and runner alike).
	requests *requestLog
	proxy    *cutProxy // between runner pods and the API server
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
	bin := filepath.Join(envtestutil.RepoRoot(), "bin")
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/manager", "./cmd/capc-tfshim")
	build.Dir = envtestutil.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/manager: %v\n%s", err, out)
	}
	requests := &requestLog{}
	opts := envtestutil.StackOptions{WorkDir: filepath.Join(dir, "work"), WrapTransport: requests.wrap,
		Jobs: &tfrunner.JobConfig{Image: image, ServiceAccount: "capc-runner", TTL: time.Minute,
			Args: []string{"--terraform-path=" + filepath.Join(bin, "terraform"), "--sandbox=off"}}}
	if adjust != nil {
		adjust(&opts)
	}
	st, err := envtestutil.StartStack(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Stop() })
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := envtestutil.WriteKubeconfig(st.Env.Config, kubeconfig); err != nil {
		t.Fatal(err)
	}
	kcmLog, err := os.Create(filepath.Join(dir, "kube-controller-manager.log"))
	if err != nil {
		t.Fatal(err)
	}
	kcm := exec.Command(filepath.Join(bin, "kube-controller-manager"), "--kubeconfig="+kubeconfig,
		"--controllers=job,ttl-after-finished,garbagecollector", "--leader-elect=false", "--secure-port=0",
		"--use-service-account-credentials=false")
	kcm.Stdout, kcm.Stderr = kcmLog, kcmLog
	if err := kcm.Start(); err != nil {
		t.Fatalf("starting kube-controller-manager (make tools builds it): %v", err)
	}
	t.Cleanup(func() { _ = kcm.Process.Kill(); _ = kcm.Wait(); kcmLog.Close() })
	kube, err := kubernetes.NewForConfig(st.Env.Config)
	if err != nil {
		t.Fatal(err)
	}
	// Runner pods reach the API server through a proxy a test can cut.
	apiURL, err := url.Parse(st.Env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, apiURL.Host)
	agent := &envtestutil.NodeAgent{Kube: kube, Node: "capc-test-node", Images: map[string]string{image: filepath.Join(dir, "manager")},
		Env: []string{"PATH=" + os.Getenv("PATH")}, Dir: filepath.Join(dir, "node"),
		Identity: serviceAccounts(st.Env, filepath.Join(dir, "identities"), proxy.addr())}
	if err := os.MkdirAll(agent.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	go func() { _ = agent.Run(ctx) }()
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, dir)
		}
	})
	e := &env{stack: st, k8s: st.Client, kube: kube, agent: agent, jobs: &jobLog{seen: map[string]bool{}}, requests: requests, proxy: proxy}
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

// serviceAccounts gives each runner pod the kubeconfig of an API server user named as its
// ServiceAccount (system:serviceaccount:<ns>:<name>, in the service account groups): with RBAC
// on, the runner can do only what config/rbac/runner's Role, applied in the namespace, allows.
func serviceAccounts(te *envtest.Environment, dir, apiAddr string) func(*corev1.Pod) ([]string, error) {
	var mu sync.Mutex
	made := map[string]string{}
	return func(pod *corev1.Pod) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		user := "system:serviceaccount:" + pod.Namespace + ":" + pod.Spec.ServiceAccountName
		if path, ok := made[user]; ok {
			return []string{"KUBECONFIG=" + path}, nil
		}
		u, err := te.AddUser(envtest.User{Name: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + pod.Namespace}}, nil)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, pod.Namespace+"-"+pod.Spec.ServiceAccountName+".kubeconfig")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		cfg := u.Config()
		cfg.Host = "https://" + apiAddr // the API server's certificate names 127.0.0.1, whatever the port
		if err := envtestutil.WriteKubeconfig(cfg, path); err != nil {
			return nil, err
		}
		made[user] = path
		return []string{"KUBECONFIG=" + path}, nil
	}
}

// namespace creates ns with the runner's ServiceAccount, Role and RoleBinding from
// config/rbac/runner, as an operator applies them.
func (e *env) namespace(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	if err := e.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"service_account.yaml", "role.yaml", "role_binding.yaml"} {
		objs, err := envtestutil.ReadObjects(filepath.Join(envtestutil.RepoRoot(), "config", "rbac", "runner", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			o.SetNamespace(ns)
			if err := e.k8s.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (e *env) recordJobs(ctx context.Context) {
	for ctx.Err() == nil {
		list, err := e.kube.BatchV1().Jobs("").List(ctx, metav1.ListOptions{LabelSelector: tfrunner.LabelRole + "=run"})
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

func waitFor(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("%s: %s", what, time.Since(start).Round(100*time.Millisecond)) }()
	if err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

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
			return false, client.IgnoreNotFound(err) // the cache may not have it yet
		}
		return cm.Spec.ProviderID != "" && cm.Status.Initialization.Provisioned != nil && *cm.Status.Initialization.Provisioned, nil
	})
	if n := e.stack.Runner.Processes(); n != 0 {
		t.Fatalf("the manager started %d terraform processes in job mode", n)
	}
	jobs := e.jobs.names()
	if len(jobs) < 2 {
		t.Fatalf("runner Jobs seen: %v, want one per object at least", jobs)
	}
	t.Logf("runner Jobs: %v", jobs)
	credsSeen := 0
	for pod, env := range e.agent.Envs {
		for _, kv := range env {
			if kv == tfrunner.CredentialsEnvPrefix+"SIMULATED_TOKEN=tok-only-for-the-runner-pod" {
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
		list, err := e.kube.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: tfrunner.LabelRole + "=run"})
		return err == nil && len(list.Items) == 0, err
	})

	if err := e.k8s.Delete(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 4*time.Minute, "the cluster and machine destroyed through runner Jobs", func(ctx context.Context) (bool, error) {
		secrets, err := e.kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: tfrunner.LabelKind})
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
