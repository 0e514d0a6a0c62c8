/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/bench"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// A machine's way to Provisioned, in the order the steps must happen, and where each time comes
// from: the benchmark's create calls, its own watches of the CustomMachines and Machines (the
// time an event reaches it), and the runner's Trace.
const (
	stCreated       = "created"
	stOwner         = "owner reference set"
	stBootstrap     = "bootstrap data ready"
	stReconcile     = "first reconcile reaches tfrunner"
	stLocked        = "lock acquired"
	stSlot          = "run slot taken"
	stStarted       = "terraform started"
	stExited        = "terraform exited"
	stStateWritten  = "state written"
	stStatusWritten = "status written (provisioned)"
	stMachine       = "Machine infrastructure provisioned"
)

// timelineStep is one step of a timeline and where its time comes from.
type timelineStep struct{ name, source string }

// localSteps are a machine's way in local mode (P4).
var localSteps = []timelineStep{
	{stCreated, "the benchmark's create calls (CustomMachine, then Machine)"},
	{stOwner, "CustomMachine watch: the Machine's owner reference"},
	{stBootstrap, "Machine watch: spec.bootstrap.dataSecretName set (here at creation; with a bootstrap provider, CAPI copies it once the Secret exists)"},
	{stReconcile, "runner trace: Reconcile called"},
	{stLocked, "runner trace: lock Lease held (the state is read next)"},
	{stSlot, "runner trace: a run slot taken (after the finalizer/block-move patch)"},
	{stStarted, "runner trace: first terraform process starts"},
	{stExited, "runner trace: last terraform process exits (slot freed)"},
	{stStateWritten, "runner trace: final state Secret written"},
	{stStatusWritten, "CustomMachine watch: status.initialization.provisioned"},
	{stMachine, "Machine watch: status.initialization.infrastructureProvisioned"},
}

// Job mode's steps (P9).
const (
	stJob       = "runner Job created"
	stPod       = "runner pod created"
	stScheduled = "runner pod scheduled"
	stContainer = "runner container started"
	stPodDone   = "runner container exited"
	stJobDone   = "Job complete"
)

// jobSteps are a machine's way in job mode (P9): the runner container's run is the lock, the
// state read, terraform, the state and the result written, all in the pod.
var jobSteps = []timelineStep{
	{stCreated, "the benchmark's create calls (CustomMachine, then Machine)"},
	{stOwner, "CustomMachine watch: the Machine's owner reference"},
	{stJob, "Job watch: created (by the manager, owned by the CustomMachine)"},
	{stPod, "Pod watch: created (by the Job controller)"},
	{stScheduled, "Pod watch: spec.nodeName set"},
	{stContainer, "Pod watch: phase Running"},
	{stPodDone, "Pod watch: phase Succeeded (lock, state, terraform, result written, in the pod)"},
	{stJobDone, "Job watch: succeeded (SuccessCriteriaMet or Complete: the Job controller saw the pod end)"},
	{stStatusWritten, "CustomMachine watch: status.initialization.provisioned (the manager read the result)"},
	{stMachine, "Machine watch: status.initialization.infrastructureProvisioned"},
}

// traceSteps maps the runner's steps to the timeline's; last says the step's latest time counts.
var traceSteps = map[tfrunner.Step]struct {
	name string
	last bool
}{
	tfrunner.StepReconcile: {stReconcile, false}, tfrunner.StepLocked: {stLocked, false},
	tfrunner.StepSlot: {stSlot, false}, tfrunner.StepStarted: {stStarted, false},
	tfrunner.StepExited: {stExited, true}, tfrunner.StepStateWritten: {stStateWritten, false},
}

// timeline records when each machine of one namespace reached each step.
type timeline struct {
	ns    string
	steps []timelineStep
	mu    sync.Mutex
	at    map[string]map[string]time.Time // machine → step → time
	jobs  map[string]string               // runner Job → its machine
}

func newTimeline(ns string, steps []timelineStep) *timeline {
	return &timeline{ns: ns, steps: steps, at: map[string]map[string]time.Time{}, jobs: map[string]string{}}
}

// between lists, per machine that has both, the time from step a to step b.
func (tl *timeline) between(a, b string) []time.Duration {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []time.Duration
	for _, at := range tl.at {
		if ta, ok := at[a]; ok {
			if tb, ok := at[b]; ok {
				out = append(out, tb.Sub(ta))
			}
		}
	}
	return out
}

// mark records machine's step at t: the first time, or with last the latest.
func (tl *timeline) mark(machine, step string, t time.Time, last bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if !slices.ContainsFunc(tl.steps, func(s timelineStep) bool { return s.name == step }) {
		return
	}
	m := tl.at[machine]
	if m == nil {
		m = map[string]time.Time{}
		tl.at[machine] = m
	}
	if old, ok := m[step]; !ok || last && t.After(old) {
		m[step] = t
	}
}

// traceTo is a tfrunner Config.Trace that hands CustomMachine steps to the current timeline.
func traceTo(cur *atomic.Pointer[timeline]) func(tfstate.ObjectRef, tfrunner.Step) {
	return func(o tfstate.ObjectRef, s tfrunner.Step) {
		tl := cur.Load()
		if tl == nil || o.Namespace != tl.ns || o.Kind != "CustomMachine" {
			return
		}
		if st, ok := traceSteps[s]; ok {
			tl.mark(o.Name, st.name, time.Now(), st.last)
		}
	}
}

// watch records the steps seen on the namespace's CustomMachines, Machines, runner Jobs and
// their pods until ctx ends.
func (tl *timeline) watch(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme) error {
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultNamespaces: map[string]cache.Config{tl.ns: {}}})
	if err != nil {
		return err
	}
	seen := func(obj any) {
		now := time.Now()
		switch o := obj.(type) {
		case *infrav1.CustomMachine:
			for _, ref := range o.OwnerReferences {
				if ref.Kind == "Machine" {
					tl.mark(o.Name, stOwner, now, false)
				}
			}
			if p := o.Status.Initialization.Provisioned; p != nil && *p {
				tl.mark(o.Name, stStatusWritten, now, false)
			}
		case *clusterv1.Machine:
			if o.Spec.Bootstrap.DataSecretName != nil { // what the CustomMachine reads
				tl.mark(o.Name, stBootstrap, now, false)
			}
			if p := o.Status.Initialization.InfrastructureProvisioned; p != nil && *p {
				tl.mark(o.Name, stMachine, now, false)
			}
		case *batchv1.Job:
			tl.seenJob(o, now)
		case *corev1.Pod:
			tl.seenPod(o, now)
		}
	}
	h := toolscache.ResourceEventHandlerFuncs{AddFunc: seen, UpdateFunc: func(_, n any) { seen(n) },
		DeleteFunc: func(o any) { // a runner Job deleted once its result is read: its last state
			if d, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			seen(o)
		}}
	for _, o := range []client.Object{&infrav1.CustomMachine{}, &clusterv1.Machine{}, &batchv1.Job{}, &corev1.Pod{}} {
		inf, err := c.GetInformer(ctx, o)
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(h); err != nil {
			return err
		}
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return fmt.Errorf("timeline watches did not sync")
	}
	return nil
}

// create creates objs with 4 workers, marking each machine created when both its objects are.
func (tl *timeline) create(ctx context.Context, c client.Client, objs []client.Object) error {
	return bench.Pool(len(objs), 4, func(i int) error {
		err := c.Create(ctx, objs[i])
		tl.mark(objs[i].GetName(), stCreated, time.Now(), true)
		return err
	})
}

// seenJob records a runner Job of a CustomMachine: created, then complete.
func (tl *timeline) seenJob(j *batchv1.Job, now time.Time) {
	for _, ref := range j.OwnerReferences {
		if ref.Kind != "CustomMachine" {
			continue
		}
		tl.mu.Lock()
		tl.jobs[j.Name] = ref.Name
		tl.mu.Unlock()
		tl.mark(ref.Name, stJob, now, false)
		for _, c := range j.Status.Conditions { // the manager reads the result at the first of them
			if (c.Type == batchv1.JobSuccessCriteriaMet || c.Type == batchv1.JobComplete) && c.Status == corev1.ConditionTrue {
				tl.mark(ref.Name, stJobDone, now, false)
			}
		}
	}
}

// seenPod records a runner pod's scheduling, start and end for its Job's machine.
func (tl *timeline) seenPod(p *corev1.Pod, now time.Time) {
	tl.mu.Lock()
	machine, ok := tl.jobs[p.Labels["job-name"]]
	tl.mu.Unlock()
	if !ok {
		return
	}
	tl.mark(machine, stPod, now, false)
	if p.Spec.NodeName != "" {
		tl.mark(machine, stScheduled, now, false)
	}
	switch p.Status.Phase {
	case corev1.PodRunning:
		tl.mark(machine, stContainer, now, false)
	case corev1.PodSucceeded:
		tl.mark(machine, stContainer, now, false) // a start and end seen in one event
		tl.mark(machine, stPodDone, now, false)
	}
}

// waitAll waits until n machines reached step, or timeout.
func (tl *timeline) waitAll(ctx context.Context, step string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		tl.mu.Lock()
		got := 0
		for _, m := range tl.at {
			if _, ok := m[step]; ok {
				got++
			}
		}
		tl.mu.Unlock()
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d/%d machines reached %q within %s", got, n, step, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// latest is the latest time any machine reached step.
func (tl *timeline) latest(step string) time.Time {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var t time.Time
	for _, m := range tl.at {
		if v, ok := m[step]; ok && v.After(t) {
			t = v
		}
	}
	return t
}

// stepStats are one step's figures across the machines: the time since the latest earlier step
// (what the step itself waited for) and since creation.
type stepStats struct {
	name, source        string
	since, fromCreation bench.Stats
}

// stats summarises the timeline per step. A step reached before an earlier-listed one waited for
// nothing (0).
func (tl *timeline) stats() []stepStats {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	out := make([]stepStats, len(tl.steps))
	since := make([][]time.Duration, len(tl.steps))
	from := make([][]time.Duration, len(tl.steps))
	for _, m := range tl.at {
		created, ok := m[stCreated]
		if !ok {
			continue
		}
		latest := created
		for i, s := range tl.steps {
			t, ok := m[s.name]
			if !ok || i == 0 {
				continue
			}
			since[i] = append(since[i], max(t.Sub(latest), 0))
			from[i] = append(from[i], t.Sub(created))
			if t.After(latest) {
				latest = t
			}
		}
	}
	for i, s := range tl.steps {
		out[i] = stepStats{name: s.name, source: s.source, since: bench.Summarize(since[i]), fromCreation: bench.Summarize(from[i])}
	}
	return out
}

// slotPhases splits the run slots' time from the first creation to the last status written: the
// ramp before the first terraform process, the slots' idle time between the first start and the
// last exit, and the tail after it.
type slotPhases struct {
	ramp, idle, tail, busy, span time.Duration
}

func (tl *timeline) phases(slots int) slotPhases {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var p slotPhases
	var t0, first, last, end time.Time
	earliest := func(t *time.Time, v time.Time) {
		if t.IsZero() || v.Before(*t) {
			*t = v
		}
	}
	latest := func(t *time.Time, v time.Time) {
		if v.After(*t) {
			*t = v
		}
	}
	for _, m := range tl.at {
		s, ok1 := m[stStarted]
		e, ok2 := m[stExited]
		if !ok1 || !ok2 {
			continue
		}
		p.busy += e.Sub(s)
		earliest(&t0, m[stCreated])
		earliest(&first, s)
		latest(&last, e)
		latest(&end, m[stStatusWritten])
	}
	p.ramp, p.tail, p.span = first.Sub(t0), end.Sub(last), end.Sub(t0)
	p.idle = time.Duration(slots)*last.Sub(first) - p.busy
	return p
}

// timelineTable is the per-step table and the steps with the largest medians.
func timelineTable(steps []stepStats) (table, largest string) {
	var w strings.Builder
	w.WriteString("| step | since previous p50 | p95 | since creation p50 | p95 | source |\n|---|---|---|---|---|---|\n")
	type share struct {
		name string
		d    time.Duration
	}
	var shares []share
	var total time.Duration
	for i, s := range steps {
		if i == 0 {
			fmt.Fprintf(&w, "| %s | — | — | 0 | 0 | %s |\n", s.name, s.source)
			continue
		}
		fmt.Fprintf(&w, "| %s | %s | %s | %s | %s | %s |\n", s.name, bench.Ms(s.since.Median), bench.Ms(s.since.P95),
			bench.Ms(s.fromCreation.Median), bench.Ms(s.fromCreation.P95), s.source)
		shares = append(shares, share{s.name, s.since.Median})
		total += s.since.Median
	}
	sort.Slice(shares, func(i, j int) bool { return shares[i].d > shares[j].d })
	var parts []string
	for _, s := range shares[:min(4, len(shares))] {
		parts = append(parts, fmt.Sprintf("%s %s (%.0f%%)", s.name, bench.Ms(s.d), 100*float64(s.d)/float64(max(total, 1))))
	}
	return w.String(), fmt.Sprintf("the steps' medians add up to %s; the largest: %s", bench.Ms(total), strings.Join(parts, ", "))
}

// timelineIntro says how to read a timeline table.
const timelineIntro = "\"Since previous\" is the time from the latest earlier step (0 when this step came first); the source says where each time is taken.\n\n"

// p4TimelineSection is P4's table and where its time goes, seen from the machines and from the slots.
func p4TimelineSection(steps []stepStats, ph slotPhases, n, slots int) section {
	table, largest := timelineTable(steps)
	var w strings.Builder
	fmt.Fprintf(&w, "Each of P4's %d machines, from its creation to its CAPI Machine's infrastructure provisioned. %s%s", n, timelineIntro, table)
	fmt.Fprintf(&w, "\n**Where the time goes.** For the machines, %s. With %d machines created at once and %d run slots, a machine's wait for a worker and a slot (\"first reconcile reaches tfrunner\", \"run slot taken\") is its place in the queue that `--max-concurrent-runs` bounds, not idle time. ", largest, n, slots)
	fmt.Fprintf(&w, "Seen from the slots, over the %.1f s from the first create to the last status written: %.1f s before the first terraform process starts (the ramp: CAPI's Machine controller reconciles a Machine at most once a second, and sets the owner reference on its third reconcile, after its finalizer and Paused condition), %.0f%% of the slots' time busy with terraform from the first start to the last exit (%.1f slot-seconds idle there), and %.1f s after the last exit (the last machines' state and status writes).",
		ph.span.Seconds(), ph.ramp.Seconds(), 100*float64(ph.busy)/float64(max(ph.busy+ph.idle, 1)), ph.idle.Seconds(), ph.tail.Seconds())
	return section{Title: "P4 timeline: one machine's way to Provisioned", Body: w.String()}
}
