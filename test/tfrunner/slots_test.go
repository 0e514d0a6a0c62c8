/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// stepLog records the runner's Trace.
type stepLog struct {
	mu    sync.Mutex
	steps map[string][]tfrunner.Step
	at    map[string][]time.Time
	hooks map[string]func(tfrunner.Step) // per object, called after recording
	// running counts terraform processes between their start and exit; maxRunning is its peak.
	running, maxRunning int
}

func (l *stepLog) trace(o tfstate.ObjectRef, s tfrunner.Step) {
	l.mu.Lock()
	l.steps[o.Name] = append(l.steps[o.Name], s)
	l.at[o.Name] = append(l.at[o.Name], time.Now())
	switch s {
	case tfrunner.StepStarted:
		l.running++
		l.maxRunning = max(l.maxRunning, l.running)
	case tfrunner.StepExited:
		l.running--
	}
	hook := l.hooks[o.Name]
	l.mu.Unlock()
	if hook != nil {
		hook(s)
	}
}

// first is when obj first reached s (zero: never).
func (l *stepLog) first(obj string, s tfrunner.Step) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, got := range l.steps[obj] {
		if got == s {
			return l.at[obj][i]
		}
	}
	return time.Time{}
}

// gatedWrites holds Secret writes while hold() says so, until open is closed or a minute passes.
type gatedWrites struct {
	rt       http.RoundTripper
	hold     func() bool
	open     <-chan struct{}
	timedOut *atomic.Bool
}

func (g gatedWrites) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/secrets") && g.hold() {
		select {
		case <-g.open:
		case <-time.After(time.Minute):
			g.timedOut.Store(true)
		}
	}
	return g.rt.RoundTrip(r)
}

// A run slot bounds terraform processes, not the API requests around them: with one slot, a
// second object's OnRun (the controllers' patch before terraform) runs while the first object's
// terraform holds the slot, and the second object takes the slot while the first is still
// writing its state. Each hold below would deadlock (until its minute is up) if the slot
// covered those requests.
func TestRunSlotBoundsTerraformOnly(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	log := &stepLog{steps: map[string][]tfrunner.Step{}, at: map[string][]time.Time{}, hooks: map[string]func(tfrunner.Step){}}
	var aExited atomic.Bool
	aStarted, bSlot := make(chan struct{}), make(chan struct{})
	log.hooks["a"] = func(s tfrunner.Step) {
		switch s {
		case tfrunner.StepStarted:
			closeOnce(aStarted)
		case tfrunner.StepExited:
			aExited.Store(true)
		}
	}
	log.hooks["b"] = func(s tfrunner.Step) {
		if s == tfrunner.StepSlot {
			closeOnce(bSlot)
		}
	}
	var timedOut atomic.Bool
	cfg := rest.CopyConfig(restConfig)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return gatedWrites{rt: rt, hold: aExited.Load, open: bSlot, timedOut: &timedOut}
	})
	r := newRunner(t, t.TempDir(), "pod-a", func(c *tfrunner.Config) {
		c.Kube, c.MaxConcurrentRuns, c.Trace = kubernetes.NewForConfigOrDie(cfg), 1, log.trace
	})
	ws := func(name string) tfrunner.Workspace {
		w := clusterWorkspace(t, ns, map[string]cty.Value{
			"cluster_name": cty.StringVal(name), "namespace": cty.StringVal(ns), "region": cty.StringVal("eu-west-1"),
		})
		w.Object.Name, w.Object.ClusterName = name, name
		return w
	}
	a, b := ws("a"), ws("b")
	var onRunB time.Time
	b.OnRun = func(context.Context) error {
		select {
		case <-aStarted:
		case <-time.After(time.Minute):
			timedOut.Store(true)
		}
		onRunB = time.Now()
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, w := range []tfrunner.Workspace{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.Reconcile(ctx, w, tfrunner.Policy{AutoApply: true})
			if err == nil && !res.Applied {
				err = context.Canceled
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("object %d: %v", i, err)
		}
	}
	if timedOut.Load() {
		t.Fatal("a run waited a minute for another's slot: the slot covered an API request")
	}
	for _, obj := range []string{"a", "b"} {
		prev := time.Time{}
		for _, s := range []tfrunner.Step{tfrunner.StepReconcile, tfrunner.StepLocked, tfrunner.StepSlot,
			tfrunner.StepStarted, tfrunner.StepExited, tfrunner.StepStateWritten} {
			at := log.first(obj, s)
			if at.IsZero() || at.Before(prev) {
				t.Fatalf("%s: step %q at %v, before the previous step (%v); steps %v", obj, s, at, prev, log.steps[obj])
			}
			prev = at
		}
	}
	if bs := log.first("b", tfrunner.StepSlot); !onRunB.Before(bs) || !bs.Before(log.first("a", tfrunner.StepStateWritten)) {
		t.Fatalf("b's OnRun %v, b's slot %v, a's state written %v: want OnRun before the slot, the slot before a's state write",
			onRunB, bs, log.first("a", tfrunner.StepStateWritten))
	}
	if log.maxRunning != 1 { // init and each apply, one at a time
		t.Fatalf("%d terraform processes at once with one slot: a %v, b %v", log.maxRunning, log.steps["a"], log.steps["b"])
	}
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}
