/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package contract

import (
	"fmt"
	"testing"
)

// Outputs come from the output structs: required ones first, health an extension.
func TestOutputs(t *testing.T) {
	got := fmt.Sprint(Outputs(KindMachine))
	want := "[{provider_id spec.providerID true false} {instance_id status.instanceId false false} {instance_state status.instanceState false false} {addresses status.addresses false false} {failure_domain status.failureDomain false false} {health  false true}]"
	if got != want {
		t.Fatalf("machine outputs:\n got %s\nwant %s", got, want)
	}
	if o := Outputs(KindCluster); len(o) != 6 || o[0].Name != "control_plane_endpoint" || !o[0].Required {
		t.Fatalf("cluster outputs: %v", o)
	}
	if Outputs("pool") != nil || Known("pool") || !Known(KindCluster) {
		t.Fatal("only cluster and machine are kinds")
	}
	if s := Sensitive(KindMachine); len(s) != 1 || s[0] != VarUserData {
		t.Fatalf("sensitive machine variables: %v", s)
	}
}
