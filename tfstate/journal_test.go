/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/company/cluster-api-provider-custom/tfstate/tfstatetest"
)

func TestStateAddresses(t *testing.T) {
	raw := []byte(`{"resources":[
		{"mode":"managed","type":"fakecloud_vpc","name":"this","instances":[{}]},
		{"mode":"data","type":"fakecloud_image","name":"x","instances":[{}]},
		{"mode":"managed","type":"fakecloud_subnet","name":"s","instances":[{"index_key":0},{"index_key":1}]},
		{"mode":"managed","type":"fakecloud_instance","name":"i","instances":[{"deposed":"0a1b2c3d"}]},
		{"module":"module.lb","mode":"managed","type":"fakecloud_lb","name":"api","instances":[{"index_key":"a"}]}]}`)
	want := []string{"fakecloud_vpc.this", "fakecloud_subnet.s[0]", "fakecloud_subnet.s[1]", `module.lb.fakecloud_lb.api["a"]`}
	if got := StateAddresses(raw); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSplitOrphans(t *testing.T) {
	state := &StoredState{Raw: []byte(`{"resources":[{"mode":"managed","type":"fc_vpc","name":"v","instances":[{}]}]}`)}
	dead := &SuspectedOrphans{Holder: "pod-a", RunID: "r1"}
	tests := []struct {
		name          string
		journaled     []string
		st            *StoredState
		now, patterns []string
	}{
		{"nothing journaled", nil, state, nil, nil},
		{"everything recorded", []string{"fc_vpc.v"}, state, nil, nil},
		{"one missing", []string{"fc_vpc.v", "fc_instance.i"}, state, []string{"fc_instance.i"}, nil},
		{"no state at all", []string{"fc_vpc.v", "fc_instance.i"}, nil, []string{"fc_instance.i", "fc_vpc.v"}, nil},
		{"patterns wait", []string{"fc_vpc.v", "fc_subnet.s[*]", "module.m.*"}, state, nil, []string{"fc_subnet.s[*]", "module.m.*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := *dead
			in.Addresses = tt.journaled
			got, patterns := SplitOrphans(&in, tt.st)
			if !reflect.DeepEqual(patterns, tt.patterns) {
				t.Fatalf("patterns %q, want %q", patterns, tt.patterns)
			}
			if len(tt.now) == 0 {
				if got != nil {
					t.Fatalf("want none, got %+v", got)
				}
				return
			}
			if got == nil || !reflect.DeepEqual(got.Addresses, tt.now) || !strings.Contains(got.String(), "run r1 of pod-a was interrupted; it may have created") {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestResolvePatterns(t *testing.T) {
	creates := []string{"fc_vpc.v[0]", `fc_subnet.s["a"]`, `fc_subnet.s["b]\"c"]`, "module.m[1].fc_sg.x",
		`module.n["k"].fc_sg.y[2]`, "fc_subnet.st", "fc_vpc.v"}
	for _, tt := range []struct {
		patterns []string
		want     []string
	}{
		{[]string{"fc_vpc.v[*]"}, []string{"fc_vpc.v[0]"}},
		{[]string{"fc_subnet.s[*]"}, []string{`fc_subnet.s["a"]`, `fc_subnet.s["b]\"c"]`}},
		{[]string{"module.m[*].fc_sg.x"}, []string{"module.m[1].fc_sg.x"}},
		{[]string{"module.n[*].*"}, []string{`module.n["k"].fc_sg.y[2]`}},
		{[]string{"module.n[*].fc_sg.y[*]", "fc_vpc.v[*]"}, []string{"fc_vpc.v[0]", `module.n["k"].fc_sg.y[2]`}},
		{[]string{"fc_other.o[*]"}, nil},
	} {
		if got := ResolvePatterns(tt.patterns, creates); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.patterns, got, tt.want)
		}
	}
}

// A run killed with journaled creates leaves them in its lease; the run that takes the lease over
// inherits them (and keeps them in the lease until it releases it).
func TestJournalSurvivesTakeover(t *testing.T) {
	ctx := context.Background()
	obj := ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	cs := newCASClientset()
	clock := &tfstatetest.Clock{T: time.Now()}
	a := newFakeStore(t, "pod-a", cs, clock)
	la, err := a.acquire(ctx, obj, "run-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Journal(ctx, la, "fc_vpc.v", "fc_instance.i"); err != nil {
		t.Fatal(err)
	}
	if err := a.Journal(ctx, la, "fc_instance.i"); err != nil { // no duplicate, no write
		t.Fatal(err)
	}
	b := newFakeStore(t, "pod-b", cs, clock)
	clock.T = clock.T.Add(2 * time.Minute) // pod-a died: its lease expired
	lb, err := b.acquire(ctx, obj, "run-b")
	if err != nil {
		t.Fatal(err)
	}
	if lb.Inherited() == nil || lb.Inherited().Holder != "pod-a" || lb.Inherited().RunID != "run-a" ||
		!reflect.DeepEqual(lb.Inherited().Addresses, []string{"fc_vpc.v", "fc_instance.i"}) {
		t.Fatalf("inherited = %+v", lb.Inherited())
	}
	cur, _ := cs.CoordinationV1().Leases("ns").Get(ctx, leaseName(obj), metav1.GetOptions{})
	if cur.Annotations[AnnCreating] == "" {
		t.Fatal("journal dropped before it was reported")
	}
	// Kept until the lease is released: a crash before the event is out reports again.
	cur, _ = cs.CoordinationV1().Leases("ns").Get(ctx, leaseName(obj), metav1.GetOptions{})
	if cur.Annotations[AnnCreating] == "" {
		t.Fatal("journal cleared before the run released its lock")
	}
}
