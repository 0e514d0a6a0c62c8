/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// apiProxy forwards TCP to the API server and can cut it: while down, open connections are
// reset and new ones closed at once, which is what a client sees of a stopped API server. (The
// envtest API server cannot be restarted in place: its restart mints new certificates.)
type apiProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func startAPIProxy(t *testing.T, target string) *apiProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &apiProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { _ = ln.Close() })
	go p.serve()
	return p
}

func (p *apiProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		if !down {
			p.conns[c] = true
		}
		p.mu.Unlock()
		if down {
			_ = c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *apiProxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns[s] = true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
	_, _ = io.Copy(c, s)
	_ = c.Close()
}

// setDown cuts (true) or restores (false) the API server.
func (p *apiProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			_ = c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

// TestAPIServerOutageMidApply cuts the API server while terraform creates. An outage the lock
// outlives costs nothing: the run finishes and its state reaches the Secret once the server is
// back. A longer one interrupts the run before the lock can expire (another runner could take it
// over then); what terraform wrote stays in the workspace and the next run pushes it and
// finishes. Either way nothing is lost and nothing is created twice.
func TestAPIServerOutageMidApply(t *testing.T) {
	u, err := url.Parse(restConfig.Host)
	if err != nil {
		t.Fatal(err)
	}
	// A lock is renewed every TTL/3; a failed renewal is retried while the lease is surely ours,
	// and the run stops at the first failure past 2/3 of the TTL since the last renewal. So an
	// outage shorter than TTL/3 never stops a run, and one of 2/3 TTL plus a tick always does.
	for _, tt := range []struct {
		name        string
		ttl, outage time.Duration
		lost        bool // the run is interrupted and a second one finishes
	}{
		{"shorter than the lock", 45 * time.Second, 12 * time.Second, false},
		{"longer than the lock", 18 * time.Second, 26 * time.Second, true},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "-"), func(t *testing.T) {
			proxy := startAPIProxy(t, u.Host)
			cfg := rest.CopyConfig(restConfig)
			cfg.Host = "https://" + proxy.ln.Addr().String()
			ns, workDir, marker := newNamespace(t), t.TempDir(), filepath.Join(t.TempDir(), "created")
			r := newRunner(t, workDir, "pod-a", func(c *tfrunner.Config) {
				c.Kube = kubernetes.NewForConfigOrDie(cfg)
				c.LockTTL = tt.ttl
			}, unsandboxed) // the module appends to a marker of the test
			ws := tfrunner.Workspace{Object: objectIn(ns, "outage"), Module: os.DirFS(writeModule(t, map[string]string{"main.tf": chainModule})),
				Variables: map[string]cty.Value{"marker": cty.StringVal(marker), "seconds": cty.NumberIntVal(4)}}
			type outcome struct {
				res tfrunner.Result
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				res, err := r.Reconcile(context.Background(), ws, tfrunner.Policy{AutoApply: true})
				done <- outcome{res, err}
			}()
			waitForFile(t, marker, 60*time.Second) // "a" created: the outage starts mid-apply
			proxy.setDown(true)
			time.Sleep(tt.outage)
			proxy.setDown(false)
			first := <-done
			t.Logf("run across a %v outage: applied=%v err=%v", tt.outage, first.res.Applied, first.err)
			if !tt.lost && (first.err != nil || !first.res.Applied) {
				t.Fatalf("an outage the lock outlives must not fail the run: %+v %v", first.res, first.err)
			}
			if tt.lost {
				if first.err == nil {
					t.Fatalf("a run whose lock may have expired must stop, got success")
				}
				res, err := r.Reconcile(context.Background(), ws, tfrunner.Policy{AutoApply: true})
				if err != nil {
					t.Fatalf("run after the outage: %+v %v", res, err)
				}
			}
			st, err := r.GetState(context.Background(), ws.Object)
			if err != nil || st == nil || resourceCount(st.Raw) != 3 {
				t.Fatalf("state after the outage: %v", err)
			}
			b, _ := os.ReadFile(marker)
			if got := strings.Fields(string(b)); strings.Join(got, "") != "abc" {
				t.Fatalf("creates: %q, want each of a, b, c exactly once", got)
			}
			res, err := r.Reconcile(context.Background(), ws, tfrunner.Policy{AutoApply: true, Force: true})
			if err != nil || res.Plan == nil || res.Plan.HasChanges() {
				t.Fatalf("not converged: %+v %v", res.Plan, err)
			}
		})
	}
}

func waitForFile(t *testing.T, p string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(p); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
