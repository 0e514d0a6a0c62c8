/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/company/cluster-api-provider-custom/planpolicy"
	"github.com/company/cluster-api-provider-custom/tfrunner/shim"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// watchQuiet is the state watcher's poll interval and the quiet start of a run.
const watchQuiet = 250 * time.Millisecond

// processCounter counts terraform processes via tfexec's "running Terraform command" log line,
// which tfexec emits once per process it starts (including its own `version` probes).
type processCounter struct{ n *atomic.Int64 }

func (c processCounter) Printf(format string, _ ...interface{}) {
	if strings.HasPrefix(format, "[INFO] running Terraform command") {
		c.n.Add(1)
	}
}

// env is the scrubbed terraform environment: PATH, HOME=workspace, a private TMPDIR, our CLI
// config, plus ws.Env; under the shim, with the process's sandbox.
func (r *Runner) env(dir string, extra map[string]string, fs procFS) (map[string]string, error) {
	env := map[string]string{
		"PATH":               os.Getenv("PATH"),
		"HOME":               dir,
		"TMPDIR":             r.tmpDir(dir),
		"TF_CLI_CONFIG_FILE": r.cliConfig,
		"CHECKPOINT_DISABLE": "1",
		// Plugin cache entries are trusted: they were installed by our own serialized inits.
		"TF_PLUGIN_CACHE_MAY_BREAK_DEPENDENCY_LOCK_FILE": "1",
	}
	for k, v := range extra { // checked by newRun (CheckEnv)
		env[k] = v
	}
	if r.cfg.Shim != "" {
		senv, err := shim.Env(r.cfg.Binary.Path, r.sandboxFor(dir, fs), r.interruptGrace()*4/5)
		if err != nil {
			return nil, err
		}
		for k, v := range senv {
			env[k] = v
		}
	}
	return env, nil
}

// terraform returns the tfexec handle for dir. Handles are cached so tfexec's own version probe
// runs once per directory per process, not once per command. Under --sandbox=required with no
// sandbox available it refuses.
func (r *Runner) terraform(dir string, extra map[string]string, fs procFS) (*tfexec.Terraform, error) {
	if r.cfg.Sandbox == SandboxRequired && !r.sandbox.Enabled {
		return nil, &SandboxError{Status: r.sandbox}
	}
	if err := os.MkdirAll(r.tmpDir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("creating terraform temp dir: %w", err)
	}
	v, ok := r.tfs.Load(dir)
	if !ok {
		exe := r.cfg.Binary.Path
		if r.cfg.Shim != "" {
			exe = r.cfg.Shim
		}
		tf, err := tfexec.NewTerraform(dir, exe)
		if err != nil {
			return nil, fmt.Errorf("terraform in %s: %w", dir, err)
		}
		tf.SetLogger(processCounter{n: &r.processes})
		if err := tf.SetWaitDelay(r.interruptGrace()); err != nil {
			return nil, fmt.Errorf("terraform in %s: %w", dir, err)
		}
		v, _ = r.tfs.LoadOrStore(dir, tf)
	}
	tf := v.(*tfexec.Terraform)
	env, err := r.env(dir, extra, fs)
	if err != nil {
		return nil, fmt.Errorf("terraform sandbox: %w", err)
	}
	if err := tf.SetEnv(env); err != nil {
		return nil, fmt.Errorf("terraform environment: %w", err)
	}
	return tf, nil
}

// interruptGrace is how long an interrupted terraform (SIGINT) may take to stop before it is
// killed: CancelGrace, but never more than a quarter of the lock TTL. Nobody renews the lock
// once a run is cancelled, and a run that lost its lock is cancelled with a third of the lock's
// life left (renewOrLose), so terraform is gone before the lock can expire and be taken over:
// two runs never overlap, whatever ended the first one.
func (r *Runner) interruptGrace() time.Duration { return min(r.cfg.CancelGrace, r.cfg.LockTTL/4) }

// ensureInit runs `terraform init` once per module digest into <WorkDir>/init/<digest>, in a run
// slot of its own; inits are serialized so plugin-cache installs never race. No slot holder waits
// for initMu: runs materialize their workspace before they take their slot.
func (r *Runner) ensureInit(ctx context.Context, rn *run) (string, error) {
	dir := filepath.Join(r.cfg.WorkDir, "init", rn.digest)
	marker := filepath.Join(dir, ".capc-initialized")
	r.initMu.Lock()
	defer r.initMu.Unlock()
	if _, err := os.Stat(marker); err == nil {
		return dir, nil
	}
	release, err := r.takeSlot(ctx, rn.ws.Object)
	if err != nil {
		return "", err
	}
	defer release()
	tmp, err := os.MkdirTemp(filepath.Join(r.cfg.WorkDir, "init"), rn.digest[:12]+".tmp-")
	if err != nil {
		return "", fmt.Errorf("creating init dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	run := filepath.Join(tmp, rn.rel) // the root module's directory in the tree
	defer os.RemoveAll(r.tmpDir(run))
	if err := copyModule(rn.ws.Module, tmp, rn.rel); err != nil {
		return "", err
	}
	tf, err := r.terraform(run, rn.ws.Env, procFS{writable: []string{r.plugins, tmp}})
	if err != nil {
		return "", err
	}
	defer r.tfs.Delete(run)
	if err := r.observe(rn.ws.Object, "init", func() error { return tf.Init(ctx, tfexec.Upgrade(false)) }); err != nil {
		return "", newTerraformError(ctx, "init", err, rn.red)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".capc-initialized"), nil, 0o600); err != nil {
		return "", fmt.Errorf("marking init dir: %w", err)
	}
	_ = os.RemoveAll(dir) // a partial dir from a crash
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("installing init dir: %w", err)
	}
	return dir, nil
}

// readLocalState returns the workspace state file and its metadata (nil when absent/unparsable).
func readLocalState(dir string) ([]byte, *tfstate.Meta) {
	raw, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil || len(raw) == 0 {
		return nil, nil
	}
	m, err := tfstate.ParseMeta(raw)
	if err != nil {
		return nil, nil
	}
	return raw, &m
}

// outputsOf parses the top-level outputs of a state file (no terraform process).
func outputsOf(raw []byte) (map[string]Output, error) {
	if len(raw) == 0 {
		return map[string]Output{}, nil
	}
	var st struct {
		Outputs map[string]Output `json:"outputs"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("parsing state outputs: %w", err)
	}
	if st.Outputs == nil {
		st.Outputs = map[string]Output{}
	}
	return st.Outputs, nil
}

// watchState pushes every new serial of the workspace state file to the store until stop is
// closed. fsnotify makes the push follow terraform's write closely (the window a SIGKILL of the
// manager can lose); the 250ms poll is the fallback if events are missed or unavailable. Nothing
// is pushed in a run's first quiet period: a short run's final push covers it, one write instead
// of two.
func (r *Runner) watchState(ctx context.Context, rn *run, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	var events <-chan fsnotify.Event
	if w, err := fsnotify.NewWatcher(); err == nil {
		if err := w.Add(rn.dir); err == nil {
			events = w.Events
		}
		defer func() { go func() { <-done; _ = w.Close() }() }()
	}
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(watchQuiet)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			case ev, ok := <-events:
				if !ok {
					events = nil
					continue
				}
				if filepath.Base(ev.Name) != stateFile {
					continue
				}
			}
			if time.Since(start) >= watchQuiet {
				r.pushIfNewer(ctx, rn)
			}
		}
	}()
	return done
}

// pushIfNewer pushes the workspace state file if it parses and has a serial not pushed yet.
func (r *Runner) pushIfNewer(ctx context.Context, rn *run) {
	raw, m := readLocalState(rn.dir)
	if m == nil || m.Serial <= rn.pushed.Load() {
		return // half-written or already pushed; a later event or tick retries
	}
	if _, err := r.pushState(ctx, rn, tfstate.Version{Raw: raw}); err != nil {
		r.cfg.Logger.Error(err, "pushing state during run", "object", rn.ws.Object.Name, "serial", m.Serial)
		return
	}
	rn.pushed.Store(m.Serial)
}

// showPlan summarizes a planfile with `terraform show -json`, and reads the outputs it plans;
// with raw, it also returns the JSON as terraform printed it (what plan policies judge).
func (r *Runner) showPlan(ctx context.Context, rn *run, raw bool) (PlanSummary, map[string]Output, []byte, error) {
	var p *tfjson.Plan
	var out bytes.Buffer
	if raw {
		rn.tf.SetStdout(&out)
		defer rn.tf.SetStdout(io.Discard)
	}
	err := r.observe(rn.ws.Object, "show", func() (err error) { p, err = rn.tf.ShowPlanFile(ctx, planFile); return err })
	if err != nil {
		return PlanSummary{}, nil, nil, newTerraformError(ctx, "show", err, rn.red)
	}
	return Summarize(p), plannedOutputs(p), lastJSON(out.Bytes()), nil
}

// lastJSON is the last JSON document of a stream: what `show -json` printed, after the
// `version -json` terraform-exec may run first to check compatibility.
func lastJSON(b []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(b))
	var last json.RawMessage
	for {
		var doc json.RawMessage
		if err := dec.Decode(&doc); err != nil {
			return last
		}
		last = doc
	}
}

// judge evaluates the plan policies on a plan's JSON (nil without policies).
func judge(ctx context.Context, sets []planpolicy.Set, plan []byte) (*planpolicy.Verdict, error) {
	if len(sets) == 0 {
		return nil, nil
	}
	v, err := planpolicy.Evaluate(ctx, sets, plan)
	if err != nil {
		return nil, fmt.Errorf("judging the plan: %w", err)
	}
	return &v, nil
}
