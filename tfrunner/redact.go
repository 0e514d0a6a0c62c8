/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"sort"
	"strings"

	"github.com/zclconf/go-cty/cty"
)

// minSecretLen avoids replacing tiny values ("1", "a") all over a diagnostic, which would ruin
// it while protecting nothing. Decided: a sensitive variable shorter than this is refused before
// terraform runs (checkSensitive); a credentials value shorter than this (a setting such as "5s"
// kept beside the credentials) is passed on and not redacted.
const minSecretLen = 3

// redactor replaces every string leaf of the sensitive variables (and env values) with
// "(sensitive)", and the manager's work dir with "<work-dir>": messages reach tenants' conditions
// and events, and the manager's paths are none of theirs.
type redactor struct {
	secrets []string
	workDir string
}

func newRedactor(vars map[string]cty.Value, sensitive []string, env map[string]string) *redactor {
	r := &redactor{}
	for _, name := range sensitive {
		if v, ok := vars[name]; ok {
			r.collect(v)
		}
	}
	for _, v := range env {
		r.add(v)
	}
	// Longest first so a secret containing another is replaced whole.
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

func (r *redactor) add(s string) {
	if len(s) >= minSecretLen {
		r.secrets = append(r.secrets, s)
		// Terraform may print the value escaped inside quoted HCL/JSON strings.
		if q := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s); q != s {
			r.secrets = append(r.secrets, q)
		}
	}
}

func (r *redactor) collect(v cty.Value) { eachString(v, r.add) }

// eachString calls fn with every known string leaf of v (collections and objects walked).
func eachString(v cty.Value, fn func(string)) {
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsKnown() {
		return
	}
	switch {
	case v.Type() == cty.String:
		fn(v.AsString())
	case v.Type().IsListType(), v.Type().IsSetType(), v.Type().IsTupleType(),
		v.Type().IsMapType(), v.Type().IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			eachString(e, fn)
		}
	}
}

func (r *redactor) redact(s string) string {
	if r == nil {
		return s
	}
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "(sensitive)")
	}
	return hidePaths(s, r.workDir)
}

// hidePaths replaces workDir in s with "<work-dir>".
func hidePaths(s, workDir string) string {
	if workDir == "" {
		return s
	}
	return strings.ReplaceAll(s, workDir, "<work-dir>")
}

// pathsHidden is an error whose message does not show the manager's work dir; errors.As and
// errors.Is still see what it wraps.
type pathsHidden struct {
	err error
	msg string
}

func (e *pathsHidden) Error() string { return e.msg }
func (e *pathsHidden) Unwrap() error { return e.err }

// hideErrPaths hides the work dir in err's message (nil stays nil).
func (r *Runner) hideErrPaths(err error) error {
	if err == nil {
		return nil
	}
	if msg := hidePaths(err.Error(), r.cfg.WorkDir); msg != err.Error() {
		return &pathsHidden{err: err, msg: msg}
	}
	return err
}
