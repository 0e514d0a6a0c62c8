/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseOptionsDefaults(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"leader-elect", o.LeaderElect, false},
		{"leader-election-id", o.LeaderElectionID, "capc-manager.infrastructure.cluster.x-k8s.io"},
		{"leader-elect-lease-duration", o.LeaseDuration, 15 * time.Second},
		{"leader-elect-renew-deadline", o.RenewDeadline, 10 * time.Second},
		{"leader-elect-retry-period", o.RetryPeriod, time.Second},
		{"metrics-bind-address", o.MetricsBindAddress, ":8080"},
		{"health-probe-bind-address", o.HealthProbeBindAddress, ":8081"},
		{"customcluster-concurrency", o.ClusterConcurrency, 5},
		{"custommachine-concurrency", o.MachineConcurrency, 40},
		{"work-dir", o.WorkDir, "/tmp/capc"},
		{"terraform-version", o.TerraformVersion, ""},
		{"engine", o.Engine, "terraform"},
		{"terraform-install-dir", o.TerraformInstallDir, filepath.Join("/tmp/capc", "bin")},
		{"max-concurrent-runs", o.MaxConcurrentRuns, max(2, runtime.NumCPU())},
		{"approval-mode", o.ApprovalMode, "auto"},
		{"runner", o.Runner, "local"},
		{"runner-service-account", o.RunnerServiceAccount, "capc-runner"},
		{"drift-check-interval", o.DriftCheckInterval, 10 * time.Minute},
		{"module-root", o.ModuleRoot, "/modules"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("--%s default = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseOptionsValues(t *testing.T) {
	o, err := parseOptions([]string{
		"--namespace=team-a", "--watch-filter=blue", "--approval-mode=manual",
		"--customcluster-concurrency=2", "--custommachine-concurrency=3", "--max-concurrent-runs=7",
		"--drift-check-interval=0", "--work-dir=/var/capc", "--terraform-path=/usr/bin/terraform",
		"--zap-log-level=debug",
	}, io.Discard)
	if err != nil {
		t.Fatalf("valid flags rejected: %v", err)
	}
	if o.Namespace != "team-a" || o.WatchFilter != "blue" || o.ApprovalMode != "manual" ||
		o.ClusterConcurrency != 2 || o.MachineConcurrency != 3 || o.MaxConcurrentRuns != 7 ||
		o.DriftCheckInterval != 0 || o.TerraformPath != "/usr/bin/terraform" ||
		o.TerraformInstallDir != "/var/capc/bin" {
		t.Errorf("flags not applied: %+v", o)
	}
}

// The runner subcommand, first or after the image entrypoint's flags, parses the flags on both
// sides of it.
func TestParseOptionsRunner(t *testing.T) {
	for _, args := range [][]string{
		{"runner", "--terraform-path=/usr/local/bin/terraform", "--work-dir=/tmp/capc"},
		{"--terraform-path=/usr/local/bin/terraform", "runner", "--work-dir=/tmp/capc"},
	} {
		o, err := parseOptions(args, io.Discard)
		if err != nil || !o.runnerCmd || o.TerraformPath != "/usr/local/bin/terraform" || o.WorkDir != "/tmp/capc" {
			t.Errorf("%v: %+v, %v", args, o, err)
		}
	}
	if o, err := parseOptions([]string{"--work-dir=/x"}, io.Discard); err != nil || o.runnerCmd {
		t.Errorf("no subcommand parsed as the runner: %v", err)
	}
	if _, err := parseOptions([]string{"runner", "extra"}, io.Discard); err == nil || !strings.Contains(err.Error(), "unexpected arguments: extra") {
		t.Errorf("runner extra: %v", err)
	}
}

func TestParseOptionsRejects(t *testing.T) {
	t.Setenv("CAPC_RUNNER_IMAGE", "") // --runner-image defaults to it
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--approval-mode=sometimes"}, `--approval-mode must be "auto" or "manual"`},
		{[]string{"--runner=pod"}, `--runner must be local or job, got "pod"`},
		{[]string{"--runner=job"}, "--runner=job needs --runner-image"},
		{[]string{"--customcluster-concurrency=0"}, "--customcluster-concurrency must be at least 1"},
		{[]string{"--custommachine-concurrency=-1"}, "--custommachine-concurrency must be at least 1"},
		{[]string{"--max-concurrent-runs=0"}, "--max-concurrent-runs must be at least 1"},
		{[]string{"--drift-check-interval=-1s"}, "--drift-check-interval must not be negative"},
		{[]string{"--sync-period=0"}, "--sync-period must be positive"},
		{[]string{"--work-dir="}, "--work-dir must not be empty"},
		{[]string{"--metrics-bind-address=8080"}, "--metrics-bind-address"},
		{[]string{"--no-such-flag"}, "flag provided but not defined"},
		{[]string{"extra"}, "unexpected arguments: extra"},
		{[]string{"--drift-check-interval=soon"}, "invalid value"},
	}
	for _, c := range cases {
		_, err := parseOptions(c.args, io.Discard)
		if err == nil {
			t.Errorf("%v accepted, want error containing %q", c.args, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %q does not contain %q", c.args, err, c.want)
		}
	}
}
