/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/controllers/clustercache"
	clustercontroller "sigs.k8s.io/cluster-api/core/reconcilers/cluster"
	machinecontroller "sigs.k8s.io/cluster-api/core/reconcilers/machine"
	mhccontroller "sigs.k8s.io/cluster-api/core/reconcilers/machinehealthcheck"
	machinesetcontroller "sigs.k8s.io/cluster-api/core/reconcilers/machineset"
	"sigs.k8s.io/cluster-api/core/setup"
	"sigs.k8s.io/cluster-api/util/index"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/modulesrc"
	"github.com/company/cluster-api-provider-custom/tfjob"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// Stack is a local control plane running CAPI's core Cluster and Machine reconcilers and this
// provider in-process, against the real terraform binary: what `make demo` and the integration
// suite run.
type Stack struct {
	Env    *envtest.Environment
	Client client.Client
	Runner *tfrunner.Runner
	Scheme *runtime.Scheme
	cancel context.CancelFunc
	done   chan error
	// stopped: done was received (stopErr), so Stop after a failed restart does not wait again.
	stopped bool
	stopErr error
	opts    StackOptions
}

// StackOptions tune the stack; zero values are sensible.
type StackOptions struct {
	WorkDir    string
	ModuleRoot string
	// CRDDirs hold CRDs to install beside CAPI's and ours (e.g. Flux's).
	CRDDirs         []string
	ProviderMirrors []string
	Controller      controllers.Options
	// Runner adjusts the runner's configuration (a shim and sandbox, as the manager has).
	Runner func(*tfrunner.Config)
	// Jobs, when set, runs terraform in runner Jobs (job mode); the stack's own runner then
	// only answers unchanged objects and reads state.
	Jobs *tfjob.Config
	// WrapTransport, when set, wraps every request the stack's manager (controllers and runner)
	// sends: a test's view of what the manager asks the API server.
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// Remediation adds CAPI's MachineSet and MachineHealthCheck reconcilers: a MachineHealthCheck
	// marks unhealthy Machines and their MachineSet replaces them.
	Remediation bool
	// Node configures the API server for a real node (StartNode).
	Node bool
}

// runnerMetrics registers one set of runner metrics per process on controller-runtime's registry,
// where the manager exposes them (a test binary may start several stacks).
var runnerMetrics = sync.OnceValue(func() *tfrunner.Metrics {
	m := tfrunner.NewMetrics()
	ctrlmetrics.Registry.MustRegister(m.Collectors()...)
	return m
})

// NewScheme returns a scheme with client-go, CAPI core v1beta2 and this provider's types.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, clusterv1.AddToScheme, infrav1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// StartStack starts the API server and the controllers; Stop tears both down.
func StartStack(ctx context.Context, o StackOptions) (*Stack, error) {
	env, cfg, err := StartEnv(o.Node, o.CRDDirs...)
	if err != nil {
		return nil, err
	}
	st := &Stack{Env: env, done: make(chan error, 1)}
	if err := st.start(ctx, cfg, o); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return st, nil
}

func (st *Stack) start(ctx context.Context, cfg *rest.Config, o StackOptions) error {
	scheme, err := NewScheme()
	if err != nil {
		return err
	}
	st.Scheme, st.opts = scheme, o
	if o.WrapTransport != nil {
		cfg = rest.CopyConfig(cfg)
		cfg.Wrap(o.WrapTransport)
	}
	mo := managerOptions(scheme)
	// A test may run two stacks (two management clusters) in one process.
	mo.Controller = ctrlconfig.Controller{SkipNameValidation: ptr.To(true)}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	ctx, st.cancel = context.WithCancel(ctx)
	if err := index.AddDefaultIndexes(ctx, mgr); err != nil {
		return err
	}
	if err := setupCAPI(ctx, mgr, o.Remediation); err != nil {
		return err
	}
	bin, err := tfrunner.ResolveBinary(ctx, tfrunner.BinaryOptions{Path: filepath.Join(RepoRoot(), "bin", "terraform")})
	if err != nil {
		return err
	}
	kube, err := tfrunner.NewKubeClient(cfg)
	if err != nil {
		return err
	}
	rc := tfrunner.Config{
		Binary: bin, WorkDir: o.WorkDir, Kube: kube,
		Holder: "local-stack", MaxConcurrentRuns: 4, Logger: ctrl.Log.WithName("tfrunner"),
		Metrics: runnerMetrics(), ProviderMirrors: o.ProviderMirrors,
		// In-process, terraform runs without the shim that sandboxes it, unless o.Runner gives one.
		Sandbox: tfrunner.SandboxOff,
	}
	if o.Runner != nil {
		o.Runner(&rc)
	}
	st.Runner, err = tfrunner.New(rc)
	if err != nil {
		return err
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := st.Runner.WatchStates(ctx, md, ""); err != nil {
		return err
	}
	opts := o.Controller
	if opts.ApprovalMode == "" {
		opts.ApprovalMode = "auto"
	}
	opts.ModuleRoot = o.ModuleRoot
	if opts.Sources, err = modulesrc.NewStore(filepath.Join(o.WorkDir, "sources"), modulesrc.StoreOptions{}); err != nil {
		return err
	}
	opts.Sandbox = st.Runner.Sandbox()
	var runs controllers.Runner = st.Runner
	if o.Jobs != nil {
		runs, opts.JobMode = tfjob.New(st.Runner, *o.Jobs, ctrl.Log.WithName("jobs")), true
	}
	if err := controllers.Setup(ctx, mgr, runs, opts); err != nil {
		return err
	}
	st.Client = mgr.GetClient()
	st.stopped = false
	go func() { st.done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return fmt.Errorf("manager cache did not sync")
	}
	return nil
}

// RestartManager stops the stack's manager (controllers and runner) and starts a new one, with
// the same options, on the same API server: a manager pod replaced while work is in flight.
func (st *Stack) RestartManager(ctx context.Context) error {
	// A runnable still running after the grace period is left behind, as a killed pod's would
	// be: CAPI v1.14.2's cluster cache can block forever sending a Cluster event to a controller
	// that has stopped reading (clusterCache.sendEventsToClusterSources does not watch its
	// context). Any other error fails the restart.
	if err := st.stopManager(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("stopping the manager: %w", err)
	}
	return st.start(ctx, st.Env.Config, st.opts)
}

// stopManager stops the manager and waits for it, once per start.
func (st *Stack) stopManager() error {
	if !st.stopped {
		st.cancel()
		st.stopErr, st.stopped = <-st.done, true
	}
	return st.stopErr
}

// AddManager starts another manager (controllers and runner, with the stack's options) on the
// stack's API server beside the first, without leader election between them: two replicas that
// both reconcile every object. It stops with ctx.
func (st *Stack) AddManager(ctx context.Context) (client.Client, error) {
	other := &Stack{Env: st.Env, done: make(chan error, 1)}
	if err := other.start(ctx, st.Env.Config, st.opts); err != nil {
		return nil, err
	}
	return other.Client, nil
}

// Stop stops the controllers, then the API server.
func (st *Stack) Stop() error {
	err := st.stopManager()
	// The API server and etcd stop even when the manager ended with an error: a stack that
	// returned early left them running (found as a leaked kube-apiserver after a bench's P9).
	return errors.Join(err, st.Env.Stop())
}

var managers atomic.Int64

// managerName names a manager's informers (CAPI's metrics panic on a name used twice in one
// process): capc-local, then capc-local-2, … for further managers of the same test binary.
func managerName() string {
	if n := managers.Add(1); n > 1 {
		return fmt.Sprintf("capc-local-%d", n)
	}
	return "capc-local"
}

// CAPI's core controller manager's default parallel reconciles (its --*-concurrency flags,
// core/main.go of v1.14.2), so the stack runs CAPI as a management cluster does; except the
// Machine reconciler (default 100): with every process of the stack on 2 cores, 100 workers made
// CAPI patch each Machine's status 9.8 times on its way to Provisioned instead of 5.9 (make bench,
// P4; events a queue would have merged were each reconciled alone), which cost the API server 50%
// more CPU. CAPI's own rate limit (one reconcile of a Machine a second) bounds both alike.
const (
	capiClusterCacheConcurrency = 100
	capiClusterConcurrency      = 50
	capiMachineConcurrency      = 10
	capiMachineSetConcurrency   = 50
	capiMHCConcurrency          = 50
)

// setupCAPI runs CAPI's own core Cluster and Machine reconcilers in-process, as CAPI's tests do,
// and with remediation its MachineSet and MachineHealthCheck reconcilers.
func setupCAPI(ctx context.Context, mgr ctrl.Manager, remediation bool) error {
	secretClient, err := setup.CreateSecretCachingClient(mgr)
	if err != nil {
		return err
	}
	cc, err := clustercache.SetupWithManager(ctx, mgr, clustercache.Options{
		SecretClient: secretClient,
		Cache:        setup.ClusterCacheCacheOptions(),
		Client:       setup.ClusterCacheClientOptions("capc-local", 20, 30),
	}, controller.Options{MaxConcurrentReconciles: capiClusterCacheConcurrency})
	if err != nil {
		return fmt.Errorf("setting up cluster cache: %w", err)
	}
	if err := (&clustercontroller.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), ClusterCache: cc,
		RemoteConnectionGracePeriod: 50 * time.Second,
	}).SetupWithManager(ctx, mgr, controller.Options{MaxConcurrentReconciles: capiClusterConcurrency}); err != nil {
		return fmt.Errorf("setting up CAPI Cluster reconciler: %w", err)
	}
	if err := (&machinecontroller.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), ClusterCache: cc,
		RemoteConditionsGracePeriod: 5 * time.Minute,
	}).SetupWithManager(ctx, mgr, controller.Options{MaxConcurrentReconciles: capiMachineConcurrency}); err != nil {
		return fmt.Errorf("setting up CAPI Machine reconciler: %w", err)
	}
	if !remediation {
		return nil
	}
	if err := (&machinesetcontroller.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), ClusterCache: cc,
	}).SetupWithManager(ctx, mgr, controller.Options{MaxConcurrentReconciles: capiMachineSetConcurrency}); err != nil {
		return fmt.Errorf("setting up CAPI MachineSet reconciler: %w", err)
	}
	if err := (&mhccontroller.Reconciler{Client: mgr.GetClient(), ClusterCache: cc}).
		SetupWithManager(ctx, mgr, controller.Options{MaxConcurrentReconciles: capiMHCConcurrency}); err != nil {
		return fmt.Errorf("setting up CAPI MachineHealthCheck reconciler: %w", err)
	}
	return nil
}
