package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/company/cluster-api-provider-custom/bench"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// write renders docs/benchmarks.md.
func (b *benchmark) write(out string, bin *tfrunner.Binary, started time.Time, elapsed time.Duration, loadBefore string) error {
	var w strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&w, format+"\n", a...) }
	p("# Benchmarks")
	p("")
	p("Written by `make bench` (`go run ./bench/cmd/capc-bench`); do not edit by hand: the notes below are part of the program.")
	p("")
	p("- **Date:** %s (the run took %.0f s)", started.UTC().Format("2006-01-02 15:04 MST"), elapsed.Seconds())
	p("- **Command:** `make bench` = `go run ./bench/cmd/capc-bench %s`", strings.Join(os.Args[1:], " "))
	p("- **Machine:** %s", bench.MachineInfo())
	p("- **Load average** (1/5/15 min) before: %s, after: %s. The machine is shared: other builds and tests may run at the same time, so absolute times move between runs; each ratio compares figures taken minutes apart in the same run.", loadBefore, bench.LoadAvg())
	p("- **Terraform:** bin/terraform %s for both sides. Modules: `simulated/machine` (provider-free, builtin `terraform_data`) for P1, P2, P4, P5; `fakecloud/machine` (provider `company/fakecloud` from the `bin/tf-mirror` filesystem mirror) for P3.", bin.Version)
	p("- **API server:** envtest (kube-apiserver + etcd v1.36.3 from bin/), CAPI core Cluster/Machine reconcilers in-process.")
	p("- **Concurrency:** %d terraform runs at once in P4/P5 (the default `--max-concurrent-runs` = 2 × cores), the naive baseline the same.", b.concurrency)
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

// notes explain the figures; they are written for the goals as measured in this run.
func notes(b *benchmark) []string {
	return nil
}
