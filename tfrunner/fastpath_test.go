/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOwnedBy(t *testing.T) {
	refs := []metav1.OwnerReference{{UID: "u1"}}
	for _, tt := range []struct {
		refs []metav1.OwnerReference
		uid  string
		want bool
	}{{refs, "u1", true}, {refs, "u2", false}, {nil, "u2", true}, {refs, "", true}} {
		if got := ownedBy(tt.refs, tt.uid); got != tt.want {
			t.Errorf("ownedBy(%v, %q) = %v", tt.refs, tt.uid, got)
		}
	}
}
