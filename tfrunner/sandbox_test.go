/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/go-logr/logr/testr"
	"github.com/hashicorp/go-version"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/company/cluster-api-provider-custom/tfrunner/shim"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

func TestSandboxModes(t *testing.T) {
	landlock := shim.ABI() > 0
	tests := []struct {
		mode        SandboxMode
		shim        string
		wantEnabled bool
		wantReason  string // when not enabled
		wantRefused bool   // terraform() refuses
	}{
		{SandboxOff, "/bin/true", false, "--sandbox=off", false},
		{SandboxBestEffort, "", false, "without the capc-tfshim", false},
		{SandboxRequired, "", false, "without the capc-tfshim", true},
		{SandboxBestEffort, "/bin/true", landlock, "Landlock is not available", false},
		{SandboxRequired, "/bin/true", landlock, "Landlock is not available", !landlock},
	}
	for _, tt := range tests {
		r, err := New(Config{Binary: &Binary{Path: "/bin/false", Version: version.Must(version.NewVersion("1.5.7"))},
			WorkDir: t.TempDir(), Kube: fake.NewSimpleClientset(), Holder: "h", Logger: testr.New(t),
			Shim: tt.shim, Sandbox: tt.mode})
		if err != nil {
			t.Fatal(err)
		}
		st := r.Sandbox()
		if st.Enabled != tt.wantEnabled || (!st.Enabled && !strings.Contains(st.Reason, tt.wantReason)) {
			t.Errorf("%s shim=%q: got %+v, want enabled=%v or a reason with %q", tt.mode, tt.shim, st, tt.wantEnabled, tt.wantReason)
		}
		_, err = r.terraform(t.TempDir(), nil, procFS{})
		var se *SandboxError
		if got := errors.As(err, &se); got != tt.wantRefused {
			t.Errorf("%s shim=%q: refused=%v (%v), want %v", tt.mode, tt.shim, got, err, tt.wantRefused)
		}
		if se != nil && !strings.HasPrefix(se.Error(), "refusing to run terraform: --sandbox=required, but ") {
			t.Errorf("message: %q", se.Error())
		}
	}
	if _, err := ParseSandboxMode("strict"); err == nil {
		t.Error("an unknown mode must be refused")
	}
}

// TestSandboxPolicy: a workspace run may write its workspace and temp dir and read its init
// entry, never the work dir as a whole; init may write the plugin cache.
func TestSandboxPolicy(t *testing.T) {
	if shim.ABI() == 0 {
		t.Skip("no Landlock: no policy is built")
	}
	r, err := New(Config{Binary: &Binary{Path: "/bin/false", Version: version.Must(version.NewVersion("1.5.7"))},
		WorkDir: t.TempDir(), Kube: fake.NewSimpleClientset(), Holder: "h", Logger: testr.New(t), Shim: "/bin/true",
		SandboxReadPaths: []string{"/opt/ca"}})
	if err != nil {
		t.Fatal(err)
	}
	ws := r.workspaceDir(tfstate.ObjectRef{Kind: "CustomMachine", Namespace: "team-a", Name: "m"})
	p := r.sandboxFor(ws, procFS{readable: []string{"/w/init/abc", r.plugins}})
	if got := p.ReadWrite; len(got) != 2 || got[0] != ws || got[1] != r.tmpDir(ws) {
		t.Errorf("read-write: %v", got)
	}
	for _, l := range [][]string{p.ReadWrite, p.ReadOnly, p.Optional} {
		for _, d := range l {
			if d == r.cfg.WorkDir || d == "/" || d == "/proc" || strings.HasPrefix(d, os.TempDir()+"/") && !strings.HasPrefix(d, r.cfg.WorkDir) {
				t.Errorf("the policy grants %s", d)
			}
		}
	}
	if !contains(p.ReadOnly, "/opt/ca") || !contains(p.ReadOnly, r.plugins) || contains(p.ReadWrite, r.plugins) {
		t.Errorf("read-only: %v", p.ReadOnly)
	}
	if !contains(p.Files, r.cliConfig) || !contains(p.Files, "/bin/false") {
		t.Errorf("files: %v", p.Files)
	}
	initP := r.sandboxFor("/w/init/abc.tmp-1", procFS{writable: []string{r.plugins}})
	if !contains(initP.ReadWrite, r.plugins) {
		t.Errorf("init must install into the plugin cache: %v", initP.ReadWrite)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
