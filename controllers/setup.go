/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/modulesrc"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// The manager's default parallel reconciles per kind (--customcluster-concurrency,
// --custommachine-concurrency). Machine reconciles wait for run slots (--max-concurrent-runs)
// only around terraform itself, so more workers than slots keep every slot busy while other
// workers do a run's API requests.
const (
	DefaultClusterConcurrency = 5
	DefaultMachineConcurrency = 40
)

// Options configure the reconcilers (flags of cmd/manager).
type Options struct {
	// WatchFilter limits reconciliation to objects labelled cluster.x-k8s.io/watch-filter=<value>.
	WatchFilter string
	// ClusterConcurrency and MachineConcurrency bound parallel reconciles per kind.
	ClusterConcurrency, MachineConcurrency int
	// ApprovalMode is the default approval mode: auto or manual.
	ApprovalMode string
	// DriftCheckInterval is how often (jittered) a refresh plan checks for drift; 0 disables.
	DriftCheckInterval time.Duration
	// ModuleRoot confines spec.module.path.
	ModuleRoot string
	// AllowRemoteModules permits spec.module.source (registry or git modules downloaded by
	// terraform init); off by default.
	AllowRemoteModules bool
	// ModulePolicy is what modules the provider did not ship may do (provisioners, providers).
	ModulePolicy modulecheck.Policy
	// Sources unpacks ConfigMap archives and Flux artifacts (a cache under the work dir).
	Sources *modulesrc.Store
	// AllowCrossNamespaceSources lets spec.module.sourceRef name a Flux source in another
	// namespace (whose content then runs with this object's credentials); off by default.
	AllowCrossNamespaceSources bool
	// ProgressInterval is how long a run goes before status.terraform.progress shows it, and how
	// often at most it is updated (default 10s).
	ProgressInterval time.Duration
	// Sandbox is whether terraform runs are sandboxed; a run that is not, in best-effort mode,
	// says so in the Ready condition.
	Sandbox tfrunner.SandboxStatus
	// PolicyNamespace is the provider's namespace, where CustomPolicies' plan policy ConfigMaps
	// are read (default capc-system).
	PolicyNamespace string
	// JobMode runs terraform in runner Jobs (tfjob.Runner): credentials Secrets are named
	// to the Jobs, never read, and finished Jobs requeue their object.
	JobMode bool
}

// Setup registers the CustomCluster and CustomMachine reconcilers with the manager.
func Setup(ctx context.Context, mgr ctrl.Manager, runner Runner, opts Options) error {
	if opts.ApprovalMode != "auto" && opts.ApprovalMode != "manual" {
		return fmt.Errorf("approval mode %q: must be auto or manual", opts.ApprovalMode)
	}
	if opts.Sources == nil {
		return fmt.Errorf("no module source cache (Options.Sources)")
	}
	limits, err := loadAPILimits()
	if err != nil {
		return fmt.Errorf("reading the CRDs' schemas: %w", err)
	}
	if opts.PolicyNamespace == "" {
		opts.PolicyNamespace = "capc-system"
	}
	pc, err := newPolicyCache(mgr, opts.PolicyNamespace)
	if err != nil {
		return err
	}
	if err := indexProviderID(ctx, mgr); err != nil {
		return fmt.Errorf("indexing CustomMachines by providerID: %w", err)
	}
	b := base{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Sources: mgr.GetCache(), Runner: runner, Options: opts,
		Recorder: mgr.GetEventRecorderFor("custom-infrastructure-controller"), //nolint:staticcheck // CAPI's reconcilers use the same recorder API
		limits:   limits, pids: &providerIDs{claims: map[string]providerIDClaim{}},
		policyCache: pc, policyConfigMaps: pc,
	}
	cb, mb := b, b
	cb.stale, mb.stale = newStaleGuard(), newStaleGuard() // one per kind: names may repeat across kinds
	if err := (&CustomClusterReconciler{base: cb}).SetupWithManager(ctx, mgr,
		controller.Options{MaxConcurrentReconciles: max(1, opts.ClusterConcurrency)}); err != nil {
		return fmt.Errorf("setting up CustomCluster reconciler: %w", err)
	}
	if err := (&CustomMachineReconciler{base: mb}).SetupWithManager(ctx, mgr,
		controller.Options{MaxConcurrentReconciles: max(1, opts.MachineConcurrency)}); err != nil {
		return fmt.Errorf("setting up CustomMachine reconciler: %w", err)
	}
	return nil
}

// watchJobs requeues an object when one of its runner Jobs changes (job mode only: the Job
// informer is not started otherwise).
func watchJobs(mgr ctrl.Manager, bld *builder.Builder, owner client.Object, opts Options) {
	if !opts.JobMode {
		return
	}
	bld.Watches(&batchv1.Job{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), owner),
		builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetLabels()[tfstate.LabelRole] == "run"
		})))
}
