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
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/company/cluster-api-provider-custom/bench"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

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

// p5 runs the manager binary against its own API server (with CAPI's core reconcilers in this
// process), provisions N CustomMachines, lets it go idle and reads its VmRSS.
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
	tl := newTimeline(ns, []timelineStep{{name: stOwner}, {name: stStatusWritten}})
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
