/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/company/cluster-api-provider-custom/tfmodule"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

const (
	stateFile      = "terraform.tfstate"
	varsFile       = "terraform.tfvars"
	planFile       = "capc.tfplan"
	lockFile       = ".terraform.lock.hcl"
	dotTerraform   = ".terraform"
	backendFile    = "capc_backend_override.tf"
	backendContent = "# Written by tfrunner: state stays in the workspace; the runner syncs it to Secrets.\nterraform {\n  backend \"local\" {}\n}\n"
)

// skipModulePath reports files of a module tree that are run artefacts, not module content.
func skipModulePath(p string, isDir bool) bool {
	base := path.Base(p)
	if isDir {
		return base == dotTerraform
	}
	return strings.HasPrefix(base, stateFile) || strings.HasPrefix(base, ".terraform.tfstate") ||
		base == backendFile || base == varsFile || base == planFile
}

// moduleFiles lists the module's regular files, sorted.
func moduleFiles(m fs.FS) ([]string, error) {
	var files []string
	err := fs.WalkDir(m, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && skipModulePath(p, d.IsDir()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking module: %w", err)
	}
	sort.Strings(files)
	return files, nil
}

// ModuleDigest is sha256 over the sorted module file paths and contents.
func ModuleDigest(m fs.FS) (string, error) {
	if im, ok := m.(*tfmodule.Immutable); ok {
		return im.Digest(moduleDigest)
	}
	return moduleDigest(m)
}

// TreeDigest is the digest of a module tree whose root module is in dir: ModuleDigest for a
// root at the top, and otherwise also covering dir (the same files run from another directory
// are another configuration).
func TreeDigest(m fs.FS, dir string) (string, error) {
	d, err := ModuleDigest(m)
	if err != nil || dir == "" || path.Clean(dir) == "." {
		return d, err
	}
	sum := sha256.Sum256([]byte(d + "\x00root:" + path.Clean(dir)))
	return hex.EncodeToString(sum[:]), nil
}

// moduleDir checks Workspace.ModuleDir and returns it as an OS path ("." for the top).
func moduleDir(dir string) (string, error) {
	if dir == "" {
		return ".", nil
	}
	c := path.Clean(dir)
	if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("tfrunner: module dir %q must be a relative path inside the module tree", dir)
	}
	return filepath.FromSlash(c), nil
}

func moduleDigest(m fs.FS) (string, error) {
	files, err := moduleFiles(m)
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("module has no files")
	}
	h := sha256.New()
	for _, p := range files {
		b, err := fs.ReadFile(m, p)
		if err != nil {
			return "", fmt.Errorf("reading module file %s: %w", p, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyModule writes the module tree into dir and our backend override into its root module
// directory rel.
func copyModule(m fs.FS, dir, rel string) error {
	files, err := moduleFiles(m)
	if err != nil {
		return err
	}
	for _, p := range files {
		b, err := fs.ReadFile(m, p)
		if err != nil {
			return fmt.Errorf("reading module file %s: %w", p, err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", dst, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, rel, backendFile), []byte(backendContent), 0o600); err != nil {
		return fmt.Errorf("writing backend override: %w", err)
	}
	return nil
}

// resetWorkspace removes everything in dir except the state file of the root module directory
// rel (kept for crash recovery), so files of an older module version never leak into the run.
func resetWorkspace(dir, rel string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating workspace %s: %w", dir, err)
	}
	return cleanDir(dir, strings.Split(filepath.ToSlash(rel), "/"))
}

// cleanDir empties dir but for the path keep (its last element a directory holding the state).
func cleanDir(dir string, keep []string) error {
	if len(keep) > 0 && keep[0] == "." {
		keep = keep[1:]
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("reading workspace %s: %w", dir, err)
	}
	for _, e := range entries {
		if len(keep) == 0 && e.Name() == stateFile {
			continue
		}
		if len(keep) > 0 && e.Name() == keep[0] && e.IsDir() {
			if err := cleanDir(filepath.Join(dir, e.Name()), keep[1:]); err != nil {
				return err
			}
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("cleaning workspace: %w", err)
		}
	}
	return nil
}

// linkInit makes the workspace reuse the initialized directory: .terraform is a symlink (plans
// only read it) and the dependency lock file is copied.
func linkInit(initDir, wsDir string) error {
	if _, err := os.Stat(filepath.Join(initDir, dotTerraform)); err == nil {
		if err := os.Symlink(filepath.Join(initDir, dotTerraform), filepath.Join(wsDir, dotTerraform)); err != nil {
			return fmt.Errorf("linking %s: %w", dotTerraform, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(initDir, lockFile))
	if err == nil {
		if err := os.WriteFile(filepath.Join(wsDir, lockFile), b, 0o600); err != nil {
			return fmt.Errorf("copying %s: %w", lockFile, err)
		}
	} else if !os.IsNotExist(err) {
		return fmt.Errorf("reading %s: %w", lockFile, err)
	}
	return nil
}

func (r *Runner) workspaceDir(obj tfstate.ObjectRef) string { return WorkspaceDir(r.cfg.WorkDir, obj) }

var uidChars = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{7,62}$`)

// WorkspaceDir is obj's workspace under workDir: <workDir>/ws/<object UID>. A module can stat
// paths outside its sandbox (Landlock does not cover stat), so the name is one no other tenant
// can derive: not the namespace and name, nor a hash of them. Without a UID (tools, tests) a hash
// of the object's kind, namespace and name stands in.
func WorkspaceDir(workDir string, obj tfstate.ObjectRef) string {
	id := obj.UID
	if !uidChars.MatchString(id) {
		sum := sha256.Sum256([]byte(obj.Kind + "/" + obj.Namespace + "/" + obj.Name))
		id = "ref-" + hex.EncodeToString(sum[:12])
	}
	return filepath.Join(workDir, "ws", id)
}

// writeCLIConfig gives terraform its own CLI config (plugin cache, provider installation), never
// the user's. Filesystem mirrors are tried first; providers not in them come from their registry.
func writeCLIConfig(workDir string, mirrors []string, allowed []tfmodule.ProviderPattern) (string, string, error) {
	cache := filepath.Join(workDir, "plugin-cache")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return "", "", fmt.Errorf("creating plugin cache: %w", err)
	}
	p := filepath.Join(workDir, "terraformrc")
	if err := os.WriteFile(p, []byte(cliConfig(cache, mirrors, allowed)), 0o600); err != nil {
		return "", "", fmt.Errorf("writing CLI config: %w", err)
	}
	return p, cache, nil
}

// cliConfig writes the CLI config. Providers found in a mirror are excluded from direct
// installation: terraform merges the versions of every matching method, so a registry lookup
// would otherwise still happen (and fail offline) for mirrored providers. With an allow-list,
// every installation method includes only allowed providers, so `terraform init` cannot
// install anything else whatever a module asks for.
func cliConfig(cache string, mirrors []string, allowed []tfmodule.ProviderPattern) string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin_cache_dir = %q\ndisable_checkpoint = true\n", cache)
	if len(mirrors) == 0 && len(allowed) == 0 {
		return b.String()
	}
	var all []string
	b.WriteString("provider_installation {\n")
	for _, m := range mirrors {
		provs := allowedOnly(mirroredProviders(m), allowed)
		if len(provs) == 0 {
			continue // an empty include would match every provider
		}
		all = append(all, provs...)
		fmt.Fprintf(&b, "  filesystem_mirror {\n    path    = %q\n    include = %s\n  }\n", m, hclList(provs))
	}
	b.WriteString("  direct {\n")
	if len(allowed) > 0 {
		pats := make([]string, len(allowed))
		for i, p := range allowed {
			pats[i] = p.String()
		}
		fmt.Fprintf(&b, "    include = %s\n", hclList(pats))
	}
	if len(all) > 0 {
		fmt.Fprintf(&b, "    exclude = %s\n", hclList(all))
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

// allowedOnly keeps the provider addresses an allow-list permits (all without one).
func allowedOnly(addrs []string, allowed []tfmodule.ProviderPattern) []string {
	if len(allowed) == 0 {
		return addrs
	}
	var out []string
	for _, a := range addrs {
		if tfmodule.Allows(allowed, a) {
			out = append(out, a)
		}
	}
	return out
}

// mirroredProviders lists <host>/<namespace>/<type> of a filesystem mirror's providers.
func mirroredProviders(dir string) []string {
	matches, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*"))
	var out []string
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.IsDir() {
			rel, _ := filepath.Rel(dir, m)
			out = append(out, filepath.ToSlash(rel))
		}
	}
	sort.Strings(out)
	return out
}

func hclList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
