/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/modules"
	"github.com/company/cluster-api-provider-custom/modulesrc"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// defaultFamily is the bundled module family used when spec.module is empty.
const defaultFamily = "simulated"

// contractChecks caches parsed modules by digest, so a reconcile re-parses only changed modules.
var contractChecks = modulecheck.NewCache(256)

// ContractError lists every contract problem of a module; nothing runs until they are fixed.
type ContractError struct {
	Problems []modulecheck.Problem
	// Root is the root module's directory in its tree ("." for the top).
	Root string
}

func (e *ContractError) Error() string {
	what := "module"
	if e.Root != "" && e.Root != "." {
		what = "root module " + e.Root + "/"
	}
	return fmt.Sprintf("%s fails the contract check (%d problem(s)): %s", what, len(e.Problems), modulecheck.Join(e.Problems))
}

// bundled reports whether the module is one the provider ships (embedded in the binary): the
// module policy is for modules it did not ship.
func bundled(src *infrav1.ModuleSource) bool {
	return src == nil || (src.Path == "" && src.ConfigMapRef == nil && src.SourceRef == nil && src.Source == "")
}

// checkedModule is a resolved module that passed the contract check.
type checkedModule struct {
	tree modulesrc.Tree
	vars map[string]cty.Value
	// revision names the module in status: a Flux artifact's revision or <what>@sha256:<digest>.
	revision string
	// warnings do not block a run; they are shown in ModuleValid and a Warning event.
	warnings []modulecheck.Problem
	// checkInstalled applies the module policy to what `terraform init` downloads (remote
	// modules' files exist only then); nil for a module the provider ships.
	checkInstalled func(fs.FS) error
}

// resolvedModule is an object's module tree and what it is called.
type resolvedModule struct {
	tree modulesrc.Tree
	// shipped: a module embedded in the binary, exempt from the module policy.
	shipped bool
	// revision is a Flux artifact's revision or a remote source; label names other modules,
	// whose revision is their digest.
	revision, label string
}

// module resolves the object's module tree (bundled, path, ConfigMap, Flux source or remote) and
// checks it (checkModule) under the manager's rules as the governing CustomPolicies narrow them.
func (b *base) module(ctx context.Context, in runInput, t tenant) (checkedModule, error) {
	if err := t.allowModule(in.spec.Module); err != nil {
		return checkedModule{}, err
	}
	rules, err := t.narrow(ModuleRules{Policy: b.Options.ModulePolicy, AllowRemote: b.Options.AllowRemoteModules})
	if err != nil {
		return checkedModule{}, err
	}
	mod, err := b.resolve(ctx, in, rules)
	if err != nil {
		return checkedModule{}, err
	}
	mod.shipped = bundled(in.spec.Module)
	return checkModule(mod, in.vars, in.kind, rules)
}

// checkModule applies the rules to a module tree and checks its root module against the
// contract of kind, and returns it with the variables to run it with: the contract's with the
// spec.variables values converted to the module's declared types. The manager and
// capc-plan both take this path, so they refuse the same modules with the same message.
func checkModule(mod resolvedModule, vars variables, kind string, rules ModuleRules) (checkedModule, error) {
	digest, err := tfrunner.TreeDigest(mod.tree.FS, mod.tree.Root)
	if err != nil {
		return checkedModule{}, fmt.Errorf("reading module: %w", err)
	}
	if !mod.shipped {
		if problems := rules.remoteProblems(mod.tree.Remote); len(problems) > 0 {
			return checkedModule{}, &modulecheck.PolicyError{Problems: problems}
		}
		if problems := contractChecks.CheckPolicy(digest, mod.tree.FS, rules.Policy); len(problems) > 0 {
			return checkedModule{}, &modulecheck.PolicyError{Problems: problems}
		}
	}
	root, err := fs.Sub(mod.tree.FS, mod.tree.Root)
	if err != nil {
		return checkedModule{}, fmt.Errorf("reading root module %s: %w", mod.tree.Root, err)
	}
	res := contractChecks.Check(digest, root, kind, vars.extras)
	if !res.OK() {
		return checkedModule{}, &ContractError{Problems: res.Problems, Root: mod.tree.Root}
	}
	all := make(map[string]cty.Value, len(vars.contract)+len(res.Variables))
	for k, v := range vars.contract {
		all[k] = v
	}
	for k, v := range res.Variables { // never a contract variable: those take precedence
		all[k] = v
	}
	if mod.revision == "" {
		mod.revision = mod.label + "@sha256:" + digest[:12]
	}
	checked := checkedModule{tree: mod.tree, vars: all, revision: mod.revision, warnings: res.Warnings}
	if !mod.shipped {
		checked.checkInstalled = rules.Policy.Refuse
	}
	return checked, nil
}

// resolve finds the object's module tree.
func (b *base) resolve(ctx context.Context, in runInput, rules ModuleRules) (resolvedModule, error) {
	src := in.spec.Module
	ns := in.obj.GetNamespace()
	var mod resolvedModule
	var err error
	switch {
	case src != nil && src.SourceRef != nil:
		mod, err = b.fluxModule(ctx, ns, src, in.kind)
	case src != nil && src.ConfigMapRef != nil:
		mod.label = "configmap/" + src.ConfigMapRef.Name
		mod.tree, err = configMapModule(ctx, movableReader{b.APIReader, b}, b.Options.Sources, ns, src, in.kind)
	case src != nil && src.Source != "":
		if !b.Options.AllowRemoteModules {
			return mod, fmt.Errorf("spec.module.source %q: remote modules are disabled; start the manager with --allow-remote-modules", src.Source)
		}
		if why := rules.remoteRefusal(src.Source); why != "" {
			return mod, refused("spec.module.source", "%q: %s", src.Source, why)
		}
		mod.revision = src.Source
		if src.Version != "" {
			mod.revision += "@" + src.Version
		}
		mod.tree.Root = "."
		mod.tree.FS, err = remoteModule(src.Source, src.Version, in.kind, sortedNames(in.vars.extras))
	case src != nil && src.Path != "":
		mod.label = src.Path
		mod.tree, err = b.pathModule(src.Path, in.kind)
	default:
		mod.tree, err = resolveModule(src, in.kind, b.Options.ModuleRoot)
		mod.label = defaultFamily
		if src != nil && src.Name != "" {
			mod.label = src.Name
		}
	}
	return mod, err
}

// fluxModule reads the module tree from a Flux source's artifact, fetched once per digest.
func (b *base) fluxModule(ctx context.Context, ns string, src *infrav1.ModuleSource, kind string) (resolvedModule, error) {
	a, err := b.sourceArtifact(ctx, src.SourceRef, ns)
	if err != nil {
		return resolvedModule{}, err
	}
	dir, err := b.Options.Sources.Artifact(ctx, a.url, a.digest)
	if err != nil {
		var ae *modulesrc.ArchiveError
		var de *modulesrc.DigestError
		if !errors.As(err, &ae) && !errors.As(err, &de) { // the source's server, not its content
			err = &SourceNotReadyError{Message: fmt.Sprintf("fetching the artifact of %s %s (%s): %v", src.SourceRef.Kind, src.SourceRef.Name, a.revision, err)}
		}
		return resolvedModule{}, err
	}
	tree, err := b.Options.Sources.Tree(dir, src.Path, kind)
	return resolvedModule{tree: tree, revision: a.revision}, err
}

// resolveModule returns a bundled or path module's tree for kind ("cluster" or "machine").
// ConfigMap, Flux and remote modules need the API server and the manager's options: see base.module.
func resolveModule(src *infrav1.ModuleSource, kind, moduleRoot string) (modulesrc.Tree, error) {
	switch {
	case src == nil || (src.Name == "" && src.Path == "" && src.ConfigMapRef == nil && src.SourceRef == nil && src.Source == ""):
		m, err := modules.Get(defaultFamily, kind)
		return modulesrc.Tree{FS: m, Root: "."}, err
	case src.Name != "":
		m, err := modules.Get(src.Name, kind)
		return modulesrc.Tree{FS: m, Root: "."}, err
	case src.Path != "" && src.ConfigMapRef == nil && src.SourceRef == nil:
		return pathModule(moduleRoot, src.Path, kind)
	default:
		return modulesrc.Tree{}, fmt.Errorf("spec.module.configMapRef, sourceRef and source need the manager (a ConfigMap or Flux source read, --allow-remote-modules)")
	}
}

// pathModule reads the module tree at p under moduleRoot (modulesrc.ReadDir), uncached.
func pathModule(moduleRoot, p, kind string) (modulesrc.Tree, error) {
	if err := checkModulePath(moduleRoot, p); err != nil {
		return modulesrc.Tree{}, err
	}
	return modulesrc.ReadDir(moduleRoot, p, kind, modulesrc.DefaultLimits)
}

// pathModule is the tree at path under --module-root, re-read only when a file or directory
// of it changed (Store.Dir).
func (b *base) pathModule(p, kind string) (modulesrc.Tree, error) {
	if err := checkModulePath(b.Options.ModuleRoot, p); err != nil {
		return modulesrc.Tree{}, err
	}
	return b.Options.Sources.Dir(b.Options.ModuleRoot, p, kind)
}

// checkModulePath refuses a spec.module.path that could not be under --module-root.
func checkModulePath(moduleRoot, p string) error {
	if moduleRoot == "" {
		return fmt.Errorf("spec.module.path needs the manager's --module-root")
	}
	if filepath.IsAbs(p) || strings.Contains(filepath.ToSlash(p), "..") {
		return fmt.Errorf("spec.module.path %q must be relative to --module-root and must not contain '..'", p)
	}
	return nil
}

// configMapModule reads a module from a ConfigMap in namespace. A ConfigMap with one
// binaryData key ending in .tar.gz or .tgz holds a module tree (path selects its directory);
// otherwise every key (data and binaryData) is a file of one flat root module, so a
// CustomCluster and its CustomMachines reference two ConfigMaps (keys cannot hold '/').
func configMapModule(ctx context.Context, c client.Reader, store *modulesrc.Store, namespace string, src *infrav1.ModuleSource, kind string) (modulesrc.Tree, error) {
	name := src.ConfigMapRef.Name
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cm); err != nil {
		return modulesrc.Tree{}, fmt.Errorf("reading module ConfigMap %s/%s: %w", namespace, name, err)
	}
	for k, v := range cm.BinaryData {
		if !strings.HasSuffix(k, ".tar.gz") && !strings.HasSuffix(k, ".tgz") {
			continue
		}
		if len(cm.Data)+len(cm.BinaryData) > 1 {
			return modulesrc.Tree{}, fmt.Errorf("module ConfigMap %s/%s holds the archive %s and other keys: put every file in the archive", namespace, name, k)
		}
		dir, err := store.Archive(string(cm.UID)+"/"+cm.ResourceVersion, v)
		if err != nil {
			return modulesrc.Tree{}, fmt.Errorf("module ConfigMap %s/%s, %s: %w", namespace, name, k, err)
		}
		return store.Tree(dir, src.Path, kind)
	}
	if src.Path != "" {
		return modulesrc.Tree{}, fmt.Errorf("spec.module.path selects a directory of an archive, but module ConfigMap %s/%s holds no .tar.gz key", namespace, name)
	}
	files := fstest.MapFS{}
	add := func(key string, data []byte) error {
		if key == "" || key == "." || key == ".." || strings.ContainsAny(key, `/\`) {
			return fmt.Errorf("module ConfigMap %s/%s: key %q is not a file name", namespace, name, key)
		}
		files[key] = &fstest.MapFile{Data: data, Mode: 0o644}
		return nil
	}
	for k, v := range cm.Data {
		if err := add(k, []byte(v)); err != nil {
			return modulesrc.Tree{}, err
		}
	}
	for k, v := range cm.BinaryData {
		if err := add(k, v); err != nil {
			return modulesrc.Tree{}, err
		}
	}
	if len(files) == 0 {
		return modulesrc.Tree{}, fmt.Errorf("module ConfigMap %s/%s is empty", namespace, name)
	}
	return modulesrc.Tree{FS: files, Root: "."}, nil
}

// remoteModule generates the root module that wraps a remote module (registry or git source):
// it declares the kind's contract variables with their contract types (plus one `any` variable
// per spec.variables key), passes them all to module "this", and forwards its outputs. The
// remote module must declare every contract variable of its kind: its files are only known
// after `terraform init` downloads them, so terraform, not the contract check, reports a
// mismatch there.
func remoteModule(source, version, kind string, extraNames []string) (fs.FS, error) {
	if strings.TrimSpace(source) == "" {
		return nil, fmt.Errorf("spec.module.source is empty")
	}
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment,
		Bytes: []byte("# Generated by cluster-api-provider-custom: the root module wrapping spec.module.source.\n")}})
	mod := body.AppendNewBlock("module", []string{"this"}).Body()
	mod.SetAttributeValue("source", cty.StringVal(source))
	if version != "" {
		mod.SetAttributeValue("version", cty.StringVal(version))
	}
	names := []string{}
	for _, cv := range contract.Variables(kind) {
		names = append(names, cv.Name)
		body.AppendNewline()
		v := body.AppendNewBlock("variable", []string{cv.Name}).Body()
		v.SetAttributeRaw("type", rawTokens(typeExpr(cv.Type)))
		if cv.MayBeNull {
			v.SetAttributeValue("default", cty.NullVal(cty.DynamicPseudoType))
		}
		if cv.Sensitive {
			v.SetAttributeValue("sensitive", cty.True)
		}
	}
	for _, n := range extraNames {
		if _, ok := contract.VariableNamed(kind, n); ok {
			continue
		}
		names = append(names, n)
		body.AppendNewline()
		body.AppendNewBlock("variable", []string{n}).Body().SetAttributeRaw("type", rawTokens("any"))
	}
	sort.Strings(names)
	for _, n := range names {
		mod.SetAttributeTraversal(n, hcl.Traversal{hcl.TraverseRoot{Name: "var"}, hcl.TraverseAttr{Name: n}})
	}
	for _, co := range contract.Outputs(kind) {
		body.AppendNewline()
		o := body.AppendNewBlock("output", []string{co.Name}).Body()
		if co.Required {
			o.SetAttributeTraversal("value", hcl.Traversal{hcl.TraverseRoot{Name: "module"}, hcl.TraverseAttr{Name: "this"}, hcl.TraverseAttr{Name: co.Name}})
		} else {
			// lookup tolerates a remote module without this optional output.
			o.SetAttributeRaw("value", rawTokens(fmt.Sprintf("lookup(module.this, %q, null)", co.Name)))
		}
	}
	return fstest.MapFS{"main.tf": &fstest.MapFile{Data: hclwrite.Format(f.Bytes()), Mode: 0o644}}, nil
}

// typeExpr renders a contract type as a terraform type expression.
func typeExpr(ty cty.Type) string {
	switch {
	case ty == cty.String:
		return "string"
	case ty == cty.Number:
		return "number"
	case ty == cty.Bool:
		return "bool"
	case ty.IsListType():
		return "list(" + typeExpr(ty.ElementType()) + ")"
	case ty.IsMapType():
		return "map(" + typeExpr(ty.ElementType()) + ")"
	case ty.IsObjectType():
		names := make([]string, 0, len(ty.AttributeTypes()))
		for n := range ty.AttributeTypes() {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = n + " = " + typeExpr(ty.AttributeType(n))
		}
		return "object({ " + strings.Join(parts, ", ") + " })"
	default:
		return "any"
	}
}

func rawTokens(s string) hclwrite.Tokens {
	return hclwrite.Tokens{{Type: hclsyntax.TokenIdent, Bytes: []byte(s)}}
}

func sortedNames(m map[string]cty.Value) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// credentialsEnv reads the credentials Secret; its keys become the terraform environment.
func credentialsEnv(ctx context.Context, c client.Reader, namespace string, ref *infrav1.LocalObjectReference) (map[string]string, error) {
	if ref == nil {
		return nil, nil
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, s); err != nil {
		return nil, fmt.Errorf("reading credentials Secret %s/%s: %w", namespace, ref.Name, err)
	}
	env := make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		env[k] = string(v)
	}
	if err := tfrunner.CheckEnv(env); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", namespace, ref.Name, err)
	}
	return env, nil
}
