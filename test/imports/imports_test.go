/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package imports checks the rules of which package may import which (README, Architecture):
// the rooms stay rooms.
package imports

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/company/cluster-api-provider-custom/"

// Each package and the prefixes nothing it (transitively) imports may have.
var rules = map[string][]string{
	"contract":    {mod, "k8s.io/", "sigs.k8s.io/"},
	"tfmodule":    {mod, "k8s.io/", "sigs.k8s.io/"},
	"modulecheck": {mod + "controllers", mod + "tfrunner", mod + "tfjob", "k8s.io/", "sigs.k8s.io/"},
	"modulesrc":   {mod + "controllers", mod + "tfrunner", mod + "tfjob", "sigs.k8s.io/controller-runtime"},
	"modules":     {mod + "controllers", mod + "tfrunner", mod + "modulecheck", "sigs.k8s.io/controller-runtime"},
	// The runner runs any module: checking it is the caller's (modulecheck), and job mode is a
	// room of its own on top (tfjob).
	"tfrunner": {mod + "controllers", mod + "modulecheck", mod + "modulesrc", mod + "contract", mod + "tfjob",
		"sigs.k8s.io/controller-runtime", "sigs.k8s.io/cluster-api"},
	"tfjob": {mod + "controllers", "sigs.k8s.io/controller-runtime", "sigs.k8s.io/cluster-api"},
	// State, locks and the journal in Kubernetes: no terraform, no HCL, nothing above it.
	"tfstate": {mod, "github.com/hashicorp/", "sigs.k8s.io/controller-runtime", "sigs.k8s.io/cluster-api"},
	// Plan policies judge a plan's JSON alone: nothing of the provider, Kubernetes or HashiCorp.
	"planpolicy": {mod, "k8s.io/", "sigs.k8s.io/", "github.com/hashicorp/"},
}

func TestImportRules(t *testing.T) {
	for pkg, banned := range rules {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == mod+pkg {
				continue
			}
			for _, b := range banned {
				if strings.HasPrefix(dep, b) {
					t.Errorf("%s imports %s (rule: nothing under %s)", pkg, dep, b)
				}
			}
		}
	}
}
