/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Command manager runs the CustomCluster and CustomMachine controllers of the Cluster API
// infrastructure provider "custom", which provisions infrastructure with Terraform.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/discovery"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/modulesrc"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// newScheme registers client-go's types, CAPI core v1beta2 and our v1beta1 API.
func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(clusterv1.AddToScheme(s))
	utilruntime.Must(infrav1.AddToScheme(s))
	return s
}

func main() {
	if code, ok := tfrunner.ShimMain(); ok { // this process was started to run terraform (Config.Shim)
		os.Exit(code)
	}
	o, err := parseOptions(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "manager: invalid flags: %v\n", err)
		os.Exit(2)
	}

	logger := zap.New(zap.UseFlagOptions(&o.Zap))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)

	if o.runnerCmd {
		if err := runnerMain(ctrl.SetupSignalHandler(), o); err != nil {
			fmt.Fprintf(os.Stderr, "manager runner: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		ctrl.Log.WithName("setup").Error(err, "manager exited with an error")
		fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		os.Exit(1)
	}
}

// run builds the manager, the terraform runner and the reconcilers, and blocks until ctx ends.
func run(ctx context.Context, o *options) error {
	log := ctrl.Log.WithName("setup")

	// Resolve terraform first: it needs no cluster, and a bad binary should fail fast and clearly.
	binary, err := resolveBinary(ctx, o)
	if err != nil {
		return err
	}
	log.Info("using engine", "engine", binary.Engine, "path", binary.Path, "version", binary.Version.String())

	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}

	mgr, leaderLease, err := newManager(restConfig, o)
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("adding health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("apiserver", apiServerReachable(restConfig)); err != nil {
		return fmt.Errorf("adding ready check: %w", err)
	}

	policy, err := o.modulePolicy() // validated with the flags
	if err != nil {
		return err
	}
	runner, err := newRunner(ctx, mgr.GetConfig(), o, binary, leaderLease, policy)
	if err != nil {
		return err
	}
	logSandbox(log, runner.Sandbox())
	var runs controllers.Runner = runner
	if o.Runner == runnerJob {
		jr, err := jobRunner(ctx, o, runner)
		if err != nil {
			return err
		}
		runs = jr
		log.Info("job mode: terraform runs in Jobs", "image", o.RunnerImage, "serviceAccount", o.RunnerServiceAccount)
	}
	sources, err := modulesrc.NewStore(filepath.Join(o.WorkDir, "sources"), modulesrc.StoreOptions{})
	if err != nil {
		return err
	}

	if err := controllers.Setup(ctx, mgr, runs, controllers.Options{
		WatchFilter:                o.WatchFilter,
		ClusterConcurrency:         o.ClusterConcurrency,
		MachineConcurrency:         o.MachineConcurrency,
		ApprovalMode:               o.ApprovalMode,
		DriftCheckInterval:         o.DriftCheckInterval,
		ProgressInterval:           o.ProgressInterval,
		ModuleRoot:                 o.ModuleRoot,
		AllowRemoteModules:         o.AllowRemoteModules,
		Sources:                    sources,
		AllowCrossNamespaceSources: o.AllowCrossNamespaceSources,
		ModulePolicy:               policy,
		Sandbox:                    runner.Sandbox(),
		JobMode:                    o.Runner == runnerJob,
		PolicyNamespace:            policyNamespace(o.PolicyNamespace),
	}); err != nil {
		return fmt.Errorf("setting up controllers: %w", err)
	}

	log.Info("starting manager",
		"namespace", o.Namespace, "watchFilter", o.WatchFilter,
		"metricsBindAddress", o.MetricsBindAddress, "healthProbeBindAddress", o.HealthProbeBindAddress,
		"workDir", o.WorkDir, "approvalMode", o.ApprovalMode, "maxConcurrentRuns", o.MaxConcurrentRuns,
		"driftCheckInterval", o.DriftCheckInterval)
	err = mgr.Start(ctx)
	runner.Wait() // locks of finished runs released before exit
	if err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

// newManager is the controller manager the flags describe: its cache, metrics and health
// endpoints, and leader election (with the Lease the runner's locks name, "" without).
func newManager(restConfig *rest.Config, o *options) (ctrl.Manager, string, error) {
	// Nothing here reads managed fields; dropped, they cost the cache nothing (P5, P8i).
	cacheOpts := cache.Options{SyncPeriod: &o.SyncPeriod, DefaultTransform: cache.TransformStripManagedFields()}
	if o.Namespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{o.Namespace: {}}
	}
	leNamespace := o.LeaderElectionNamespace
	if leNamespace == "" && o.Namespace != "" {
		leNamespace = o.Namespace
	}

	mopts := ctrl.Options{
		Scheme:                        newScheme(),
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress:        o.HealthProbeBindAddress,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       leNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &o.LeaseDuration,
		RenewDeadline:                 &o.RenewDeadline,
		RetryPeriod:                   &o.RetryPeriod,
	}
	leaderLease := ""
	if o.LeaderElect {
		var err error
		if mopts.LeaderElectionResourceLockInterface, leaderLease, err = leaderLock(restConfig, leNamespace, o.LeaderElectionID, holderIdentity()); err != nil {
			return nil, "", err
		}
	}
	mgr, err := ctrl.NewManager(restConfig, mopts)
	if err != nil {
		return nil, "", fmt.Errorf("creating manager: %w", err)
	}
	return mgr, leaderLease, nil
}

// resolveBinary finds (or installs) the terraform or tofu binary the flags name.
func resolveBinary(ctx context.Context, o *options) (*tfrunner.Binary, error) {
	version := o.TerraformVersion
	if version == "" && o.Engine == tfrunner.EngineTerraform {
		version = tfrunner.DefaultVersion
	}
	binary, err := tfrunner.ResolveBinary(ctx, tfrunner.BinaryOptions{
		Engine:     o.Engine,
		Path:       o.TerraformPath,
		Version:    version,
		InstallDir: o.TerraformInstallDir,
		BaseURL:    o.TerraformReleasesURL,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot resolve the %s binary (--terraform-path=%q --terraform-version=%q --terraform-install-dir=%q): %w",
			o.Engine, o.TerraformPath, version, o.TerraformInstallDir, err)
	}
	return binary, nil
}

// newRunner builds the terraform runner (protobuf clientset, metrics on the manager's registry)
// and starts its state index in the background.
func newRunner(ctx context.Context, cfg *rest.Config, o *options, binary *tfrunner.Binary, leaderLease string, policy modulecheck.Policy) (*tfrunner.Runner, error) {
	kube, err := tfrunner.NewKubeClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes clientset for terraform state: %w", err)
	}
	shim, err := shimPath()
	if err != nil {
		return nil, err
	}
	runMetrics := tfrunner.NewMetrics()
	ctrlmetrics.Registry.MustRegister(runMetrics.Collectors()...)
	runner, err := tfrunner.New(tfrunner.Config{
		Metrics:           runMetrics,
		ProviderMirrors:   o.ProviderMirrors,
		Binary:            binary,
		WorkDir:           o.WorkDir,
		Kube:              kube,
		Holder:            holderIdentity(),
		LeaderLease:       leaderLease,
		Shim:              shim,
		MaxConcurrentRuns: o.MaxConcurrentRuns,
		RunTimeout:        o.RunTimeout,
		LockTTL:           o.StateLockTTL,
		Logger:            ctrl.Log.WithName("tfrunner"),
		Sandbox:           tfrunner.SandboxMode(o.Sandbox),
		SandboxReadPaths:  o.sandboxReadPaths(),
		AllowedProviders:  policy.Providers,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the terraform runner (--work-dir=%q): %w", o.WorkDir, err)
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the metadata client for the state index: %w", err)
	}
	go func() {
		// Until it has synced (or if it cannot), no-op reconciles read the state Secret instead.
		if err := runner.WatchStates(ctx, md, o.Namespace); err != nil && ctx.Err() == nil {
			ctrl.Log.WithName("setup").Error(err, "state index unavailable; no-op reconciles read state Secrets directly")
		}
	}()
	return runner, nil
}

// logSandbox says at start whether terraform runs are sandboxed: an error when the operator
// required a sandbox this machine cannot give (every run will be refused), a warning-level
// message when best-effort found none.
func logSandbox(log logr.Logger, s tfrunner.SandboxStatus) {
	switch {
	case s.Enabled:
		log.Info("terraform runs are sandboxed", "sandbox", s.Mode, "landlockABI", s.ABI)
	case s.Mode == tfrunner.SandboxRequired:
		log.Error(errors.New(s.Reason), "--sandbox=required, but terraform cannot be sandboxed here: every run will be refused", "landlockABI", s.ABI)
	default:
		log.Info("WARNING: terraform runs are NOT sandboxed; modules can read other objects' workspaces and this manager's files",
			"sandbox", s.Mode, "reason", s.Reason, "landlockABI", s.ABI)
	}
}

// apiServerReachable is /readyz's check: the manager is ready only while it can reach the API
// server (it can neither read nor write what it reconciles otherwise). /healthz stays a ping:
// restarting the manager does not bring an API server back.
func apiServerReachable(cfg *rest.Config) healthz.Checker {
	c := rest.CopyConfig(cfg)
	c.Timeout = 2 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(c)
	return func(r *http.Request) error {
		if err != nil {
			return fmt.Errorf("no client for the API server: %w", err)
		}
		if _, err := dc.RESTClient().Get().AbsPath("/readyz").DoRaw(r.Context()); err != nil {
			return fmt.Errorf("the API server cannot be reached: %w", err)
		}
		return nil
	}
}
