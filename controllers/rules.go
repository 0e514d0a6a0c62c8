/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/tfmodule"
)

// ModuleRules are the rules for modules the provider did not ship: the manager's module policy
// and whether remote module sources may be downloaded, narrowed by the CustomPolicies that
// govern the object's namespace (tenant.narrow).
type ModuleRules struct {
	Policy      modulecheck.Policy
	AllowRemote bool
	// RemoteRefusedBy names a CustomPolicy that allows no remote module, although the flag does.
	RemoteRefusedBy string
	// RemoteHosts are CustomPolicies' allow-lists of the hosts remote sources may come from.
	RemoteHosts []hostList
}

// hostList is one CustomPolicy's remoteHosts.
type hostList struct {
	owner string
	hosts []string
}

// remoteRefusal says why a remote module source may not be downloaded ("" when it may).
func (r ModuleRules) remoteRefusal(source string) string {
	switch {
	case !r.AllowRemote:
		return "terraform init would download it, and this manager runs without --allow-remote-modules"
	case r.RemoteRefusedBy != "":
		return "terraform init would download it, and " + r.RemoteRefusedBy + " allows no remote module"
	}
	host := tfmodule.SourceHost(source, r.Policy.Host())
	for _, l := range r.RemoteHosts {
		if !slices.Contains(l.hosts, host) {
			return fmt.Sprintf("its host %s is not in the remote hosts of %s (%s)", host, l.owner, strings.Join(l.hosts, ", "))
		}
	}
	return ""
}

// remoteProblems lists the remote module calls of a tree that may not be downloaded.
func (r ModuleRules) remoteProblems(calls []modulecheck.RemoteCall) []modulecheck.Problem {
	var problems []modulecheck.Problem
	for _, c := range calls {
		if why := r.remoteRefusal(c.Source); why != "" {
			problems = append(problems, c.Refused(why))
		}
	}
	return problems
}

// RulesError is a CustomPolicy that cannot be applied (a namespace selector or a provider
// pattern that does not parse): the objects it might govern are refused until it is fixed,
// since a rule that cannot be read must not let everything pass.
type RulesError struct{ Message string }

func (e *RulesError) Error() string { return e.Message }

// tenant is what the CustomPolicies governing one namespace allow; with none, the flags alone.
type tenant struct {
	namespace string
	policies  []infrav1.CustomPolicy // sorted by name
}

// governing selects the CustomPolicies whose namespaceSelector matches the namespace's labels.
func governing(all []infrav1.CustomPolicy, namespace string, nsLabels map[string]string) (tenant, error) {
	t := tenant{namespace: namespace}
	for _, p := range all {
		ok, err := selects(&p, nsLabels)
		if err != nil {
			return t, err
		}
		if ok {
			t.policies = append(t.policies, p)
		}
	}
	sort.Slice(t.policies, func(i, j int) bool { return t.policies[i].Name < t.policies[j].Name })
	return t, nil
}

// selects reports whether the policy governs a namespace with these labels.
func selects(p *infrav1.CustomPolicy, nsLabels map[string]string) (bool, error) {
	sel, err := metav1.LabelSelectorAsSelector(&p.Spec.NamespaceSelector)
	if err != nil {
		return false, &RulesError{Message: fmt.Sprintf("CustomPolicy %s has an invalid namespaceSelector (%v); it refuses every object it might govern until fixed", p.Name, err)}
	}
	return sel.Matches(labels.Set(nsLabels)), nil
}

// moduleKind is how spec.module names its module.
func moduleKind(src *infrav1.ModuleSource) infrav1.ModuleKind {
	switch {
	case src == nil:
		return infrav1.ModuleKindBundled
	case src.SourceRef != nil:
		return infrav1.ModuleKindFluxSource
	case src.ConfigMapRef != nil:
		return infrav1.ModuleKindConfigMap
	case src.Source != "":
		return infrav1.ModuleKindRemote
	case src.Path != "":
		return infrav1.ModuleKindPath
	}
	return infrav1.ModuleKindBundled
}

// refused is a module a CustomPolicy does not allow.
func refused(item, format string, args ...any) error {
	return &modulecheck.PolicyError{Problems: []modulecheck.Problem{{Item: item, Message: fmt.Sprintf(format, args...)}}}
}

// allowModule checks how spec.module names its module against every governing policy: the
// kind, the bundled family, the path prefix and the Flux source's namespace.
func (t tenant) allowModule(src *infrav1.ModuleSource) error {
	kind := moduleKind(src)
	for _, p := range t.policies {
		m := p.Spec.Modules
		if m == nil {
			continue
		}
		if len(m.Kinds) > 0 && !slices.Contains(m.Kinds, kind) {
			return refused("spec.module", "%s modules are not allowed by CustomPolicy %s (allowed: %s)", kind, p.Name, joinKinds(m.Kinds))
		}
		switch kind {
		case infrav1.ModuleKindBundled:
			name := defaultFamily
			if src != nil && src.Name != "" {
				name = src.Name
			}
			if len(m.Bundled) > 0 && !slices.Contains(m.Bundled, name) {
				return refused("spec.module.name", "bundled module %q is not allowed by CustomPolicy %s (allowed: %s)", name, p.Name, strings.Join(m.Bundled, ", "))
			}
		case infrav1.ModuleKindPath:
			if len(m.PathPrefixes) > 0 && !slices.ContainsFunc(m.PathPrefixes, func(pre string) bool { return under(src.Path, pre) }) {
				return refused("spec.module.path", "%q is not under the path prefixes of CustomPolicy %s (%s)", src.Path, p.Name, strings.Join(m.PathPrefixes, ", "))
			}
		case infrav1.ModuleKindFluxSource:
			ns := src.SourceRef.Namespace
			if ns != "" && ns != t.namespace && len(m.SourceNamespaces) > 0 && !slices.Contains(m.SourceNamespaces, ns) {
				return refused("spec.module.sourceRef", "%s %s/%s: namespace %s is not in the source namespaces of CustomPolicy %s (%s)",
					src.SourceRef.Kind, ns, src.SourceRef.Name, ns, p.Name, strings.Join(m.SourceNamespaces, ", "))
			}
		}
	}
	return nil
}

// under reports whether the relative path p is prefix or inside it.
func under(p, prefix string) bool {
	p, prefix = path.Clean(p), path.Clean(prefix)
	return prefix == "." || p == prefix || strings.HasPrefix(p, prefix+"/")
}

func joinKinds(kinds []infrav1.ModuleKind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// narrow returns the manager's rules narrowed by every governing policy: their provider lists
// all hold, any one of them refuses provisioners or remote modules, and their remote hosts all
// hold. Nothing here widens what the flags allow.
func (t tenant) narrow(base ModuleRules) (ModuleRules, error) {
	r := base
	r.Policy.Narrowing = slices.Clone(base.Policy.Narrowing)
	r.RemoteHosts = slices.Clone(base.RemoteHosts)
	for _, p := range t.policies {
		who := "CustomPolicy " + p.Name
		if len(p.Spec.Providers) > 0 {
			l := modulecheck.ProviderList{Owner: who}
			for _, s := range p.Spec.Providers {
				pat, err := tfmodule.ParseProviderPattern(s, base.Policy.Host())
				if err != nil {
					return r, &RulesError{Message: fmt.Sprintf("%s: providers: %v; it refuses every object it governs until fixed", who, err)}
				}
				l.Patterns = append(l.Patterns, pat)
			}
			r.Policy.Narrowing = append(r.Policy.Narrowing, l)
		}
		if p.Spec.AllowProvisioners != nil && !*p.Spec.AllowProvisioners && r.Policy.AllowProvisioners {
			r.Policy.AllowProvisioners, r.Policy.ProvisionersRefusedBy = false, who
		}
		if m := p.Spec.Modules; m != nil {
			if len(m.Kinds) > 0 && !slices.Contains(m.Kinds, infrav1.ModuleKindRemote) && r.RemoteRefusedBy == "" {
				r.RemoteRefusedBy = who
			}
			if len(m.RemoteHosts) > 0 {
				r.RemoteHosts = append(r.RemoteHosts, hostList{owner: who, hosts: m.RemoteHosts})
			}
		}
	}
	return r, nil
}

// planPolicies are the plan policy sources of every governing policy, each once.
func (t tenant) planPolicies() []infrav1.PlanPolicySource {
	seen := map[string]bool{}
	var out []infrav1.PlanPolicySource
	for _, p := range t.policies {
		for _, src := range p.Spec.PlanPolicies {
			if k := policySourceName(src, ""); !seen[k] {
				seen[k] = true
				out = append(out, src)
			}
		}
	}
	return out
}

// policySourceName names a plan policy source in messages, events and planpolicy.Set.Name
// (a ConfigMap is in policyNamespace, the provider's).
func policySourceName(src infrav1.PlanPolicySource, policyNamespace string) string {
	if src.ConfigMapRef != nil {
		return "ConfigMap " + path.Join(policyNamespace, src.ConfigMapRef.Name)
	}
	name := fmt.Sprintf("%s %s/%s", src.SourceRef.Kind, src.SourceRef.Namespace, src.SourceRef.Name)
	if p := path.Clean("/" + src.Path); p != "/" {
		name += " " + strings.TrimPrefix(p, "/")
	}
	return name
}
