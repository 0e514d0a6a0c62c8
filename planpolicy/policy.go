/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package planpolicy judges a saved plan with Rego policies written for conftest: the input is
// the JSON `terraform show -json` prints for the planfile, and the rules conftest reads (deny,
// violation and warn, and their deny_<name> forms) give the verdict. Evaluation is in-process
// (OPA's Go library), so the manager, a runner Job and capc-plan judge a plan the same way.
// It imports nothing of the provider.
package planpolicy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
)

// Set is one policy source (a ConfigMap, a Flux artifact's directory, a directory on disk): Rego
// files, compiled together as conftest compiles the files of one directory.
type Set struct {
	// Name says where the policies come from, in messages and events ("ConfigMap
	// capc-system/instance-types").
	Name string `json:"name"`
	// Files maps each .rego file's name to its source.
	Files map[string]string `json:"files"`
}

// Digest identifies the set's content (its name and files).
func (s Set) Digest() string {
	h := sha256.New()
	fmt.Fprintf(h, "%q\n", s.Name)
	for _, n := range slices.Sorted(maps.Keys(s.Files)) {
		fmt.Fprintf(h, "%q %d\n%s", n, len(s.Files[n]), s.Files[n])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Digest identifies a list of sets; "" for none, so that an object without plan policies keeps
// what it had.
func Digest(sets []Set) string {
	if len(sets) == 0 {
		return ""
	}
	h := sha256.New()
	for _, s := range sets {
		h.Write([]byte(s.Digest()))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Finding is one message a rule gave.
type Finding struct {
	// Policy is the Set's name.
	Policy string `json:"policy"`
	// Rule is the rule that gave it, with its package: "main.deny", "terraform.aws.warn_tags".
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

func (f Finding) String() string { return fmt.Sprintf("%s (%s, %s)", f.Message, f.Policy, f.Rule) }

// Verdict is what the policies said of one plan.
type Verdict struct {
	// Digest is the policies' Digest: a plan judged by other policies is judged again.
	Digest string `json:"digest"`
	// Denials come from deny and violation rules: the plan must not be applied.
	Denials []Finding `json:"denials,omitempty"`
	// Warnings come from warn rules: shown, never blocking.
	Warnings []Finding `json:"warnings,omitempty"`
	// Errors are sets that could not judge the plan (Error messages): they block as denials do.
	Errors []string `json:"errors,omitempty"`
}

// Denied reports whether the plan must not be applied.
func (v *Verdict) Denied() bool { return v != nil && len(v.Denials)+len(v.Errors) > 0 }

// Reasons are what keeps a denied plan from being applied: the errors, then the denials.
func (v *Verdict) Reasons() string {
	if v == nil {
		return ""
	}
	return strings.Join(append(append([]string{}, v.Errors...), Summary(v.Denials)), "; ")
}

// Summary lists the findings for a condition message (each message once, in order).
func Summary(fs []Finding) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = f.String()
	}
	return strings.Join(s, "; ")
}

// Write prints the verdict for people: a count line, then each error, denial and warning.
func (v *Verdict) Write(w io.Writer) {
	fmt.Fprintf(w, "Plan policies: %d denial(s), %d warning(s), %d error(s)\n", len(v.Denials), len(v.Warnings), len(v.Errors))
	for _, e := range v.Errors {
		fmt.Fprintf(w, "  ERROR %s\n", e)
	}
	for _, f := range v.Denials {
		fmt.Fprintf(w, "  DENY  %s\n", f)
	}
	for _, f := range v.Warnings {
		fmt.Fprintf(w, "  WARN  %s\n", f)
	}
}

// Policies names the sets the findings came from, sorted, for an event.
func Policies(fs []Finding) string {
	seen := map[string]bool{}
	var out []string
	for _, f := range fs {
		if !seen[f.Policy] {
			seen[f.Policy] = true
			out = append(out, f.Policy)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// Error is a policy set that cannot be used: a file that does not parse or compile, or a rule
// that fails at evaluation. It blocks the plan as a denial does: a policy never passes silently.
type Error struct {
	Policy string `json:"policy"`
	// Problems name the file and line of each error.
	Problems []string `json:"problems"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("plan policy %s cannot be used: %s", e.Policy, strings.Join(e.Problems, "; "))
}

// MaxBytes bounds the Rego one set may hold.
const MaxBytes = 4 << 20

// ReadDir reads every .rego file under root in fsys (recursively, as conftest loads a policy
// directory), named by their path below root.
func ReadDir(fsys fs.FS, root string) (map[string]string, error) {
	root = path.Clean("/" + root)[1:]
	if root == "" {
		root = "."
	}
	files := map[string]string{}
	total := 0
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() || !strings.HasSuffix(p, ".rego") {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if total += len(data); err == nil && total > MaxBytes {
			err = fmt.Errorf("more than %d bytes of Rego under %s", MaxBytes, root)
		}
		files[strings.TrimPrefix(p, root+"/")] = string(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}
