/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package shim

import (
	"fmt"
	"strings"
)

// Sandbox is the Landlock policy of one terraform process: the only files it may touch. Paths
// in Optional* may be missing (system files differ between images).
type Sandbox struct {
	ReadWrite []string // directories, read-write (its workspace or init dir, its temp dir)
	ReadOnly  []string // directories, read and execute (binaries, providers, system files)
	Files     []string // single files, read and execute
	RWFiles   []string // single files, read-write (/dev/null)
	Optional  []string // directories, read-only, skipped when missing
	OptFiles  []string // files, read-only, skipped when missing
}

// The policy crosses the exec as one environment variable: one "<kind> <path>" per line.
var sandboxKinds = []string{"rw", "ro", "f", "rwf", "ro?", "f?"}

func (s *Sandbox) lists() []*[]string {
	return []*[]string{&s.ReadWrite, &s.ReadOnly, &s.Files, &s.RWFiles, &s.Optional, &s.OptFiles}
}

func (s Sandbox) encode() (string, error) {
	var b strings.Builder
	for i, l := range s.lists() {
		for _, p := range *l {
			if p == "" || strings.ContainsAny(p, "\n\x00") {
				return "", fmt.Errorf("sandbox path %q cannot be encoded", p)
			}
			fmt.Fprintf(&b, "%s %s\n", sandboxKinds[i], p)
		}
	}
	return b.String(), nil
}

func decodeSandbox(v string) (Sandbox, error) {
	var s Sandbox
	lists := s.lists()
	for _, line := range strings.Split(strings.TrimSuffix(v, "\n"), "\n") {
		kind, p, ok := strings.Cut(line, " ")
		i := indexOf(sandboxKinds, kind)
		if !ok || i < 0 || p == "" {
			return Sandbox{}, fmt.Errorf("bad sandbox rule %q", line)
		}
		*lists[i] = append(*lists[i], p)
	}
	return s, nil
}

func indexOf(l []string, s string) int {
	for i, x := range l {
		if x == s {
			return i
		}
	}
	return -1
}
