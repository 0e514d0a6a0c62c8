/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times (100 on every Linux we run on).
const clockTick = 10 * time.Millisecond

// CPUSample is CPU time (user + system) spent so far by this process (Self), by its exited and
// reaped children such as terraform processes (Children), and by its live children by command
// name (kube-apiserver, etcd).
type CPUSample struct {
	Self, Children time.Duration
	Named          map[string]time.Duration
}

// SampleCPU reads /proc for this process and its live children named in names.
func SampleCPU(names ...string) CPUSample {
	s := CPUSample{Named: map[string]time.Duration{}}
	if f, err := procStat("self"); err == nil {
		s.Self, s.Children = f.cpu(13)+f.cpu(14), f.cpu(15)+f.cpu(16)
	}
	pid := strconv.Itoa(os.Getpid())
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		f, err := procStat(filepath.Base(d))
		if err != nil || f.field(4) != pid {
			continue
		}
		for _, n := range names {
			if f.comm == n || len(n) > 15 && f.comm == n[:15] { // the kernel keeps 15 characters of a name
				s.Named[n] += f.cpu(13) + f.cpu(14)
			}
		}
	}
	return s
}

// Sub returns the CPU spent between o and s.
func (s CPUSample) Sub(o CPUSample) CPUSample {
	d := CPUSample{Self: s.Self - o.Self, Children: s.Children - o.Children, Named: map[string]time.Duration{}}
	for k, v := range s.Named {
		d.Named[k] = v - o.Named[k]
	}
	return d
}

// String lists the parts, e.g. "terraform 6.1 s, kube-apiserver 8.0 s, etcd 2.9 s, stack 5.2 s".
func (s CPUSample) String(children, self string, names ...string) string {
	parts := []string{fmt.Sprintf("%s %.1f s", children, s.Children.Seconds())}
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.1f s", n, s.Named[n].Seconds()))
	}
	parts = append(parts, fmt.Sprintf("%s %.1f s", self, s.Self.Seconds()))
	return strings.Join(parts, ", ")
}

// Total is all the CPU in the sample.
func (s CPUSample) Total() time.Duration {
	t := s.Self + s.Children
	for _, v := range s.Named {
		t += v
	}
	return t
}

type statFields struct {
	comm   string
	fields []string // from field 3 (state) on, so field(n) is the n-th field of proc(5) 1-based
}

func procStat(pid string) (statFields, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return statFields{}, err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return statFields{}, fmt.Errorf("parsing /proc/%s/stat", pid)
	}
	return statFields{comm: s[open+1 : end], fields: strings.Fields(s[end+1:])}, nil
}

// field returns the n-th (1-based, as in proc(5)) field of /proc/<pid>/stat, n ≥ 3.
func (f statFields) field(n int) string {
	if n-3 < 0 || n-3 >= len(f.fields) {
		return ""
	}
	return f.fields[n-3]
}

// cpu converts a 0-based stat index (proc(5) field minus one) in clock ticks to a duration.
func (f statFields) cpu(i int) time.Duration {
	v, _ := strconv.ParseInt(f.field(i+1), 10, 64)
	return time.Duration(v) * clockTick
}
