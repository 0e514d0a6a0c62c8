/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

func TestMergePatches(t *testing.T) {
	base := func() *infrav1.CustomMachine {
		return &infrav1.CustomMachine{ObjectMeta: metav1.ObjectMeta{Name: "m", ResourceVersion: "7",
			Annotations: map[string]string{"keep": "1", "block": "x"}, Finalizers: []string{"other"}}}
	}
	tests := []struct {
		name         string
		change       func(*infrav1.CustomMachine)
		main, status string
	}{
		{"nothing", func(*infrav1.CustomMachine) {}, "", ""},
		{"finalizer and annotation removed", func(m *infrav1.CustomMachine) {
			m.Finalizers = append(m.Finalizers, infrav1.MachineFinalizer)
			delete(m.Annotations, "block")
		}, `{"metadata":{"annotations":{"block":null},"finalizers":["other","` + infrav1.MachineFinalizer + `"]}}`, ""},
		{"spec and status with conditions: one patch each", func(m *infrav1.CustomMachine) {
			m.Spec.ProviderID = "custom://m"
			m.Status.Initialization.Provisioned = ptr.To(true)
			setReady(m, "")
		}, `{"spec":{"providerID":"custom://m"}}`, "status"},
		{"status only", func(m *infrav1.CustomMachine) { m.Status.ObservedGeneration = 3 }, "", `{"status":{"observedGeneration":3}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, after := base(), base()
			tt.change(after)
			main, status, err := mergePatches(before, after)
			if err != nil {
				t.Fatal(err)
			}
			if string(main) != tt.main {
				t.Errorf("main patch = %s, want %s", main, tt.main)
			}
			switch {
			case tt.status == "" && status != nil:
				t.Errorf("status patch = %s, want none", status)
			case tt.status == "status" && (status == nil || !(strings.Contains(string(status), `"conditions":[`) && strings.Contains(string(status), `"provisioned":true`))):
				t.Errorf("status patch = %s, want conditions and provisioned in one patch", status)
			case tt.status != "" && tt.status != "status" && string(status) != tt.status:
				t.Errorf("status patch = %s, want %s", status, tt.status)
			}
		})
	}
}

func TestStaleGuard(t *testing.T) {
	g := newStaleGuard()
	key := types.NamespacedName{Namespace: "ns", Name: "m"}
	at := func(rv string) *infrav1.CustomMachine {
		return &infrav1.CustomMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m", ResourceVersion: rv}}
	}
	if g.stale(at("1")) {
		t.Fatal("an object never written is not stale")
	}
	g.wrote(key, "10")
	g.wrote(key, "13") // someone else wrote 11 and 12 in between
	for _, rv := range []string{"9", "10", "11", "12"} {
		if !g.stale(at(rv)) {
			t.Errorf("version %s is older than our write 13: stale", rv)
		}
	}
	if g.stale(at("13")) {
		t.Error("the newest write is fresh")
	}
	if g.stale(at("12")) {
		t.Error("once the newest write was read the guard is done with the object")
	}
	g.wrote(key, "14")
	if g.stale(at("15")) {
		t.Error("a later version is fresh")
	}
	g.wrote(key, "16")
	g.forget(key)
	if g.stale(at("15")) {
		t.Error("a forgotten object is not stale")
	}
	g.wrote(key, "b")
	if g.stale(at("x")) {
		t.Error("versions that are not integers are never taken for stale")
	}
}

// A patch the API server answers without a new version (nothing changed) records nothing: there
// is no newer version whose event would end the wait, so no read may be taken for stale.
func TestNoOpPatchRecordsNothing(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := infrav1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cm := &infrav1.CustomMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m", ResourceVersion: "12"}}
	noop := interceptor.Funcs{Patch: func(context.Context, client.WithWatch, client.Object, client.Patch, ...client.PatchOption) error {
		return nil // the object comes back as it was sent: same resourceVersion
	}}
	b := &base{Client: fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(noop).Build(), stale: newStaleGuard()}
	p := b.newPatcher(cm)
	if _, err := p.send(context.Background(), cm, []byte(`{"metadata":{"labels":{"a":"b"}}}`), false); err != nil {
		t.Fatal(err)
	}
	older := cm.DeepCopy()
	older.ResourceVersion = "11"
	if b.stale.stale(older) {
		t.Error("a no-op patch was recorded as a newer version")
	}
}

// A reconcile's write the API server refuses as invalid is shown: a Warning event and a status
// patch of the conditions alone (Ready=False StatusWriteFailed), and the error goes back for a
// retry with backoff. Other errors (a conflict) are returned untouched.
func TestWriteRefused(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := infrav1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cm := &infrav1.CustomMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m"}}
	var statusPatches []string
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(cm.DeepCopy()).WithStatusSubresource(cm).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, o client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			data, _ := p.Data(o)
			statusPatches = append(statusPatches, string(data))
			return c.SubResource(sub).Patch(ctx, o, p, opts...)
		}}).Build()
	rec := record.NewFakeRecorder(4)
	b := &base{Client: c, Recorder: rec, stale: newStaleGuard()}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(cm), cm); err != nil {
		t.Fatal(err)
	}
	p := b.newPatcher(cm)
	refused := apierrors.NewInvalid(infrav1.GroupVersion.WithKind("CustomMachine").GroupKind(), "m",
		field.ErrorList{field.TooMany(field.NewPath("status", "addresses"), 40, 32)})
	if err := b.writeRefused(context.Background(), p, cm, refused); err != refused {
		t.Fatalf("want the refusal back for a retry, got %v", err)
	}
	if len(statusPatches) != 1 || !strings.Contains(statusPatches[0], `"reason":"StatusWriteFailed"`) || strings.Contains(statusPatches[0], "addresses\":[") {
		t.Fatalf("status patches: %q", statusPatches)
	}
	got := &infrav1.CustomMachine{}
	_ = c.Get(context.Background(), client.ObjectKeyFromObject(cm), got)
	if r := conditions.Get(got, infrav1.ReadyCondition); r == nil || r.Reason != infrav1.StatusWriteFailedReason || !strings.Contains(r.Message, "Too many") {
		t.Fatalf("Ready = %+v", r)
	}
	if ev := <-rec.Events; !strings.Contains(ev, "Warning StatusWriteFailed") {
		t.Fatalf("event %q", ev)
	}
	conflict := apierrors.NewConflict(infrav1.GroupVersion.WithResource("custommachines").GroupResource(), "m", nil)
	if err := b.writeRefused(context.Background(), p, cm, conflict); err != conflict || len(statusPatches) != 1 {
		t.Fatalf("a conflict is retried as it is: %v, %d patches", err, len(statusPatches))
	}
}
