/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// MachineInfo describes the machine from /proc/cpuinfo, /proc/meminfo and /proc/loadavg.
func MachineInfo() string {
	model, cpus := "unknown", 0
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name":
				model = strings.TrimSpace(v)
			case "processor":
				cpus++
			}
		}
		f.Close()
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				f := strings.Fields(l)
				if len(f) >= 2 {
					kb, _ := strconv.ParseFloat(f[1], 64)
					mem = fmt.Sprintf("%.1f GiB", kb/1024/1024)
				}
			}
		}
	}
	return fmt.Sprintf("%d × %s (/proc/cpuinfo), %s RAM (/proc/meminfo MemTotal), %s/%s, %s",
		cpus, model, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// LoadAvg returns /proc/loadavg's first three fields.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// OpStat is one operation's count and total seconds in the run-duration histogram.
type OpStat struct {
	Count uint64
	Sum   float64
}

// RunHistogram reads capc_terraform_run_duration_seconds from g, summed over results, by operation.
func RunHistogram(g prometheus.Gatherer) map[string]OpStat {
	out := map[string]OpStat{}
	mfs, err := g.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "capc_terraform_run_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			op := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "operation" {
					op = l.GetValue()
				}
			}
			s := out[op]
			s.Count += m.GetHistogram().GetSampleCount()
			s.Sum += m.GetHistogram().GetSampleSum()
			out[op] = s
		}
	}
	return out
}

// Delta is after − before per operation.
func Delta(before, after map[string]OpStat) map[string]OpStat {
	out := map[string]OpStat{}
	for op, a := range after {
		b := before[op]
		if d := (OpStat{Count: a.Count - b.Count, Sum: a.Sum - b.Sum}); d.Count > 0 {
			out[op] = d
		}
	}
	return out
}

// TotalSeconds sums every operation's seconds.
func TotalSeconds(m map[string]OpStat) float64 {
	var s float64
	for _, v := range m {
		s += v.Sum
	}
	return s
}

// ProcStatus reads a field (e.g. VmRSS) of /proc/<pid>/status in KiB.
func ProcStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				return strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
