/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/terraform-exec/tfexec"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/company/cluster-api-provider-custom/tfmodule"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// Config configures a Runner.
type Config struct {
	Binary            *Binary              // from ResolveBinary
	WorkDir           string               // per-object workspaces and the init cache live here
	Kube              kubernetes.Interface // Secrets (state, plans) and Leases (locks)
	Holder            string               // lock holder identity (pod name)
	MaxConcurrentRuns int                  // concurrent terraform runs; default 2*NumCPU
	LockTTL           time.Duration        // default tfstate.DefaultLockTTL; renewed every LockTTL/3 while a run is in flight
	RunTimeout        time.Duration        // a run (lock held) past it is interrupted; default 30m
	Logger            logr.Logger
	// OwnerRefs returns the ownerRefs of every object the runner creates; default tfstate.DefaultOwnerRefs.
	OwnerRefs   func(tfstate.ObjectRef) []metav1.OwnerReference
	CancelGrace time.Duration // SIGINT, then kill after this; default 30s
	// ProviderMirrors are filesystem mirror directories terraform installs providers from before
	// trying their registries (air-gapped installs, locally built providers).
	ProviderMirrors []string
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Metrics receives run durations, in-flight runs and lock waits; default: unregistered collectors.
	Metrics *Metrics
	// Shim, when set, is an executable that calls ShimMain first (the manager's own binary):
	// terraform then runs under it, and nothing it starts outlives this process.
	Shim string
	// LeaderLease ("namespace/name") is the leader-election Lease of the manager this runner
	// serves, whose holder identities are "<Holder>_<suffix>". A lock held by a candidate of
	// the same election that no longer leads, while this runner's manager does, is taken over at
	// once instead of after LockTTL: that manager has exited, and with the Shim so has everything
	// it ran.
	LeaderLease string
	// Sandbox is whether terraform runs inside a Landlock sandbox (needs Shim); default
	// SandboxBestEffort.
	Sandbox SandboxMode
	// AllowedProviders, when set, are the only providers terraform may install (its CLI
	// configuration's provider_installation includes nothing else).
	AllowedProviders []tfmodule.ProviderPattern
	// SandboxReadPaths are more directories or files a sandboxed terraform may read (a CA
	// bundle or provider plugins in an unusual place).
	SandboxReadPaths []string
	// Trace, when set, is told as each run of an object reaches a Step (a benchmark's timeline
	// of where a run's time goes). It is called inline: it must return at once.
	Trace func(tfstate.ObjectRef, Step)
}

// Step is a point in a run's life that Config.Trace is told about.
type Step string

const (
	StepReconcile    Step = "reconcile"         // Reconcile called (the no-op fast path included)
	StepLocked       Step = "locked"            // the object's lock Lease held
	StepSlot         Step = "slot"              // a run slot taken: terraform may start
	StepStarted      Step = "terraform started" // a terraform process (init, plan, show, apply, destroy) starts
	StepExited       Step = "terraform exited"  // … and has exited
	StepStateWritten Step = "state written"     // the run's final state push stored
)

// trace tells Config.Trace that obj reached step.
func (r *Runner) trace(obj tfstate.ObjectRef, step Step) {
	if r.cfg.Trace != nil {
		r.cfg.Trace(obj, step)
	}
}

// Runner runs terraform for Kubernetes objects. It is safe for concurrent use.
type Runner struct {
	cfg       Config
	cliConfig string
	plugins   string // the plugin cache dir
	sandbox   SandboxStatus
	sem       chan struct{}
	initMu    sync.Mutex
	tfs       sync.Map       // workspace dir -> *tfexec.Terraform
	state     *tfstate.Store // state Secrets, lock Leases and the run journal
	memo      sync.Map       // object base name -> *noopMemo
	configs   sync.Map       // module digest -> journal patterns of its configuration
	processes atomic.Int64
}

// DefaultConcurrentRuns is one terraform process per core, at least two. Measured (make bench,
// P8c): on a CPU-bound module four times the slots saved ~10% of the wall time for ~90 MiB each;
// runs that mostly wait on a cloud API want more, as memory allows (README, Sizing).
func DefaultConcurrentRuns() int { return max(2, runtime.NumCPU()) }

// New validates cfg, applies defaults and prepares the work dir.
func New(cfg Config) (*Runner, error) {
	if cfg.Binary == nil || cfg.Binary.Path == "" || cfg.Binary.Version == nil {
		return nil, fmt.Errorf("tfrunner: Binary is required (use ResolveBinary)")
	}
	if cfg.WorkDir == "" || cfg.Kube == nil || cfg.Holder == "" {
		return nil, fmt.Errorf("tfrunner: WorkDir, Kube and Holder are required")
	}
	if cfg.Shim != "" && !ShimSupported {
		return nil, fmt.Errorf("tfrunner: the terraform shim needs Linux")
	}
	if cfg.MaxConcurrentRuns <= 0 {
		cfg.MaxConcurrentRuns = DefaultConcurrentRuns()
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = tfstate.DefaultLockTTL
	}
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = 30 * time.Minute
	}
	if cfg.CancelGrace <= 0 {
		cfg.CancelGrace = 30 * time.Second
	}
	if cfg.OwnerRefs == nil {
		cfg.OwnerRefs = tfstate.DefaultOwnerRefs
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	cfg.Metrics.RunTimeout.Set(cfg.RunTimeout.Seconds())
	cfg.Metrics.Slots.Set(float64(cfg.MaxConcurrentRuns))
	if cfg.Sandbox == "" {
		cfg.Sandbox = SandboxBestEffort
	}
	if _, err := ParseSandboxMode(string(cfg.Sandbox)); err != nil {
		return nil, fmt.Errorf("tfrunner: %w", err)
	}
	abs, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("tfrunner: work dir: %w", err)
	}
	cfg.WorkDir = abs
	for _, d := range []string{"ws", "init", "tmp"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("tfrunner: creating work dir: %w", err)
		}
	}
	cli, plugins, err := writeCLIConfig(abs, cfg.ProviderMirrors, cfg.AllowedProviders)
	if err != nil {
		return nil, fmt.Errorf("tfrunner: %w", err)
	}
	state, err := tfstate.New(tfstate.Config{Kube: cfg.Kube, Holder: cfg.Holder, LockTTL: cfg.LockTTL,
		LeaderLease: cfg.LeaderLease, OwnerRefs: cfg.OwnerRefs, Now: cfg.Now, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("tfrunner: %w", err)
	}
	r := &Runner{cfg: cfg, cliConfig: cli, plugins: plugins, state: state, sem: make(chan struct{}, cfg.MaxConcurrentRuns)}
	r.sandbox = probeSandbox(cfg)
	if r.sandbox.Enabled {
		cfg.Metrics.Sandboxed.Set(1)
	}
	return r, nil
}

// Limits are a run's time bounds: the run timeout, the lock TTL and the interrupt's grace.
type Limits struct{ RunTimeout, LockTTL, CancelGrace time.Duration }

// Limits returns the runner's time bounds, defaults applied.
func (r *Runner) Limits() Limits {
	return Limits{RunTimeout: r.cfg.RunTimeout, LockTTL: r.cfg.LockTTL, CancelGrace: r.cfg.CancelGrace}
}

// Kube is the clientset the runner reads and writes with.
func (r *Runner) Kube() kubernetes.Interface { return r.cfg.Kube }

// Wait blocks until the locks of finished runs are released; a manager calls it before it exits
// so that a graceful stop leaves no lock behind.
func (r *Runner) Wait() { r.state.Wait() }

// Processes counts the terraform processes this runner started.
func (r *Runner) Processes() int64 { return r.processes.Load() }

func (r *Runner) now() time.Time { return r.cfg.Now() }

// run is one Reconcile/Destroy of one workspace.
type run struct {
	ws       Workspace
	top      string // the workspace: the module tree
	rel      string // the root module's directory in it (OS path, "." for the top)
	dir      string // top/rel: where terraform runs
	digest   string
	rendered []byte
	hash     string
	red      *redactor
	tf       *tfexec.Terraform
	lease    *tfstate.Lease   // the run's lock, which also holds its journal
	prim     *tfstate.Primary // the primary state Secret as last read or written (nil: unknown)
	pushed   atomic.Int64     // highest serial pushed to the store in this run
	backedUp atomic.Bool      // the state the run started from has been backed up
	saved    *savedPlan       // the plan Secret's plan as read at the start of the run (nil: none)
	freeSlot func()           // frees the run slot prepare took, once terraform is done (idempotent)
	// orphanPatterns are a dead run's journal patterns this run has yet to resolve.
	orphanPatterns *tfstate.SuspectedOrphans
}

func (r *Runner) newRun(ws Workspace) (*run, error) {
	o := ws.Object
	if o.Namespace == "" || o.Name == "" || o.Kind == "" {
		return nil, fmt.Errorf("tfrunner: object needs kind, namespace and name")
	}
	if ws.Module == nil {
		return nil, fmt.Errorf("tfrunner: %s %s/%s: no module", o.Kind, o.Namespace, o.Name)
	}
	if err := CheckEnv(ws.Env); err != nil {
		return nil, err
	}
	if err := checkSensitive(ws.Variables, ws.Sensitive); err != nil {
		return nil, fmt.Errorf("tfrunner: %w", err)
	}
	rel, err := moduleDir(ws.ModuleDir)
	if err != nil {
		return nil, err
	}
	digest, err := TreeDigest(ws.Module, ws.ModuleDir)
	if err != nil {
		return nil, fmt.Errorf("tfrunner: module digest: %w", err)
	}
	rendered, err := RenderVariables(ws.Variables)
	if err != nil {
		return nil, fmt.Errorf("tfrunner: rendering variables: %w", err)
	}
	top := r.workspaceDir(o)
	rn := &run{ws: ws, top: top, rel: rel, dir: filepath.Join(top, rel), digest: digest, rendered: rendered,
		hash: InputsHash(rendered, digest, r.cfg.Binary.ID()),
		red:  newRedactor(ws.Variables, ws.Sensitive, ws.Env)}
	rn.red.workDir = r.cfg.WorkDir
	rn.pushed.Store(-1)
	return rn, nil
}

// prepare readies a run for terraform: it tells the caller (Workspace.OnRun) that terraform is
// about to run, materializes the workspace, and takes a run slot. The slot bounds concurrent
// terraform processes, not runs: the API requests around them (OnRun's patch, state garbage
// collection, the final state push) and the workspace's files are done outside it, so a slot
// never idles on the API server or the disk. rn.freeSlot (idempotent) frees it.
func (r *Runner) prepare(ctx context.Context, rn *run, st *tfstate.StoredState) (err error) {
	if rn.ws.OnRun != nil {
		if err := rn.ws.OnRun(ctx); err != nil {
			return fmt.Errorf("before running terraform: %w", err)
		}
	}
	r.state.CollectDue(ctx, rn.ws.Object)
	if err := r.materialize(ctx, rn, st); err != nil {
		return err
	}
	if rn.freeSlot, err = r.takeSlot(ctx, rn.ws.Object); err != nil {
		return err
	}
	r.cfg.Logger.Info("running terraform", "object", rn.ws.Object.Namespace+"/"+rn.ws.Object.Name,
		"kind", rn.ws.Object.Kind, "sandboxed", r.sandbox.Enabled)
	return nil
}

// takeSlot waits for a run slot for obj's terraform; the returned func (idempotent) frees it.
func (r *Runner) takeSlot(ctx context.Context, obj tfstate.ObjectRef) (func(), error) {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a terraform run slot: %w", ctx.Err())
	}
	r.trace(obj, StepSlot)
	return sync.OnceFunc(func() { <-r.sem }), nil
}

// materialize prepares the workspace: module files, variables, initialized .terraform, and the
// state file restored from the store (st nil: no state).
func (r *Runner) materialize(ctx context.Context, rn *run, st *tfstate.StoredState) error {
	initDir, err := r.ensureInit(ctx, rn)
	if err != nil {
		return err
	}
	if rn.ws.CheckInstalled != nil {
		if err := rn.ws.CheckInstalled(os.DirFS(filepath.Join(initDir, rn.rel, dotTerraform, "modules"))); err != nil {
			return err
		}
	}
	if err := resetWorkspace(rn.top, rn.rel); err != nil {
		return err
	}
	if err := copyModule(rn.ws.Module, rn.top, rn.rel); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rn.dir, varsFile), rn.rendered, 0o600); err != nil {
		return fmt.Errorf("writing variables: %w", err)
	}
	if err := linkInit(filepath.Join(initDir, rn.rel), rn.dir); err != nil {
		return err
	}
	sp := filepath.Join(rn.dir, stateFile)
	if st == nil {
		if err := os.Remove(sp); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("clearing workspace state: %w", err)
		}
	} else if err := os.WriteFile(sp, st.Raw, 0o600); err != nil {
		return fmt.Errorf("restoring workspace state: %w", err)
	}
	rn.pushed.Store(-1)
	if st != nil {
		rn.pushed.Store(st.Serial)
	}
	tf, err := r.terraform(rn.dir, rn.ws.Env, procFS{writable: []string{rn.top}, readable: []string{initDir, r.plugins}})
	if err != nil {
		return err
	}
	rn.tf = tf
	return nil
}

// recoverLocal pushes a workspace state file that is newer than the store (a run killed before
// its last push), then returns the store's state.
func (r *Runner) recoverLocal(ctx context.Context, rn *run) (*tfstate.StoredState, error) {
	st, err := r.GetState(ctx, rn.ws.Object)
	if err != nil {
		return nil, err
	}
	rn.prim = &tfstate.Primary{}
	if st != nil {
		rn.prim.Secret = st.Secret()
	}
	raw, m := readLocalState(rn.dir)
	if m == nil || (st != nil && (m.Lineage != st.Lineage || m.Serial <= st.Serial)) {
		return st, nil
	}
	rn.prim = nil
	if st == nil && len(m.Resources) == 0 {
		return nil, nil
	}
	r.cfg.Logger.Info("recovering newer workspace state", "object", rn.ws.Object.Name, "serial", m.Serial)
	if _, _, err := r.state.Put(ctx, rn.ws.Object, tfstate.Version{Raw: raw}, nil); err != nil {
		return nil, fmt.Errorf("recovering workspace state: %w", err)
	}
	return r.GetState(ctx, rn.ws.Object)
}

// GetState reads the object's state; nil when there is none.
func (r *Runner) GetState(ctx context.Context, obj tfstate.ObjectRef) (*tfstate.StoredState, error) {
	return r.state.Get(ctx, obj)
}

// PutState stores raw (a terraform state file) as the object's state, not marked as converged
// (the next Reconcile plans). It returns the stored serial.
func (r *Runner) PutState(ctx context.Context, obj tfstate.ObjectRef, raw []byte) (int64, error) {
	serial, _, err := r.state.Put(ctx, obj, tfstate.Version{Raw: raw}, nil)
	return serial, err
}

// WatchStates starts the state index (see tfstate.Store.WatchStates): the no-op check then reads
// no state Secret from the API server.
func (r *Runner) WatchStates(ctx context.Context, md metadata.Interface, namespace string) error {
	return r.state.WatchStates(ctx, md, namespace)
}

// ObjectMeta is the metadata of an object the runner (or a runner Job) makes for obj.
func (r *Runner) ObjectMeta(obj tfstate.ObjectRef, name, role string) metav1.ObjectMeta {
	return r.state.ObjectMeta(obj, name, role)
}

// hold takes the object's lock for a run bounded by the run timeout: the returned context ends
// when the lock is lost or the run times out (its cause then a *RunTimeoutError), so terraform is
// interrupted rather than racing another run.
func (r *Runner) hold(ctx context.Context, obj tfstate.ObjectRef, journal ...string) (context.Context, *tfstate.Lease, func(), error) {
	timeoutCtx, cancelTimeout := context.WithTimeoutCause(ctx, r.cfg.RunTimeout, &RunTimeoutError{After: r.cfg.RunTimeout})
	runCtx, l, stop, err := r.state.Hold(timeoutCtx, obj, journal...)
	if err != nil {
		cancelTimeout()
		var locked *tfstate.LockedError
		if errors.As(err, &locked) {
			r.cfg.Metrics.LockWaits.Inc()
		}
		return nil, nil, nil, err
	}
	r.cfg.Metrics.RunStarted.WithLabelValues(obj.Kind, obj.Namespace, obj.Name).Set(float64(r.now().Unix()))
	return runCtx, l, func() {
		stop()
		cancelTimeout()
		r.cfg.Metrics.RunStarted.DeleteLabelValues(obj.Kind, obj.Namespace, obj.Name)
	}, nil
}

// HasState reports whether the object has a state Secret.
func (r *Runner) HasState(ctx context.Context, obj tfstate.ObjectRef) (bool, error) {
	st, err := r.GetState(ctx, obj)
	if err != nil {
		return false, err
	}
	return st != nil, nil
}

// NewKubeClient returns the clientset a Runner should use: protobuf on the wire (Secrets and
// Leases decode several times faster than JSON; the no-op reconcile is one Secret GET).
func NewKubeClient(cfg *rest.Config) (kubernetes.Interface, error) {
	c := rest.CopyConfig(cfg)
	c.ContentType = "application/vnd.kubernetes.protobuf"
	c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return kubernetes.NewForConfig(c)
}
