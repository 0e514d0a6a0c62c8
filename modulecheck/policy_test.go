/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package modulecheck

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/company/cluster-api-provider-custom/tfmodule"
)

func TestPolicyCheck(t *testing.T) {
	allow := func(s ...string) []ProviderPattern {
		var out []ProviderPattern
		for _, x := range s {
			p, err := tfmodule.ParseProviderPattern(x, "registry.terraform.io")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
	files := func(kv ...string) fstest.MapFS {
		m := fstest.MapFS{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
		}
		return m
	}
	localExec := `resource "terraform_data" "x" {
  provisioner "local-exec" { command = "id" }
}`
	tests := []struct {
		name   string
		policy Policy
		fsys   fstest.MapFS
		want   []string // substrings, one per problem, in order
	}{
		{"provisioner refused", Policy{}, files("main.tf", localExec),
			[]string{`provisioner "local-exec": in resource "terraform_data" "x" (main.tf:2) is not allowed`}},
		{"provisioner allowed", Policy{AllowProvisioners: true}, files("main.tf", localExec), nil},
		{"provisioner in a called module's file", Policy{}, files("main.tf", `module "m" { source = "./modules/m" }`,
			"modules/m/main.tf", `resource "null_resource" "n" {
  provisioner "remote-exec" { inline = ["id"] }
}`), []string{`provisioner "remote-exec": in resource "null_resource" "n" (modules/m/main.tf:2)`}},
		{"provisioner in JSON", Policy{}, files("main.tf.json",
			`{"resource": {"terraform_data": {"x": {"provisioner": [{"local-exec": {"command": "id"}}]}}}}`),
			[]string{`provisioner "local-exec"`}},
		{"no allow-list: any provider", Policy{}, files("main.tf", `resource "external_thing" "x" {}`), nil},
		{"implied provider outside the allow-list", Policy{Providers: allow("hashicorp/aws")},
			files("main.tf", `data "external" "x" { program = ["id"] }`),
			[]string{`provider "registry.terraform.io/hashicorp/external": used by data "external" "x" (main.tf:1) is not in the manager's provider allow-list (registry.terraform.io/hashicorp/aws)`}},
		{"declared source outside the allow-list", Policy{Providers: allow("hashicorp/*")}, files("main.tf", `terraform {
  required_providers {
    aws = { source = "evil/aws", version = "1.0" }
  }
}
resource "aws_instance" "x" {}`), []string{`provider "registry.terraform.io/evil/aws": used by resource "aws_instance" "x" (main.tf:6)`}},
		{"allowed, builtin and meta-argument", Policy{Providers: allow("registry.terraform.io/hashicorp/aws")}, files("main.tf", `
provider "aws" { alias = "west" }
resource "aws_instance" "x" { provider = aws.west }
resource "terraform_data" "t" {}
`), nil},
		{"provider block of an unlisted provider", Policy{Providers: allow("hashicorp/aws")},
			files("main.tf", `provider "google" {}`), []string{`provider "registry.terraform.io/hashicorp/google": used by provider "google" (main.tf:1)`}},
		{"OpenTofu default host", Policy{Providers: allow("registry.opentofu.org/hashicorp/*"), DefaultHost: "registry.opentofu.org"},
			files("main.tf", `resource "aws_instance" "x" {}`), nil},
		{"each provider once", Policy{Providers: allow("hashicorp/aws")},
			files("a.tf", `resource "google_x" "a" {}`, "b.tf", `resource "google_y" "b" {}`), []string{`used by resource "google_x" "a" (a.tf:1)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.policy.DefaultHost == "" {
				tt.policy.DefaultHost = "registry.terraform.io"
			}
			got := tt.policy.Check(tt.fsys)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d problems %v, want %d", len(got), got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i].String(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

// The cache answers a module it has seen by its digest, per policy.
func TestCachedPolicy(t *testing.T) {
	c := NewCache(2)
	exec := fstest.MapFS{"main.tf": &fstest.MapFile{Data: []byte(`resource "terraform_data" "x" {
  provisioner "local-exec" { command = "id" }
}`)}}
	if got := c.CheckPolicy("d1", exec, Policy{}); len(got) != 1 {
		t.Fatalf("first check: %v", got)
	}
	if got := c.CheckPolicy("d1", fstest.MapFS{}, Policy{}); len(got) != 1 {
		t.Errorf("same digest and policy: want the cached verdict, got %v", got)
	}
	if got := c.CheckPolicy("d1", exec, Policy{AllowProvisioners: true}); len(got) != 0 {
		t.Errorf("another policy is another verdict: %v", got)
	}
}
