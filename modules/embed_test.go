/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package modules

import (
	"io/fs"
	"slices"
	"testing"

	"github.com/company/cluster-api-provider-custom/contract"
)

func TestGet(t *testing.T) {
	if !slices.Contains(Families(), "simulated") {
		t.Fatalf("families %v lack simulated", Families())
	}
	for _, fam := range Families() {
		for _, kind := range []string{contract.KindCluster, contract.KindMachine} {
			m, err := Get(fam, kind)
			if err != nil {
				t.Fatalf("Get(%s, %s): %v", fam, kind, err)
			}
			for _, f := range []string{"main.tf", "variables.tf", "outputs.tf"} {
				if _, err := fs.Stat(m, f); err != nil {
					t.Errorf("%s/%s: %v", fam, kind, err)
				}
			}
		}
	}
	for _, bad := range [][2]string{{"simulated", "node"}, {"nope", "cluster"}} {
		if _, err := Get(bad[0], bad[1]); err == nil {
			t.Errorf("Get(%s, %s) should fail", bad[0], bad[1])
		}
	}
}
