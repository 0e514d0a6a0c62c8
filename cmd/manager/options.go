/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// Runner modes accepted by --runner.
const (
	runnerLocal = "local"
	runnerJob   = "job"
)

// Approval modes accepted by --approval-mode.
const (
	approvalAuto   = "auto"
	approvalManual = "manual"
)

// options are the manager's command-line flags.
type options struct {
	// runnerCmd: the `runner` subcommand (a runner Job's pod), not the manager.
	runnerCmd               bool
	LeaderElect             bool
	LeaseDuration           time.Duration
	RenewDeadline           time.Duration
	RetryPeriod             time.Duration
	LeaderElectionID        string
	LeaderElectionNamespace string
	MetricsBindAddress      string
	HealthProbeBindAddress  string
	Namespace               string
	PolicyNamespace         string
	WatchFilter             string
	ClusterConcurrency      int
	MachineConcurrency      int
	SyncPeriod              time.Duration

	WorkDir                    string
	TerraformPath              string
	TerraformVersion           string
	Engine                     string
	TerraformInstallDir        string
	TerraformReleasesURL       string
	MaxConcurrentRuns          int
	RunTimeout                 time.Duration
	StateLockTTL               time.Duration
	ApprovalMode               string
	DriftCheckInterval         time.Duration
	ProgressInterval           time.Duration
	ModuleRoot                 string
	AllowRemoteModules         bool
	AllowCrossNamespaceSources bool
	ProviderMirrors            []string
	Sandbox                    string
	SandboxReadPaths           []string
	AllowProvisioners          bool
	AllowedProviders           string

	// Job mode (--runner=job) and the runner subcommand.
	Runner               string
	RunnerImage          string
	RunnerServiceAccount string
	RunnerPodTemplate    string
	RunnerJobTTL         time.Duration
	Request              string

	Zap zap.Options
}

// newFlagSet binds every flag to o (with defaults) and returns the flag set.
func newFlagSet(o *options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(out)

	fs.BoolVar(&o.LeaderElect, "leader-elect", false,
		"Enable leader election so only one replica reconciles at a time.")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", "capc-manager.infrastructure.cluster.x-k8s.io",
		"Name of the Lease used for leader election.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "",
		"Namespace of the leader election Lease (default: the pod's namespace in-cluster; required out of cluster with --leader-elect).")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", 15*time.Second,
		"How long a standby waits after the leader's last renewal before taking leadership (and, at once, the old leader's terraform locks).")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", 10*time.Second,
		"How long the leader retries renewing before it gives up leadership and exits (must be below the lease duration).")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", time.Second,
		"How often leader election candidates retry (and the leader renews). A standby notices an expired lease up to two of these after it expires: 1s keeps failover at p95 20s or less with the 15s lease (docs/reliability.md).")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8080",
		"Address the Prometheus metrics endpoint (plain HTTP, /metrics) binds to; \"0\" disables it.")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081",
		"Address the health probes (/healthz, /readyz) bind to.")
	fs.StringVar(&o.Namespace, "namespace", "",
		"Watch and cache objects in this namespace only (default: all namespaces).")
	fs.StringVar(&o.PolicyNamespace, "policy-namespace", "",
		"Namespace of the plan policy ConfigMaps CustomPolicies name (default: the pod's namespace in-cluster, else capc-system).")
	fs.StringVar(&o.WatchFilter, "watch-filter", "",
		"Only reconcile objects labelled cluster.x-k8s.io/watch-filter=<value> (default: all).")
	fs.IntVar(&o.ClusterConcurrency, "customcluster-concurrency", controllers.DefaultClusterConcurrency,
		"Number of CustomClusters reconciled in parallel.")
	fs.IntVar(&o.MachineConcurrency, "custommachine-concurrency", controllers.DefaultMachineConcurrency,
		"Number of CustomMachines reconciled in parallel.")
	fs.DurationVar(&o.SyncPeriod, "sync-period", 10*time.Minute,
		"Minimum interval at which every watched object is reconciled again.")

	fs.StringVar(&o.WorkDir, "work-dir", "/tmp/capc",
		"Directory for terraform workspaces, the init cache and the plugin cache. Mount an emptyDir here: it survives container restarts, which lets a restarted manager recover state a killed one had not pushed.")
	fs.StringVar(&o.TerraformPath, "terraform-path", "",
		"Path of the terraform binary to use. When empty, a supported terraform on PATH is used (matching --terraform-version), else --terraform-version is installed into --terraform-install-dir.")
	fs.StringVar(&o.TerraformVersion, "terraform-version", "",
		"Version to use when --terraform-path is empty: looked up on PATH, else installed (terraform only). Default: 1.5.7 for terraform, any supported version for tofu.")
	fs.StringVar(&o.Engine, "engine", "terraform",
		"Engine: terraform, or tofu (OpenTofu; found with --terraform-path or on PATH, never installed).")
	fs.StringVar(&o.TerraformInstallDir, "terraform-install-dir", "",
		"Directory terraform is installed into when --terraform-path is empty (default: <work-dir>/bin).")
	fs.StringVar(&o.TerraformReleasesURL, "terraform-releases-url", "",
		"Base URL of a mirror of releases.hashicorp.com to install terraform from (default: releases.hashicorp.com).")
	fs.IntVar(&o.MaxConcurrentRuns, "max-concurrent-runs", tfrunner.DefaultConcurrentRuns(),
		"Maximum number of terraform processes running at once across all objects.")
	fs.DurationVar(&o.RunTimeout, "run-timeout", 30*time.Minute,
		"A terraform run (plan, apply or destroy of one object) taking longer is interrupted (SIGINT, then killed after 30s) and retried.")
	fs.DurationVar(&o.StateLockTTL, "state-lock-ttl", tfstate.DefaultLockTTL,
		"Lifetime of a run's state lock, renewed every third of it while the run lasts; a crashed holder's lock is taken over once it expires.")
	fs.StringVar(&o.ApprovalMode, "approval-mode", approvalAuto,
		"Default approval mode for objects without the approval annotation: auto (apply non-destructive plans) or manual (every plan waits for approve-plan).")
	fs.DurationVar(&o.ProgressInterval, "progress-interval", 10*time.Second,
		"A terraform apply or destroy running longer than this shows its progress in status.terraform.progress, updated at most this often.")
	fs.DurationVar(&o.DriftCheckInterval, "drift-check-interval", 10*time.Minute,
		"Jittered interval of drift checks (a refresh plan) per object; 0 disables them.")
	fs.StringVar(&o.ModuleRoot, "module-root", "/modules",
		"Root directory that spec.module.path is confined to.")
	fs.BoolVar(&o.AllowRemoteModules, "allow-remote-modules", false,
		"Allow spec.module.source: remote (registry or git) modules that terraform init downloads, wrapped in a generated root module; the module policy checks what init downloaded before any plan.")

	fs.BoolVar(&o.AllowCrossNamespaceSources, "allow-cross-namespace-sources", false,
		"Allow spec.module.sourceRef to name a Flux source in another namespace than the object's.")

	fs.Func("provider-mirror", "Filesystem mirror directory terraform installs providers from (repeatable); mirrored providers are never downloaded.",
		func(v string) error {
			if v == "" {
				return fmt.Errorf("empty directory")
			}
			o.ProviderMirrors = append(o.ProviderMirrors, v)
			return nil
		})

	fs.StringVar(&o.Sandbox, "sandbox", string(tfrunner.SandboxBestEffort),
		"Landlock sandbox of every terraform process (its workspace, temp dir, binaries and system files only; no other workspace, token or process): "+
			"required (refuse to run terraform without it), best-effort (sandbox where the kernel has Landlock, report where not) or off. See docs/security.md.")
	fs.Func("sandbox-allow-read", "Directory or file a sandboxed terraform may also read (repeatable): a CA bundle or plugins in an unusual place.",
		func(v string) error {
			if !filepath.IsAbs(v) {
				return fmt.Errorf("%q is not an absolute path", v)
			}
			o.SandboxReadPaths = append(o.SandboxReadPaths, v)
			return nil
		})
	fs.BoolVar(&o.AllowProvisioners, "allow-provisioners", false,
		"Allow provisioner blocks (local-exec, remote-exec, file) in modules the provider did not ship. They run inside the sandbox, which may then read and run the programs on the manager's PATH.")
	fs.StringVar(&o.AllowedProviders, "allowed-providers", "",
		"Comma-separated provider source patterns ([host/]namespace/type, * for type, namespace and type, or all three) that modules the provider did not ship may use; "+
			"terraform's CLI configuration installs nothing else. Empty: any provider.")

	fs.StringVar(&o.Runner, "runner", runnerLocal,
		"Where terraform runs: local (in this pod, bounded by --max-concurrent-runs) or job (one Kubernetes Job per run in the object's namespace; this pod never starts terraform nor reads credentials Secrets).")
	fs.StringVar(&o.RunnerImage, "runner-image", os.Getenv("CAPC_RUNNER_IMAGE"),
		"Image of the runner Jobs (job mode): this provider's image, whose `manager runner` runs one request. Default: $CAPC_RUNNER_IMAGE.")
	fs.StringVar(&o.RunnerServiceAccount, "runner-service-account", "capc-runner",
		"ServiceAccount of the runner pods, in each object's namespace (job mode; config/rbac/runner holds its Role).")
	fs.StringVar(&o.RunnerPodTemplate, "runner-pod-template", "",
		"ConfigMap (namespace/name) whose key pod-template.yaml is a PodTemplateSpec: the runner pods' node selector, tolerations, affinity, priority class, pull secrets, host network and volumes, and the resources, image pull policy and volume mounts of the container named runner.")
	fs.DurationVar(&o.RunnerJobTTL, "runner-job-ttl", 10*time.Minute,
		"ttlSecondsAfterFinished of runner Jobs (the manager deletes the Jobs whose result it read before that).")
	fs.StringVar(&o.Request, "request", "/var/run/capc/request/request.json", "(manager runner only) the run request file.")

	// --kubeconfig (controller-runtime's flag, read by ctrl.GetConfig); KUBECONFIG works too.
	config.RegisterFlags(fs)
	o.Zap = zap.Options{}
	o.Zap.BindFlags(fs)
	return fs
}

// parseOptions parses args (without the program name) into options and validates them.
func parseOptions(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o, out)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	// `runner` may follow flags (the image's entrypoint sets --terraform-path before a Job's
	// arguments): the flags after it are parsed into the same options.
	if fs.NArg() > 0 && fs.Arg(0) == "runner" {
		o.runnerCmd = true
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return nil, err
		}
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.TerraformInstallDir == "" {
		o.TerraformInstallDir = filepath.Join(o.WorkDir, "bin")
	}
	return o, nil
}

// validate reports every invalid flag value at once.
func (o *options) validate() error {
	var errs []error
	switch o.ApprovalMode {
	case approvalAuto, approvalManual:
	default:
		errs = append(errs, fmt.Errorf("--approval-mode must be %q or %q, got %q", approvalAuto, approvalManual, o.ApprovalMode))
	}
	if o.ClusterConcurrency < 1 {
		errs = append(errs, fmt.Errorf("--customcluster-concurrency must be at least 1, got %d", o.ClusterConcurrency))
	}
	if o.MachineConcurrency < 1 {
		errs = append(errs, fmt.Errorf("--custommachine-concurrency must be at least 1, got %d", o.MachineConcurrency))
	}
	if o.MaxConcurrentRuns < 1 {
		errs = append(errs, fmt.Errorf("--max-concurrent-runs must be at least 1, got %d", o.MaxConcurrentRuns))
	}
	if o.RunTimeout < time.Second {
		errs = append(errs, fmt.Errorf("--run-timeout must be at least 1s, got %s", o.RunTimeout))
	}
	if o.StateLockTTL < 3*time.Second {
		errs = append(errs, fmt.Errorf("--state-lock-ttl must be at least 3s, got %s", o.StateLockTTL))
	}
	if o.ProgressInterval <= 0 {
		errs = append(errs, fmt.Errorf("--progress-interval must be positive, got %s", o.ProgressInterval))
	}
	if o.DriftCheckInterval < 0 {
		errs = append(errs, fmt.Errorf("--drift-check-interval must not be negative, got %s", o.DriftCheckInterval))
	}
	if o.SyncPeriod <= 0 {
		errs = append(errs, fmt.Errorf("--sync-period must be positive, got %s", o.SyncPeriod))
	}
	if o.WorkDir == "" {
		errs = append(errs, errors.New("--work-dir must not be empty"))
	}
	if o.ModuleRoot == "" {
		errs = append(errs, errors.New("--module-root must not be empty"))
	}
	if o.LeaderElect && (o.RenewDeadline <= 0 || o.RenewDeadline >= o.LeaseDuration || o.RetryPeriod <= 0) {
		errs = append(errs, errors.New("--leader-elect-renew-deadline must be positive and below --leader-elect-lease-duration, and --leader-elect-retry-period positive"))
	}
	if o.LeaderElect && o.LeaderElectionID == "" {
		errs = append(errs, errors.New("--leader-election-id must not be empty with --leader-elect"))
	}
	if _, err := tfrunner.ParseSandboxMode(o.Sandbox); err != nil {
		errs = append(errs, fmt.Errorf("--sandbox: %w", err))
	}
	if _, err := o.modulePolicy(); err != nil {
		errs = append(errs, err)
	}
	if o.Runner != runnerLocal && o.Runner != runnerJob {
		errs = append(errs, fmt.Errorf("--runner must be %s or %s, got %q", runnerLocal, runnerJob, o.Runner))
	}
	if o.Runner == runnerJob && o.RunnerImage == "" {
		errs = append(errs, errors.New("--runner=job needs --runner-image (or $CAPC_RUNNER_IMAGE)"))
	}
	if o.Engine != "terraform" && o.Engine != "tofu" {
		errs = append(errs, fmt.Errorf("--engine must be terraform or tofu, got %q", o.Engine))
	}
	for name, addr := range map[string]string{"--metrics-bind-address": o.MetricsBindAddress, "--health-probe-bind-address": o.HealthProbeBindAddress} {
		if addr == "0" || (name == "--health-probe-bind-address" && addr == "") {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q is not host:port: %w", name, addr, err))
		}
	}
	return errors.Join(errs...)
}

// holderIdentity names this manager replica in terraform run locks: the pod name when running
// in a pod (POD_NAME from the downward API), else the hostname.
func holderIdentity() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "capc-manager"
}

// modulePolicy is what modules the provider did not ship may do (--allow-provisioners,
// --allowed-providers); short provider patterns get the engine's default registry.
func (o *options) modulePolicy() (modulecheck.Policy, error) {
	host := "registry.terraform.io"
	if o.Engine == tfrunner.EngineTofu {
		host = "registry.opentofu.org"
	}
	return modulecheck.NewPolicy(o.AllowProvisioners, o.AllowedProviders, host)
}

// sandboxReadPaths are --sandbox-allow-read plus, with --allow-provisioners or
// --allow-remote-modules, the directories of PATH: the commands provisioners run, and git,
// which terraform init runs for git module sources.
func (o *options) sandboxReadPaths() []string {
	paths := append([]string{}, o.SandboxReadPaths...)
	if o.AllowProvisioners || o.AllowRemoteModules {
		for _, d := range filepath.SplitList(os.Getenv("PATH")) {
			if _, err := os.Stat(d); err == nil && filepath.IsAbs(d) {
				paths = append(paths, d)
			}
		}
	}
	return paths
}
