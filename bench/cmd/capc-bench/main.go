/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Command capc-bench measures the provider against the naive per-object terraform workflow
// (fresh directory, init, plan, apply) in one run, on this machine, with the same terraform
// binary (bin/terraform) and the same modules, and writes docs/benchmarks.md. See issue 10 and
// `make bench`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/company/cluster-api-provider-custom/bench"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/modules"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

type row struct {
	ID, What, Ours, Baseline, Ratio, Goal string
	Met                                   bool
	Info                                  bool // context row, no goal
}

type section struct{ Title, Body string }

type benchmark struct {
	root, work                       string
	naive                            *bench.Naive
	concurrency                      int
	p1N, p1BaseN, p2N, p3N, p4N, p5N int
	p9N                              int
	p8IdleN                          int
	sweep                            string // --max-concurrent-runs settings for P8c, as multiples of the cores
	p4Timeout, p5Timeout, p5Settle   time.Duration
	only                             map[string]bool

	rows                                                   []row
	sections                                               []section
	p1Mean, p1Plan                                         time.Duration
	p2Ours, p2Auto, p2PlanApply, p2Wall, procStart, p3Plan time.Duration
	p2Procs                                                int64
	p2Ops                                                  map[string]bench.OpStat
	p4Naive                                                time.Duration
	p4Procs                                                int64
	p5RSS                                                  float64

	p4Ops                  map[string]bench.OpStat
	p4Wall                 time.Duration
	p4CPU, p4NaiveCPU      bench.CPUSample
	api                    bench.APICounter
	p2API                  string     // API requests of P2's median run
	p4Writes               string     // API server write requests per machine in P4
	p4WritesCM             writeCount // to CustomMachines, per machine
	p4WritesMachine        writeCount // to CAPI Machines, per machine
	kube                   kubernetes.Interface
	profileTop, profileCum string
	p5ProvisionTime        time.Duration
	timeline               atomic.Pointer[timeline] // the scenario whose machines the runner's Trace records
	p4Steps                []stepStats
	p4Phases               slotPhases
}

func (b *benchmark) add(r row) {
	b.rows = append(b.rows, r)
	status := "MET"
	if r.Info {
		status = "info"
	} else if !r.Met {
		status = "MISSED"
	}
	fmt.Printf("%-4s %-7s ratio %-22s goal %-32s\n     ours:     %s\n     baseline: %s\n", r.ID, status, r.Ratio, r.Goal, r.Ours, r.Baseline)
}

func (b *benchmark) want(id string) bool { return len(b.only) == 0 || b.only[strings.ToUpper(id)] }

func main() {
	b := &benchmark{root: envtestutil.RepoRoot()}
	out := flag.String("out", filepath.Join(b.root, "docs", "benchmarks.md"), "Markdown report to write (empty: none)")
	work := flag.String("work", "", "scratch directory (default: a new temporary directory, removed afterwards)")
	only := flag.String("only", "", "comma-separated subset of P1..P10 (and P2s) to run (default: all)")
	flag.IntVar(&b.concurrency, "concurrency", tfrunner.DefaultConcurrentRuns(), "concurrent terraform runs in P4/P5 (the manager's default), for the provider and the naive baseline alike")
	flag.IntVar(&b.p1N, "p1-n", 300, "no-op reconciles timed in P1")
	flag.IntVar(&b.p1BaseN, "p1-baseline-n", 20, "terraform plans timed in P1")
	flag.IntVar(&b.p2N, "p2-n", 15, "objects applied in P2 (each way)")
	flag.IntVar(&b.p3N, "p3-n", 6, "objects in P3")
	flag.IntVar(&b.p4N, "p4-n", 100, "CustomMachines in P4")
	flag.IntVar(&b.p9N, "p9-n", 50, "CustomMachines in P9 (job mode vs local mode)")
	flag.IntVar(&b.p5N, "p5-n", 1000, "idle CustomMachines in P5 (provisioned: P8)")
	flag.StringVar(&b.sweep, "sweep", "1x,2x,4x", "P8c: --max-concurrent-runs settings as multiples of the cores (empty: skip)")
	flag.IntVar(&b.p8IdleN, "p8-idle-n", 10000, "CustomMachines in all for P8's idle RSS (0: skip)")
	flag.DurationVar(&b.p4Timeout, "p4-timeout", 4*time.Minute, "P4 provisioning timeout")
	flag.DurationVar(&b.p5Timeout, "p5-timeout", 8*time.Minute, "P5 provisioning timeout")
	flag.DurationVar(&b.p5Settle, "p5-settle", 20*time.Second, "idle time before reading the manager's RSS in P5")
	childP5 := flag.String("child-p5", "", "internal: run P5 only, in this process, and write its result as JSON to this file")
	flag.Parse()
	if *childP5 != "" {
		if err := b.runChildP5(*work, *childP5); err != nil {
			fmt.Fprintln(os.Stderr, "capc-bench P5:", err)
			os.Exit(1)
		}
		return
	}
	if *only != "" {
		b.only = map[string]bool{}
		for _, s := range strings.Split(*only, ",") {
			b.only[strings.ToUpper(strings.TrimSpace(s))] = true
		}
	}
	if err := b.run(*work, *out); err != nil {
		fmt.Fprintln(os.Stderr, "capc-bench:", err)
		os.Exit(1)
	}
}

// benchStep is one scenario of the run, by its id (-only).
type benchStep struct {
	id string
	fn func() error
}

func (b *benchmark) run(work, out string) error {
	started, loadBefore := time.Now(), bench.LoadAvg()
	work, cleanup, err := b.workDir(work)
	if err != nil {
		return err
	}
	defer cleanup()
	tfPath := filepath.Join(b.root, "bin", "terraform")
	b.naive = &bench.Naive{Terraform: tfPath, Root: filepath.Join(work, "naive")}

	ctx, cancel := context.WithTimeout(context.Background(), 14*time.Minute)
	defer cancel()
	bin, err := tfrunner.ResolveBinary(ctx, tfrunner.BinaryOptions{Path: tfPath})
	if err != nil {
		return fmt.Errorf("bin/terraform (make tools): %w", err)
	}
	fmt.Printf("capc-bench: terraform %s, %s, load %s\n", bin.Version, bench.MachineInfo(), loadBefore)

	sim, err := simulatedMachine()
	if err != nil {
		return err
	}
	st, e, err := b.startStack(ctx, bin, work)
	if err != nil {
		return err
	}
	stopStack := sync.OnceFunc(func() { _ = st.Stop() })
	defer stopStack()
	err = b.steps(
		benchStep{"P1", func() error { return b.p1(ctx, e, sim) }},
		benchStep{"P7", func() error { return b.p7(ctx) }},           // after P1: its ratios are P1's
		benchStep{"P10", func() error { return b.p10(ctx, e, sim) }}, // after P1: its object and ratios
		benchStep{"P2", func() error { return b.p2(ctx, e, sim) }},
		benchStep{"P2s", func() error { return b.p2s(ctx, e, bin, sim) }},
		benchStep{"P3", func() error {
			fc, err := modules.Get("fakecloud", contract.KindMachine)
			if err != nil {
				return err
			}
			return b.p3(ctx, b.kube, bin, fc)
		}},
		benchStep{"P6", func() error { return b.p6(ctx, e) }},
		benchStep{"P4", func() error { return b.p4(ctx, st, bin) }},
	)
	if err != nil {
		return err
	}
	stopStack() // P9 and P5 bring their own
	if err := b.steps(benchStep{"P9", func() error { return b.p9(ctx) }}, benchStep{"P5", func() error { return b.p5Child(ctx) }}); err != nil {
		return err
	}
	elapsed := time.Since(started)
	fmt.Printf("capc-bench: done in %.0f s, load %s\n", elapsed.Seconds(), bench.LoadAvg())
	if out == "" {
		return nil
	}
	return b.write(out, bin, started, elapsed, loadBefore)
}

// workDir prepares the run's work dir (a temporary one when work is ""), where the stack logs.
func (b *benchmark) workDir(work string) (string, func(), error) {
	cleanup := func() {}
	if work == "" {
		d, err := os.MkdirTemp("", "capc-bench-")
		if err != nil {
			return "", nil, err
		}
		work, cleanup = d, func() { _ = os.RemoveAll(d) }
	}
	b.work = work
	if err := os.MkdirAll(work, 0o700); err != nil {
		cleanup()
		return "", nil, err
	}
	logf, err := os.Create(filepath.Join(work, "stack.log"))
	if err != nil {
		cleanup()
		return "", nil, err
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logf)))
	return work, func() { _ = logf.Close(); cleanup() }, nil
}

// startStack starts the stack the in-process scenarios share, and the benchmark's own runner on
// its API server (its requests counted, with a state index as the manager has).
func (b *benchmark) startStack(ctx context.Context, bin *tfrunner.Binary, work string) (*envtestutil.Stack, *runnerEnv, error) {
	// The manager's defaults: machine workers beyond the run slots, which bound terraform itself.
	st, err := envtestutil.StartStack(ctx, envtestutil.StackOptions{
		WorkDir: filepath.Join(work, "stack"),
		Controller: controllers.Options{ClusterConcurrency: controllers.DefaultClusterConcurrency,
			MachineConcurrency: controllers.DefaultMachineConcurrency, DriftCheckInterval: time.Hour},
		Runner: func(c *tfrunner.Config) { c.MaxConcurrentRuns, c.Trace = b.concurrency, traceTo(&b.timeline) },
	})
	if err != nil {
		return nil, nil, err
	}
	e, err := b.benchRunner(ctx, st, bin, work)
	if err != nil {
		_ = st.Stop()
		return nil, nil, err
	}
	return st, e, nil
}

func (b *benchmark) benchRunner(ctx context.Context, st *envtestutil.Stack, bin *tfrunner.Binary, work string) (*runnerEnv, error) {
	kube, err := tfrunner.NewKubeClient(b.api.Wrap(st.Env.Config)) // as the manager builds it, requests counted
	if err != nil {
		return nil, err
	}
	b.kube = kube
	e, err := newRunnerEnv(kube, bin, filepath.Join(work, "runner"), "bench", nil)
	if err != nil {
		return nil, err
	}
	if err := e.r.WatchStates(ctx, metadata.NewForConfigOrDie(st.Env.Config), e.ns); err != nil { // as the manager does
		return nil, err
	}
	return e, ensureNamespace(ctx, kube, e.ns)
}

// steps runs the wanted steps in order, each timed.
func (b *benchmark) steps(steps ...benchStep) error {
	for _, s := range steps {
		if !b.want(s.id) {
			continue
		}
		t := time.Now()
		fmt.Printf("== %s (load %s)\n", s.id, bench.LoadAvg())
		if err := s.fn(); err != nil {
			return fmt.Errorf("%s: %w", s.id, err)
		}
		fmt.Printf("   %s took %.1f s\n", s.id, time.Since(t).Seconds())
	}
	return nil
}
