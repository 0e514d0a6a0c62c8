/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// syncBuffer collects a subprocess's output safely while the test reads it.
type syncBuffer = envtestutil.SyncBuffer

var freePort = envtestutil.FreePort

// ---- manager process ----

type managerOpts struct {
	PodName     string // holder identity of terraform run locks
	Namespace   string // --namespace: each suite's manager sees only its namespace
	Kubeconfig  string // default: the suite's API server, directly
	WorkDir     string
	ModuleRoot  string
	LeaderElect bool
	Extra       []string
	// Logs receives the output of every incarnation (scanned for panics and leaks).
	Logs *syncBuffer
}

type managerProc struct {
	opts    managerOpts
	cmd     *exec.Cmd
	Pid     int
	Health  string
	Metrics string
	logs    *syncBuffer // this incarnation
	exited  chan struct{}
	waitErr error
}

// startManager runs the built manager in a process group of its own (so a crash can take its
// terraform children with it, as a container's death does) and waits for /healthz.
func startManager(t *testing.T, o managerOpts) *managerProc {
	t.Helper()
	if o.ModuleRoot == "" {
		o.ModuleRoot = suite.tmp
	}
	if o.Kubeconfig == "" {
		o.Kubeconfig = suite.kubeconfig
	}
	health := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	metrics := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := []string{
		"--kubeconfig=" + o.Kubeconfig,
		"--health-probe-bind-address=" + health,
		"--metrics-bind-address=" + metrics,
		"--terraform-path=" + suite.terraform,
		"--provider-mirror=" + suite.mirror,
		"--work-dir=" + o.WorkDir,
		"--module-root=" + o.ModuleRoot,
		"--namespace=" + o.Namespace,
		"--drift-check-interval=0",
	}
	if o.LeaderElect {
		args = append(args, "--leader-elect", "--leader-election-namespace="+o.Namespace)
	}
	args = append(args, o.Extra...)
	m := &managerProc{opts: o, Health: health, Metrics: metrics, logs: &syncBuffer{}, exited: make(chan struct{})}
	m.cmd = exec.Command(suite.managerBin, args...)
	m.cmd.Env = append(os.Environ(), "POD_NAME="+o.PodName, "KUBECONFIG=")
	var w io.Writer = m.logs
	if o.Logs != nil {
		w = io.MultiWriter(m.logs, o.Logs)
	}
	m.cmd.Stdout, m.cmd.Stderr = w, w
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("starting manager: %v", err)
	}
	m.Pid = m.cmd.Process.Pid
	go func() { m.waitErr = m.cmd.Wait(); close(m.exited) }()
	t.Cleanup(func() { m.Kill() })
	deadline := time.Now().Add(90 * time.Second)
	for {
		if code, _ := httpGet("http://"+health+"/healthz", 2*time.Second); code == http.StatusOK {
			return m
		}
		select {
		case <-m.exited:
			t.Fatalf("manager %s exited before /healthz answered: %v\n%s", o.PodName, m.waitErr, tail(m.logs.String(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("manager %s: /healthz not 200 within 90s\n%s", o.PodName, tail(m.logs.String(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Alive reports whether the process is still running.
func (m *managerProc) Alive() bool {
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// Kill SIGKILLs the whole process group (manager, terraform, providers): a container crash.
func (m *managerProc) Kill() {
	_ = syscall.Kill(-m.Pid, syscall.SIGKILL)
	<-m.exited
}

// Stop sends SIGTERM to the manager alone (what the kubelet does) and waits; whatever is left of
// its group afterwards is killed, as the container's end would.
func (m *managerProc) Stop(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(60 * time.Second):
		t.Errorf("manager %s did not exit within 60s of SIGTERM", m.opts.PodName)
	}
	d := time.Since(start)
	m.Kill()
	return d
}

// RSSKiB reads VmRSS of the manager process.
func (m *managerProc) RSSKiB() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return 0
}

// IsLeader reports whether this replica won leader election: only the leader starts its controllers.
func (m *managerProc) IsLeader() bool {
	return strings.Contains(m.logs.String(), "Starting workers")
}

func httpGet(url string, timeout time.Duration) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// panicLines returns the lines of logs that mention a panic.
func panicLines(logs string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(strings.ToLower(l), "panic") {
			out = append(out, l)
		}
	}
	return out
}

func checkNoPanics(t *testing.T, logs *syncBuffer) int {
	t.Helper()
	p := panicLines(logs.String())
	if len(p) > 0 {
		t.Errorf("manager logs mention a panic %d time(s):\n%s", len(p), strings.Join(p, "\n"))
	}
	return len(p)
}

// ---- fake cloud process ----

// fakeCloud is bin/fakecloud (envtestutil.FakeCloud) with the helpers these suites use.
type fakeCloud struct{ *envtestutil.FakeCloud }

// startFakeCloud runs bin/fakecloud on 127.0.0.1 with a random port until the test ends.
func startFakeCloud(t *testing.T, token string, args ...string) *fakeCloud {
	t.Helper()
	f, err := envtestutil.StartFakeCloud(token, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Stop)
	return &fakeCloud{f}
}

type fcObject struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	CreatedAt string         `json:"created_at"`
	Tags      map[string]any `json:"tags"`
	// InstanceID is set on lb targets (the instance they register).
	InstanceID string `json:"instance_id"`
	Kind       string `json:"-"`
}

var fcCollections = []string{"instances", "lb_targets", "load_balancers", "security_groups", "subnets", "vpcs"}

func (f *fakeCloud) do(t *testing.T, method, path string, body any, into any) {
	t.Helper()
	if err := f.Do(method, path, body, into); err != nil {
		t.Fatal(err)
	}
}

func (f *fakeCloud) Stats(t *testing.T) envtestutil.FakeCloudStats {
	t.Helper()
	s, err := f.FakeCloud.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// SetFaults replaces the fault rules (see fakecloud/server.Rule).
func (f *fakeCloud) SetFaults(t *testing.T, rules ...map[string]any) {
	f.do(t, http.MethodPost, "/admin/faults", map[string]any{"rules": rules}, nil)
}

func (f *fakeCloud) ClearFaults(t *testing.T) { f.do(t, http.MethodDelete, "/admin/faults", nil, nil) }

// Objects lists every live object of every kind.
func (f *fakeCloud) Objects(t *testing.T) []fcObject {
	var all []fcObject
	for _, c := range fcCollections {
		var l struct {
			Items []fcObject `json:"items"`
		}
		f.do(t, http.MethodGet, "/v1/"+c, nil, &l)
		for _, o := range l.Items {
			o.Kind = c
			all = append(all, o)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Kind+all[i].ID < all[j].Kind+all[j].ID })
	return all
}

func (o fcObject) String() string {
	return fmt.Sprintf("%s %s name=%q created=%s", o.Kind, o.ID, o.Name, o.CreatedAt)
}

// ---- figures ----

// report logs a suite's figures and, with CAPC_RELIABILITY_REPORT=<dir>, writes them to
// <dir>/<name>.json for docs/reliability.md.
func report(t *testing.T, name string, figures map[string]any) {
	t.Helper()
	b, _ := json.MarshalIndent(figures, "", "  ")
	t.Logf("FIGURES %s:\n%s", name, b)
	dir := os.Getenv("CAPC_RELIABILITY_REPORT")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("report dir: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(b, '\n'), 0o644); err != nil {
		t.Errorf("writing report: %v", err)
	}
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// dnsName turns s into a lowercase name fragment.
func dnsName(s string) string {
	return strings.Trim(nonName.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// Delete deletes one object (orphan clean-up); it reports the HTTP status.
func (f *fakeCloud) Delete(o fcObject) int {
	req, _ := http.NewRequest(http.MethodDelete, f.URL+"/v1/"+o.Kind+"/"+o.ID, nil)
	req.Header.Set("Authorization", "Bearer "+f.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// untracked returns the live fake cloud objects that no state in tracked knows and that are not
// in known (already reported).
func untracked(objs []fcObject, tracked map[string]string, known map[string]bool) []fcObject {
	var out []fcObject
	for _, o := range objs {
		if tracked[o.ID] == "" && !known[o.ID] {
			out = append(out, o)
		}
	}
	return out
}
