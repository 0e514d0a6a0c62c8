/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/company/cluster-api-provider-custom/bench"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// sampleEvery calls f every 250 ms, from now until stop is called.
func sampleEvery(f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			f()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// rssPeak samples a process's VmRSS until stop is called, which returns the largest sample in
// MiB ("throughout" as seen from outside; VmHWM is the kernel's own peak).
func rssPeak(pid int) (stop func() float64) {
	peak := int64(0)
	end := sampleEvery(func() {
		if kb, err := bench.ProcStatus(pid, "VmRSS"); err == nil {
			peak = max(peak, kb)
		}
	})
	return func() float64 { end(); return float64(peak) / 1024 }
}

// inFlight is what slotsBusy saw: the time to the first terraform process, to the last sample
// with one in flight, and the mean in flight between them.
type inFlight struct {
	ramp, last time.Duration
	mean       float64
}

// slotsBusy samples the manager's capc_terraform_runs_in_flight until stop is called.
func slotsBusy(ctx context.Context, murl string, start time.Time) (stop func() inFlight) {
	var samples []float64
	var at []time.Duration
	end := sampleEvery(func() {
		if m, err := scrape(ctx, murl); err == nil {
			samples, at = append(samples, m["capc_terraform_runs_in_flight"]), append(at, time.Since(start))
		}
	})
	return func() inFlight {
		end()
		var r inFlight
		first, last := -1, -1
		for i, v := range samples {
			if v > 0 {
				if first < 0 {
					first = i
				}
				last = i
			}
		}
		if first < 0 {
			return r
		}
		sum := 0.0
		for _, v := range samples[first : last+1] {
			sum += v
		}
		r.ramp, r.last, r.mean = at[first], at[last], sum/float64(last-first+1)
		return r
	}
}

// p8Row reports the 1000-machine provisioning against terraform's own floor: the manager's
// terraform process time (capc_terraform_run_duration_seconds, every operation) divided by its
// run slots is the least wall time the runs alone could take.
func (b *benchmark) p8Row(wall time.Duration, m0, m1 map[string]float64, peak, hwm float64) row {
	procTime := m1["capc_terraform_run_duration_seconds_sum"] - m0["capc_terraform_run_duration_seconds_sum"]
	runs := m1["capc_terraform_run_duration_seconds_count"] - m0["capc_terraform_run_duration_seconds_count"]
	floor := procTime / float64(b.concurrency)
	ratio := wall.Seconds() / floor
	return row{ID: "P8", What: fmt.Sprintf("%d CustomMachines of one cluster to Provisioned through the manager binary (P5's setup) vs terraform's floor (the manager's terraform process time ÷ %d run slots), and the manager's RSS throughout",
		b.p5N, b.concurrency),
		Ours: fmt.Sprintf("%.0f s wall; %.0f terraform runs, %.1f s of terraform process time; RSS peak %.0f MiB sampled every 250 ms (VmHWM %.0f MiB)",
			wall.Seconds(), runs, procTime, peak, hwm),
		Baseline: fmt.Sprintf("floor %.1f s", floor),
		Ratio:    fmt.Sprintf("%.2f× the floor; peak %.0f MiB", ratio, max(peak, hwm)),
		Goal:     "≤ 1.2× the floor, RSS ≤ 150 MiB throughout", Met: ratio <= 1.2 && max(peak, hwm) <= 150}
}

// p8Idle adds machines of a paused cluster until the manager knows idleN CustomMachines in all,
// waits for it to go quiet and reads its RSS: what each cached object costs, without terraform.
func (b *benchmark) p8Idle(ctx context.Context, c client.Client, pid int, murl, ns string, provisionedRSS float64) (row, error) {
	extra := b.p8IdleN - b.p5N
	if extra <= 0 {
		return row{}, fmt.Errorf("-p8-idle-n %d must exceed -p5-n %d", b.p8IdleN, b.p5N)
	}
	objs := append([]client.Object{envtestutil.NewCluster(ns, "idle", true)}, machinesOf(ns, "idle", "idle-m-%05d", extra)...)
	start := time.Now()
	if err := createAll(ctx, c, objs, 8); err != nil {
		return row{}, err
	}
	created := time.Since(start)
	b.waitQuiet(ctx, murl)
	time.Sleep(b.p5Settle)
	rss, err := bench.ProcStatus(pid, "VmRSS")
	if err != nil {
		return row{}, err
	}
	m, _ := scrape(ctx, murl)
	mib := float64(rss) / 1024
	perObj := (mib - provisionedRSS) * 1024 / float64(extra)
	return row{ID: "P8i", What: fmt.Sprintf("manager RSS with %d idle CustomMachines: P5's %d provisioned plus %d of a paused cluster (each with its Machine; created in %.0f s)",
		b.p8IdleN, b.p5N, extra, created.Seconds()),
		Ours: fmt.Sprintf("VmRSS %.0f MiB (Go heap in use %.0f MiB); %.1f KiB per added machine over P5's idle %.0f MiB",
			mib, m["go_memstats_heap_inuse_bytes"]/(1<<20), perObj, provisionedRSS),
		Baseline: "—", Ratio: fmt.Sprintf("%.0f MiB", mib), Goal: "≤ 400 MiB", Met: mib <= 400}, nil
}

// waitQuiet waits until the manager's reconcile counter stops moving for 5 s (at most 5 min).
func (b *benchmark) waitQuiet(ctx context.Context, murl string) {
	prev := -1.0
	for i := 0; i < 60; i++ {
		m, _ := scrape(ctx, murl)
		if cur := m["controller_runtime_reconcile_total"]; cur == prev {
			return
		} else {
			prev = cur
		}
		time.Sleep(5 * time.Second)
	}
}

// managerProc is a manager binary started by the benchmark.
type managerProc struct {
	pid      int
	murl     string // its /metrics
	log      string
	exited   chan struct{}
	stopOnce sync.Once
	cmd      *exec.Cmd
}

// startManager runs the manager binary against the benchmark's API server (default flags but
// the API server, work dir, terraform path and no drift check falling due), plus extra flags.
func (b *benchmark) startManager(mgrBin, kubeconfig, name string, extra ...string) (*managerProc, error) {
	metricsAddr, healthAddr := freeAddr(), freeAddr()
	logPath := filepath.Join(b.work, name+"-manager.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := append([]string{"--kubeconfig=" + kubeconfig, "--metrics-bind-address=" + metricsAddr,
		"--health-probe-bind-address=" + healthAddr, "--terraform-path=" + filepath.Join(b.root, "bin", "terraform"),
		"--work-dir=" + filepath.Join(b.work, name+"-work"), "--module-root=" + b.work, "--drift-check-interval=1h"}, extra...)
	cmd := exec.Command(mgrBin, args...)
	cmd.Env = append(os.Environ(), "POD_NAME=capc-bench-"+name, "KUBECONFIG=")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	mp := &managerProc{pid: cmd.Process.Pid, murl: "http://" + metricsAddr + "/metrics", log: logPath, exited: make(chan struct{}), cmd: cmd}
	go func() { _ = cmd.Wait(); logf.Close(); close(mp.exited) }()
	return mp, nil
}

// stop interrupts the manager and waits for it (killing it after 30 s).
func (mp *managerProc) stop() {
	mp.stopOnce.Do(func() {
		_ = mp.cmd.Process.Signal(os.Interrupt)
		select {
		case <-mp.exited:
		case <-time.After(30 * time.Second):
			_ = mp.cmd.Process.Kill()
			<-mp.exited
		}
	})
}

// p8Sweep provisions -p4-n machines with each --max-concurrent-runs of the sweep (a manager per
// setting, watching its own namespace), reporting wall time against terraform's floor and the
// memory of the manager's process tree: the manager and every terraform process (and provider)
// under it, sampled every 250 ms.
func (b *benchmark) p8Sweep(ctx context.Context, c client.Client, mgrBin, kubeconfig string) ([]row, error) {
	var settings []int
	for _, f := range strings.Split(b.sweep, ",") {
		var mult float64
		if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimSpace(f), "x"), "%g", &mult); err != nil || mult <= 0 {
			return nil, fmt.Errorf("-sweep %q: want multiples of the cores such as 1x,2x,4x", b.sweep)
		}
		settings = append(settings, max(1, int(mult*float64(runtime.NumCPU()))))
	}
	// Two rounds, the second in reverse order, so a drift in the machine's load shows as a
	// difference between a setting's two figures rather than as a trend across settings.
	results := map[int][]sweepResult{}
	for round := 0; round < 2; round++ {
		for i := range settings {
			slots := settings[i]
			if round == 1 {
				slots = settings[len(settings)-1-i]
			}
			res, err := b.sweepSetting(ctx, c, mgrBin, kubeconfig, slots, round)
			if err != nil {
				return nil, err
			}
			results[slots] = append(results[slots], res)
		}
	}
	var parts []string
	var perProc []float64
	for _, slots := range settings {
		rs := results[slots]
		var walls []string
		var peak sweepResult
		for _, r := range rs {
			walls = append(walls, fmt.Sprintf("%.1f s (%.2f× the floor)", r.wall, r.ratio))
			if r.tree.total > peak.tree.total {
				peak = r
			}
			if r.tree.trees > 0 {
				perProc = append(perProc, (r.tree.total-r.tree.manager)/float64(r.tree.trees))
			}
		}
		parts = append(parts, fmt.Sprintf("%d slots: %s wall, tree RSS peak %.0f MiB (manager %.0f MiB, %d terraform process trees)",
			slots, strings.Join(walls, " and "), peak.tree.total, peak.tree.manager, peak.tree.trees))
	}
	mem := "—"
	if len(perProc) > 0 {
		mem = fmt.Sprintf("%.0f MiB", slices.Max(perProc))
	}
	return []row{{ID: "P8c", What: fmt.Sprintf("--max-concurrent-runs sweep: %d CustomMachines through the manager binary at each setting (multiples of %d cores; two rounds, the second in reverse order)", b.p4N, runtime.NumCPU()),
		Ours: strings.Join(parts, "; "), Baseline: "—", Ratio: "terraform process tree RSS up to " + mem, Goal: "(sizing figures asked for)", Info: true}}, nil
}

// sweepSetting runs one manager with the given slots, watching a namespace of its own.
func (b *benchmark) sweepSetting(ctx context.Context, c client.Client, mgrBin, kubeconfig string, slots, round int) (sweepResult, error) {
	ns := fmt.Sprintf("bench-sweep-%d-%d", slots, round)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return sweepResult{}, err
	}
	mp, err := b.startManager(mgrBin, kubeconfig, ns, "--namespace="+ns, fmt.Sprintf("--max-concurrent-runs=%d", slots),
		fmt.Sprintf("--custommachine-concurrency=%d", max(10, slots)))
	if err != nil {
		return sweepResult{}, err
	}
	res, err := b.sweepOne(ctx, c, mp, ns, slots)
	mp.stop()
	if err != nil {
		return sweepResult{}, fmt.Errorf("%d slots: %w (see %s)", slots, err, mp.log)
	}
	return res, nil
}

type sweepResult struct {
	wall, ratio float64 // seconds; wall ÷ the floor
	tree        treePeak
}

func (b *benchmark) sweepOne(ctx context.Context, c client.Client, mp *managerProc, ns string, slots int) (sweepResult, error) {
	if err := provisionedCluster(ctx, c, ns, "s"); err != nil {
		return sweepResult{}, err
	}
	objs := machinesOf(ns, "s", "s-m-%03d", b.p4N)
	m0, _ := scrape(ctx, mp.murl)
	stopTree := treeRSSPeak(mp.pid)
	start := time.Now()
	if err := createAll(ctx, c, objs, 4); err != nil {
		stopTree()
		return sweepResult{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, b.p4Timeout)
	err := waitProvisioned(wctx, c, ns, b.p4N, 100*time.Millisecond, nil)
	cancel()
	wall := time.Since(start)
	peak := stopTree()
	if err != nil {
		return sweepResult{}, err
	}
	m1, _ := scrape(ctx, mp.murl)
	floor := (m1["capc_terraform_run_duration_seconds_sum"] - m0["capc_terraform_run_duration_seconds_sum"]) / float64(slots)
	return sweepResult{wall: wall.Seconds(), ratio: wall.Seconds() / floor, tree: peak}, nil
}

type treePeak struct {
	total, manager float64 // MiB
	trees          int     // terraform process trees (direct children of the manager) at the peak
}

// treeRSSPeak samples the summed VmRSS of pid and all its descendants until stop is called.
func treeRSSPeak(pid int) (stop func() treePeak) {
	var peak treePeak
	end := sampleEvery(func() {
		if s := treeRSS(pid); s.total > peak.total {
			peak = s
		}
	})
	return func() treePeak { end(); return peak }
}

// treeRSS sums the VmRSS of pid and its descendants, read from /proc.
func treeRSS(pid int) treePeak {
	parent := map[int]int{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		raw, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		p, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			parent[p] = pp
		}
	}
	var out treePeak
	for p := range parent {
		if parent[p] == pid {
			out.trees++
		}
		top := p
		for depth := 0; depth < 16 && top != pid && top > 1; depth++ {
			top = parent[top]
		}
		if top != pid {
			continue
		}
		if kb, err := bench.ProcStatus(p, "VmRSS"); err == nil {
			out.total += float64(kb) / 1024
			if p == pid {
				out.manager = float64(kb) / 1024
			}
		}
	}
	return out
}
