package tfrunner

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/company/cluster-api-provider-custom/modulecheck"
)

// JobRequest is one run for a runner Job: everything a Workspace holds except the credentials
// (they reach the runner pod from the object's Secret, never through the manager) and the hooks.
type JobRequest struct {
	Op        string          `json:"op"` // reconcile or destroy
	Object    ObjectRef       `json:"object"`
	Module    []byte          `json:"module"` // tar.gz of the module tree
	ModuleDir string          `json:"moduleDir,omitempty"`
	Variables json.RawMessage `json:"variables"` // cty JSON of an object holding every variable
	VarsType  json.RawMessage `json:"variablesType"`
	Sensitive []string        `json:"sensitive,omitempty"`
	Policy    Policy          `json:"policy"`
}

// Job operations.
const (
	OpReconcile = "reconcile"
	OpDestroy   = "destroy"
)

// NewJobRequest serialises ws and p for a runner Job.
func NewJobRequest(op string, ws Workspace, p Policy) (*JobRequest, error) {
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
	return &JobRequest{Op: op, Object: ws.Object, Module: mod, ModuleDir: ws.ModuleDir, Variables: vars,
		VarsType: typ, Sensitive: ws.Sensitive, Policy: p}, nil
}

// Workspace rebuilds the run's workspace in dir (the module tree is unpacked there); env is the
// credentials environment the runner pod received.
func (q *JobRequest) Workspace(dir string, env map[string]string) (Workspace, error) {
	if err := untarModule(q.Module, dir); err != nil {
		return Workspace{}, fmt.Errorf("unpacking the module: %w", err)
	}
	typ, err := ctyjson.UnmarshalType(q.VarsType)
	if err != nil {
		return Workspace{}, fmt.Errorf("decoding variable types: %w", err)
	}
	v, err := ctyjson.Unmarshal(q.Variables, typ)
	if err != nil {
		return Workspace{}, fmt.Errorf("decoding variables: %w", err)
	}
	vars := map[string]cty.Value{}
	for k, x := range v.AsValueMap() {
		vars[k] = x
	}
	return Workspace{Object: q.Object, Module: os.DirFS(dir), ModuleDir: q.ModuleDir, Variables: vars,
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

// untarModule unpacks what tarModule packed into dir, refusing paths that leave it.
func untarModule(b []byte, dir string) error {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		if !fs.ValidPath(name) || strings.HasPrefix(name, "..") {
			return fmt.Errorf("module archive entry %q leaves the module", h.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
				var data []byte
				if data, err = io.ReadAll(io.LimitReader(tr, 64<<20)); err == nil {
					err = os.WriteFile(target, data, 0o644)
				}
			}
		}
		if err != nil {
			return err
		}
	}
}

// JobResult is what a runner Job reports back: the run's result, or its error, typed so that
// the manager handles a Job's outcome exactly as a local run's.
type JobResult struct {
	Result  Result            `json:"result"`
	Error   *JobError         `json:"error,omitempty"`
	Orphans *SuspectedOrphans `json:"orphans,omitempty"`
}

// JobError is a run's error in transit.
type JobError struct {
	Kind    string                   `json:"kind"` // locked, stale, gone, policy, timeout, terraform, sandbox, other
	Message string                   `json:"message"`
	Locked  *LockedError             `json:"locked,omitempty"`
	Stale   *StalePlanError          `json:"stale,omitempty"`
	Gone    *GoneError               `json:"gone,omitempty"`
	Policy  *modulecheck.PolicyError `json:"policy,omitempty"`
	Op      string                   `json:"op,omitempty"`
	Timeout time.Duration            `json:"timeout,omitempty"`
}

// NewJobError encodes err (nil for none).
func NewJobError(err error) *JobError {
	if err == nil {
		return nil
	}
	je := &JobError{Kind: "other", Message: err.Error()}
	var locked *LockedError
	var stale *StalePlanError
	var gone *GoneError
	var policy *modulecheck.PolicyError
	var te *TerraformError
	var to *RunTimeoutError
	var se *SandboxError
	switch {
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
		je.Kind = "sandbox"
	}
	return je
}

// Err decodes the error, with the types the controllers tell apart.
func (e *JobError) Err() error {
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
	case "timeout":
		return &TerraformError{Op: "run", Diagnostics: e.Message, ctxErr: &RunTimeoutError{After: e.Timeout}}
	case "terraform":
		return &TerraformError{Op: e.Op, Diagnostics: e.Message}
	case "sandbox":
		return &SandboxError{Status: SandboxStatus{Reason: strings.TrimPrefix(e.Message, "refusing to run terraform: --sandbox=required, but ")}}
	}
	return errors.New(e.Message)
}

// RunJob is the runner Job's side: it runs the request with r (whose Holder is the pod's name)
// and writes the result Secret, owned by the Job so that the Job's deletion removes it. env is
// the process environment; the credentials are its CredentialsEnvPrefix keys. An error means no
// result was written (the Job fails; the manager retries).
func RunJob(ctx context.Context, r *Runner, q *JobRequest, jobName string, env []string, check func(fs.FS) error) error {
	creds := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, CredentialsEnvPrefix) {
			creds[strings.TrimPrefix(k, CredentialsEnvPrefix)] = v
		}
	}
	dir, err := os.MkdirTemp(r.cfg.WorkDir, "module-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ws, err := q.Workspace(dir, creds)
	if err != nil {
		return err
	}
	ws.CheckInstalled = check
	var out JobResult
	ws.OnSuspectedOrphans = func(_ context.Context, o SuspectedOrphans) { out.Orphans = &o }
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
	out.Error = NewJobError(runErr)
	// Bounded: a runner cut off from the API server exits (its Job fails, the manager retries)
	// rather than hang until the Job's deadline.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resultTimeout)
	defer cancel()
	if err := writeJobResult(wctx, r, q.Object, jobName, out); err != nil {
		return fmt.Errorf("writing the result (run error: %v): %w", runErr, err)
	}
	return nil
}

// resultTimeout bounds the writing of a runner Job's result.
var resultTimeout = 30 * time.Second

func writeJobResult(ctx context.Context, r *Runner, obj ObjectRef, jobName string, out JobResult) error {
	body, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encoding the result: %w", err)
	}
	job, err := r.cfg.Kube.BatchV1().Jobs(obj.Namespace).Get(ctx, jobName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading this run's Job %s: %w", jobName, err)
	}
	s := &corev1.Secret{ObjectMeta: r.objectMeta(obj, jobName+"-result", "run-result"), Type: SecretTypeRun,
		Data: map[string][]byte{"result.json": body}}
	delete(s.Labels, LabelMove)
	s.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID}}
	return r.createOrReplace(ctx, s)
}
