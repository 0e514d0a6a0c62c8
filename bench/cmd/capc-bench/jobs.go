/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/company/cluster-api-provider-custom/bench"
	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// p9 provisions the same machines in local mode and in job mode (--runner=job: a Job per run,
// the real kube-controller-manager's Job controller, kube-scheduler, and a kubelet with containerd
// running the provider image), each on a fresh stack, and reports the node's part (pod start
// latency) apart.
func (b *benchmark) p9(ctx context.Context) error {
	n := b.p9N
	local, err := b.p9Run(ctx, n, false)
	if err != nil {
		return fmt.Errorf("local mode: %w", err)
	}
	job, err := b.p9Run(ctx, n, true)
	if err != nil {
		return fmt.Errorf("job mode: %w", err)
	}
	lat := job.latencies
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p95 := pct(lat, 50), pct(lat, 95)
	b.add(row{ID: "P9", Info: true,
		What: fmt.Sprintf("%d CustomMachines (and their cluster) to Provisioned in job mode (a runner Job per run: the real kube-controller-manager's Job controller and kube-scheduler, a real node (kubelet v1.36.3 + containerd v2.4.2 + runc) running each pod from the provider image built by make docker-build, terraform under Landlock in the container) vs local mode, fresh stacks", n),
		Ours: fmt.Sprintf("job mode %.1f s wall, %d runner pods; CPU %s; the node: pod created → container running (as the bench's watch sees them) p50 %s, p95 %s",
			job.wall.Seconds(), len(lat), job.cpu.String("runner pods (terraform included)", "manager + CAPI (in-process)", nodeProcs...), p50, p95),
		Baseline: fmt.Sprintf("local mode %.1f s wall; CPU %s", local.wall.Seconds(), local.cpu.String("terraform", "manager + CAPI (in-process)", apiProcs...)),
		Ratio:    fmt.Sprintf("job ÷ local %.2f×", job.wall.Seconds()/local.wall.Seconds()),
		Goal:     "— (measured; job mode trades per-run overhead for runs spread over nodes)"})
	table, largest := timelineTable(job.steps)
	b.sections = append(b.sections, section{Title: "P9 timeline: one machine's way in job mode",
		Body: fmt.Sprintf("Each of P9's %d machines in job mode, from its creation to its CAPI Machine's infrastructure provisioned, through its runner Job. %s%s\n**Where the time goes.** For the machines, %s. Three parts are not this provider's: the Job controller (kube-controller-manager, its default 5 Job workers and 1 s batching of pod updates) creates each pod and, after the pod ends, marks the Job SuccessCriteriaMet (the manager reads the result then, not at Complete, and deletes the Job afterwards, off the object's path); kube-scheduler binds each pod and the kubelet starts it (sandbox, the image from the node's store, Secret, emptyDir and projected-token mounts, the container under runc), here all the runs' pods at once on one node of 2 cores shared with the control plane, where a lone pod starts in about 0.75 s (DESIGN.md §8), and every runner pod then runs its own terraform init and apply at the same time (local mode runs as many as there are cores); and CAPI's once-a-second Machine reconciles before the owner reference.",
			n, timelineIntro, table, largest)})
	return nil
}

type p9Result struct {
	wall      time.Duration
	cpu       bench.CPUSample
	latencies []time.Duration
	steps     []stepStats // job mode's timeline
}

// p9Run provisions a cluster, then n machines, on a fresh stack (job mode with jobs).
func (b *benchmark) p9Run(ctx context.Context, n int, jobs bool) (p9Result, error) {
	var res p9Result
	mode := "local"
	if jobs {
		mode = "job"
	}
	dir := filepath.Join(b.work, "p9-"+mode)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	opts := envtestutil.StackOptions{WorkDir: filepath.Join(dir, "stack"),
		Controller: controllers.Options{ClusterConcurrency: controllers.DefaultClusterConcurrency,
			MachineConcurrency: controllers.DefaultMachineConcurrency, DriftCheckInterval: time.Hour},
		Runner: func(c *tfrunner.Config) { c.MaxConcurrentRuns = b.concurrency }}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var st *envtestutil.Stack
	var node *envtestutil.Node
	if jobs {
		archive, err := envtestutil.BuildImage(dir)
		if err != nil {
			return res, err
		}
		js, err := envtestutil.StartJobStack(sctx, opts, filepath.Join(dir, "node"), archive, nil)
		if err != nil {
			return res, err
		}
		defer js.Stop()
		st, node = js.Stack, js.Node
	} else {
		var err error
		if st, err = envtestutil.StartStack(sctx, opts); err != nil {
			return res, err
		}
		defer func() { _ = st.Stop() }()
	}
	ns := "bench-p9"
	if err := envtestutil.RunnerNamespace(ctx, st.Client, ns); err != nil {
		return res, err
	}
	cctx, ccancel := context.WithTimeout(ctx, 3*time.Minute)
	defer ccancel()
	if err := provisionedCluster(cctx, st.Client, ns, "p9"); err != nil {
		return res, errors.Join(err, describeRuns(ctx, st, ns))
	}
	tl := newTimeline(ns, jobSteps)
	if err := tl.watch(sctx, st.Env.Config, st.Scheme); err != nil {
		return res, err
	}
	procs := apiProcs
	if jobs {
		procs = nodeProcs
	}
	cpu0, pods0 := bench.SampleCPU(procs...), podsCPU(node)
	start := time.Now()
	if err := tl.create(ctx, st.Client, machinesOf(ns, "p9", "p9-m-%03d", n)); err != nil {
		return res, err
	}
	if err := tl.waitAll(ctx, stStatusWritten, n, 5*time.Minute); err != nil {
		return res, errors.Join(err, describeRuns(ctx, st, ns))
	}
	res.wall, res.cpu = tl.latest(stStatusWritten).Sub(start), bench.SampleCPU(procs...).Sub(cpu0)
	if jobs {
		res.cpu.Children = podsCPU(node) - pods0 // the runner containers are the node's, not this process's children
		res.latencies = tl.between(stPod, stContainer)
		if err := tl.waitAll(ctx, stMachine, n, 30*time.Second); err != nil {
			return res, err
		}
		res.steps = tl.stats()
	}
	return res, nil
}

// nodeProcs are the processes of the API server and the node (StartJobStack), children of the
// benchmark.
var nodeProcs = append([]string{"kube-controller-manager", "kube-scheduler", "kubelet", "containerd"}, apiProcs...)

// podsCPU is the CPU time of the node's pods (0 without a node).
func podsCPU(n *envtestutil.Node) time.Duration {
	if n == nil {
		return 0
	}
	return n.PodsCPU()
}

func pct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "-"
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)].Round(10 * time.Millisecond).String()
}

// describeRuns says where runs stand when P9 times out: each runner Job's conditions and each
// pod's phase and container state.
func describeRuns(ctx context.Context, st *envtestutil.Stack, ns string) error {
	kube, err := kubernetes.NewForConfig(st.Env.Config)
	if err != nil {
		return err
	}
	var b strings.Builder
	jobs, _ := kube.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	for _, j := range jobs.Items {
		fmt.Fprintf(&b, "job %s: active %d, succeeded %d, failed %d, conditions %v\n", j.Name, j.Status.Active, j.Status.Succeeded, j.Status.Failed, j.Status.Conditions)
	}
	pods, _ := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod %s: node %q, phase %s, finalizers %v, containers %+v\n", p.Name, p.Spec.NodeName, p.Status.Phase, p.Finalizers, p.Status.ContainerStatuses)
	}
	return fmt.Errorf("runner Jobs and pods:\n%s", b.String())
}
