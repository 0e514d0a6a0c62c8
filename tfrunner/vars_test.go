/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// readTfvars evaluates a tfvars file the way terraform does: HCL native syntax, no variables or
// functions in scope, so a literal "${...}" can only survive as text.
func readTfvars(t *testing.T, src []byte) map[string]cty.Value {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, "terraform.tfvars", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse: %v\n%s", diags, src)
	}
	attrs, diags := f.Body.JustAttributes()
	if diags.HasErrors() {
		t.Fatalf("attributes: %v", diags)
	}
	out := map[string]cty.Value{}
	for name, a := range attrs {
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			t.Fatalf("evaluating %s: %v\n%s", name, diags, src)
		}
		out[name] = v
	}
	return out
}

func TestRenderVariables(t *testing.T) {
	tests := []struct {
		name string
		in   cty.Value
		// want is what terraform reads back (object/tuple literals for collections).
		want cty.Value
	}{
		{"string", cty.StringVal("eu-west-1"), cty.StringVal("eu-west-1")},
		{"empty string", cty.StringVal(""), cty.StringVal("")},
		{"interpolation", cty.StringVal("${file(\"/etc/passwd\")}"), cty.StringVal("${file(\"/etc/passwd\")}")},
		{"directive", cty.StringVal("%{ for x in [1] }${x}%{ endfor }"), cty.StringVal("%{ for x in [1] }${x}%{ endfor }")},
		{"already escaped", cty.StringVal("$${x} %%{y}"), cty.StringVal("$${x} %%{y}")},
		{"quotes and newlines", cty.StringVal("a\"b\\c\nd\te"), cty.StringVal("a\"b\\c\nd\te")},
		{"heredoc marker", cty.StringVal("<<EOT\nx\nEOT"), cty.StringVal("<<EOT\nx\nEOT")},
		{"unicode", cty.StringVal("zoné-日本-🚀"), cty.StringVal("zoné-日本-🚀")},
		{"int", cty.NumberIntVal(6443), cty.NumberIntVal(6443)},
		{"negative float", cty.NumberFloatVal(-1.5), cty.NumberFloatVal(-1.5)},
		{"bool", cty.True, cty.True},
		{"null string", cty.NullVal(cty.String), cty.NullVal(cty.DynamicPseudoType)},
		{"null dynamic", cty.NullVal(cty.DynamicPseudoType), cty.NullVal(cty.DynamicPseudoType)},
		{"list", cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("${b}")}),
			cty.TupleVal([]cty.Value{cty.StringVal("a"), cty.StringVal("${b}")})},
		{"empty list", cty.ListValEmpty(cty.String), cty.EmptyTupleVal},
		{"set", cty.SetVal([]cty.Value{cty.StringVal("x")}), cty.TupleVal([]cty.Value{cty.StringVal("x")})},
		{"map", cty.MapVal(map[string]cty.Value{"team": cty.StringVal("infra"), "odd key ${x}": cty.StringVal("v")}),
			cty.ObjectVal(map[string]cty.Value{"team": cty.StringVal("infra"), "odd key ${x}": cty.StringVal("v")})},
		{"empty map", cty.MapValEmpty(cty.String), cty.EmptyObjectVal},
		{"object", cty.ObjectVal(map[string]cty.Value{
			"size": cty.NumberIntVal(20), "encrypted": cty.False, "type": cty.NullVal(cty.String),
			"nested": cty.ObjectVal(map[string]cty.Value{"cidr": cty.StringVal("10.0.0.0/16")}),
		}), cty.ObjectVal(map[string]cty.Value{
			"size": cty.NumberIntVal(20), "encrypted": cty.False, "type": cty.NullVal(cty.DynamicPseudoType),
			"nested": cty.ObjectVal(map[string]cty.Value{"cidr": cty.StringVal("10.0.0.0/16")}),
		})},
		{"marked", cty.StringVal("s").Mark("sensitive"), cty.StringVal("s")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := RenderVariables(map[string]cty.Value{"v": tt.in})
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			got := readTfvars(t, src)["v"]
			if !got.RawEquals(tt.want) {
				t.Fatalf("terraform reads %#v, want %#v\nsource:\n%s", got, tt.want, src)
			}
		})
	}
}

func TestRenderVariablesErrors(t *testing.T) {
	tests := map[string]map[string]cty.Value{
		"bad name": {"not-valid name": cty.StringVal("x")},
		"unknown":  {"v": cty.UnknownVal(cty.String)},
		"nil":      {"v": cty.NilVal},
	}
	for name, vars := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := RenderVariables(vars); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestRenderVariablesStableAndHashed(t *testing.T) {
	vars := map[string]cty.Value{"b": cty.StringVal("2"), "a": cty.StringVal("1"), "c": cty.True}
	first, _ := RenderVariables(vars)
	for i := 0; i < 20; i++ {
		again, _ := RenderVariables(vars)
		if string(again) != string(first) {
			t.Fatal("rendering is not stable")
		}
	}
	if strings.Index(string(first), "a ") > strings.Index(string(first), "b ") {
		t.Fatalf("not sorted:\n%s", first)
	}
	h := InputsHash(first, "d1", "1.5.7")
	for _, other := range []string{InputsHash(first, "d2", "1.5.7"), InputsHash(first, "d1", "1.5.8"), InputsHash(append(first, ' '), "d1", "1.5.7")} {
		if other == h {
			t.Fatal("inputs hash ignores an input")
		}
	}
}

func TestRedactor(t *testing.T) {
	vars := map[string]cty.Value{
		"user_data": cty.StringVal("tok-123\"x"),
		"creds":     cty.ObjectVal(map[string]cty.Value{"key": cty.StringVal("AKIA-secret"), "n": cty.NumberIntVal(1)}),
		"public":    cty.StringVal("region-1"),
		"short":     cty.StringVal("ab"),
	}
	r := newRedactor(vars, []string{"user_data", "creds", "short", "missing"}, map[string]string{"AWS_SECRET": "env-secret"})
	in := `value "tok-123\"x" and tok-123"x, AKIA-secret, env-secret in region-1 about ab`
	got := r.redact(in)
	for _, leak := range []string{"tok-123", "AKIA-secret", "env-secret"} {
		if strings.Contains(got, leak) {
			t.Fatalf("%q leaked in %q", leak, got)
		}
	}
	if !strings.Contains(got, "region-1") || !strings.Contains(got, "about ab") {
		t.Fatalf("over-redacted: %q", got)
	}
}

func TestCheckEnv(t *testing.T) {
	for env, want := range map[string]string{
		"AWS_ACCESS_KEY_ID=AKIAXXXX":        "",
		"TF_TOKEN_app_terraform_io=tok-123": "",
		"PATH=/evil":                        `key "PATH" would change where terraform finds programs`,
		"TF_CLI_CONFIG_FILE=/x":             `key "TF_CLI_CONFIG_FILE" would configure terraform itself`,
		"TF_VAR_region=eu-west-1":           `key "TF_VAR_region" would configure terraform itself`,
		"KUBECONFIG=/root/.kube/config":     `key "KUBECONFIG" would hand terraform Kubernetes credentials`,
		"LD_PRELOAD=/tmp/x.so":              `key "LD_PRELOAD" would change what the dynamic loader`,
		"my-key=value":                      `key "my-key" is not a valid environment variable name`,
		"RETRY_TIMEOUT=5s":                  "",
		"GIT_SSH_COMMAND=touch /tmp/x":      `key "GIT_SSH_COMMAND" would make git or ssh`,
		"GIT_CONFIG_COUNT=1":                `key "GIT_CONFIG_COUNT" would make git or ssh`,
		"SSH_ASKPASS=/tmp/x":                `key "SSH_ASKPASS" would make git or ssh`,
		"BASH_ENV=/tmp/x":                   `key "BASH_ENV" would make a shell`,
		"ENV=/tmp/x":                        `key "ENV" would make a shell`,
		"PS4=$(touch /tmp/x)":               `key "PS4" would make a shell`,
		"PYTHONSTARTUP=/tmp/x.py":           `key "PYTHONSTARTUP" would make a language runtime`,
		"NODE_OPTIONS=--require /tmp/x":     `key "NODE_OPTIONS" would make a language runtime`,
		"PERL5OPT=-Mx":                      `key "PERL5OPT" would make a language runtime`,
		"AWS_CONFIG_FILE=./cfg":             `key "AWS_CONFIG_FILE" names a program to run or a file`,
		"GOOGLE_APPLICATION_CREDENTIALS=/x": `key "GOOGLE_APPLICATION_CREDENTIALS" names a program to run or a file`,
		"OPENSSL_CONF=/tmp/x":               `key "OPENSSL_CONF" names a program to run or a file`,
		"XDG_CONFIG_HOME=/tmp":              `key "XDG_CONFIG_HOME" names a program to run or a file`,
		"GLIBC_TUNABLES=x":                  `key "GLIBC_TUNABLES" would change what the dynamic loader`,
		"aws_access_key_id=AKIA":            "",
		"GOOGLE_CREDENTIALS={}":             "",
		"ARM_CLIENT_SECRET=abc":             "",
		"PSQL_PASSWORD=abc":                 "",
		"EMPTY=":                            "",
	} {
		k, v, _ := strings.Cut(env, "=")
		err := CheckEnv(map[string]string{k: v})
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", env, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) || (len(v) > 2 && strings.Contains(err.Error(), v)) {
			t.Errorf("%s: got %v, want %q (and never the value)", env, err, want)
		}
	}
}

func TestCheckSensitive(t *testing.T) {
	vars := map[string]cty.Value{"user_data": cty.StringVal("ab"), "ok": cty.StringVal("abc"),
		"nested": cty.ObjectVal(map[string]cty.Value{"k": cty.StringVal("x")}), "plain": cty.StringVal("x")}
	if err := checkSensitive(vars, []string{"ok", "plain_missing"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"user_data", "nested"} {
		if err := checkSensitive(vars, []string{name}); err == nil || !strings.Contains(err.Error(), "sensitive variable "+name) {
			t.Errorf("%s: got %v", name, err)
		}
	}
}
