/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"strings"
	"testing"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// The Ready message tells an object's owner that its runs are not isolated when the operator
// asked for a sandbox where possible and this manager has none; an explicit off or a working
// sandbox says nothing.
func TestSandboxNote(t *testing.T) {
	for _, tt := range []struct {
		st   tfrunner.SandboxStatus
		want string
	}{
		{tfrunner.SandboxStatus{Mode: tfrunner.SandboxBestEffort, Enabled: true, ABI: 7}, ""},
		{tfrunner.SandboxStatus{Mode: tfrunner.SandboxBestEffort, Reason: "this kernel has no Landlock"}, "terraform runs are not sandboxed: this kernel has no Landlock"},
		{tfrunner.SandboxStatus{Mode: tfrunner.SandboxOff, Reason: "the sandbox is off (--sandbox=off)"}, ""},
		{tfrunner.SandboxStatus{}, ""}, // a runner without a sandbox setting (tests)
	} {
		got := (&base{Options: Options{Sandbox: tt.st}}).sandboxNote()
		if got != tt.want || (tt.want != "" && !strings.Contains(got, "not sandboxed")) {
			t.Errorf("%+v: got %q, want %q", tt.st, got, tt.want)
		}
	}
}

// Modules the provider ships are exempt from the module policy; every other source is not.
func TestBundledModules(t *testing.T) {
	for _, tt := range []struct {
		src  *infrav1.ModuleSource
		want bool
	}{
		{nil, true},
		{&infrav1.ModuleSource{}, true},
		{&infrav1.ModuleSource{Name: "fakecloud"}, true},
		{&infrav1.ModuleSource{Path: "team/vpc"}, false},
		{&infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "m"}}, false},
		{&infrav1.ModuleSource{Source: "git::https://example.com/m.git"}, false},
	} {
		if got := bundled(tt.src); got != tt.want {
			t.Errorf("bundled(%+v) = %v, want %v", tt.src, got, tt.want)
		}
	}
}
