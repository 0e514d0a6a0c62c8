package tfrunner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
			got, patterns := splitOrphans(&in, tt.st)
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
		if got := resolvePatterns(tt.patterns, creates); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.patterns, got, tt.want)
		}
	}
}

// The journal of a one-process apply covers the root module and every module it calls, whatever
// delivers them (a local path or terraform init's manifest).
func TestConfigResources(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("main.tf", `
resource "fc_vpc" "this" { count = var.create ? 1 : 0 }
resource "fc_lb" "api" {}
data "fc_image" "x" {}
module "net" { source = "./modules/net" }
module "sg" {
  source   = "registry.example/sg/fc"
  for_each = toset(["a", "b"])
}
module "gone" { source = "git::https://example/gone" }
`)
	write("extra.tf.json", `{"resource": {"fc_dns": {"api": {"count": 2}}}}`)
	write("modules/net/main.tf", `
resource "fc_subnet" "this" { for_each = var.subnets }
module "tags" { source = "../tags" }
`)
	write("modules/tags/main.tf", `resource "terraform_data" "tags" {}`)
	write(".terraform/modules/sg/main.tf", `resource "fc_sg" "this" {}`)
	write(".terraform/modules/modules.json", `{"Modules":[{"Key":"","Dir":"."},{"Key":"sg","Dir":".terraform/modules/sg"}]}`)
	got, err := configResources(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fc_dns.api[*]", "fc_lb.api", "fc_vpc.this[*]", "module.gone.*", "module.net.fc_subnet.this[*]",
		"module.net.module.tags.terraform_data.tags", "module.sg[*].fc_sg.this"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	write("broken.tf", `resource "x" {`)
	if _, err := configResources(dir); err == nil || !strings.Contains(err.Error(), "broken.tf") {
		t.Fatalf("want a parse error naming broken.tf, got %v", err)
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
	if err := a.journal(ctx, la, "fc_vpc.v", "fc_instance.i"); err != nil {
		t.Fatal(err)
	}
	if err := a.journal(ctx, la, "fc_instance.i"); err != nil { // no duplicate, no write
		t.Fatal(err)
	}
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
