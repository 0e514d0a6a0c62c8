/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

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

	"github.com/company/cluster-api-provider-custom/tfstate"
	"github.com/company/cluster-api-provider-custom/tfstate/tfstatetest"
)

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

// A run that takes over a dead run's lock reports what the dead run journaled and its state
// lacks, to the workspace's owner.
func TestOrphansReported(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	obj := tfstate.ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	cs := tfstatetest.NewCASClientset()
	clock := &tfstatetest.Clock{T: time.Now()}
	a := newFakeRunner(t, "pod-a", cs, clock)
	_, la, _, err := a.state.Hold(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.state.Journal(ctx, la, "fc_vpc.v", "fc_instance.i"); err != nil {
		t.Fatal(err)
	}
	clock.T = clock.T.Add(2 * time.Minute) // pod-a died: its lease expired
	b := newFakeRunner(t, "pod-b", cs, clock)
	_, lb, _, err := b.state.Hold(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	var got tfstate.SuspectedOrphans
	rn := &run{ws: Workspace{Object: obj, OnSuspectedOrphans: func(_ context.Context, o tfstate.SuspectedOrphans) { got = o }}}
	b.reportOrphans(ctx, rn, lb, &tfstate.StoredState{Raw: []byte(`{"resources":[{"mode":"managed","type":"fc_vpc","name":"v","instances":[{}]}]}`)})
	if !reflect.DeepEqual(got.Addresses, []string{"fc_instance.i"}) {
		t.Fatalf("reported %+v", got)
	}
}

func TestRunTimeoutIsTheCause(t *testing.T) {
	ctx := context.Background()
	r := newFakeRunner(t, "pod-a", tfstatetest.NewCASClientset(), &tfstatetest.Clock{T: time.Now()})
	r.cfg.RunTimeout = 50 * time.Millisecond
	runCtx, _, stop, err := r.hold(ctx, tfstate.ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"})
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

// A cancelled run is no longer renewed, and a run that lost its lock is cancelled with a third of
// the lock's life left: terraform's interrupt grace must end before the lock can expire.
func TestInterruptGraceWithinLock(t *testing.T) {
	for _, c := range []struct{ grace, ttl, want time.Duration }{
		{30 * time.Second, 40 * time.Second, 10 * time.Second},
		{5 * time.Second, 40 * time.Second, 5 * time.Second},
		{30 * time.Second, 6 * time.Second, 1500 * time.Millisecond},
	} {
		r := &Runner{cfg: Config{CancelGrace: c.grace, LockTTL: c.ttl}}
		got := r.interruptGrace()
		if got != c.want {
			t.Errorf("grace %s, ttl %s: %s, want %s", c.grace, c.ttl, got, c.want)
		}
		if lostAt := c.ttl - c.ttl/3; lostAt+got >= c.ttl {
			t.Errorf("grace %s, ttl %s: terraform may run until %s, past the lock's expiry", c.grace, c.ttl, lostAt+got)
		}
	}
}

func TestOutputsOf(t *testing.T) {
	raw := []byte(`{"outputs":{"endpoint":{"value":{"host":"h","port":6443},"type":["object",{"host":"string","port":"number"}]},"token":{"value":"x","type":"string","sensitive":true}}}`)
	out, err := outputsOf(raw)
	if err != nil || string(out["endpoint"].Value) != `{"host":"h","port":6443}` || !out["token"].Sensitive {
		t.Fatalf("outputs: %v %v", out, err)
	}
}
