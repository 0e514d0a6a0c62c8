/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package modulecheck_test

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/zclconf/go-cty/cty"

	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/modules"
)

func TestBundledFamiliesPass(t *testing.T) {
	fams := modules.Families()
	for _, want := range []string{"simulated", "aws"} {
		found := false
		for _, f := range fams {
			found = found || f == want
		}
		if !found {
			t.Fatalf("family %q not embedded (have %v)", want, fams)
		}
	}
	for _, fam := range fams {
		for _, kind := range []string{contract.KindCluster, contract.KindMachine} {
			t.Run(fam+"/"+kind, func(t *testing.T) {
				mod, err := modules.Get(fam, kind)
				if err != nil {
					t.Fatal(err)
				}
				r := modulecheck.Check(mod, kind, nil)
				if !r.OK() {
					t.Fatalf("problems: %s", r.Error())
				}
				for _, w := range r.Warnings {
					t.Logf("warning: %s", w)
				}
			})
		}
	}
}

// minimal is a provider-free machine module that follows the contract.
const minimalMachine = `
variable "cluster_name" { type = string }
variable "machine_name" { type = string }
variable "user_data" {
  type      = string
  sensitive = true
}
variable "cluster" { type = any }
output "provider_id" { value = "custom://x/${var.machine_name}" }
output "instance_id" { value = var.machine_name }
output "instance_state" { value = "running" }
output "addresses" { value = [] }
output "failure_domain" { value = "" }
`

const minimalCluster = `
variable "cluster_name" { type = string }
variable "region" { type = string }
variable "subnets" {
  type = list(object({
    cidr_block = string
    is_public  = optional(bool, false)
  }))
  default = []
}
variable "replicas" {
  type    = number
  default = 1
}
variable "extra" {
  type = object({
    name = string
    size = optional(number, 10)
  })
  default = null
}
output "control_plane_endpoint" { value = { host = "h", port = 6443 } }
output "vpc_id" { value = "" }
output "subnet_ids" { value = [] }
output "security_group_ids" { value = [] }
output "load_balancer" { value = null }
output "failure_domains" { value = [] }
`

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		kind     string
		files    map[string]string
		extra    map[string]cty.Value
		problems []string // substrings, one per expected problem, in order
	}{
		{name: "minimal machine passes", kind: "machine", files: map[string]string{"main.tf": minimalMachine}},
		{name: "minimal cluster passes", kind: "cluster", files: map[string]string{"main.tf": minimalCluster}},
		{
			name: "missing required output", kind: "cluster",
			files:    map[string]string{"main.tf": strings.Replace(minimalCluster, `output "control_plane_endpoint"`, `output "endpoint"`, 1)},
			problems: []string{`output "control_plane_endpoint": is missing; the cluster contract requires it`},
		},
		{
			name: "missing provider_id", kind: "machine",
			files:    map[string]string{"main.tf": strings.Replace(minimalMachine, `output "provider_id"`, `output "pid"`, 1)},
			problems: []string{`output "provider_id": is missing`},
		},
		{
			name: "sensitive required output", kind: "machine",
			files:    map[string]string{"main.tf": minimalMachine + "\n", "x_override.tf": `output "provider_id" { sensitive = true }`},
			problems: []string{`output "provider_id": is sensitive`},
		},
		{
			name: "wrong type", kind: "cluster",
			files:    map[string]string{"main.tf": strings.Replace(minimalCluster, `variable "region" { type = string }`, `variable "region" { type = list(string) }`, 1)},
			problems: []string{`variable "region": type list(string) is not compatible with string`},
		},
		{
			name: "wrong nested type", kind: "cluster",
			files:    map[string]string{"main.tf": strings.Replace(minimalCluster, `is_public  = optional(bool, false)`, `is_public = number`, 1)},
			problems: []string{`variable "subnets": type list(object({cidr_block=string,is_public=number})) is not compatible with`},
		},
		{
			name: "required attribute the controllers do not pass", kind: "cluster",
			files:    map[string]string{"main.tf": strings.Replace(minimalCluster, `cidr_block = string`, "cidr_block = string\n    route_table = string", 1)},
			problems: []string{`variable "subnets": type list(object({cidr_block=string,is_public=bool,route_table=string})) is not compatible with list(object({availability_zone=string,cidr_block=string,id=string,is_public=bool})) (what the controllers pass); required attributes the controllers never pass: route_table`},
		},
		{
			name: "missing required variable", kind: "machine",
			files:    map[string]string{"main.tf": minimalMachine, "more.tf": `variable "zone_id" { type = string }`},
			problems: []string{`variable "zone_id": is required (no default) but neither the machine contract nor spec.variables provides it`},
		},
		{
			name: "required variable given in spec.variables", kind: "machine",
			files: map[string]string{"main.tf": minimalMachine, "more.tf": `variable "zone_id" { type = string }`},
			extra: map[string]cty.Value{"zone_id": cty.StringVal("z-1")},
		},
		{
			name: "unknown extra variable", kind: "cluster",
			files:    map[string]string{"main.tf": minimalCluster},
			extra:    map[string]cty.Value{"replica": cty.NumberIntVal(3)},
			problems: []string{`spec.variables "replica": is not a variable of the module (declared: extra, replicas)`},
		},
		{
			name: "extra variable of the wrong type", kind: "cluster",
			files:    map[string]string{"main.tf": minimalCluster},
			extra:    map[string]cty.Value{"replicas": cty.StringVal("three")},
			problems: []string{`spec.variables "replicas": value of type string cannot be converted to the declared type number`},
		},
		{
			name: "non-nullable contract variable the controllers may pass as null", kind: "machine",
			files: map[string]string{"main.tf": minimalMachine, "ssh.tf": `
variable "ssh_key_name" {
  type     = string
  nullable = false
}`},
			problems: []string{`variable "ssh_key_name": declared nullable = false without a default`},
		},
		{
			name: "syntax error names the file", kind: "cluster",
			files:    map[string]string{"main.tf": minimalCluster, "broken.tf": `variable "x" {`},
			problems: []string{`file "broken.tf": does not parse`},
		},
		{
			name: "no terraform files", kind: "cluster",
			files:    map[string]string{"README.md": "hi"},
			problems: []string{`module: has no .tf or .tf.json files`},
		},
		{
			name: "duplicate variable", kind: "machine",
			files:    map[string]string{"main.tf": minimalMachine, "dup.tf": `variable "machine_name" {}`},
			problems: []string{`variable "machine_name": declared twice`},
		},
		{
			name: "json module", kind: "machine",
			files: map[string]string{"main.tf.json": `{
  "variable": {"machine_name": {"type": "string"}},
  "output": {"provider_id": {"value": "custom://x/${var.machine_name}"}}
}`},
		},
		{
			name: "several problems are all listed", kind: "cluster",
			files:    map[string]string{"main.tf": `variable "region" { type = bool }` + "\n" + `variable "token" {}`},
			extra:    map[string]cty.Value{"nope": cty.True},
			problems: []string{`variable "region"`, `spec.variables "nope"`, `variable "token": is required`, `output "control_plane_endpoint": is missing`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for n, c := range tc.files {
				fsys[n] = &fstest.MapFile{Data: []byte(c)}
			}
			r := modulecheck.Check(fsys, tc.kind, tc.extra)
			if len(r.Problems) != len(tc.problems) {
				t.Fatalf("got %d problems, want %d: %s", len(r.Problems), len(tc.problems), r.Error())
			}
			for i, want := range tc.problems {
				if got := r.Problems[i].String(); !strings.Contains(got, want) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got, want)
				}
			}
		})
	}
}

func TestConvertsExtraVariables(t *testing.T) {
	fsys := fstest.MapFS{"main.tf": &fstest.MapFile{Data: []byte(minimalCluster)}}
	r := modulecheck.Check(fsys, "cluster", map[string]cty.Value{
		"replicas": cty.StringVal("3"), // JSON "3" becomes the declared number
		"extra":    cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("x")}),
		"region":   cty.StringVal("ignored"),
	})
	if !r.OK() {
		t.Fatal(r.Error())
	}
	if got := r.Variables["replicas"]; !got.RawEquals(cty.NumberIntVal(3)) {
		t.Errorf("replicas = %#v, want number 3", got)
	}
	wantExtra := cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("x"), "size": cty.NumberIntVal(10)})
	if got := r.Variables["extra"]; !got.RawEquals(wantExtra) {
		t.Errorf("extra = %#v, want %#v (optional default applied)", got, wantExtra)
	}
	if _, ok := r.Variables["region"]; ok {
		t.Errorf("a spec.variables key shadowed by a contract variable must be left out")
	}
	if len(r.Warnings) == 0 || !strings.Contains(r.Warnings[0].String(), `spec.variables "region": ignored`) {
		t.Errorf("want a warning for the shadowed key, got %v", r.Warnings)
	}
}

func TestWarnsAboutAttributesNeverPassed(t *testing.T) {
	fsys := fstest.MapFS{"main.tf": &fstest.MapFile{Data: []byte(minimalCluster + `
variable "load_balancer" {
  type = object({
    port                      = optional(number, 6443)
    cross_zone_load_balancing = optional(bool, false)
  })
  default = {}
}`)}}
	r := modulecheck.Check(fsys, "cluster", nil)
	if !r.OK() {
		t.Fatal(r.Error())
	}
	found := false
	for _, w := range r.Warnings {
		found = found || strings.Contains(w.String(), `variable "load_balancer": attribute cross_zone_load_balancing is declared but never passed`)
	}
	if !found {
		t.Errorf("want a warning naming cross_zone_load_balancing, got %v", r.Warnings)
	}
}

func TestCacheParsesOncePerKey(t *testing.T) {
	c := modulecheck.NewCache(2)
	fsys := fstest.MapFS{"main.tf": &fstest.MapFile{Data: []byte(minimalMachine)}}
	if r := c.Check("k", fsys, "machine", nil); !r.OK() {
		t.Fatal(r.Error())
	}
	// Same key, different files: the cached parse is used (the key is the files' digest).
	broken := fstest.MapFS{"main.tf": &fstest.MapFile{Data: []byte("{")}}
	if r := c.Check("k", broken, "machine", nil); !r.OK() {
		t.Fatalf("cache miss: %s", r.Error())
	}
	if r := c.Check("other", broken, "machine", nil); r.OK() {
		t.Fatal("a new key must be parsed")
	}
}

// The minimal module in modules/README.md must pass the check it documents.
func TestReadmeExamplePasses(t *testing.T) {
	b, err := os.ReadFile("../modules/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{contract.KindCluster, contract.KindMachine} {
		marker := "`" + kind + "/main.tf`:\n\n```hcl\n"
		i := strings.Index(string(b), marker)
		if i < 0 {
			t.Fatalf("README has no %s example", kind)
		}
		body := string(b)[i+len(marker):]
		body = body[:strings.Index(body, "```")]
		r := modulecheck.Check(fstest.MapFS{"main.tf": &fstest.MapFile{Data: []byte(body)}}, kind, nil)
		if !r.OK() {
			t.Errorf("README %s example: %s", kind, r.Error())
		}
	}
}

// health is an extension output: a module without it is not warned about; one that has it
// sensitive is (the controllers would never read it).
func TestHealthOutputIsAnExtension(t *testing.T) {
	fsys := fstest.MapFS{"main.tf": &fstest.MapFile{Data: []byte(minimalMachine)}}
	if r := modulecheck.Check(fsys, contract.KindMachine, nil); !r.OK() || len(r.Warnings) != 0 {
		t.Fatalf("a machine module without health: problems %v, warnings %v", r.Problems, r.Warnings)
	}
	fsys["health.tf"] = &fstest.MapFile{Data: []byte(`output "health" {
  value     = "healthy"
  sensitive = true
}`)}
	if r := modulecheck.Check(fsys, contract.KindMachine, nil); !r.OK() || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0].String(), `output "health"`) {
		t.Fatalf("a sensitive health output: problems %v, warnings %v", r.Problems, r.Warnings)
	}
}

// A module's own backend is replaced by the runner's (state lives in Secrets): a warning, not
// a refusal, so a module written for a team's S3 backend runs as it is.
func TestBackendIsWarned(t *testing.T) {
	fsys := fstest.MapFS{"main.tf": &fstest.MapFile{Data: []byte(minimalMachine)},
		"backend.tf": &fstest.MapFile{Data: []byte(`terraform {
  backend "s3" { bucket = "team-state" }
}`)}}
	r := modulecheck.Check(fsys, contract.KindMachine, nil)
	if !r.OK() || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0].String(), `backend "s3" (backend.tf:2): is ignored`) {
		t.Fatalf("problems %v, warnings %v", r.Problems, r.Warnings)
	}
}
