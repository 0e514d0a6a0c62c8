/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/bench"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// clusterObjects are a CAPI Cluster, its CustomCluster and the bootstrap data Secret its machines share.
func clusterObjects(ns, name string) []client.Object {
	cc := &infrav1.CustomCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: infrav1.CustomClusterSpec{
			Region: "us-east-1",
			NetworkSpec: infrav1.NetworkSpec{
				VPC: infrav1.VPCSpec{CIDRBlock: "10.0.0.0/16"},
				Subnets: []infrav1.SubnetSpec{
					{CIDRBlock: "10.0.0.0/20", AvailabilityZone: "us-east-1a", IsPublic: true},
					{CIDRBlock: "10.0.16.0/20", AvailabilityZone: "us-east-1b"},
				},
			},
		},
	}
	cluster := envtestutil.NewCluster(ns, name, false)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-bootstrap", Labels: map[string]string{clusterv1.ClusterNameLabel: name}},
		Type:       clusterv1.ClusterSecretType,
		Data:       map[string][]byte{"value": []byte("#cloud-config\nruncmd: [echo hello]\n")},
	}
	return []client.Object{cc, cluster, secret}
}

// machineObjects are a CustomMachine and its Machine, in the order a MachineSet creates them
// (CAPI's Machine controller waits 30 s for an infrastructure machine it does not find).
func machineObjects(ns, cluster, name string) []client.Object {
	secret := cluster + "-bootstrap"
	m := &clusterv1.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{clusterv1.ClusterNameLabel: cluster}},
		Spec: clusterv1.MachineSpec{ClusterName: cluster, Version: "v1.36.3",
			Bootstrap: clusterv1.Bootstrap{DataSecretName: &secret},
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{
				APIGroup: infrav1.GroupVersion.Group, Kind: "CustomMachine", Name: name}},
	}
	cm := &infrav1.CustomMachine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{clusterv1.ClusterNameLabel: cluster}},
		Spec: infrav1.CustomMachineSpec{InstanceType: "t3.large", ImageID: "ami-0123456789abcdef0",
			Tags: map[string]string{"role": "node"}},
	}
	return []client.Object{cm, m}
}

// machinesOf is n Machines with their CustomMachines in cluster, named by nameFormat and the index.
func machinesOf(ns, cluster, nameFormat string, n int) []client.Object {
	var objs []client.Object
	for i := 0; i < n; i++ {
		objs = append(objs, machineObjects(ns, cluster, fmt.Sprintf(nameFormat, i))...)
	}
	return objs
}

// provisionedCluster creates a cluster's objects and waits until its infrastructure is provisioned.
func provisionedCluster(ctx context.Context, c client.Client, ns, name string) error {
	if err := createAll(ctx, c, clusterObjects(ns, name), 1); err != nil {
		return err
	}
	return waitClusterProvisioned(ctx, c, ns, name)
}

func createAll(ctx context.Context, c client.Client, objs []client.Object, workers int) error {
	return bench.Pool(len(objs), workers, func(i int) error { return c.Create(ctx, objs[i]) })
}

// waitProvisioned polls until n CustomMachines in ns are provisioned; it returns when they are.
func waitProvisioned(ctx context.Context, c client.Reader, ns string, n int, every time.Duration, progress func(int)) error {
	for {
		list := &infrav1.CustomMachineList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return err
		}
		done := 0
		for i := range list.Items {
			if p := list.Items[i].Status.Initialization.Provisioned; p != nil && *p {
				done++
			}
		}
		if progress != nil {
			progress(done)
		}
		if done >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d/%d CustomMachines provisioned: %w", done, n, ctx.Err())
		case <-time.After(every):
		}
	}
}

func waitClusterProvisioned(ctx context.Context, c client.Reader, ns, name string) error {
	for {
		cl := &clusterv1.Cluster{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cl); err == nil {
			if p := cl.Status.Initialization.InfrastructureProvisioned; p != nil && *p {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster %s/%s infrastructure not provisioned: %w", ns, name, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// p4 provisions N CustomMachines through the provider's reconcilers (in-process with CAPI's core
// reconcilers, StartStack) and compares with N naive init+plan+apply runs at the same concurrency.
func (b *benchmark) p4(ctx context.Context, st *envtestutil.Stack, bin *tfrunner.Binary) error {
	ours, ops, procs, err := b.p4Provider(ctx, st)
	if err != nil {
		return err
	}
	b.p4Ops, b.p4Wall = ops, ours
	naive, err := b.p4NaiveRun(ctx)
	if err != nil {
		return err
	}
	b.p4Naive, b.p4Procs = naive, procs
	b.p4Rows(ours, naive, ops, procs)
	return b.p4Profile(ctx)
}

// p4Provider provisions P4's machines through the stack, under a CPU profile, and measures the
// wall time, terraform's operations, processes, CPU and API writes.
func (b *benchmark) p4Provider(ctx context.Context, st *envtestutil.Stack) (time.Duration, map[string]bench.OpStat, int64, error) {
	ns := "bench-p4"
	c := st.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return 0, nil, 0, err
	}
	if err := provisionedCluster(ctx, c, ns, "p4"); err != nil {
		return 0, nil, 0, err
	}
	objs := machinesOf(ns, "p4", "p4-m-%03d", b.p4N)
	prof, err := os.Create(filepath.Join(b.work, "p4-cpu.pprof"))
	if err != nil {
		return 0, nil, 0, err
	}
	h0, p0 := bench.RunHistogram(ctrlmetrics.Registry), st.Runner.Processes()
	if err := pprof.StartCPUProfile(prof); err != nil {
		return 0, nil, 0, err
	}
	rc := b.kube.CoreV1().RESTClient()
	req0, err := bench.APIServerRequests(ctx, rc)
	if err != nil {
		return 0, nil, 0, err
	}
	tl := newTimeline(ns, localSteps)
	tctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if err := tl.watch(tctx, st.Env.Config, st.Scheme); err != nil {
		pprof.StopCPUProfile()
		return 0, nil, 0, err
	}
	b.timeline.Store(tl)
	defer b.timeline.Store(nil)
	cpu0 := bench.SampleCPU(apiProcs...)
	start := time.Now()
	if err := tl.create(ctx, c, objs); err != nil {
		pprof.StopCPUProfile()
		return 0, nil, 0, err
	}
	err = tl.waitAll(ctx, stStatusWritten, b.p4N, b.p4Timeout)
	ours := tl.latest(stStatusWritten).Sub(start) // the moment the watch saw the last one
	if err == nil {
		err = tl.waitAll(ctx, stMachine, b.p4N, 30*time.Second) // CAPI's mirror of the last status write
	}
	b.p4Steps, b.p4Phases = tl.stats(), tl.phases(b.concurrency)
	b.p4CPU = bench.SampleCPU(apiProcs...).Sub(cpu0)
	if req1, err := bench.APIServerRequests(ctx, rc); err == nil {
		b.p4Writes = bench.WritesPer(req0, req1, b.p4N)
		b.p4WritesCM = writesTo("custommachines", req0, req1, b.p4N)
		b.p4WritesMachine = writesTo("machines", req0, req1, b.p4N)
	}
	pprof.StopCPUProfile()
	prof.Close()
	if err != nil {
		return 0, nil, 0, err
	}
	return ours, bench.Delta(h0, bench.RunHistogram(ctrlmetrics.Registry)), st.Runner.Processes() - p0, nil
}

// p4NaiveRun is N × (fresh dir, init, plan, apply) with the same number of concurrent terraform
// runs.
func (b *benchmark) p4NaiveRun(ctx context.Context) (time.Duration, error) {
	mod, err := simulatedMachine()
	if err != nil {
		return 0, err
	}
	cpu0 := bench.SampleCPU()
	start := time.Now()
	err = bench.Pool(b.p4N, b.concurrency, func(i int) error {
		name := fmt.Sprintf("p4-m-%03d", i)
		tfvars, err := tfrunner.RenderVariables(machineVars(name, nil))
		if err != nil {
			return err
		}
		d, err := b.naive.NewDir("p4-"+name, mod, tfvars)
		if err != nil {
			return err
		}
		return d.Full(ctx)
	})
	naive := time.Since(start)
	b.p4NaiveCPU = bench.SampleCPU().Sub(cpu0)
	return naive, err
}

// p4Rows reports P4 against terraform's floor, and P4w.
func (b *benchmark) p4Rows(ours, naive time.Duration, ops map[string]bench.OpStat, procs int64) {
	floor := bench.TotalSeconds(ops) / float64(b.concurrency)
	ratio := ours.Seconds() / floor
	apiCPU := b.p4CPU.Named["kube-apiserver"].Seconds() / float64(b.p4N) * 1000
	b.add(row{ID: "P4", What: fmt.Sprintf("%d CustomMachines to Provisioned through the manager (CAPI core + provider, envtest) vs terraform's own floor: the run's terraform process time ÷ %d run slots (context: naive %d × (mkdir, init, plan, apply) at the same concurrency)",
		b.p4N, b.concurrency, b.p4N),
		Ours: fmt.Sprintf("%.1f s wall (%d terraform processes: %s); CPU %s; kube-apiserver %.0f ms CPU per machine", ours.Seconds(), procs, opCounts(ops),
			b.p4CPU.String("terraform", "CAPI + provider (in-process)", apiProcs...), apiCPU),
		Baseline: fmt.Sprintf("floor %.1f s (%.1f s of terraform process time); naive %.1f s wall (%d processes, CPU terraform %.1f s)",
			floor, bench.TotalSeconds(ops), naive.Seconds(), 3*b.p4N, b.p4NaiveCPU.Children.Seconds()),
		Ratio: fmt.Sprintf("%.2f× the floor (naive ÷ provider wall %.2f×)", ratio, naive.Seconds()/ours.Seconds()),
		Goal:  "≤ 1.3× the floor", Met: ratio <= 1.3})
	if len(b.p4Steps) > 0 {
		lat := b.p4Steps[len(b.p4Steps)-1].fromCreation
		r := float64(lat.P95) / float64(max(lat.Median, 1))
		b.add(row{ID: "P4l", What: "one machine's latency in P4, from its creation to its CAPI Machine's infrastructure provisioned (per-step timeline below)",
			Ours:     fmt.Sprintf("p50 %s, p95 %s, max %s (n=%d)", bench.Ms(lat.Median), bench.Ms(lat.P95), bench.Ms(lat.Max), lat.N),
			Baseline: "—", Ratio: fmt.Sprintf("p95 = %.2f× p50", r), Goal: "p95 ≤ 2× p50", Met: r <= 2})
		b.sections = append(b.sections, p4TimelineSection(b.p4Steps, b.p4Phases, b.p4N, b.concurrency))
	}
	w := b.p4WritesCM
	b.add(row{ID: "P4w", What: "API writes to a CustomMachine from its creation to Provisioned, the user's create included (P4's run, counted by the API server)",
		Ours: fmt.Sprintf("%.2f per machine (%s)", w.total, w.split), Baseline: "—",
		Ratio: fmt.Sprintf("%.2f", w.total), Goal: "≤ 5", Met: w.total <= 5.05})
}

// writeCount is the writes to one resource per object, in all and split by verb.
type writeCount struct {
	total float64
	split string
}

func writesTo(resource string, before, after map[string]float64, n int) writeCount {
	var w writeCount
	var parts []string
	for _, k := range []string{"POST " + resource, "PATCH " + resource, "PUT " + resource,
		"PATCH " + resource + "/status", "PUT " + resource + "/status"} {
		if d := (after[k] - before[k]) / float64(n); d > 0 {
			w.total += d
			parts = append(parts, fmt.Sprintf("%s %.2f", k, d))
		}
	}
	w.split = strings.Join(parts, ", ")
	return w
}

// opMean is one operation's mean process time in a histogram delta ("—" when it did not run).
func opMean(ops map[string]bench.OpStat, op string) string {
	s, ok := ops[op]
	if !ok || s.Count == 0 {
		return "—"
	}
	return bench.Ms(time.Duration(s.Sum / float64(s.Count) * float64(time.Second)))
}

// apiProcs are envtest's API server processes, children of the benchmark.
var apiProcs = []string{"kube-apiserver", "etcd"}

func opCounts(ops map[string]bench.OpStat) string {
	var parts []string
	for _, op := range []string{"init", "plan", "show", "apply", "destroy"} {
		if s, ok := ops[op]; ok {
			parts = append(parts, fmt.Sprintf("%s %d × %s", op, s.Count, bench.Ms(time.Duration(s.Sum/float64(s.Count)*float64(time.Second)))))
		}
	}
	return strings.Join(parts, ", ")
}

// p4Profile renders the CPU profile taken during P4 as a top-20 text.
func (b *benchmark) p4Profile(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=20", filepath.Join(b.work, "p4-cpu.pprof")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %w\n%s", err, out)
	}
	b.profileTop = string(out)
	cum, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-cum", "-nodecount=20", filepath.Join(b.work, "p4-cpu.pprof")).CombinedOutput()
	if err == nil {
		b.profileCum = string(cum)
	}
	return nil
}

// p5 runs the manager binary against its own API server (with CAPI's core reconcilers in this
// process), provisions N CustomMachines, lets it go idle and reads its VmRSS.
// p5Env is what P5 and P8 run against: their own API server with CAPI's core controllers, a
// client, the manager binary built from ./cmd/manager and a kubeconfig for it.
type p5Env struct {
	c                  client.Client
	cfg                *rest.Config
	scheme             *runtime.Scheme
	mgrBin, kubeconfig string
	stops              []func() error
}

func (e *p5Env) stop() {
	for i := len(e.stops) - 1; i >= 0; i-- {
		_ = e.stops[i]()
	}
}

func (b *benchmark) startP5Env(ctx context.Context) (*p5Env, error) {
	e := &p5Env{mgrBin: filepath.Join(b.work, "manager"), kubeconfig: filepath.Join(b.work, "p5-kubeconfig")}
	env, cfg, err := envtestutil.Start()
	if err != nil {
		return nil, err
	}
	e.stops = append(e.stops, env.Stop)
	stopCAPI, err := envtestutil.StartCAPIManager(ctx, cfg)
	if err != nil {
		e.stop()
		return nil, err
	}
	e.stops = append(e.stops, stopCAPI)
	err = b.p5Client(ctx, e, cfg, env.KubeConfig)
	if err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

// p5Client fills e's client, manager binary and kubeconfig.
func (b *benchmark) p5Client(ctx context.Context, e *p5Env, cfg *rest.Config, kubeconfig []byte) error {
	scheme, err := envtestutil.NewScheme()
	if err != nil {
		return err
	}
	e.cfg, e.scheme = cfg, scheme
	if e.c, err = client.New(rest.CopyConfig(cfg), client.Options{Scheme: scheme}); err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", e.mgrBin, "./cmd/manager")
	build.Dir, build.Env = b.root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the manager: %w\n%s", err, out)
	}
	return os.WriteFile(e.kubeconfig, kubeconfig, 0o600)
}

func (b *benchmark) p5(ctx context.Context) error {
	e, err := b.startP5Env(ctx)
	if err != nil {
		return err
	}
	defer e.stop()
	c, mgrBin, kubeconfig := e.c, e.mgrBin, e.kubeconfig
	// The sweep first, on an API server holding nothing else; its managers watch a namespace each.
	var sweep []row
	if b.sweep != "" {
		if sweep, err = b.p8Sweep(ctx, c, mgrBin, kubeconfig); err != nil {
			return fmt.Errorf("concurrency sweep: %w", err)
		}
	}
	mp, err := b.startManager(mgrBin, kubeconfig, "p5", fmt.Sprintf("--max-concurrent-runs=%d", b.concurrency))
	if err != nil {
		return err
	}
	defer mp.stop()
	pid, murl, exited, logf := mp.pid, mp.murl, mp.exited, mp.log

	ns := "bench-p5"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	if err := provisionedCluster(ctx, c, ns, "p5"); err != nil {
		return err
	}
	rssEmpty, _ := bench.ProcStatus(pid, "VmRSS")
	provisionTime, p8, err := b.p5Provision(ctx, e, ns, pid, murl)
	if err != nil {
		return err
	}
	// Idle: wait until the reconcile counters stop moving, then let the GC and scavenger settle.
	b.waitQuiet(ctx, murl)
	time.Sleep(b.p5Settle)
	select {
	case <-exited:
		return fmt.Errorf("manager exited; see %s", logf)
	default:
	}
	rss, err := bench.ProcStatus(pid, "VmRSS")
	if err != nil {
		return err
	}
	hwm, _ := bench.ProcStatus(pid, "VmHWM")
	m, _ := scrape(ctx, murl)
	mib := func(kb int64) float64 { return float64(kb) / 1024 }
	b.add(row{ID: "P5", What: fmt.Sprintf("manager (bin built from ./cmd/manager, subprocess) RSS with %d provisioned, idle CustomMachines", b.p5N),
		Ours: fmt.Sprintf("VmRSS %.0f MiB idle (%.0f MiB with no machines; peak VmHWM %.0f MiB; Go heap in use %.0f MiB, sys %.0f MiB); %d machines provisioned in %.0f s",
			mib(rss), mib(rssEmpty), mib(hwm), m["go_memstats_heap_inuse_bytes"]/(1<<20), m["go_memstats_sys_bytes"]/(1<<20), b.p5N, provisionTime.Seconds()),
		Baseline: "—", Ratio: fmt.Sprintf("%.0f MiB", mib(rss)), Goal: "≤ 150 MiB", Met: mib(rss) <= 150})
	b.p5ProvisionTime, b.p5RSS = provisionTime, mib(rss)
	b.add(p8)
	if b.p8IdleN > 0 {
		idle, err := b.p8Idle(ctx, c, pid, murl, ns, mib(rss))
		if err != nil {
			return fmt.Errorf("P8 idle: %w", err)
		}
		b.add(idle)
	}
	b.rows = append(b.rows, sweep...)
	return nil
}

// p5Provision creates P5's machines and waits until they are provisioned (seen by a watch, the
// moment it happens): how long it took, and P8's row (the manager's metrics and memory over the run).
func (b *benchmark) p5Provision(ctx context.Context, e *p5Env, ns string, pid int, murl string) (time.Duration, row, error) {
	objs := machinesOf(ns, "p5", "p5-m-%04d", b.p5N)
	tl := newTimeline(ns, []timelineStep{{name: stCreated}, {name: stOwner}, {name: stStatusWritten}})
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	if err := tl.watch(wctx, e.cfg, e.scheme); err != nil {
		return 0, row{}, err
	}
	m0, _ := scrape(ctx, murl)
	stopRSS := rssPeak(pid)
	start := time.Now()
	stopBusy := slotsBusy(ctx, murl, start)
	if err := createAll(ctx, e.c, objs, 8); err != nil {
		stopRSS()
		stopBusy()
		return 0, row{}, err
	}
	err := tl.waitAll(ctx, stStatusWritten, b.p5N, b.p5Timeout)
	provisionTime := tl.latest(stStatusWritten).Sub(start)
	peak, busy := stopRSS(), stopBusy()
	if err != nil {
		return 0, row{}, err
	}
	m1, _ := scrape(ctx, murl)
	hwm0, _ := bench.ProcStatus(pid, "VmHWM")
	r := b.p8Row(provisionTime, m0, m1, peak, float64(hwm0)/1024)
	r.Ours += fmt.Sprintf("; terraform processes in flight (sampled every 250 ms): none for the first %.1f s, then %.0f%% of the %d slots busy on average until the last run, %.1f s before the end; CAPI had set the last owner reference %.1f s after the start",
		busy.ramp.Seconds(), 100*busy.mean/float64(b.concurrency), b.concurrency, provisionTime.Seconds()-busy.last.Seconds(), tl.latest(stOwner).Sub(start).Seconds())
	return provisionTime, r, nil
}

// scrape sums each metric family's samples (without labels) from a Prometheus text endpoint.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 64<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		name := l[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

// p5Result carries P5's figures from the child process.
type p5Result struct {
	Rows          []row
	RSS           float64
	ProvisionTime time.Duration
}

// p5Child runs P5 in a child process: CAPI's core reconcilers can be set up once per process
// (informer names are global) and P4's stack already did.
func (b *benchmark) p5Child(ctx context.Context) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	res := filepath.Join(b.work, "p5-result.json")
	cmd := exec.CommandContext(ctx, self, "-child-p5="+res, "-work="+filepath.Join(b.work, "p5"),
		fmt.Sprintf("-concurrency=%d", b.concurrency), fmt.Sprintf("-p5-n=%d", b.p5N),
		"-p5-timeout="+b.p5Timeout.String(), "-p5-settle="+b.p5Settle.String(), fmt.Sprintf("-p8-idle-n=%d", b.p8IdleN),
		"-sweep="+b.sweep, fmt.Sprintf("-p4-n=%d", b.p4N), "-p4-timeout="+b.p4Timeout.String())
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// The child's API server, etcd and manager go with it when the run's deadline cuts it: its
	// own process group, killed whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("P5 child: %w", err)
	}
	raw, err := os.ReadFile(res)
	if err != nil {
		return err
	}
	var r p5Result
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	b.rows = append(b.rows, r.Rows...)
	b.p5RSS, b.p5ProvisionTime = r.RSS, r.ProvisionTime
	return nil
}

// runChildP5 is the child side of p5Child.
func (b *benchmark) runChildP5(work, out string) error {
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	b.work = work
	logf, err := os.Create(filepath.Join(work, "capi.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	ctrl.SetLogger(zap.New(zap.WriteTo(logf)))
	ctx, cancel := context.WithTimeout(context.Background(), b.p5Timeout+3*time.Minute)
	defer cancel()
	if err := b.p5(ctx); err != nil {
		return err
	}
	raw, err := json.Marshal(p5Result{Rows: b.rows, RSS: b.p5RSS, ProvisionTime: b.p5ProvisionTime})
	if err != nil {
		return err
	}
	return os.WriteFile(out, raw, 0o600)
}
