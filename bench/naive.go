/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package bench holds the helpers of cmd/capc-bench: the naive per-object terraform workflow the
// provider is compared with, timers and statistics.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Naive runs terraform the way popular per-object controllers do: a fresh directory per object
// holding the module and its variables, then `terraform init`, `plan`, `apply`, each a process.
type Naive struct {
	Terraform string // terraform binary
	CLIConfig string // TF_CLI_CONFIG_FILE ("" writes an empty one: no plugin cache, registry only)
	Root      string // directories are created under Root
}

// Dir is one naive workspace.
type Dir struct {
	n    *Naive
	Path string
}

// NewDir creates a fresh directory with the module's files and terraform.tfvars.
func (n *Naive) NewDir(name string, module fs.FS, tfvars []byte) (*Dir, error) {
	p := filepath.Join(n.Root, name)
	if err := os.RemoveAll(p); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p, 0o700); err != nil {
		return nil, err
	}
	err := fs.WalkDir(module, ".", func(f string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(module, f)
		if err != nil {
			return err
		}
		dst := filepath.Join(p, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o600)
	})
	if err != nil {
		return nil, fmt.Errorf("copying module: %w", err)
	}
	if err := os.WriteFile(filepath.Join(p, "terraform.tfvars"), tfvars, 0o600); err != nil {
		return nil, err
	}
	return &Dir{n: n, Path: p}, nil
}

// Run runs one terraform command in the directory and returns its wall time.
func (d *Dir) Run(ctx context.Context, args ...string) (time.Duration, error) {
	var out bytes.Buffer
	start := time.Now()
	err := d.run(ctx, &out, &out, args)
	return time.Since(start), err
}

// Output runs a terraform command and returns what it printed on stdout.
func (d *Dir) Output(ctx context.Context, args ...string) ([]byte, error) {
	var out, errs bytes.Buffer
	err := d.run(ctx, &out, &errs, args)
	return out.Bytes(), err
}

func (d *Dir) run(ctx context.Context, stdout, stderr *bytes.Buffer, args []string) error {
	cmd := exec.CommandContext(ctx, d.n.Terraform, args...)
	cmd.Dir = d.Path
	cli := d.n.CLIConfig
	if cli == "" {
		cli = filepath.Join(d.Path, ".terraformrc")
		if err := os.WriteFile(cli, nil, 0o600); err != nil {
			return err
		}
	}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + d.Path, "TF_CLI_CONFIG_FILE=" + cli,
		"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1"}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("terraform %s in %s: %w\n%s", strings.Join(args, " "), d.Path, err, tail(stderr.String(), 2000))
	}
	return nil
}

// Init, Plan, Apply and ApplyAuto are the commands of the naive workflow.
func (d *Dir) Init(ctx context.Context) (time.Duration, error) {
	return d.Run(ctx, "init", "-input=false", "-no-color")
}

func (d *Dir) Plan(ctx context.Context) (time.Duration, error) {
	return d.Run(ctx, "plan", "-input=false", "-no-color", "-lock=false", "-out=naive.tfplan")
}

func (d *Dir) Apply(ctx context.Context) (time.Duration, error) {
	return d.Run(ctx, "apply", "-input=false", "-no-color", "-lock=false", "naive.tfplan")
}

func (d *Dir) ApplyAuto(ctx context.Context) (time.Duration, error) {
	return d.Run(ctx, "apply", "-input=false", "-no-color", "-lock=false", "-auto-approve")
}

// Full is the whole naive per-object workflow: init, plan, apply (the directory is already fresh).
func (d *Dir) Full(ctx context.Context) error {
	for _, f := range []func(context.Context) (time.Duration, error){d.Init, d.Plan, d.Apply} {
		if _, err := f(ctx); err != nil {
			return err
		}
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// Stats summarises durations.
type Stats struct {
	N                 int
	Mean, Median, P90 time.Duration
	P95               time.Duration
	Min, Max, Total   time.Duration
}

// Summarize computes Stats of ds.
func Summarize(ds []time.Duration) Stats {
	if len(ds) == 0 {
		return Stats{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var tot time.Duration
	for _, d := range s {
		tot += d
	}
	return Stats{N: len(s), Mean: tot / time.Duration(len(s)), Median: s[len(s)/2], P90: s[(len(s)*9)/10], P95: s[(len(s)*95)/100],
		Min: s[0], Max: s[len(s)-1], Total: tot}
}

// Ms formats a duration in milliseconds with adaptive precision.
func Ms(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 1:
		return fmt.Sprintf("%.3f ms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.0f ms", ms)
	}
}

// Pool runs fn(i) for i in [0,n) with c workers and returns the first error.
func Pool(n, c int, fn func(i int) error) error {
	idx := make(chan int)
	errs := make(chan error, n)
	done := make(chan struct{})
	for w := 0; w < c; w++ {
		go func() {
			for i := range idx {
				errs <- fn(i)
			}
			done <- struct{}{}
		}()
	}
	for i := 0; i < n; i++ {
		idx <- i
	}
	close(idx)
	for w := 0; w < c; w++ {
		<-done
	}
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
