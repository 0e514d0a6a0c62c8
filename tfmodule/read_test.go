/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfmodule

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/zclconf/go-cty/cty"
)

func tree(kv ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = &fstest.MapFile{Data: []byte(kv[i+1])}
	}
	return m
}

// One read gives every consumer what it needs: the checker's variables and outputs, the
// policy's resources, provisioners and providers, the tree's module calls, the journal's
// repeated addresses, and the backend blocks the runner overrides.
func TestReadDir(t *testing.T) {
	m := ReadDir(tree(
		"mod/main.tf", `
terraform {
  required_providers {
    aws   = { source = "hashicorp/aws" }
    extra = "~> 1.0"
  }
  backend "s3" {}
}
variable "region" {
  type      = string
  sensitive = true
}
variable "tags" {
  type    = map(string)
  default = {}
}
output "id" { value = 1 }
provider "aws" { region = var.region }
resource "aws_instance" "vm" {
  count    = 2
  provider = aws.west
  provisioner "local-exec" { command = "id" }
}
data "http" "x" { url = "https://example.com" }
module "net" {
  source   = "./net"
  for_each = toset([])
}
module "dyn" { source = var.region }
`,
		"mod/b.tf.json", `{"output": {"ip": {"value": 1, "sensitive": true}}}`,
		"mod/z_override.tf", `variable "region" { nullable = false }`,
		"mod/notes.txt", `not read`,
		"mod/net/main.tf", `not read either: subdirectories are other modules`,
	), "mod/")
	if len(m.AllProblems()) > 0 {
		t.Fatalf("problems: %v", m.AllProblems())
	}
	if want := []string{"mod/b.tf.json", "mod/main.tf", "mod/z_override.tf"}; !reflect.DeepEqual(m.Files, want) {
		t.Errorf("files %v, want %v", m.Files, want)
	}
	r := m.Variables["region"]
	if r == nil || r.Type != cty.String || !r.Sensitive || r.Nullable || r.HasDefault {
		t.Errorf("region: %+v", r)
	}
	if v := m.Variables["tags"]; v == nil || !v.HasDefault || !v.Type.Equals(cty.Map(cty.String)) || !v.Nullable {
		t.Errorf("tags: %+v", v)
	}
	if o := m.Outputs["ip"]; o == nil || !o.Sensitive || m.Outputs["id"].Sensitive {
		t.Errorf("outputs: %+v", m.Outputs)
	}
	want := []Resource{
		{Mode: "resource", Type: "aws_instance", Name: "vm", Repeated: true, Provider: "aws",
			Provisioners: []Block{{Label: "local-exec", At: "mod/main.tf:22"}}, At: "mod/main.tf:19"},
		{Mode: "data", Type: "http", Name: "x", Provider: "http", At: "mod/main.tf:24"},
	}
	if !reflect.DeepEqual(m.Resources, want) {
		t.Errorf("resources:\n got %+v\nwant %+v", m.Resources, want)
	}
	calls := []ModuleCall{
		{Name: "net", Source: "./net", Literal: true, Repeated: true, At: "mod/main.tf:25"},
		{Name: "dyn", At: "mod/main.tf:29"},
	}
	if !reflect.DeepEqual(m.Calls, calls) {
		t.Errorf("calls:\n got %+v\nwant %+v", m.Calls, calls)
	}
	if !reflect.DeepEqual(m.Providers, []Block{{Label: "aws", At: "mod/main.tf:18"}}) {
		t.Errorf("providers %+v", m.Providers)
	}
	if !reflect.DeepEqual(m.RequiredProviders, map[string]string{"aws": "hashicorp/aws"}) {
		t.Errorf("required providers %v", m.RequiredProviders)
	}
	if !reflect.DeepEqual(m.Backends, []Block{{Label: "s3", At: "mod/main.tf:7"}}) {
		t.Errorf("backends %+v", m.Backends)
	}
}

func TestReadDirProblems(t *testing.T) {
	tests := []struct {
		name  string
		fsys  fstest.MapFS
		dir   string
		read  []string // substrings of the read errors, in order
		parse []string // of the syntax errors
		decl  []string // of the declaration problems
	}{
		{name: "no directory", fsys: tree("a/main.tf", ""), dir: "b", read: []string{"module b: cannot be read"}},
		{name: "root unreadable names the module", fsys: fstest.MapFS{}, dir: "x", read: []string{"module x: cannot be read"}},
		{name: "syntax", fsys: tree("main.tf", `variable "x" {`), dir: ".",
			parse: []string{`file "main.tf": does not parse: main.tf:1`}},
		{name: "json syntax", fsys: tree("a.tf.json", `{`), dir: ".", parse: []string{`file "a.tf.json": does not parse`}},
		{name: "duplicate and override-only", fsys: tree(
			"a.tf", `variable "x" {}`, "b.tf", `variable "x" {}`, "override.tf", `output "y" {}`), dir: ".",
			decl: []string{`variable "x": declared twice (a.tf:1`, `output "y": declared only in override file override.tf`}},
		{name: "bad type and literals", fsys: tree("a.tf", `
variable "t" { type = strin }
variable "n" { nullable = var.x }
output "s" { sensitive = "yes" }`), dir: ".",
			decl: []string{`variable "t": invalid type`, `variable "n": nullable must be true or false`, `output "s": sensitive must be true or false`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := ReadDir(tc.fsys, tc.dir)
			for _, c := range []struct {
				got  []Problem
				want []string
			}{{m.ReadErrors, tc.read}, {m.SyntaxErrors, tc.parse}, {m.Problems, tc.decl}} {
				if len(c.got) != len(c.want) {
					t.Fatalf("got %v, want %q", c.got, c.want)
				}
				for i, w := range c.want {
					if !strings.Contains(c.got[i].String(), w) {
						t.Errorf("problem %d: %q, want %q in it", i, c.got[i], w)
					}
				}
			}
		})
	}
}

func TestProviderAddr(t *testing.T) {
	for _, tc := range []struct{ local, source, want string }{
		{"aws", "", "registry.terraform.io/hashicorp/aws"},
		{"terraform", "", BuiltinProvider},
		{"x", "Corp/X", "registry.terraform.io/corp/x"},
		{"x", "example.com/corp/x", "example.com/corp/x"},
	} {
		if got := ProviderAddr(tc.local, tc.source, "registry.terraform.io"); got != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.local, tc.source, got, tc.want)
		}
	}
}

func TestParseProviderPattern(t *testing.T) {
	for in, want := range map[string]string{
		"hashicorp/aws": "registry.terraform.io/hashicorp/aws", "Hashicorp/*": "registry.terraform.io/hashicorp/*",
		"*/*/*": "*/*/*", "example.com/team/*": "example.com/team/*",
		"*/aws": "", "*/x/*": "", "aws": "", "a/b/c/d": "", "a//b": "",
	} {
		p, err := ParseProviderPattern(in, "registry.terraform.io")
		if want == "" {
			if err == nil {
				t.Errorf("%q: want an error, got %v", in, p)
			}
			continue
		}
		if err != nil || p.String() != want {
			t.Errorf("%q: got %v, %v; want %s", in, p, err, want)
		}
	}
}

func TestSourceHost(t *testing.T) {
	for src, want := range map[string]string{
		"terraform-aws-modules/vpc/aws":                         "registry.terraform.io",
		"app.terraform.io/example-corp/k8s-cluster/azurerm":     "app.terraform.io",
		"github.com/hashicorp/example?ref=v1.2.0":               "github.com",
		"git::https://git.example.com/infra/vpc.git//sub?ref=x": "git.example.com",
		"git::ssh://git@Git.Example.com:2222/infra/vpc.git":     "git.example.com",
		"git@github.com:org/repo.git":                           "github.com",
		"https://example.com/vpc-module.zip":                    "example.com",
		"s3::https://s3-eu-west-1.amazonaws.com/bucket/vpc.zip": "s3-eu-west-1.amazonaws.com",
		"bitbucket.org/hashicorp/terraform-consul-aws":          "bitbucket.org",
	} {
		if got := SourceHost(src, "registry.terraform.io"); got != want {
			t.Errorf("SourceHost(%q) = %q, want %q", src, got, want)
		}
	}
}
