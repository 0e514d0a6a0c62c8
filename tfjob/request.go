/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfjob

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/modulesrc"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// Request is one run for a runner Job: everything a Workspace holds except the credentials
// (they reach the runner pod from the object's Secret, never through the manager) and the hooks.
type Request struct {
	Op        string            `json:"op"` // reconcile or destroy
	Object    tfstate.ObjectRef `json:"object"`
	Module    []byte            `json:"module"` // tar.gz of the module tree
	ModuleDir string            `json:"moduleDir,omitempty"`
	Variables json.RawMessage   `json:"variables"` // cty JSON of an object holding every variable
	VarsType  json.RawMessage   `json:"variablesType"`
	Sensitive []string          `json:"sensitive,omitempty"`
	Policy    tfrunner.Policy   `json:"policy"`
}

// Job operations.
const (
	OpReconcile = "reconcile"
	OpDestroy   = "destroy"
)

// NewRequest serialises ws and p for a runner Job.
func NewRequest(op string, ws tfrunner.Workspace, p tfrunner.Policy) (*Request, error) {
	mod, err := tarModule(ws.Module)
	if err != nil {
		return nil, fmt.Errorf("packing the module: %w", err)
	}
	obj := cty.EmptyObjectVal
	if len(ws.Variables) > 0 {
		obj = cty.ObjectVal(ws.Variables)
	}
	vars, err := ctyjson.Marshal(obj, obj.Type())
	if err != nil {
		return nil, fmt.Errorf("encoding variables: %w", err)
	}
	typ, err := ctyjson.MarshalType(obj.Type())
	if err != nil {
		return nil, fmt.Errorf("encoding variable types: %w", err)
	}
	return &Request{Op: op, Object: ws.Object, Module: mod, ModuleDir: ws.ModuleDir, Variables: vars,
		VarsType: typ, Sensitive: ws.Sensitive, Policy: p}, nil
}

// Workspace rebuilds the run's workspace in dir (the module tree is unpacked there); env is the
// credentials environment the runner pod received.
func (q *Request) Workspace(dir string, env map[string]string) (tfrunner.Workspace, error) {
	if err := modulesrc.Unpack(bytes.NewReader(q.Module), dir, modulesrc.DefaultLimits); err != nil {
		return tfrunner.Workspace{}, fmt.Errorf("unpacking the module: %w", err)
	}
	typ, err := ctyjson.UnmarshalType(q.VarsType)
	if err != nil {
		return tfrunner.Workspace{}, fmt.Errorf("decoding variable types: %w", err)
	}
	v, err := ctyjson.Unmarshal(q.Variables, typ)
	if err != nil {
		return tfrunner.Workspace{}, fmt.Errorf("decoding variables: %w", err)
	}
	vars := map[string]cty.Value{}
	for k, x := range v.AsValueMap() {
		vars[k] = x
	}
	return tfrunner.Workspace{Object: q.Object, Module: os.DirFS(dir), ModuleDir: q.ModuleDir, Variables: vars,
		Sensitive: q.Sensitive, Env: env}, nil
}

// tarModule packs a module tree (regular files and directories only).
func tarModule(m fs.FS) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := fs.WalkDir(m, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Name: p + "/", Mode: 0o755, Typeflag: tar.TypeDir})
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := fs.ReadFile(m, p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o644, Size: int64(len(b))}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Outcome is what a runner Job reports back: the run's result, or its error, typed so that
// the manager handles a Job's outcome exactly as a local run's.
type Outcome struct {
	Result  tfrunner.Result           `json:"result"`
	Error   *Error                    `json:"error,omitempty"`
	Orphans *tfstate.SuspectedOrphans `json:"orphans,omitempty"`
}

// Error is a run's error in transit: its kind and the typed error the controllers tell apart.
type Error struct {
	Kind    string                      `json:"kind"` // locked, stale, gone, policy, denied, timeout, terraform, sandbox, other
	Message string                      `json:"message"`
	Locked  *tfstate.LockedError        `json:"locked,omitempty"`
	Stale   *tfrunner.StalePlanError    `json:"stale,omitempty"`
	Gone    *tfrunner.GoneError         `json:"gone,omitempty"`
	Policy  *modulecheck.PolicyError    `json:"policy,omitempty"`
	Denied  *tfrunner.PolicyDeniedError `json:"denied,omitempty"`
	Sandbox *tfrunner.SandboxError      `json:"sandbox,omitempty"`
	Op      string                      `json:"op,omitempty"`
	Timeout time.Duration               `json:"timeout,omitempty"`
}

// NewError encodes err (nil for none).
func NewError(err error) *Error {
	if err == nil {
		return nil
	}
	je := &Error{Kind: "other", Message: err.Error()}
	var locked *tfstate.LockedError
	var stale *tfrunner.StalePlanError
	var gone *tfrunner.GoneError
	var policy *modulecheck.PolicyError
	var te *tfrunner.TerraformError
	var to *tfrunner.RunTimeoutError
	var se *tfrunner.SandboxError
	var denied *tfrunner.PolicyDeniedError
	switch {
	case errors.As(err, &denied): // plan policies deny the plan (tfrunner.Policy.PlanPolicies)
		je.Kind, je.Denied = "denied", denied
	case errors.As(err, &locked):
		je.Kind, je.Locked = "locked", locked
	case errors.As(err, &stale):
		je.Kind, je.Stale = "stale", stale
	case errors.As(err, &gone):
		je.Kind, je.Gone = "gone", gone
	case errors.As(err, &policy): // a downloaded module the policy refuses (Workspace.CheckInstalled)
		je.Kind, je.Policy = "policy", policy
	case errors.As(err, &to):
		je.Kind, je.Timeout = "timeout", to.After
	case errors.As(err, &te):
		je.Kind, je.Op, je.Message = "terraform", te.Op, te.Diagnostics
	case errors.As(err, &se):
		je.Kind, je.Sandbox = "sandbox", se
	}
	return je
}

// Err decodes the error, with the types the controllers tell apart.
func (e *Error) Err() error {
	if e == nil {
		return nil
	}
	switch e.Kind {
	case "locked":
		if e.Locked != nil {
			return e.Locked
		}
	case "stale":
		if e.Stale != nil {
			return e.Stale
		}
	case "gone":
		if e.Gone != nil {
			return e.Gone
		}
	case "policy":
		if e.Policy != nil {
			return e.Policy
		}
	case "denied":
		if e.Denied != nil {
			return e.Denied
		}
	case "timeout":
		return tfrunner.NewTimeoutError(e.Message, e.Timeout)
	case "terraform":
		return &tfrunner.TerraformError{Op: e.Op, Diagnostics: e.Message}
	case "sandbox":
		if e.Sandbox != nil {
			return e.Sandbox
		}
	}
	return errors.New(e.Message)
}

// Engine is the local runner as a runner pod uses it (tfrunner.Runner).
type Engine interface {
	Reconcile(ctx context.Context, ws tfrunner.Workspace, p tfrunner.Policy) (tfrunner.Result, error)
	Destroy(ctx context.Context, ws tfrunner.Workspace) error
	Wait()
	ObjectMeta(obj tfstate.ObjectRef, name, role string) metav1.ObjectMeta
	Kube() kubernetes.Interface
}

// Run is the runner Job's side: it runs the request with r (whose Holder is the pod's name),
// the module unpacked under workDir, and writes the result Secret, owned by the Job so that the
// Job's deletion removes it. env is the process environment; the credentials are its
// CredentialsEnvPrefix keys. check refuses downloaded modules the policy does not allow. An
// error means no result was written (the Job fails; the manager retries).
func Run(ctx context.Context, r Engine, workDir string, q *Request, jobName string, env []string, check func(fs.FS) error) error {
	creds := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, CredentialsEnvPrefix) {
			creds[strings.TrimPrefix(k, CredentialsEnvPrefix)] = v
		}
	}
	dir, err := os.MkdirTemp(workDir, "module-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ws, err := q.Workspace(dir, creds)
	if err != nil {
		return err
	}
	ws.CheckInstalled = check
	var out Outcome
	ws.OnSuspectedOrphans = func(_ context.Context, o tfstate.SuspectedOrphans) { out.Orphans = &o }
	var runErr error
	switch q.Op {
	case OpReconcile:
		out.Result, runErr = r.Reconcile(ctx, ws, q.Policy)
	case OpDestroy:
		runErr = r.Destroy(ctx, ws)
	default:
		return fmt.Errorf("unknown run operation %q", q.Op)
	}
	r.Wait() // the lock is released before the manager reads the result
	out.Error = NewError(runErr)
	// Bounded: a runner cut off from the API server exits (its Job fails, the manager retries)
	// rather than hang until the Job's deadline.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resultTimeout)
	defer cancel()
	if err := writeOutcome(wctx, r, q.Object, jobName, out); err != nil {
		return fmt.Errorf("writing the result (run error: %v): %w", runErr, err)
	}
	return nil
}

// resultTimeout bounds the writing of a runner Job's result.
var resultTimeout = 30 * time.Second

func writeOutcome(ctx context.Context, r Engine, obj tfstate.ObjectRef, jobName string, out Outcome) error {
	body, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encoding the result: %w", err)
	}
	job, err := r.Kube().BatchV1().Jobs(obj.Namespace).Get(ctx, jobName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading this run's Job %s: %w", jobName, err)
	}
	s := &corev1.Secret{ObjectMeta: r.ObjectMeta(obj, jobName+"-result", "run-result"), Type: tfstate.SecretTypeRun,
		Data: map[string][]byte{"result.json": body}}
	delete(s.Labels, tfstate.LabelMove)
	s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID}}
	return tfstate.CreateOrReplace(ctx, r.Kube(), s)
}
