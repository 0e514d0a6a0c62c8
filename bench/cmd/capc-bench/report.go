/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/company/cluster-api-provider-custom/bench"
	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// write renders docs/benchmarks.md.
func (b *benchmark) write(out string, bin *tfrunner.Binary, started time.Time, elapsed time.Duration, loadBefore string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	var w strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&w, format+"\n", a...) }
	p("# Benchmarks")
	p("")
	p("Written by `make bench` (`go run ./bench/cmd/capc-bench`); do not edit by hand: the notes below are part of the program.")
	p("")
	p("- **Date:** %s (the run took %.0f s)", started.UTC().Format("2006-01-02 15:04 MST"), elapsed.Seconds())
	p("- **Command:** `make bench` = `%s`", strings.TrimSpace("go run ./bench/cmd/capc-bench "+strings.Join(os.Args[1:], " ")))
	p("- **Machine:** %s", bench.MachineInfo())
	p("- **Load average** (1/5/15 min) before: %s, after: %s. The machine is shared: other builds and tests may run at the same time, so absolute times move between runs; each ratio compares figures taken minutes apart in the same run.", loadBefore, bench.LoadAvg())
	p("- **Terraform:** bin/terraform %s for both sides. Modules: `simulated/machine` (provider-free, builtin `terraform_data`) for P1, P2, P4, P5; `fakecloud/machine` (provider `company/fakecloud` from the `bin/tf-mirror` filesystem mirror) for P3.", bin.Version)
	p("- **API server:** envtest (kube-apiserver + etcd v1.36.3 from bin/), CAPI core Cluster/Machine reconcilers in-process.")
	p("- **Concurrency:** %d terraform runs at once in P4/P5 (the default `--max-concurrent-runs` = the cores, at least 2; P8c measures other settings), the naive baseline the same.", b.concurrency)
	p("")
	p("| | measurement | provider | naive baseline | ratio | goal | met |")
	p("|---|---|---|---|---|---|---|")
	for _, r := range b.rows {
		met := "yes"
		if r.Info {
			met = "—"
		} else if !r.Met {
			met = "**no**"
		}
		p("| %s | %s | %s | %s | %s | %s | %s |", r.ID, r.What, r.Ours, r.Baseline, r.Ratio, r.Goal, met)
	}
	p("")
	for _, s := range b.sections {
		p("## %s", s.Title)
		p("")
		p("%s", s.Body)
		p("")
	}
	if b.p4Ops != nil {
		p("## Where the time goes: P4 (from `capc_terraform_run_duration_seconds`)")
		p("")
		p("| operation | processes | mean | total process time |")
		p("|---|---|---|---|")
		var tot float64
		for _, op := range []string{"init", "plan", "show", "apply"} {
			if s, ok := b.p4Ops[op]; ok {
				tot += s.Sum
				p("| %s | %d | %s | %.1f s |", op, s.Count, bench.Ms(time.Duration(s.Sum/float64(s.Count)*float64(time.Second))), s.Sum)
			}
		}
		p("| all terraform | | | %.1f s over %.1f s wall (%d slots: %.0f%% busy) |", tot, b.p4Wall.Seconds(), b.concurrency,
			100*tot/(b.p4Wall.Seconds()*float64(b.concurrency)))
		p("")
	}
	if b.profileTop != "" {
		if err := os.WriteFile(filepath.Join(filepath.Dir(out), "benchmarks-p4-cpu.txt"),
			[]byte("# CPU profile of the manager process during P4 (go tool pprof -top -nodecount=20; then -cum)\n\n"+b.profileTop+"\n"+b.profileCum), 0o644); err != nil {
			return err
		}
		p("## CPU profile of the manager during P4")
		p("")
		p("The stack (CAPI core reconcilers + this provider's reconcilers + the tfrunner) runs in the benchmark process, profiled with runtime/pprof while the %d machines provision; terraform itself runs in child processes and is not in it. Top 20 by flat time (full top-20 flat and cumulative: [benchmarks-p4-cpu.txt](benchmarks-p4-cpu.txt)):", b.p4N)
		p("")
		p("```")
		p("%s", strings.TrimSpace(b.profileTop))
		p("```")
		p("")
	}
	p("## Notes")
	p("")
	for _, n := range notes(b) {
		p("- %s", n)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(w.String()), 0o644)
}

// notes explain the figures of this run: why a goal is met or what stands in its way.
func notes(b *benchmark) []string {
	ms := bench.Ms
	met := map[string]bool{}
	for _, r := range b.rows {
		met[r.ID] = r.Met
	}
	var n []string
	if b.p1Mean > 0 {
		s := fmt.Sprintf("**P1.** A no-op reconcile starts no terraform process. The inputs hash (variables + module digest + engine version) stored on the state Secret matches, so tfrunner answers on a lock-free fast path without any API request: the state Secret's metadata (inputs hash, serial, checksum, owner) comes from the runner's metadata-only informer over the state Secrets (`WatchStates`, as the manager runs it), the outputs are decoded once per state checksum and memoized, and a stat of the workspace state file catches newer state left by a killed run (that sends the reconcile down the locked path). What is left (%s) is rendering the variables and hashing them with the module digest (computed once per process for the embedded modules). ", ms(b.p1Mean))
		if !met["P1"] {
			s += fmt.Sprintf("The goal is missed in this run: `terraform plan` of the provider-free module took %s, so ≥ 50× means ≤ %s, about one API round trip on this loaded 2-core machine; runs on a quiet machine meet it.", ms(b.p1Plan), ms(b.p1Plan/50))
		}
		n = append(n, s)
	}
	if b.p2Ours > 0 {
		outside := b.p2Wall - time.Duration(bench.TotalSeconds(b.p2Ops)*float64(time.Second))
		s := fmt.Sprintf("**P2.** An object's first apply in auto mode, from a state without resources, is one `terraform apply` (%d process): from empty state nothing can be deleted or replaced, so the destroy guard has nothing to inspect and no plan/show is needed; the summary is read from the resulting state. Later changes go through `plan -out`, `show -json`, `apply <planfile>`. tfrunner's own overhead in the median run was %s of %s: the lock Lease created, the state (and any saved plan, in parallel) read with a quorum read, the workspace prepared, the state Secret written (the run journal rides on the Lease's creation: the state index shows no state and the module's resources are known, so nothing is left to journal before the apply); the Lease is deleted after Reconcile returns. API requests: %s. ", b.p2Procs, ms(outside), ms(b.p2Wall), b.p2API)
		if !met["P2"] {
			s += fmt.Sprintf("The goal is missed because each of those requests is an API server (and, for writes, etcd) round trip on the same 2 loaded cores, while the provider-free module applies in %s: the same overhead is under 1%% of an apply that creates a real cloud resource (seconds). What remains is what safety needs: the lock before terraform starts and the state written before the run reports success.", ms(b.p2Auto))
		}
		n = append(n, s)
	}
	if _, ok := met["P3"]; ok {
		n = append(n, "**P3.** The init cache is keyed by module digest: the first object runs `terraform init` into `<work-dir>/init/<digest>` (provider installed once, through the shared plugin cache); every later object's workspace links that initialized `.terraform` and copies the lock file: no init process, no provider install. The naive fresh directory installs the provider again each time (here a link to the unpacked filesystem mirror, which is why its init is cheap; from a registry it is a download of the provider archive per object).")
	}
	if b.p4Wall > 0 {
		s := fmt.Sprintf("**P4.** The provider ran %d terraform processes for %d machines (one init for all, then one apply per machine) against the naive %d (init, plan, apply each). CPU over the provider's %.1f s: %s, %.1f s in all on %d cores; the naive flow used %.1f s of terraform CPU. API server writes per machine: %s. ",
			b.p4Procs, b.p4N, 3*b.p4N, b.p4Wall.Seconds(), b.p4CPU.String("terraform", "CAPI + provider in-process", apiProcs...), b.p4CPU.Total().Seconds(), runtime.NumCPU(), b.p4NaiveCPU.Children.Seconds(), b.p4Writes)
		if !met["P4"] {
			ph, floor := b.p4Phases, bench.TotalSeconds(b.p4Ops)/float64(b.concurrency)
			s += fmt.Sprintf("Where the wall time beyond the floor goes (the P4 timeline below): %.1f s before the first terraform process starts, %.1f slot-seconds idle between the first start and the last exit, %.1f s after the last exit. The ramp is CAPI's: its Machine controller reconciles a Machine at most once a second (CAPI's ReconcilerRateLimiting, on by default) and sets the infrastructure machine's owner reference on its third reconcile, after its finalizer and Paused condition, so even the first machine waits 2 s, and this provider starts no run before the owner reference (the contract). Without that ramp the run would be %.2f× the floor. The idle slot time is the runs' own API requests (lock, state, finalizer patch, state write, status) on the same 2 busy cores: every step outside terraform is an API server round trip, and with %d workers feeding %d slots a few runs at a time are between their slot and their requests. The API server used %.1f s of CPU (CAPI writes each Machine about %.1f times on its way to Provisioned), terraform %.1f s, on %d cores. ",
				ph.ramp.Seconds(), ph.idle.Seconds(), ph.tail.Seconds(), (b.p4Wall.Seconds()-ph.ramp.Seconds())/floor,
				controllers.DefaultMachineConcurrency, b.concurrency, b.p4CPU.Named["kube-apiserver"].Seconds(), b.p4WritesMachine.total, b.p4CPU.Children.Seconds(), runtime.NumCPU())
		}
		s += "How a CustomMachine gets to Provisioned in 5 writes (P4w), its create included: CAPI's Machine controller sets the owner reference (1); right before terraform starts, one patch sets the finalizer and the block-move annotation (1); the reconcile's outcome is one merge patch of metadata and spec (providerID, block-move removed) and one of the whole status, conditions included (2). A reconcile that reads a version of the object this process already wrote over (the cache lags a write by milliseconds) is skipped, so it cannot write old status back; the Paused condition is written with the outcome, not in a request of its own; a new object waits 10 s for its owner reference before it says it is waiting (CAPI sets it on the Machine's third reconcile, at most one a second)."
		n = append(n, s)
	}
	if _, ok := met["P8"]; ok {
		n = append(n, fmt.Sprintf("**P8.** The floor is the manager's own terraform process time (every operation, from its `capc_terraform_run_duration_seconds`) divided by its run slots: the wall time if a slot never waited. A slot is held only while terraform runs (the Lease, state Secret and CustomMachine requests around each run are made outside it, by the other workers), so what is left is the first seconds before CAPI sets the first owner references, the moments CAPI's owner references arrive slower than the slots take them (the in-flight samples), and the last runs' writes. RSS is sampled every 250 ms from /proc while the machines provision (VmHWM is the kernel's peak). P8i adds machines of a paused cluster: they are cached (CustomMachine and Machine) and reconciled once but run nothing, so the per-machine figure is what an object costs the manager's caches and queues. The caches drop managed fields (nothing reads them) and never hold Secrets; what is left per machine is mostly the two cached objects. The next limit at this scale is CPU, not memory: terraform, the API server and CAPI's Machine reconciler share the cores, and CAPI writes each Machine about %.0f times on its way to Provisioned. P8c: on these %d cores slots beyond the cores buy a CPU-bound module little wall time (compare the figures side by side; they move by ±10%% between rounds) while each slot costs its process tree's memory, hence the default `--max-concurrent-runs` (the cores, at least 2); runs that wait on a cloud API for minutes are bound by memory instead (README, Sizing).",
			b.p4WritesMachine.total, runtime.NumCPU()))
	}
	if b.p5RSS > 0 {
		s := fmt.Sprintf("**P5.** The manager binary (built from ./cmd/manager, default flags except the API server, work dir, terraform path and `--drift-check-interval=1h` so no drift check falls due) provisioned %d CustomMachines of one cluster in %.0f s (CAPI's core reconcilers ran in the benchmark's child process); VmRSS was read from /proc/<pid>/status once the reconcile counters had stopped moving for 5 s, after a further %s settle. The manager caches CustomMachines, CustomClusters and CAPI Machines and Clusters, without their managed fields and never Secrets (state, plans and bootstrap data are read uncached), so idle memory grows with the objects' size only, not with their terraform state.", b.p5N, b.p5ProvisionTime.Seconds(), b.p5Settle)
		n = append(n, s)
	}
	if _, ok := met["P10"]; ok {
		n = append(n, "**P10.** Plan policies are compiled once per policy set (cached by its digest) and evaluated in-process with OPA on the JSON `terraform show -json` printed for the plan (read from the same `show` the summary needs: no extra process); the per-plan figure includes parsing that JSON. P10n runs P1's no-op reconcile with plan policies set: the lock-free fast path answers before any policy is read, so an object governed by plan policies costs what P1 costs.")
	}
	if _, ok := met["P7n"]; ok {
		n = append(n, "**P7.** An artifact is fetched once per digest: the download is hashed as it streams to disk, compared with the digest the source advertises, unpacked through an `os.Root` (refusing unsafe entries) into `<work-dir>/sources/<digest>`, and the tree of each root (the root module and the local modules it calls) is read into memory once, its digest memoized. A `--module-root` tree cannot be trusted to stay put, so each reconcile stats the files and directories it read (inode, size, ctime) and reads, parses and hashes it again only when one changed; the figures are that check's cost on an unchanged tree.")
	}
	n = append(n, "**P6.** PutState gzips the state (BestSpeed), writes chunks of 512 KiB as their own Secrets (named by serial and content hash, so a chunk of the live version is never overwritten), a backup of the previous primary, then compare-and-swaps the primary on its resourceVersion; GetState checks the sha256 of the chunks. A write with an older serial is refused (StateConflictError); of two concurrent writers (no lock) the older either lands first or is refused, and the newer is stored and readable. This benchmark found that the old state GC could delete the chunks of a concurrent write in flight and leave the primary pointing at missing chunks (5 of 9 runs); fixed in tfrunner (gcState keeps chunks of serials the primary has not passed). In the provider, writes of one object are serialised by its lock Lease anyway; the race needed a lock taken over from a holder that was still writing.")
	n = append(n, "Process counts come from tfexec's log of each terraform command it starts (`Runner.Processes()`), which includes its `terraform version` probes; terraform durations from `capc_terraform_run_duration_seconds`; everything else from the benchmark's own timers.")
	return n
}
