/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/company/cluster-api-provider-custom/planpolicy"
)

// StalePlanError is returned when an approved digest does not match the saved plan, or the saved
// plan no longer matches the inputs or state. A fresh plan is saved alongside.
type StalePlanError struct {
	Approved string
	Saved    string
	Reason   string
}

func (e *StalePlanError) Error() string {
	return fmt.Sprintf("approved plan %q is not the pending plan %q: %s", e.Approved, e.Saved, e.Reason)
}

// PolicyDeniedError is returned when the plan policies deny the plan, or could not judge it. The
// plan is saved for review (Digest) and never applied, not even when approved; a change of the
// inputs or of the policies makes a new plan, judged again.
type PolicyDeniedError struct {
	Digest  string             `json:"digest"`
	Verdict planpolicy.Verdict `json:"verdict"`
}

func (e *PolicyDeniedError) Error() string {
	d := e.Digest
	if len(d) > 12 {
		d = d[:12]
	}
	return fmt.Sprintf("plan %s is denied by plan policy (an approval cannot override it): %s", d, e.Verdict.Reasons())
}

// deniedOrNil is the denial of a plan by its verdict, or nil.
func deniedOrNil(digest string, v *planpolicy.Verdict) error {
	if !v.Denied() {
		return nil
	}
	return &PolicyDeniedError{Digest: digest, Verdict: *v}
}

// GoneError is returned under Policy.NoRecreate when a plan would create again resources that
// were deleted outside Terraform. Nothing was applied; the state still lists them.
type GoneError struct {
	Addresses []string `json:"addresses"`
}

func (e *GoneError) Error() string {
	return fmt.Sprintf("deleted outside Terraform: %s", strings.Join(e.Addresses, ", "))
}

// RunTimeoutError is the cause of a run interrupted because it ran past Config.RunTimeout.
type RunTimeoutError struct{ After time.Duration }

func (e *RunTimeoutError) Error() string {
	return fmt.Sprintf("run timed out after %s", e.After)
}

// TerraformError carries terraform's diagnostics, redacted of sensitive values. It deliberately
// does not wrap the raw exec error (which holds unredacted stderr); only context errors unwrap.
type TerraformError struct {
	Op          string
	Diagnostics string
	ctxErr      error
}

func (e *TerraformError) Error() string {
	if e.ctxErr != nil {
		return fmt.Sprintf("terraform %s interrupted (%v): %s", e.Op, e.ctxErr, e.Diagnostics)
	}
	return fmt.Sprintf("terraform %s: %s", e.Op, e.Diagnostics)
}

// Unwrap exposes context.Canceled/DeadlineExceeded (or *RunTimeoutError) when the run was cancelled.
func (e *TerraformError) Unwrap() error { return e.ctxErr }

// NewTimeoutError is a run interrupted after timeout, with terraform's diagnostics (a runner
// Job's timeout, decoded in the manager).
func NewTimeoutError(diagnostics string, timeout time.Duration) error {
	return &TerraformError{Op: "run", Diagnostics: diagnostics, ctxErr: &RunTimeoutError{After: timeout}}
}

// errInterrupted stands in for a terraform-exec error that has no message: v0.26.0 returns one
// (cmdErr with a nil cause, whose Error panics) when the context is cancelled just as terraform
// starts or after it exited cleanly (found by test/reliability's SIGTERM trials).
var errInterrupted = fmt.Errorf("terraform was interrupted as it started or ended: %w", context.Canceled)

// speakable returns err, or errInterrupted when err panics when asked for its message.
func speakable(err error) (out error) {
	if err == nil {
		return nil
	}
	defer func() {
		if recover() != nil {
			out = errInterrupted
		}
	}()
	_ = err.Error()
	return err
}

func newTerraformError(ctx context.Context, op string, err error, red *redactor) error {
	te := &TerraformError{Op: op, Diagnostics: red.redact(err.Error())}
	var timeout *RunTimeoutError
	if cause := context.Cause(ctx); errors.As(cause, &timeout) {
		te.ctxErr = cause
	} else if ctx.Err() != nil {
		te.ctxErr = ctx.Err()
	} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		te.ctxErr = context.Canceled
	}
	return te
}
