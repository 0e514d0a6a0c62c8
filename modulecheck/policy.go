/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package modulecheck

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/company/cluster-api-provider-custom/tfmodule"
)

// Policy is what an operator lets modules the provider did not ship do. Terraform runs them
// as code: a provisioner runs any command, a provider is any program. Check refuses what the
// policy does not allow before anything runs; the runner's CLI configuration enforces the
// provider allow-list again at `terraform init` (modules a remote source brings in are only
// known there).
type Policy struct {
	// AllowProvisioners permits provisioner blocks (local-exec, remote-exec, file).
	AllowProvisioners bool
	// ProvisionersRefusedBy names the rule that refuses provisioners although the manager's flag
	// allows them (a CustomPolicy); "" for the flag.
	ProvisionersRefusedBy string
	// Providers are the allowed provider source patterns; empty allows every provider.
	Providers []ProviderPattern
	// DefaultHost is the registry of a short source ("hashicorp/aws"): registry.terraform.io
	// (Host's default), registry.opentofu.org for OpenTofu.
	DefaultHost string
	// Narrowing are further allow-lists a provider must be in as well (a platform team's
	// CustomPolicy objects that govern the module's namespace).
	Narrowing []ProviderList
}

// ProviderList is an allow-list and whose it is, for messages.
type ProviderList struct {
	Owner    string
	Patterns []ProviderPattern
}

func (l ProviderList) String() string {
	s := make([]string, len(l.Patterns))
	for i, p := range l.Patterns {
		s[i] = p.String()
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// Host is the registry of a short provider or module source: DefaultHost, else terraform's.
func (pol Policy) Host() string {
	if pol.DefaultHost == "" {
		return "registry.terraform.io"
	}
	return pol.DefaultHost
}

// ProviderPattern is an allow-list entry (tfmodule's provider address rules).
type ProviderPattern = tfmodule.ProviderPattern

// AllowsProvider reports whether the provider at addr may be installed and run.
func (pol Policy) AllowsProvider(addr string) bool { return pol.refuser(addr) == "" }

// refuser names the allow-list that refuses the provider at addr ("" when all allow it).
func (pol Policy) refuser(addr string) string {
	if !tfmodule.Allows(pol.Providers, addr) {
		return fmt.Sprintf("the manager's provider allow-list (%s)", ProviderList{Patterns: pol.Providers})
	}
	for _, l := range pol.Narrowing {
		if !tfmodule.Allows(l.Patterns, addr) {
			return fmt.Sprintf("the provider allow-list of %s (%s)", l.Owner, l)
		}
	}
	return ""
}

// NewPolicy builds the policy from the manager's flags: --allow-provisioners and the comma list
// of --allowed-providers (short patterns get defaultHost, the engine's default registry).
func NewPolicy(allowProvisioners bool, allowedProviders, defaultHost string) (Policy, error) {
	pol := Policy{AllowProvisioners: allowProvisioners, DefaultHost: defaultHost}
	for _, s := range strings.Split(allowedProviders, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		p, err := tfmodule.ParseProviderPattern(s, defaultHost)
		if err != nil {
			return pol, fmt.Errorf("--allowed-providers: %w", err)
		}
		pol.Providers = append(pol.Providers, p)
	}
	return pol, nil
}

// PolicyError lists what a module does that the manager's module policy does not allow
// (provisioners, providers outside the allow-list); nothing runs until it changes. It keeps its
// meaning across a runner Job's boundary (tfjob.Error).
type PolicyError struct {
	Problems []Problem `json:"problems"`
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("module is not allowed by the manager's module policy (%d problem(s)): %s", len(e.Problems), Join(e.Problems))
}

// Refuse is Check as an error: a *PolicyError, or nil when the tree passes.
func (pol Policy) Refuse(fsys fs.FS) error {
	if problems := pol.Check(fsys); len(problems) > 0 {
		return &PolicyError{Problems: problems}
	}
	return nil
}

// Check reads every module directory of the tree (the root module, the modules it calls from
// inside the tree, and what terraform init installed under it) and lists what the policy does
// not allow, naming the file and line of each.
func (pol Policy) Check(fsys fs.FS) []Problem {
	var problems []Problem
	var dirs []*tfmodule.Module
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll // nothing installed (no remote module)
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if d.Name() == ".terraform" {
			return fs.SkipDir
		}
		// Syntax errors are left to the contract check (root) or terraform (called modules).
		m := tfmodule.ReadDir(fsys, p)
		problems = append(problems, m.ReadErrors...)
		if len(m.Files) > 0 {
			dirs = append(dirs, m)
		}
		return nil
	})
	if err != nil {
		return append(problems, Problem{Item: "module", Message: fmt.Sprintf("cannot be read for the policy check: %v", err)})
	}
	for _, m := range dirs {
		problems = append(problems, pol.provisionerProblems(m)...)
	}
	return append(problems, pol.providerProblems(dirs)...)
}

// provisionerProblems names each provisioner when the policy allows none.
func (pol Policy) provisionerProblems(m *tfmodule.Module) []Problem {
	if pol.AllowProvisioners {
		return nil
	}
	why := "this manager runs without --allow-provisioners"
	if pol.ProvisionersRefusedBy != "" {
		why = pol.ProvisionersRefusedBy + " does not allow them"
	}
	var problems []Problem
	for _, r := range m.Resources {
		for _, pb := range r.Provisioners {
			problems = append(problems, Problem{Item: fmt.Sprintf("provisioner %q", pb.Label),
				Message: fmt.Sprintf("in %s %q %q (%s) is not allowed: provisioners run any command on the manager, and %s",
					r.Mode, r.Type, r.Name, pb.At, why)})
		}
	}
	return problems
}

// providerUse is where a module directory first uses a provider by its local name.
type providerUse struct{ what, at string }

// uses lists the providers a module directory uses by local name, each with its first use.
func uses(m *tfmodule.Module) map[string]providerUse {
	out := map[string]providerUse{}
	use := func(local, what, at string) {
		if _, ok := out[local]; !ok {
			out[local] = providerUse{what: what, at: at}
		}
	}
	for _, p := range m.Providers {
		use(p.Label, fmt.Sprintf("provider %q", p.Label), p.At)
	}
	for _, r := range m.Resources {
		use(r.Provider, fmt.Sprintf("%s %q %q", r.Mode, r.Type, r.Name), r.At)
	}
	return out
}

// providerProblems names each provider outside the allow-list once, with its first use.
func (pol Policy) providerProblems(dirs []*tfmodule.Module) []Problem {
	if len(pol.Providers)+len(pol.Narrowing) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var problems []Problem
	for _, m := range dirs {
		used := uses(m)
		for _, local := range sortedKeys(used) {
			addr := tfmodule.ProviderAddr(local, m.RequiredProviders[local], pol.Host())
			refuser := pol.refuser(addr)
			if seen[addr] || refuser == "" {
				continue
			}
			seen[addr] = true
			u := used[local]
			problems = append(problems, Problem{Item: fmt.Sprintf("provider %q", addr),
				Message: fmt.Sprintf("used by %s (%s) is not in %s", u.what, u.at, refuser)})
		}
	}
	return problems
}
