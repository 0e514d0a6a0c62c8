/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/modulecheck"
)

func cpol(name string, match map[string]string, spec infrav1.CustomPolicySpec) infrav1.CustomPolicy {
	spec.NamespaceSelector = metav1.LabelSelector{MatchLabels: match}
	return infrav1.CustomPolicy{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

func TestGoverning(t *testing.T) {
	all := []infrav1.CustomPolicy{
		cpol("z-team-a", map[string]string{"team": "a"}, infrav1.CustomPolicySpec{}),
		cpol("everyone", nil, infrav1.CustomPolicySpec{}),
		cpol("team-b", map[string]string{"team": "b"}, infrav1.CustomPolicySpec{}),
	}
	got, err := governing(all, "ns-a", map[string]string{"team": "a"})
	if err != nil || len(got.policies) != 2 || got.policies[0].Name != "everyone" || got.policies[1].Name != "z-team-a" {
		t.Fatalf("team a: %+v, %v", got.policies, err)
	}
	if got, _ := governing(all, "ns-c", nil); len(got.policies) != 1 {
		t.Errorf("an empty selector selects every namespace, the others none: %+v", got.policies)
	}
	bad := cpol("bad", nil, infrav1.CustomPolicySpec{})
	bad.Spec.NamespaceSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "team", Operator: "Near"}}
	var re *RulesError
	if _, err := governing(append(all, bad), "ns-c", nil); !errors.As(err, &re) || !strings.Contains(err.Error(), "CustomPolicy bad") {
		t.Errorf("a selector that does not parse refuses, naming its policy: %v", err)
	}
}

// Several policies combine by intersection: each must allow what the object uses.
func TestAllowModuleIntersection(t *testing.T) {
	kinds := func(k ...infrav1.ModuleKind) *infrav1.ModuleRules { return &infrav1.ModuleRules{Kinds: k} }
	onlyBundled := cpol("bundled-only", nil, infrav1.CustomPolicySpec{Modules: kinds(infrav1.ModuleKindBundled, infrav1.ModuleKindPath)})
	simulated := cpol("simulated", nil, infrav1.CustomPolicySpec{Modules: &infrav1.ModuleRules{Bundled: []string{"simulated"}}})
	paths := cpol("paths", nil, infrav1.CustomPolicySpec{Modules: &infrav1.ModuleRules{PathPrefixes: []string{"teams/a/"}}})
	sources := cpol("sources", nil, infrav1.CustomPolicySpec{Modules: &infrav1.ModuleRules{SourceNamespaces: []string{"flux-system"}}})
	flux := func(ns string) *infrav1.ModuleSource {
		return &infrav1.ModuleSource{SourceRef: &infrav1.SourceReference{Kind: "GitRepository", Name: "m", Namespace: ns}}
	}
	cases := []struct {
		name     string
		policies []infrav1.CustomPolicy
		src      *infrav1.ModuleSource
		refusal  string // "" when allowed
	}{
		{"no policy: the flags alone", nil, &infrav1.ModuleSource{Source: "x"}, ""},
		{"default module is bundled simulated", []infrav1.CustomPolicy{onlyBundled, simulated}, nil, ""},
		{"a kind outside the list", []infrav1.CustomPolicy{onlyBundled}, &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "m"}},
			"ConfigMap modules are not allowed by CustomPolicy bundled-only (allowed: Bundled, Path)"},
		{"a bundled family the second policy does not list", []infrav1.CustomPolicy{onlyBundled, simulated}, &infrav1.ModuleSource{Name: "aws"},
			`bundled module "aws" is not allowed by CustomPolicy simulated (allowed: simulated)`},
		{"a path under the prefix", []infrav1.CustomPolicy{onlyBundled, paths}, &infrav1.ModuleSource{Path: "teams/a/vpc"}, ""},
		{"a path beside the prefix", []infrav1.CustomPolicy{onlyBundled, paths}, &infrav1.ModuleSource{Path: "teams/ab/vpc"},
			`"teams/ab/vpc" is not under the path prefixes of CustomPolicy paths (teams/a/)`},
		{"a Flux source in the object's namespace", []infrav1.CustomPolicy{sources}, flux(""), ""},
		{"a Flux source in a listed namespace", []infrav1.CustomPolicy{sources}, flux("flux-system"), ""},
		{"a Flux source elsewhere", []infrav1.CustomPolicy{sources}, flux("team-b"),
			"namespace team-b is not in the source namespaces of CustomPolicy sources (flux-system)"},
		{"kinds of one policy, sources of another", []infrav1.CustomPolicy{onlyBundled, sources}, flux("flux-system"),
			"FluxSource modules are not allowed by CustomPolicy bundled-only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tenant{namespace: "team-a", policies: tc.policies}.allowModule(tc.src)
			if tc.refusal == "" {
				if err != nil {
					t.Fatalf("want allowed, got %v", err)
				}
				return
			}
			var pe *modulecheck.PolicyError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.refusal) {
				t.Fatalf("want a refusal naming %q, got %v", tc.refusal, err)
			}
		})
	}
}

// A rule only narrows the flags: providers must be in every list, any one policy refuses
// provisioners or remote modules, and remote hosts must be in every list.
func TestNarrow(t *testing.T) {
	flags, err := modulecheck.NewPolicy(true, "hashicorp/*,fakecloud/*", "registry.terraform.io")
	if err != nil {
		t.Fatal(err)
	}
	base := ModuleRules{Policy: flags, AllowRemote: true}
	aws := cpol("aws-only", nil, infrav1.CustomPolicySpec{Providers: []string{"hashicorp/aws", "fakecloud/*"}, AllowProvisioners: ptr.To(false)})
	fc := cpol("fakecloud-only", nil, infrav1.CustomPolicySpec{Providers: []string{"fakecloud/fakecloud"}, AllowProvisioners: ptr.To(true)})
	hosts := cpol("github", nil, infrav1.CustomPolicySpec{Modules: &infrav1.ModuleRules{RemoteHosts: []string{"github.com"}}})
	noRemote := cpol("no-remote", nil, infrav1.CustomPolicySpec{Modules: &infrav1.ModuleRules{Kinds: []infrav1.ModuleKind{infrav1.ModuleKindBundled}}})

	r, err := tenant{policies: []infrav1.CustomPolicy{aws, fc, hosts}}.narrow(base)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{
		"registry.terraform.io/fakecloud/fakecloud": "",
		"registry.terraform.io/hashicorp/aws":       "the provider allow-list of CustomPolicy fakecloud-only",
		"registry.terraform.io/hashicorp/google":    "the provider allow-list of CustomPolicy aws-only",
		"registry.terraform.io/evil/exfiltrate":     "the manager's provider allow-list",
	} {
		src := strings.TrimPrefix(addr, "registry.terraform.io/")
		mod := fstest.MapFS{"main.tf": {Data: []byte(`terraform {
  required_providers {
    p = { source = "` + src + `" }
  }
}
resource "p_thing" "a" {}
`)}}
		problems := r.Policy.Check(mod)
		if want == "" && len(problems) > 0 || want != "" && (len(problems) != 1 || !strings.Contains(problems[0].Message, "is not in "+want)) {
			t.Errorf("%s: %v, want refused by %q", addr, problems, want)
		}
	}
	if r.Policy.AllowProvisioners || r.Policy.ProvisionersRefusedBy != "CustomPolicy aws-only" {
		t.Errorf("one policy refusing provisioners refuses them: %+v", r.Policy)
	}
	if why := r.remoteRefusal("git::https://gitlab.example.com/m.git"); !strings.Contains(why, "host gitlab.example.com is not in the remote hosts of CustomPolicy github") {
		t.Errorf("remote host: %q", why)
	}
	if why := r.remoteRefusal("github.com/org/module"); why != "" {
		t.Errorf("a listed host: %q", why)
	}
	if base.Policy.Narrowing != nil || !base.Policy.AllowProvisioners {
		t.Error("narrow must not change the manager's rules")
	}

	r, _ = tenant{policies: []infrav1.CustomPolicy{noRemote}}.narrow(base)
	if why := r.remoteRefusal("github.com/org/module"); !strings.Contains(why, "CustomPolicy no-remote allows no remote module") {
		t.Errorf("kinds without Remote refuse remote calls too: %q", why)
	}
	r, _ = tenant{policies: []infrav1.CustomPolicy{fc}}.narrow(ModuleRules{Policy: modulecheck.Policy{}})
	if r.Policy.AllowProvisioners || r.remoteRefusal("github.com/x/y") == "" {
		t.Error("a policy never widens the flags (provisioners, remote modules)")
	}

	bad := cpol("typo", nil, infrav1.CustomPolicySpec{Providers: []string{"hashicorp"}})
	var re *RulesError
	if _, err := (tenant{policies: []infrav1.CustomPolicy{bad}}).narrow(base); !errors.As(err, &re) || !strings.Contains(err.Error(), "CustomPolicy typo") {
		t.Errorf("a provider pattern that does not parse refuses: %v", err)
	}
}

func TestPlanPoliciesUnion(t *testing.T) {
	cm := func(n string) infrav1.PlanPolicySource {
		return infrav1.PlanPolicySource{ConfigMapRef: &infrav1.LocalObjectReference{Name: n}}
	}
	git := infrav1.PlanPolicySource{SourceRef: &infrav1.SourceReference{Kind: "GitRepository", Name: "policies", Namespace: "flux-system"}, Path: "./terraform/"}
	a := cpol("a", nil, infrav1.CustomPolicySpec{PlanPolicies: []infrav1.PlanPolicySource{cm("sizes"), git}})
	b := cpol("b", nil, infrav1.CustomPolicySpec{PlanPolicies: []infrav1.PlanPolicySource{cm("tags"), cm("sizes")}})
	got := tenant{policies: []infrav1.CustomPolicy{a, b}}.planPolicies()
	var names []string
	for _, s := range got {
		names = append(names, policySourceName(s, "capc-system"))
	}
	if want := "ConfigMap capc-system/sizes|GitRepository flux-system/policies terraform|ConfigMap capc-system/tags"; strings.Join(names, "|") != want {
		t.Errorf("plan policies of all governing policies, each once:\n got %s\nwant %s", strings.Join(names, "|"), want)
	}
}
