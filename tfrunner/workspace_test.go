/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// A module tree is laid out as it calls itself; a reset keeps only the root module's state file
// (crash recovery) and drops everything else, including an older tree's files.
func TestWorkspaceTreeLayoutAndReset(t *testing.T) {
	tree := fstest.MapFS{
		"teams/a/machine/main.tf": {Data: []byte(`module "l" { source = "../../../shared/l" }`)},
		"shared/l/main.tf":        {Data: []byte(`# shared`)},
	}
	rel, err := moduleDir("teams/a/machine")
	if err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	if err := copyModule(tree, ws, rel); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"teams/a/machine/main.tf", "shared/l/main.tf", "teams/a/machine/" + backendFile} {
		if _, err := os.Stat(filepath.Join(ws, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if err := os.WriteFile(filepath.Join(ws, rel, stateFile), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := resetWorkspace(ws, rel); err != nil {
		t.Fatal(err)
	}
	var left []string
	_ = filepath.WalkDir(ws, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			r, _ := filepath.Rel(ws, p)
			left = append(left, filepath.ToSlash(r))
		}
		return err
	})
	if strings.Join(left, ",") != "teams/a/machine/"+stateFile {
		t.Errorf("after reset: %v", left)
	}
	for _, bad := range []string{"../x", "/abs", "a/../../x"} {
		if _, err := moduleDir(bad); err == nil {
			t.Errorf("moduleDir(%q) accepted", bad)
		}
	}
	if d, _ := moduleDir(""); d != "." {
		t.Errorf(`moduleDir("") = %q`, d)
	}
}

// The digest of a tree covers where its root is; a root at the top keeps ModuleDigest.
func TestTreeDigest(t *testing.T) {
	tree := fstest.MapFS{"a/main.tf": {Data: []byte("#")}, "b/main.tf": {Data: []byte("#")}}
	whole, _ := ModuleDigest(tree)
	top, _ := TreeDigest(tree, ".")
	a, _ := TreeDigest(tree, "a")
	b, _ := TreeDigest(tree, "b")
	if top != whole || a == b || a == whole {
		t.Errorf("digests: whole %s top %s a %s b %s", whole, top, a, b)
	}
}
