/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package modulesrc

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// writeTree writes files (slash paths -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		f := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// repo is a module repository as infra teams keep one: root modules calling shared modules
// beside them, from different depths.
var repo = map[string]string{
	"clusters/team-a/cluster/main.tf":   "module \"label\" {\n  source = \"../../../modules/label\"\n}\nmodule \"vpc\" {\n  source = \"../../../modules/vpc\"\n}\n",
	"clusters/team-a/cluster/tpl/x.tpl": "template",
	"clusters/team-a/machine/main.tf":   "module \"label\" {\n  source = \"../../../modules/label\"\n}\n",
	"modules/label/main.tf":             "output \"id\" { value = \"x\" }\n",
	"modules/vpc/main.tf":               "module \"subnets\" {\n  source = \"./subnets\"\n}\nmodule \"registry\" {\n  source  = \"terraform-aws-modules/vpc/aws\"\n  version = \"5.0.0\"\n}\n",
	"modules/vpc/subnets/main.tf":       "# subnets\n",
	"modules/unused/main.tf":            "# never called\n",
	"README.md":                         "# not a module file, outside every module",
}

func openRoot(t *testing.T, dir string) fs.FS {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r.FS()
}

func files(t *testing.T, tr Tree) []string {
	t.Helper()
	var out []string
	_ = fs.WalkDir(tr.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	return out
}

func TestSelectReadsTheRootAndTheModulesItCalls(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, repo)
	tr, err := Select(openRoot(t, dir), RootFor(openRoot(t, dir), "clusters/team-a", "cluster"), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Root != "clusters/team-a/cluster" {
		t.Errorf("root = %q", tr.Root)
	}
	got := strings.Join(files(t, tr), " ")
	want := "clusters/team-a/cluster/main.tf clusters/team-a/cluster/tpl/x.tpl modules/label/main.tf modules/vpc/main.tf modules/vpc/subnets/main.tf"
	if got != want {
		t.Errorf("files = %s\nwant    %s", got, want)
	}
	if len(tr.Remote) != 1 || tr.Remote[0] != (modulecheck.RemoteCall{Item: `module "registry" (modules/vpc/main.tf:4)`, Source: "terraform-aws-modules/vpc/aws"}) {
		t.Errorf("remote = %v", tr.Remote)
	}

	// The machine module uses only the label module: its tree is rebased at their common parent.
	m, err := Select(openRoot(t, dir), "clusters/team-a/machine", DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(files(t, m), " "); got != "clusters/team-a/machine/main.tf modules/label/main.tf" || len(m.Remote) != 0 {
		t.Errorf("machine tree = %s, remote %v", got, m.Remote)
	}
}

// The digest covers exactly the modules a root uses: editing a shared module changes the digest
// of its users only; moving the whole repository changes nothing.
func TestTreeDigestCoversExactlyTheUsedModules(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, repo)
	digest := func(d, root string) string {
		t.Helper()
		tr, err := Select(openRoot(t, d), root, DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		s, err := tfrunner.TreeDigest(tr.FS, tr.Root)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	c0, m0 := digest(dir, "clusters/team-a/cluster"), digest(dir, "clusters/team-a/machine")
	writeTree(t, dir, map[string]string{"modules/unused/main.tf": "# edited", "README.md": "edited"})
	if c, m := digest(dir, "clusters/team-a/cluster"), digest(dir, "clusters/team-a/machine"); c != c0 || m != m0 {
		t.Error("editing an unused module changed a digest")
	}
	writeTree(t, dir, map[string]string{"modules/vpc/subnets/main.tf": "# edited"})
	if c, m := digest(dir, "clusters/team-a/cluster"), digest(dir, "clusters/team-a/machine"); c == c0 || m != m0 {
		t.Errorf("editing the vpc module (cluster only): cluster changed %t, machine changed %t", c != c0, m != m0)
	}
	moved := t.TempDir()
	writeTree(t, moved, map[string]string{})
	if err := os.Rename(dir, filepath.Join(moved, "infra")); err != nil {
		t.Fatal(err)
	}
	if m := digest(filepath.Join(moved, "infra"), "clusters/team-a/machine"); m != m0 {
		t.Error("moving the repository changed the machine digest")
	}
}

func TestSelectRefusals(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret/main.tf": "# outside"})
	tests := []struct {
		name  string
		files map[string]string
		links map[string]string // link -> target
		root  string
		want  string
	}{
		{name: "source leaving the tree", root: "a", files: map[string]string{"a/main.tf": "module \"x\" {\n  source = \"../../x\"\n}\n"},
			want: `module "x" (a/main.tf:1): source "../../x" leaves the module tree`},
		{name: "source naming nothing", root: "a", files: map[string]string{"a/main.tf": "module \"x\" {\n  source = \"../nope\"\n}\n"},
			want: `source "../nope": no directory nope`},
		{name: "source not a literal", root: "a", files: map[string]string{"a/main.tf": "module \"x\" {\n  source = var.s\n}\n"},
			want: `module "x" (a/main.tf:1): source must be a literal string`},
		{name: "symlinked file out of the tree", root: "a", files: map[string]string{"a/main.tf": "#"},
			links: map[string]string{"a/leak.tf": filepath.Join(outside, "secret/main.tf")}, want: `file "a/leak.tf": is a symlink that leaves the module tree`},
		{name: "symlinked module out of the tree", root: "a", files: map[string]string{"a/main.tf": "module \"x\" {\n  source = \"../m\"\n}\n"},
			links: map[string]string{"m": filepath.Join(outside, "secret")}, want: `source "../m": no directory m`},
		{name: "missing root", root: "nope", files: map[string]string{"a/main.tf": "#"}, want: "root module: no directory nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, tt.files)
			for l, target := range tt.links {
				if err := os.Symlink(target, filepath.Join(dir, l)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Select(openRoot(t, dir), tt.root, DefaultLimits)
			var te *TreeError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a TreeError containing %q", err, tt.want)
			}
		})
	}
}

// Symlinks inside the tree are followed (a shared file linked into a module); a loop ends at
// the file limit.
func TestSelectFollowsSymlinksInsideTheTree(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a/main.tf": "#", "shared/versions.tf": "# versions"})
	if err := os.Symlink("../shared/versions.tf", filepath.Join(dir, "a", "versions.tf")); err != nil {
		t.Fatal(err)
	}
	tr, err := Select(openRoot(t, dir), "a", DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(tr.FS, "versions.tf"); err != nil || string(b) != "# versions" {
		t.Fatalf("versions.tf = %q, %v", b, err)
	}
	if err := os.Symlink(".", filepath.Join(dir, "a", "loop")); err != nil {
		t.Fatal(err)
	}
	if _, err := Select(openRoot(t, dir), "a", Limits{MaxFiles: 100, MaxBytes: 1 << 20}); err == nil ||
		(!strings.Contains(err.Error(), "exceeds 100 files") && !strings.Contains(err.Error(), "is a symlink loop")) {
		t.Fatalf("a symlink loop: %v", err)
	}
}

// Store.Dir reuses a --module-root tree (and its digest) until one of its files or directories
// changes: an edit, a new file, a replaced file.
func TestStoreDirReusesUnchangedTrees(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, repo)
	s, err := NewStore(t.TempDir(), StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	get := func() Tree {
		t.Helper()
		tr, err := s.Dir(dir, "clusters/team-a", "cluster")
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	first := get()
	if again := get(); again.FS != first.FS {
		t.Fatal("an unchanged tree was read again")
	}
	changes := []func(){
		func() { writeTree(t, dir, map[string]string{"modules/vpc/subnets/main.tf": "# edited"}) },
		func() { writeTree(t, dir, map[string]string{"modules/label/new.tf": "# new file"}) },
		func() {
			writeTree(t, dir, map[string]string{"x.tmp": "# replaced"})
			if err := os.Rename(filepath.Join(dir, "x.tmp"), filepath.Join(dir, "modules/label/main.tf")); err != nil {
				t.Fatal(err)
			}
		},
	}
	prev := first
	for i, change := range changes {
		change()
		next := get()
		if next.FS == prev.FS {
			t.Fatalf("change %d: the tree was not read again", i)
		}
		prev = next
	}
	writeTree(t, dir, map[string]string{"modules/unused/main.tf": "# not in the tree"})
	if get().FS != prev.FS {
		t.Error("a change outside the tree read it again")
	}
}
