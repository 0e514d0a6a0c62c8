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

	"github.com/company/cluster-api-provider-custom/tfmodule"
)

func TestCLIConfig(t *testing.T) {
	mirror := t.TempDir()
	if err := os.MkdirAll(filepath.Join(mirror, "registry.terraform.io", "company", "fakecloud", "0.1.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	pats := func(s ...string) []tfmodule.ProviderPattern {
		var out []tfmodule.ProviderPattern
		for _, x := range s {
			p, err := tfmodule.ParseProviderPattern(x, "registry.terraform.io")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
	tests := []struct {
		name    string
		mirrors []string
		allowed []tfmodule.ProviderPattern
		want    []string
		absent  []string
	}{
		{"no mirrors", nil, nil, []string{`plugin_cache_dir = "/c"`}, []string{"provider_installation"}},
		{"mirror", []string{mirror}, nil, []string{
			`include = ["registry.terraform.io/company/fakecloud"]`,
			`exclude = ["registry.terraform.io/company/fakecloud"]`, "direct {"}, nil},
		{"allow-list, no mirror", nil, pats("hashicorp/*", "*/*/*"), []string{
			`include = ["registry.terraform.io/hashicorp/*", "*/*/*"]`}, []string{"exclude", "filesystem_mirror"}},
		{"allow-list keeps the mirrored provider", []string{mirror}, pats("company/fakecloud"), []string{
			`filesystem_mirror`, `include = ["registry.terraform.io/company/fakecloud"]`,
			`exclude = ["registry.terraform.io/company/fakecloud"]`}, nil},
		// An empty include matches everything: a mirror with no allowed provider is left out.
		{"allow-list drops the mirrored provider", []string{mirror}, pats("hashicorp/aws"), []string{
			`include = ["registry.terraform.io/hashicorp/aws"]`}, []string{"filesystem_mirror", "fakecloud"}},
	}
	for _, tt := range tests {
		got := cliConfig("/c", tt.mirrors, tt.allowed)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: missing %q in\n%s", tt.name, w, got)
			}
		}
		for _, a := range tt.absent {
			if strings.Contains(got, a) {
				t.Errorf("%s: unexpected %q in\n%s", tt.name, a, got)
			}
		}
	}
}
