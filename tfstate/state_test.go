/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/company/cluster-api-provider-custom/tfstate/tfstatetest"
)

func stateJSON(lineage string, serial int64, payload string) []byte {
	return fmt.Appendf(nil, `{"version":4,"terraform_version":"1.5.7","serial":%d,"lineage":%q,"outputs":{"endpoint":{"value":{"host":"h","port":6443},"type":["object",{"host":"string","port":"number"}]},"token":{"value":"x","type":"string","sensitive":true}},"resources":[{"payload":%q}]}`, serial, lineage, payload)
}

func TestSplitChunks(t *testing.T) {
	tests := []struct {
		size, chunk int
		want        []int
	}{
		{0, 4, []int{0}},
		{3, 4, []int{3}},
		{4, 4, []int{4}},
		{5, 4, []int{4, 1}},
		{12, 4, []int{4, 4, 4}},
	}
	for _, tt := range tests {
		b := bytes.Repeat([]byte{'x'}, tt.size)
		got := SplitChunks(b, tt.chunk)
		var sizes []int
		for _, c := range got {
			sizes = append(sizes, len(c))
		}
		if fmt.Sprint(sizes) != fmt.Sprint(tt.want) {
			t.Errorf("split %d by %d = %v, want %v", tt.size, tt.chunk, sizes, tt.want)
		}
		if !bytes.Equal(bytes.Join(got, nil), b) {
			t.Errorf("split %d by %d does not join back", tt.size, tt.chunk)
		}
	}
}

func TestStateRoundTripChunked(t *testing.T) {
	ctx := context.Background()
	r := newFakeStore(t, "a", newCASClientset(), &tfstatetest.Clock{T: time.Now()})
	obj := ObjectRef{Kind: "CustomCluster", Namespace: "ns", Name: "c1", ClusterName: "c1", UID: "u1", APIVersion: "v1"}
	rnd := make([]byte, 2<<20)
	_, _ = rand.Read(rnd)
	tests := []struct {
		name       string
		payload    string
		wantChunks int
	}{
		{"small", "tiny", 1},
		{"incompressible 2MiB", base64.StdEncoding.EncodeToString(rnd), 5},
		{"small again", "tiny2", 1},
	}
	for i, tt := range tests {
		raw := stateJSON("L1", int64(i+1), tt.payload)
		if _, err := putRaw(ctx, r, obj, raw); err != nil {
			t.Fatalf("%s: put: %v", tt.name, err)
		}
		got, err := r.Get(ctx, obj)
		if err != nil || !bytes.Equal(got.Raw, raw) || got.Serial != int64(i+1) || got.Lineage != "L1" {
			t.Fatalf("%s: get: %v (serial %d)", tt.name, err, got.Serial)
		}
		sec, _ := r.cfg.Kube.CoreV1().Secrets("ns").Get(ctx, primaryName(obj), metav1.GetOptions{})
		if sec.Annotations[AnnChunks] != fmt.Sprint(tt.wantChunks) || sec.Type != SecretTypeState ||
			sec.Labels[LabelClusterName] != "c1" || len(sec.OwnerReferences) != 1 {
			t.Fatalf("%s: primary secret %v %v %v", tt.name, sec.Annotations, sec.Labels, sec.OwnerReferences)
		}
	}
}

func TestStateBackupsPruned(t *testing.T) {
	ctx := context.Background()
	r := newFakeStore(t, "a", newCASClientset(), &tfstatetest.Clock{T: time.Now()})
	obj := ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	for s := int64(1); s <= 6; s++ {
		if _, err := putRaw(ctx, r, obj, stateJSON("L", s, strings.Repeat("y", int(s)))); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := r.cfg.Kube.CoreV1().Secrets("ns").List(ctx, metav1.ListOptions{LabelSelector: selector(obj)})
	var backups []string
	for _, s := range list.Items {
		if s.Labels[LabelRole] == "tfstate-backup" {
			backups = append(backups, s.Annotations[AnnSerial])
		}
	}
	if fmt.Sprint(backups) != "[3 4 5]" {
		t.Fatalf("backups kept: %v, want serials 3 4 5", backups)
	}
}

func TestStateWriteRefusals(t *testing.T) {
	ctx := context.Background()
	obj := ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	tests := []struct {
		name     string
		existing []byte
		write    []byte
	}{
		{"older serial", stateJSON("L", 5, "a"), stateJSON("L", 4, "b")},
		{"other lineage", stateJSON("L", 5, "a"), stateJSON("M", 9, "b")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFakeStore(t, "a", newCASClientset(), &tfstatetest.Clock{T: time.Now()})
			if _, err := putRaw(ctx, r, obj, tt.existing); err != nil {
				t.Fatal(err)
			}
			var ce *StateConflictError
			if _, err := putRaw(ctx, r, obj, tt.write); !errors.As(err, &ce) {
				t.Fatalf("want StateConflictError, got %v", err)
			}
			got, _ := r.Get(ctx, obj)
			if !bytes.Equal(got.Raw, tt.existing) {
				t.Fatal("stored state was overwritten")
			}
		})
	}
}

// A concurrent writer lands a newer serial between our read and our compare-and-swap: the update
// conflicts, the re-read sees the newer serial, and the write is refused instead of clobbering it.
func TestStateCASConflict(t *testing.T) {
	ctx := context.Background()
	cs := newCASClientset()
	r := newFakeStore(t, "a", cs, &tfstatetest.Clock{T: time.Now()})
	obj := ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	if _, err := putRaw(ctx, r, obj, stateJSON("L", 1, "a")); err != nil {
		t.Fatal(err)
	}
	raced := false
	cs.PrependReactor("update", "secrets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if raced || a.(k8stesting.UpdateAction).GetObject().(*corev1.Secret).Name != primaryName(obj) {
			return false, nil, nil
		}
		raced = true
		// Another writer lands serial 3 (through the tracker: reactors run under the fake's lock).
		gvr := corev1.SchemeGroupVersion.WithResource("secrets")
		cur, _ := cs.Tracker().Get(gvr, "ns", primaryName(obj))
		sec := cur.(*corev1.Secret).DeepCopy()
		sec.Annotations[AnnSerial] = "3"
		sec.ResourceVersion = "race"
		if err := cs.Tracker().Update(gvr, sec, "ns"); err != nil {
			t.Errorf("concurrent writer: %v", err)
		}
		return false, nil, nil // our update now carries a stale resourceVersion
	})
	var ce *StateConflictError
	_, err := putRaw(ctx, r, obj, stateJSON("L", 2, "mine"))
	if !errors.As(err, &ce) || ce.StoredSerial != 3 {
		t.Fatalf("want StateConflictError with stored serial 3, got %v", err)
	}
	got, _ := r.Get(ctx, obj)
	if got.Serial != 3 {
		t.Fatalf("stored serial %d, want 3", got.Serial)
	}
	// Same serial again with a newer applied hash is an annotation-only update.
	if err := r.SetApplied(ctx, obj, "h1", "d1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Get(ctx, obj); got.InputsHash != "h1" || got.AppliedPlan != "d1" {
		t.Fatalf("applied hash not recorded: %+v", got)
	}
}

func TestBaseNameAndLabels(t *testing.T) {
	long := strings.Repeat("a", 250)
	tests := []struct {
		obj  ObjectRef
		want string
	}{
		{ObjectRef{Kind: "CustomCluster", Name: "c1"}, "capc-customcluster-c1"},
	}
	for _, tt := range tests {
		if got := BaseName(tt.obj); got != tt.want {
			t.Errorf("BaseName = %q, want %q", got, tt.want)
		}
	}
	b := BaseName(ObjectRef{Kind: "CustomMachine", Name: long})
	if len(b) > maxBaseLen || b == BaseName(ObjectRef{Kind: "CustomMachine", Name: long + "b"}) {
		t.Fatalf("long base name %q (%d)", b, len(b))
	}
	if len(chunkName(ObjectRef{Kind: "CustomMachine", Name: long}, 1<<62, strings.Repeat("f", 64), 99)) > 253 {
		t.Fatal("chunk name too long")
	}
	if v := LabelValue(long); len(v) > 63 {
		t.Fatalf("label value %q too long", v)
	}
}
