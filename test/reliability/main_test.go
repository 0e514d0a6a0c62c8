/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package reliability runs the provider's reliability suites (crash, failover, cloud faults,
// load, bad input, secret leaks) against the built manager binary running as a separate process,
// a real API server (envtest) with CAPI's core Cluster and Machine reconcilers running in this
// test process, and the fake cloud (bin/fakecloud) with its real Terraform provider installed
// from the bin/tf-mirror filesystem mirror. Everything listens on loopback.
//
// The default pass is CI-sized; CAPC_SOAK=1 runs the full counts (make soak), see counts(). See
// docs/reliability.md.
package reliability

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// suite is what every test shares: one API server, CAPI's reconcilers, the built binaries.
var suite struct {
	env        *envtest.Environment
	cfg        *rest.Config
	kubeconfig string
	k8s        client.Client
	kube       kubernetes.Interface
	repo       string
	managerBin string
	pluginBin  string
	terraform  string
	fakecloud  string
	mirror     string
	tmp        string
	// states reads state Secrets (never runs terraform): which cloud ids terraform tracks.
	states *tfrunner.Runner
}

// scale is the size of a pass: CI-sized by default, the full counts with CAPC_SOAK=1.
type scale struct {
	Soak          bool
	CrashTrials   int // SIGKILL crash trials
	SigtermTrials int
	LoadMachines  int
	// FailoverTrials are the leader kills of the failover suite.
	FailoverTrials int
}

// counts returns the pass size: 10 SIGKILL crash trials (SIGTERM: a fifth of them, at least one),
// 100 load machines and 1 failover by default; CAPC_SOAK=1 gives 50 SIGKILL and 10 SIGTERM trials,
// 200 machines and 10 failovers. CAPC_CRASH_TRIALS, CAPC_LOAD_MACHINES and CAPC_FAILOVER_TRIALS
// override them.
func counts() scale {
	s := scale{CrashTrials: 10, LoadMachines: 100, FailoverTrials: 1}
	if os.Getenv("CAPC_SOAK") == "1" {
		s = scale{Soak: true, CrashTrials: 50, LoadMachines: 200, FailoverTrials: 10}
	}
	if v, err := strconv.Atoi(os.Getenv("CAPC_FAILOVER_TRIALS")); err == nil && v > 0 {
		s.FailoverTrials = v
	}
	if v, err := strconv.Atoi(os.Getenv("CAPC_CRASH_TRIALS")); err == nil && v > 0 {
		s.CrashTrials = v
	}
	if v, err := strconv.Atoi(os.Getenv("CAPC_LOAD_MACHINES")); err == nil && v > 0 {
		s.LoadMachines = v
	}
	s.SigtermTrials = max(1, s.CrashTrials/5)
	if s.Soak {
		s.SigtermTrials = 10
	}
	return s
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The failover suite spends most of its minute or so waiting (leader election, then the dead
	// leader's 40s run locks): give it a parallel slot of its own on top of the GOMAXPROCS ones.
	flag.Parse()
	if f := flag.Lookup("test.parallel"); f != nil && f.Value.String() == strconv.Itoa(runtime.GOMAXPROCS(0)) {
		_ = flag.Set("test.parallel", strconv.Itoa(runtime.GOMAXPROCS(0)+1))
	}
	// CAPI's reconcilers log to stderr only when asked (they are not what is under test).
	if os.Getenv("CAPC_RELIABILITY_VERBOSE") != "" {
		ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	suite.repo = envtestutil.RepoRoot()
	bin := filepath.Join(suite.repo, "bin")
	suite.terraform = filepath.Join(bin, "terraform")
	suite.fakecloud = filepath.Join(bin, "fakecloud")
	suite.mirror = filepath.Join(bin, "tf-mirror")
	for _, p := range []string{suite.terraform, suite.fakecloud, suite.mirror} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "reliability: %s missing: run `make tools` (builds terraform and the fake cloud): %v\n", p, err)
			return 1
		}
	}
	tmp, err := os.MkdirTemp("", "capc-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	suite.tmp = tmp
	defer os.RemoveAll(tmp)

	start := time.Now()
	suite.managerBin = filepath.Join(tmp, "manager")
	// capc-tfshim beside the manager, as in the image: terraform runs under it.
	// kubectl-capc: the faults suite reads a slow run's progress through it, as an operator would.
	suite.pluginBin = filepath.Join(tmp, "kubectl-capc")
	build := exec.Command("go", "build", "-o", tmp+"/", "./cmd/manager", "./cmd/capc-tfshim", "./cmd/kubectl-capc")
	build.Dir = suite.repo
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "reliability: go build ./cmd/manager: %v\n%s", err, out)
		return 1
	}
	env, cfg, err := envtestutil.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "reliability: %v\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	suite.env, suite.cfg = env, cfg
	suite.kubeconfig = filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(suite.kubeconfig, env.KubeConfig, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	scheme, err := envtestutil.NewScheme()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if suite.k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	suite.kube = kubernetes.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tf, err := tfrunner.ResolveBinary(ctx, tfrunner.BinaryOptions{Path: suite.terraform})
	if err != nil {
		fmt.Fprintf(os.Stderr, "reliability: %v\n", err)
		return 1
	}
	suite.states, err = tfrunner.New(tfrunner.Config{Binary: tf, WorkDir: filepath.Join(tmp, "reader"), Kube: suite.kube, Holder: "reliability-reader"})
	if err != nil {
		fmt.Fprintf(os.Stderr, "reliability: %v\n", err)
		return 1
	}
	stopCAPI, err := envtestutil.StartCAPIManager(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "reliability: %v\n", err)
		return 1
	}
	defer func() { _ = stopCAPI() }()
	fmt.Fprintf(os.Stderr, "reliability: setup (manager build, API server, CAPI reconcilers) took %s; scale %+v\n",
		time.Since(start).Round(time.Millisecond), counts())
	return m.Run()
}
