package modulecheck

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// Policy is what an operator lets modules the provider did not ship do. Terraform runs them
// as code: a provisioner runs any command, a provider is any program. Check refuses what the
// policy does not allow before anything runs; the runner's CLI configuration enforces the
// provider allow-list again at `terraform init` (modules a remote source brings in are only
// known there).
type Policy struct {
	// AllowProvisioners permits provisioner blocks (local-exec, remote-exec, file).
	AllowProvisioners bool
	// Providers are the allowed provider source patterns; empty allows every provider.
	Providers []ProviderPattern
	// DefaultHost is the registry of a short source ("hashicorp/aws"): registry.terraform.io,
	// registry.opentofu.org for OpenTofu.
	DefaultHost string
}

// ProviderPattern is a provider source pattern as terraform's provider_installation `include`
// takes it: [host/]namespace/type, where type, namespace and type, or all three may be `*`.
type ProviderPattern struct{ Host, Namespace, Type string }

func (p ProviderPattern) String() string { return p.Host + "/" + p.Namespace + "/" + p.Type }

// ParseProviderPattern parses one allow-list entry (a short pattern gets defaultHost).
func ParseProviderPattern(s, defaultHost string) (ProviderPattern, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "/")
	if len(parts) == 2 {
		parts = append([]string{defaultHost}, parts...)
	}
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return ProviderPattern{}, fmt.Errorf("provider pattern %q: want [host/]namespace/type", s)
	}
	p := ProviderPattern{Host: parts[0], Namespace: parts[1], Type: parts[2]}
	if (p.Host == "*" && p.Namespace != "*") || (p.Namespace == "*" && p.Type != "*") {
		return ProviderPattern{}, fmt.Errorf("provider pattern %q: a wildcard host needs wildcard namespace and type, a wildcard namespace a wildcard type", s)
	}
	return p, nil
}

// Matches reports whether the provider source addr (host/namespace/type) matches p.
func (p ProviderPattern) Matches(addr string) bool {
	parts := strings.Split(addr, "/")
	if len(parts) != 3 {
		return false
	}
	return (p.Host == "*" || p.Host == parts[0]) && (p.Namespace == "*" || p.Namespace == parts[1]) &&
		(p.Type == "*" || p.Type == parts[2])
}

// AllowsProvider reports whether the provider at addr may be installed and run.
func (pol Policy) AllowsProvider(addr string) bool {
	if len(pol.Providers) == 0 || addr == builtinProvider {
		return true
	}
	for _, p := range pol.Providers {
		if p.Matches(addr) {
			return true
		}
	}
	return false
}

const builtinProvider = "terraform.io/builtin/terraform"

var policySchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "resource", LabelNames: []string{"type", "name"}},
	{Type: "data", LabelNames: []string{"type", "name"}},
	{Type: "provider", LabelNames: []string{"name"}},
	{Type: "terraform"},
}}

var resourceSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "provider"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "provisioner", LabelNames: []string{"type"}}},
}

var terraformSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "required_providers"}}}

// providerUse is where a module directory first uses a provider by its local name.
type providerUse struct{ what, at string }

// moduleDir collects what one module directory (root or called) declares and uses.
type moduleDir struct {
	sources map[string]string      // local name -> source, from required_providers
	uses    map[string]providerUse // local name -> first use
}

// NewPolicy builds the policy from the manager's flags: --allow-provisioners and the comma list
// of --allowed-providers (short patterns get defaultHost, the engine's default registry).
func NewPolicy(allowProvisioners bool, allowedProviders, defaultHost string) (Policy, error) {
	pol := Policy{AllowProvisioners: allowProvisioners, DefaultHost: defaultHost}
	for _, s := range strings.Split(allowedProviders, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		p, err := ParseProviderPattern(s, defaultHost)
		if err != nil {
			return pol, fmt.Errorf("--allowed-providers: %w", err)
		}
		pol.Providers = append(pol.Providers, p)
	}
	return pol, nil
}

// PolicyError lists what a module does that the manager's module policy does not allow
// (provisioners, providers outside the allow-list); nothing runs until it changes. It keeps its
// meaning across a runner Job's boundary (tfrunner.JobError).
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

// Check reads every .tf and .tf.json file of the module tree (the root module and the modules
// it calls from inside the tree) and lists what the policy does not allow, naming the file and
// line of each.
func (pol Policy) Check(fsys fs.FS) []Problem {
	var problems []Problem
	dirs := map[string]*moduleDir{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll // nothing installed (no remote module)
			}
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return fs.SkipDir
		}
		if d.IsDir() || !isModuleFile(d.Name()) {
			return nil
		}
		md := dirs[path.Dir(p)]
		if md == nil {
			md = &moduleDir{sources: map[string]string{}, uses: map[string]providerUse{}}
			dirs[path.Dir(p)] = md
		}
		problems = append(problems, pol.checkFile(fsys, p, md)...)
		return nil
	})
	if err != nil {
		return append(problems, Problem{Item: "module", Message: fmt.Sprintf("cannot be read for the policy check: %v", err)})
	}
	return append(problems, pol.providerProblems(dirs)...)
}

// checkFile records the file's provider declarations and uses in md and returns its
// provisioner problems.
func (pol Policy) checkFile(fsys fs.FS, name string, md *moduleDir) []Problem {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return []Problem{{Item: fmt.Sprintf("file %q", name), Message: fmt.Sprintf("cannot be read: %v", err)}}
	}
	p := hclparse.NewParser()
	f, diags := parseSource(p, name, src)
	if diags.HasErrors() {
		return nil // the contract check (root) or terraform (called modules) reports syntax
	}
	content, _, _ := f.Body.PartialContent(policySchema)
	var problems []Problem
	for _, b := range content.Blocks {
		at := fmt.Sprintf("%s:%d", name, b.DefRange.Start.Line)
		switch b.Type {
		case "terraform":
			md.requiredProviders(b.Body)
		case "provider":
			md.use(b.Labels[0], fmt.Sprintf("provider %q", b.Labels[0]), at)
		case "resource", "data":
			what := fmt.Sprintf("%s %q %q", b.Type, b.Labels[0], b.Labels[1])
			rc, _, _ := b.Body.PartialContent(resourceSchema)
			md.use(resourceProvider(b.Labels[0], rc.Attributes["provider"]), what, at)
			for _, pb := range rc.Blocks {
				if !pol.AllowProvisioners {
					problems = append(problems, Problem{Item: fmt.Sprintf("provisioner %q", pb.Labels[0]),
						Message: fmt.Sprintf("in %s (%s:%d) is not allowed: provisioners run any command on the manager, and this manager runs without --allow-provisioners",
							what, name, pb.DefRange.Start.Line)})
				}
			}
		}
	}
	return problems
}

func (md *moduleDir) use(local, what, at string) {
	if _, ok := md.uses[local]; !ok {
		md.uses[local] = providerUse{what: what, at: at}
	}
}

// requiredProviders reads terraform { required_providers { name = { source = "..." } } }.
func (md *moduleDir) requiredProviders(body hcl.Body) {
	tc, _, _ := body.PartialContent(terraformSchema)
	for _, rp := range tc.Blocks {
		attrs, _ := rp.Body.JustAttributes()
		for name, a := range attrs {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() || v.IsNull() || !v.Type().IsObjectType() || !v.Type().HasAttribute("source") {
				continue // a bare version constraint: the source is implied
			}
			if s := v.GetAttr("source"); s.Type() == cty.String && s.IsKnown() && !s.IsNull() {
				md.sources[name] = s.AsString()
			}
		}
	}
}

// resourceProvider is the local provider name of a resource: its provider meta-argument
// (`aws.west`), else its type's prefix (`aws_instance`).
func resourceProvider(typ string, attr *hcl.Attribute) string {
	if attr != nil {
		if tr, diags := hcl.AbsTraversalForExpr(attr.Expr); !diags.HasErrors() && len(tr) > 0 {
			return tr.RootName()
		}
	}
	local, _, _ := strings.Cut(typ, "_")
	return local
}

// providerProblems names each provider outside the allow-list once, with its first use.
func (pol Policy) providerProblems(dirs map[string]*moduleDir) []Problem {
	if len(pol.Providers) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var problems []Problem
	for _, dir := range sortedKeys(dirs) {
		md := dirs[dir]
		for _, local := range sortedKeys(md.uses) {
			addr := pol.sourceAddr(local, md.sources[local])
			if seen[addr] || pol.AllowsProvider(addr) {
				continue
			}
			seen[addr] = true
			u := md.uses[local]
			problems = append(problems, Problem{Item: fmt.Sprintf("provider %q", addr),
				Message: fmt.Sprintf("used by %s (%s) is not in the manager's provider allow-list (%s)", u.what, u.at, pol.allowList())})
		}
	}
	return problems
}

// sourceAddr is the full source address of a local provider name (source "" is implied:
// hashicorp/<name>, or the builtin terraform provider).
func (pol Policy) sourceAddr(local, source string) string {
	if source == "" {
		if local == "terraform" {
			return builtinProvider
		}
		source = "hashicorp/" + local
	}
	parts := strings.Split(strings.ToLower(source), "/")
	if len(parts) == 2 {
		parts = append([]string{pol.DefaultHost}, parts...)
	}
	return strings.Join(parts, "/")
}

func (pol Policy) allowList() string {
	s := make([]string, len(pol.Providers))
	for i, p := range pol.Providers {
		s[i] = p.String()
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}
