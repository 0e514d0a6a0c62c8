/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package planpolicy

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// plan is the shape `terraform show -json` prints (trimmed to what the policies read).
const plan = `{"format_version":"1.2","terraform_version":"1.5.7",
 "resource_changes":[
  {"address":"fakecloud_instance.this","type":"fakecloud_instance","name":"this","change":{"actions":["create"],"after":{"instance_type":"m5.24xlarge","tags":{}}}},
  {"address":"fakecloud_volume.data","type":"fakecloud_volume","name":"data","change":{"actions":["delete"],"before":{"size":10},"after":null}}
 ]}`

// A conftest policy in today's syntax (Rego v1).
const denyV1 = `package main

import rego.v1

deny contains msg if {
	some rc in input.resource_changes
	rc.type == "fakecloud_instance"
	rc.change.after.instance_type == "m5.24xlarge"
	msg := sprintf("%s: instance type %s is not allowed", [rc.address, rc.change.after.instance_type])
}

warn contains msg if {
	some rc in input.resource_changes
	"delete" in rc.change.actions
	msg := sprintf("%s is deleted", [rc.address])
}
`

// The same kind of policy as teams wrote it before OPA 1.0 (Rego v0), in another package, with
// conftest's object messages and a suffixed rule.
const violationV0 = `package terraform.tags

violation[{"msg": msg, "details": {}}] {
	rc := input.resource_changes[_]
	rc.change.after.tags
	not rc.change.after.tags.owner
	msg := sprintf("%s has no owner tag", [rc.address])
}

warn_versions[msg] {
	input.terraform_version != "1.5.7"
	msg := "unexpected terraform"
}
`

func TestEvaluate(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name      string
		files     map[string]string
		denials   []string
		warnings  []string
		errSubstr string
	}{
		{name: "v1 deny and warn", files: map[string]string{"deny.rego": denyV1},
			denials:  []string{"fakecloud_instance.this: instance type m5.24xlarge is not allowed (p, main.deny)"},
			warnings: []string{"fakecloud_volume.data is deleted (p, main.warn)"}},
		{name: "v0 violation objects in another package", files: map[string]string{"tags.rego": violationV0},
			denials: []string{"fakecloud_instance.this has no owner tag (p, terraform.tags.violation)"}},
		{name: "both files, one set", files: map[string]string{"deny.rego": denyV1, "tags.rego": violationV0},
			denials: []string{"fakecloud_instance.this: instance type m5.24xlarge is not allowed (p, main.deny)",
				"fakecloud_instance.this has no owner tag (p, terraform.tags.violation)"},
			warnings: []string{"fakecloud_volume.data is deleted (p, main.warn)"}},
		{name: "nothing to say", files: map[string]string{"ok.rego": "package main\n\ndeny contains msg if {\n\tinput.nothing\n\tmsg := \"x\"\n}\n"}},
		{name: "boolean rule", files: map[string]string{"b.rego": "package main\n\ndeny_always if true\n"},
			denials: []string{"main.deny_always is true (p, main.deny_always)"}},
		{name: "syntax error names file and line", files: map[string]string{"bad.rego": "package main\n\ndeny contains msg if {\n\tmsg := \n}\n"},
			errSubstr: "bad.rego:5"},
		{name: "compile error names file and line", files: map[string]string{"undef.rego": "package main\n\nimport rego.v1\n\ndeny contains msg if {\n\tmsg := undefined_fn(1)\n}\n"},
			errSubstr: "undef.rego:6"},
		{name: "network builtins are refused", files: map[string]string{"net.rego": "package main\n\nimport rego.v1\n\ndeny contains msg if {\n\tr := http.send({\"method\": \"get\", \"url\": \"http://x\"})\n\tmsg := r.body\n}\n"},
			errSubstr: "http.send"},
		{name: "evaluation error blocks", files: map[string]string{"conflict.rego": "package main\n\nimport rego.v1\n\nwarn := x if {\n\tsome rc in input.resource_changes\n\tx := rc.address\n}\n"},
			errSubstr: "conflict.rego:5"},
		{name: "no rego file", files: map[string]string{}, errSubstr: "no .rego file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Evaluate(ctx, []Set{{Name: "p", Files: tc.files}}, []byte(plan))
			if err != nil {
				t.Fatal(err)
			}
			if tc.errSubstr != "" {
				if len(v.Errors) != 1 || !strings.Contains(v.Errors[0], tc.errSubstr) || !v.Denied() {
					t.Fatalf("want one error naming %q that denies the plan, got %q", tc.errSubstr, v.Errors)
				}
				if err := Check(Set{Name: "p", Files: tc.files}); !strings.HasPrefix(tc.name, "evaluation") && (err == nil || !errors.As(err, new(*Error))) {
					t.Errorf("Check: want the compile error, got %v", err)
				}
				return
			}
			if got := strs(v.Denials); !reflect.DeepEqual(got, tc.denials) {
				t.Errorf("denials:\n got %q\nwant %q", got, tc.denials)
			}
			if got := strs(v.Warnings); !reflect.DeepEqual(got, tc.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", got, tc.warnings)
			}
			if v.Denied() != (len(tc.denials) > 0) {
				t.Errorf("Denied() = %t", v.Denied())
			}
		})
	}
}

func TestDigest(t *testing.T) {
	a := Set{Name: "a", Files: map[string]string{"x.rego": "package main"}}
	b := Set{Name: "a", Files: map[string]string{"x.rego": "package main\n"}}
	if a.Digest() == b.Digest() || Digest([]Set{a}) == Digest([]Set{b}) {
		t.Error("a changed file must change the digest")
	}
	if Digest(nil) != "" {
		t.Error("no policies: empty digest")
	}
	if err := Check(a); err != nil {
		t.Errorf("a set without rules is valid (it says nothing): %v", err)
	}
}

func TestEvaluateCachesCompiledSets(t *testing.T) {
	s := Set{Name: "cached", Files: map[string]string{"deny.rego": denyV1}}
	if err := Check(s); err != nil {
		t.Fatal(err)
	}
	c1, _ := compile(context.Background(), s)
	c2, _ := compile(context.Background(), s)
	if c1 != c2 {
		t.Error("the same set compiled twice")
	}
	bad := Set{Name: "bad", Files: map[string]string{"bad.rego": "package main\n\ndeny contains msg if {\n"}}
	_, err1 := compile(context.Background(), bad)
	_, err2 := compile(context.Background(), bad)
	if err1 == nil || err1 != err2 {
		t.Errorf("a set that does not compile is remembered with its error: %v, %v", err1, err2)
	}
}

func strs(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.String())
	}
	return out
}
