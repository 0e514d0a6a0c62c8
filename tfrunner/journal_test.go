package tfrunner

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStateAddresses(t *testing.T) {
	raw := []byte(`{"resources":[
		{"mode":"managed","type":"fakecloud_vpc","name":"this","instances":[{}]},
		{"mode":"data","type":"fakecloud_image","name":"x","instances":[{}]},
		{"mode":"managed","type":"fakecloud_subnet","name":"s","instances":[{"index_key":0},{"index_key":1}]},
		{"mode":"managed","type":"fakecloud_instance","name":"i","instances":[{"deposed":"0a1b2c3d"}]},
		{"module":"module.lb","mode":"managed","type":"fakecloud_lb","name":"api","instances":[{"index_key":"a"}]}]}`)
	want := []string{"fakecloud_vpc.this", "fakecloud_subnet.s[0]", "fakecloud_subnet.s[1]", `module.lb.fakecloud_lb.api["a"]`}
	if got := stateAddresses(raw); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestSuspectedOrphans(t *testing.T) {
	state := &StoredState{Raw: []byte(`{"resources":[{"mode":"managed","type":"fc_vpc","name":"v","instances":[{}]}]}`)}
	dead := &SuspectedOrphans{Holder: "pod-a", RunID: "r1"}
	tests := []struct {
		name      string
		journaled []string
		st        *StoredState
		want      []string
	}{
		{"nothing journaled", nil, state, nil},
		{"everything recorded", []string{"fc_vpc.v"}, state, nil},
		{"one missing", []string{"fc_vpc.v", "fc_instance.i"}, state, []string{"fc_instance.i"}},
		{"no state at all", []string{"fc_vpc.v", "fc_instance.i"}, nil, []string{"fc_instance.i", "fc_vpc.v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := *dead
			in.Addresses = tt.journaled
			got := suspectedOrphans(&in, tt.st)
			if len(tt.want) == 0 {
				if got != nil {
					t.Fatalf("want none, got %+v", got)
				}
				return
			}
			if got == nil || !reflect.DeepEqual(got.Addresses, tt.want) || !strings.Contains(got.String(), "run r1 of pod-a was interrupted while creating") {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestCreatingLine(t *testing.T) {
	for line, want := range map[string]string{
		"fakecloud_instance.this: Creating...":                         "fakecloud_instance.this",
		`module.m.aws_subnet.s["eu-west-1a"]: Creating...`:             `module.m.aws_subnet.s["eu-west-1a"]`,
		"fakecloud_instance.this: Still creating... [10s elapsed]":     "",
		"fakecloud_instance.this: Creation complete after 1s [id=i-1]": "",
	} {
		m := creatingLine.FindStringSubmatch(line)
		if got := ""; m != nil {
			got = m[1]
			if got != want {
				t.Errorf("%q: got %q, want %q", line, got, want)
			}
		} else if want != "" {
			t.Errorf("%q: no match, want %q", line, want)
		}
	}
}

// A run killed with journaled creates leaves them in its lease; the run that takes the lease over
// inherits them (and keeps them in the lease until it releases it).
func TestJournalSurvivesTakeover(t *testing.T) {
	ctx := context.Background()
	obj := ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	cs := newCASClientset()
	clock := &fakeClock{t: time.Now()}
	a := newFakeRunner(t, "pod-a", cs, clock)
	la, err := a.acquire(ctx, obj, "run-a")
	if err != nil {
		t.Fatal(err)
	}
	a.journal(ctx, la, "fc_vpc.v", "fc_instance.i")
	a.journal(ctx, la, "fc_instance.i") // no duplicate, no write
	b := newFakeRunner(t, "pod-b", cs, clock)
	clock.t = clock.t.Add(2 * time.Minute) // pod-a died: its lease expired
	lb, err := b.acquire(ctx, obj, "run-b")
	if err != nil {
		t.Fatal(err)
	}
	if lb.inherited == nil || lb.inherited.Holder != "pod-a" || lb.inherited.RunID != "run-a" ||
		!reflect.DeepEqual(lb.inherited.Addresses, []string{"fc_vpc.v", "fc_instance.i"}) {
		t.Fatalf("inherited = %+v", lb.inherited)
	}
	cur, _ := cs.CoordinationV1().Leases("ns").Get(ctx, leaseName(obj), metav1.GetOptions{})
	if cur.Annotations[AnnCreating] == "" {
		t.Fatal("journal dropped before it was reported")
	}
	var got SuspectedOrphans
	rn := &run{ws: Workspace{Object: obj, OnSuspectedOrphans: func(_ context.Context, o SuspectedOrphans) { got = o }}}
	b.reportOrphans(ctx, rn, lb, &StoredState{Raw: []byte(`{"resources":[{"mode":"managed","type":"fc_vpc","name":"v","instances":[{}]}]}`)})
	if !reflect.DeepEqual(got.Addresses, []string{"fc_instance.i"}) {
		t.Fatalf("reported %+v", got)
	}
	// Kept until the lease is released: a crash before the event is out reports again.
	cur, _ = cs.CoordinationV1().Leases("ns").Get(ctx, leaseName(obj), metav1.GetOptions{})
	if cur.Annotations[AnnCreating] == "" {
		t.Fatal("journal cleared before the run released its lock")
	}
}

func TestRunTimeoutIsTheCause(t *testing.T) {
	ctx := context.Background()
	r := newFakeRunner(t, "pod-a", newCASClientset(), &fakeClock{t: time.Now()})
	r.cfg.RunTimeout = 50 * time.Millisecond
	runCtx, _, stop, err := r.hold(ctx, ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	<-runCtx.Done()
	err = newTerraformError(runCtx, "apply", errors.New("exit status 1"), newRedactor(nil, nil, nil))
	var timeout *RunTimeoutError
	if !errors.As(err, &timeout) || timeout.After != 50*time.Millisecond || !strings.Contains(err.Error(), "run timed out after 50ms") {
		t.Fatalf("got %v", err)
	}
}
