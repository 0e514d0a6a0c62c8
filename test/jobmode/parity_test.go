/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package jobmode

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/planpolicy"
	"github.com/company/cluster-api-provider-custom/tfjob"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// A run's error means the same in job mode as in local mode: the same type and the same message
// reach the controllers, which turn an error into a condition reason and message by its type
// alone (runFailed), so an object shows the same condition in both modes. Each case runs the
// same module through the local runner and through a runner Job on the real node.
func TestJobModeErrorsKeepTheirMeaning(t *testing.T) {
	e := start(t, nil)
	ns := "parity"
	e.namespace(t, ns)
	local := e.stack.Runner
	jobs := tfjob.New(local, e.js.Jobs, logr.Discard())
	plain := fstest.MapFS{"main.tf": {Data: []byte(`resource "terraform_data" "x" { input = "v1" }`)}}
	// A module terraform init downloads (an HTTP archive), holding a provisioner the runner
	// pod's policy (no --allow-provisioners) refuses, as the local check does.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(tarGz(t, "main.tf", `resource "terraform_data" "r" {
  provisioner "local-exec" { command = "id" }
}`))
	}))
	t.Cleanup(srv.Close)
	remote := fstest.MapFS{"main.tf": {Data: []byte(`module "r" { source = "` + srv.URL + `/mod.tar.gz" }`)}}
	// A plan policy the runner pod evaluates itself (Rego in the request), denying the plan.
	denyAll := []planpolicy.Set{{Name: "ConfigMap capc-system/no-terraform-data", Files: map[string]string{"deny.rego": `package main

import rego.v1

deny contains msg if {
	some rc in input.resource_changes
	rc.type == "terraform_data"
	msg := sprintf("%s: terraform_data is not allowed", [rc.address])
}
`}}}
	since := metav1.NewMicroTime(time.Now().Truncate(time.Second))
	digest := regexp.MustCompile(`"[0-9a-f]{64}"`)          // a saved plan's digest differs between two plans
	shortDigest := regexp.MustCompile(`plan [0-9a-f]{12} `) // and so does its short form

	cases := []struct {
		name   string
		module fstest.MapFS
		setup  func(t *testing.T, run func(tfrunner.Policy) error, obj tfstate.ObjectRef)
		policy tfrunner.Policy
		want   any // a pointer to the error type
	}{
		{name: "policy", module: remote, policy: tfrunner.Policy{AutoApply: true}, want: new(*modulecheck.PolicyError)},
		{name: "denied", module: plain, policy: tfrunner.Policy{AutoApply: true, PlanPolicies: denyAll}, want: new(*tfrunner.PolicyDeniedError)},
		{name: "locked", module: plain, policy: tfrunner.Policy{AutoApply: true}, want: new(*tfstate.LockedError),
			setup: func(t *testing.T, _ func(tfrunner.Policy) error, obj tfstate.ObjectRef) {
				holdLock(t, e, obj, since)
			}},
		{name: "stale", module: plain, policy: tfrunner.Policy{ApproveDigest: "feedface"}, want: new(*tfrunner.StalePlanError),
			setup: func(t *testing.T, run func(tfrunner.Policy) error, _ tfstate.ObjectRef) {
				if err := run(tfrunner.Policy{}); err != nil { // a plan pending approval
					t.Fatal(err)
				}
			}},
	}
	for _, tc := range cases {
		msgs := map[string]string{}
		for _, mode := range []string{"local", "job"} {
			obj := tfstate.ObjectRef{APIVersion: "test/v1", Kind: "ParityProbe", Namespace: ns, Name: tc.name + "-" + mode}
			ws := tfrunner.Workspace{Object: obj, Module: tc.module}
			run := func(p tfrunner.Policy) error {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				if mode == "local" {
					ws.CheckInstalled = modulecheck.Policy{}.Refuse // the manager's check, as in the runner pod
					_, err := local.Reconcile(ctx, ws, p)
					return err
				}
				for {
					_, err := jobs.Reconcile(ctx, ws, p)
					if !errors.As(err, new(*tfjob.RunningError)) {
						return err
					}
					select {
					case <-ctx.Done():
						return err
					case <-time.After(250 * time.Millisecond):
					}
				}
			}
			if tc.setup != nil {
				tc.setup(t, run, obj)
			}
			err := run(tc.policy)
			if err == nil || !errors.As(err, tc.want) {
				t.Fatalf("%s, %s mode: %v (%T), want %T", tc.name, mode, err, err, tc.want)
			}
			msgs[mode] = shortDigest.ReplaceAllString(digest.ReplaceAllString(err.Error(), `"<digest>"`), "plan <digest> ")
		}
		if msgs["local"] != msgs["job"] {
			t.Errorf("%s: the message differs between the modes:\nlocal: %s\njob:   %s", tc.name, msgs["local"], msgs["job"])
		}
		t.Logf("%s: %s", tc.name, msgs["job"])
	}
}

// holdLock makes obj's lock held by another, live holder.
func holdLock(t *testing.T, e *env, obj tfstate.ObjectRef, since metav1.MicroTime) {
	t.Helper()
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: tfstate.BaseName(obj) + "-lock",
		Annotations: map[string]string{tfstate.AnnRunID: "run-elsewhere"}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("another-manager"), LeaseDurationSeconds: ptr.To(int32(600)),
			AcquireTime: &since, RenewTime: &since}}
	if _, err := e.kube.CoordinationV1().Leases(obj.Namespace).Create(context.Background(), l, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func tarGz(t *testing.T, name, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write([]byte(content))
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}
