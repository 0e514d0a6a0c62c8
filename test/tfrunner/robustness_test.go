/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zclconf/go-cty/cty"

	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

const sleepModule = `
terraform {
  required_version = ">= 1.5.0"
}

variable "seconds" {
  type    = number
  default = 5
}

resource "terraform_data" "slow" {
  input = var.seconds
  provisioner "local-exec" {
    command = "sleep ${var.seconds}"
  }
}

output "done" {
  value = terraform_data.slow.output
}
`

func objectIn(ns, name string) tfstate.ObjectRef {
	return tfstate.ObjectRef{Kind: "CustomMachine", Namespace: ns, Name: name, ClusterName: "c1"}
}

func TestBigStateRoundTrip(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	r := newRunner(t, t.TempDir(), "pod-a")
	mod := writeModule(t, map[string]string{"main.tf": `
variable "blob" {
  type = string
}
resource "terraform_data" "big" {
  input = var.blob
}
`})
	ws := tfrunner.Workspace{Object: objectIn(ns, "big"), Module: os.DirFS(mod),
		Variables: map[string]cty.Value{"blob": cty.StringVal("small")}}
	if _, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	st, err := r.GetState(ctx, ws.Object)
	if err != nil || st == nil {
		t.Fatalf("GetState: %v", err)
	}
	// 3 MiB of incompressible data inside a valid state: replace the resource's input and output.
	rnd := make([]byte, 3<<20)
	_, _ = rand.Read(rnd)
	blob := base64.RawStdEncoding.EncodeToString(rnd)[:3<<20]
	big := strings.ReplaceAll(string(st.Raw), `"small"`, `"`+blob+`"`)
	var meta map[string]any
	if err := json.Unmarshal([]byte(big), &meta); err != nil {
		t.Fatal(err)
	}
	meta["serial"] = st.Serial + 1
	raw, _ := json.Marshal(meta)
	start := time.Now()
	if _, err := r.PutState(ctx, ws.Object, raw); err != nil {
		t.Fatalf("PutState %d bytes: %v", len(raw), err)
	}
	got, err := r.GetState(ctx, ws.Object)
	if err != nil {
		t.Fatalf("GetState: %v", err)
	}
	t.Logf("%d-byte state put+get in %v", len(raw), time.Since(start))
	var back map[string]any
	if err := json.Unmarshal(got.Raw, &back); err != nil || len(got.Raw) != len(raw) {
		t.Fatalf("round trip: %d bytes back of %d (%v)", len(got.Raw), len(raw), err)
	}
	chunks := 0
	for _, s := range listSecrets(t, ns) {
		if s.Labels[tfstate.LabelRole] == "tfstate-chunk" {
			chunks++
		}
	}
	if chunks < 5 {
		t.Fatalf("expected the state split over >= 6 secrets, found %d chunk secrets", chunks)
	}
	// Terraform reads the restored big state: same blob, no changes.
	ws.Variables = map[string]cty.Value{"blob": cty.StringVal(blob)}
	res, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true})
	if err != nil || res.Plan == nil || res.Plan.HasChanges() {
		t.Fatalf("plan against restored big state: %+v %v", res.Plan, err)
	}
	if err := r.Destroy(ctx, ws); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if s := listSecrets(t, ns); len(s) != 0 {
		t.Fatalf("%d secrets left", len(s))
	}
}

func TestTwoRunnersOneObject(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	mod := writeModule(t, map[string]string{"main.tf": sleepModule})
	ws := tfrunner.Workspace{Object: objectIn(ns, "shared"), Module: os.DirFS(mod),
		Variables: map[string]cty.Value{"seconds": cty.NumberIntVal(2)}}
	runners := []*tfrunner.Runner{newRunner(t, t.TempDir(), "pod-a"), newRunner(t, t.TempDir(), "pod-b")}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	results := make([]tfrunner.Result, 2)
	for i, r := range runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true})
		}()
	}
	wg.Wait()
	var locked *tfstate.LockedError
	applied := 0
	for i := range errs {
		switch {
		case errs[i] == nil && results[i].Applied:
			applied++
		case errors.As(errs[i], &locked):
			t.Logf("runner %d: %v", i, errs[i])
			if !strings.Contains(errs[i].Error(), "locked by pod-") || !strings.Contains(errs[i].Error(), " since ") {
				t.Fatalf("unclear lock error: %v", errs[i])
			}
		default:
			t.Fatalf("runner %d: %+v %v", i, results[i], errs[i])
		}
	}
	if applied != 1 || locked == nil {
		t.Fatalf("want one apply and one LockedError, got %d applies, errs %v", applied, errs)
	}
	st, err := runners[0].GetState(ctx, ws.Object)
	if err != nil || st == nil {
		t.Fatalf("state after race: %v", err)
	}
	for _, r := range runners {
		res, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true})
		if err != nil || !res.Skipped {
			t.Fatalf("after race: %+v %v", res, err)
		}
	}
}

func TestCancelMidApply(t *testing.T) {
	ns := newNamespace(t)
	r := newRunner(t, t.TempDir(), "pod-a", func(c *tfrunner.Config) { c.CancelGrace = 3 * time.Second })
	mod := writeModule(t, map[string]string{"main.tf": sleepModule})
	ws := tfrunner.Workspace{Object: objectIn(ns, "cancel"), Module: os.DirFS(mod),
		Variables: map[string]cty.Value{"seconds": cty.NumberIntVal(5)}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(1500 * time.Millisecond)
		cancel()
	}()
	start := time.Now()
	_, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true})
	t.Logf("cancelled run returned after %v: %v", time.Since(start), err)
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("want a cancelled error, got %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("cancellation took %v", time.Since(start))
	}
	// The Lease is deleted right after Reconcile returns (off the caller's path).
	var lerr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, lerr = kube.CoordinationV1().Leases(ns).Get(context.Background(), tfstate.BaseName(ws.Object)+"-lock", metav1.GetOptions{}); apierrors.IsNotFound(lerr) {
			break
		}
	}
	if !apierrors.IsNotFound(lerr) {
		t.Fatalf("lock not released: %v", lerr)
	}
	// The interrupted resource is tainted, so converging replaces it: a destructive plan.
	ws.Variables["seconds"] = cty.NumberIntVal(1)
	res, err := r.Reconcile(context.Background(), ws, tfrunner.Policy{AutoApply: true, AllowDestroy: true})
	if err != nil || !res.Applied {
		t.Fatalf("run after cancel: %+v %v", res, err)
	}
	if res, err := r.Reconcile(context.Background(), ws, tfrunner.Policy{AutoApply: true, Force: true}); err != nil || res.Plan.HasChanges() {
		t.Fatalf("not converged: %+v %v", res.Plan, err)
	}
}

func TestStaleLockRecovered(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	obj := objectIn(ns, "stale")
	// A lease left by a dead pod, expired long ago.
	old := metav1.NewMicroTime(time.Now().Add(-10 * time.Minute))
	holder, secs := "dead-pod", int32(60)
	_, err := kube.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: tfstate.BaseName(obj) + "-lock"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs,
			AcquireTime: &old, RenewTime: &old}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mod := writeModule(t, map[string]string{"main.tf": sleepModule})
	r := newRunner(t, t.TempDir(), "pod-a")
	ws := tfrunner.Workspace{Object: obj, Module: os.DirFS(mod), Variables: map[string]cty.Value{"seconds": cty.NumberIntVal(0)}}
	if res, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true}); err != nil || !res.Applied {
		t.Fatalf("stale lock not recovered: %+v %v", res, err)
	}
}

func TestModuleErrors(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	r := newRunner(t, t.TempDir(), "pod-a")
	bad := writeModule(t, map[string]string{"main.tf": "resource \"terraform_data\" \"x\" {\n  input = \n}\n"})
	_, err := r.Reconcile(ctx, tfrunner.Workspace{Object: objectIn(ns, "hcl"), Module: os.DirFS(bad)}, tfrunner.Policy{AutoApply: true})
	if err == nil || !strings.Contains(err.Error(), "Invalid expression") {
		t.Fatalf("want terraform's diagnostic, got %v", err)
	}
	t.Logf("HCL error: %v", err)

	// A sensitive value terraform echoes in a diagnostic is redacted.
	leaky := writeModule(t, map[string]string{"main.tf": `
variable "token" {
  type = string
}
resource "terraform_data" "x" {
  input = tonumber(var.token)
}
`})
	ws := tfrunner.Workspace{Object: objectIn(ns, "leak"), Module: os.DirFS(leaky),
		Variables: map[string]cty.Value{"token": cty.StringVal("s3cr3t-t0ken")}, Sensitive: []string{"token"},
		Env: map[string]string{"CLOUD_SECRET": "env-s3cr3t"}}
	_, err = r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true})
	if err == nil || strings.Contains(err.Error(), "s3cr3t-t0ken") || !strings.Contains(err.Error(), "(sensitive)") {
		t.Fatalf("want a redacted diagnostic, got %v", err)
	}
	t.Logf("redacted error: %v", err)
}

func TestScrubbedEnvironment(t *testing.T) {
	t.Setenv("KUBECONFIG", "/root/.kube/config")
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "manager-own-secret")
	ctx := context.Background()
	ns := newNamespace(t)
	r := newRunner(t, t.TempDir(), "pod-a", unsandboxed) // the module dumps its environment to a file of the test
	out := filepath.Join(t.TempDir(), "env.txt")
	mod := writeModule(t, map[string]string{"main.tf": `
variable "out" {
  type = string
}
resource "terraform_data" "env" {
  provisioner "local-exec" {
    command = "env > ${var.out}"
  }
}
`})
	ws := tfrunner.Workspace{Object: objectIn(ns, "env"), Module: os.DirFS(mod),
		Variables: map[string]cty.Value{"out": cty.StringVal(out)},
		Env:       map[string]string{"CLOUD_TOKEN": "from-credentials-secret", "KUBERNETES_PORT": "xyz"}}
	// Keys that would steer terraform, the loader or its files are refused by name, never dropped.
	for _, key := range []string{"KUBERNETES_PORT", "TF_CLI_CONFIG_FILE", "TF_DATA_DIR", "PATH", "HOME", "LD_PRELOAD", "not-a-name"} {
		ws.Env = map[string]string{"CLOUD_TOKEN": "from-credentials-secret", key: "/tmp/elsewhere"}
		_, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true})
		var envErr *tfrunner.EnvError
		if !errors.As(err, &envErr) || !strings.Contains(err.Error(), strconv.Quote(key)) || strings.Contains(err.Error(), "/tmp/elsewhere") {
			t.Errorf("credentials key %s: want an EnvError naming it (and not its value), got %v", key, err)
		}
	}
	ws.Env = map[string]string{"CLOUD_TOKEN": "from-credentials-secret", "TF_TOKEN_registry_example_com": "registry-token"}
	if _, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	for _, bad := range []string{"KUBECONFIG", "KUBERNETES_", "AWS_SECRET_ACCESS_KEY"} {
		if strings.Contains(env, bad) {
			t.Errorf("terraform saw %s", bad)
		}
	}
	for _, good := range []string{"CLOUD_TOKEN=from-credentials-secret", "TF_TOKEN_registry_example_com=registry-token", "TF_CLI_CONFIG_FILE=", "HOME=/", "TF_IN_AUTOMATION=1"} {
		if !strings.Contains(env, good) {
			t.Errorf("terraform env lacks %s", good)
		}
	}
}

// A module with a thousand resources and a big input makes a planfile bigger than a Secret can
// hold: it is chunked like the state, previewed, approved by digest and applied. (The planfile
// keeps every variable's value; the blob stays out of the state, which terraform rewrites after
// each resource.)
func TestBigPlanPreviewAndApply(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	r := newRunner(t, t.TempDir(), "pod-a")
	mod := writeModule(t, map[string]string{"main.tf": `
variable "blob" {
  type = string
}
locals {
  blob_length = length(var.blob)
}
resource "terraform_data" "many" {
  count = 1000
  input = count.index
}
`})
	rnd := make([]byte, 3<<20)
	_, _ = rand.Read(rnd)
	ws := tfrunner.Workspace{Object: objectIn(ns, "bigplan"), Module: os.DirFS(mod),
		Variables: map[string]cty.Value{"blob": cty.StringVal(base64.RawStdEncoding.EncodeToString(rnd))}}
	start := time.Now()
	res, err := r.Reconcile(ctx, ws, tfrunner.Policy{})
	if err != nil || !res.PendingApproval || res.Plan.Add != 1000 {
		t.Fatalf("preview: %+v %v", res, err)
	}
	t.Logf("plan of 1000 resources saved in %v", time.Since(start))
	var planBytes, chunks int
	for _, s := range listSecrets(t, ns) {
		switch s.Labels[tfstate.LabelRole] {
		case "plan", "tfplan-chunk":
			planBytes += len(s.Data["plan.gz"])
			if s.Labels[tfstate.LabelRole] == "tfplan-chunk" {
				chunks++
			}
		}
	}
	if planBytes < 3<<20 || chunks < 3 {
		t.Fatalf("want a planfile of at least 3 MiB over several Secrets: %d bytes, %d chunk Secrets", planBytes, chunks)
	}
	t.Logf("gzipped planfile: %d bytes, plan Secret + %d chunk Secrets", planBytes, chunks)
	start = time.Now()
	res, err = r.Reconcile(ctx, ws, tfrunner.Policy{ApproveDigest: res.PlanDigest})
	if err != nil || !res.Applied {
		t.Fatalf("approved apply: %+v %v", res, err)
	}
	t.Logf("approved plan applied in %v", time.Since(start))
	for _, s := range listSecrets(t, ns) {
		if role := s.Labels[tfstate.LabelRole]; role == "plan" || role == "tfplan-chunk" {
			t.Errorf("applied plan left %s (%s)", s.Name, role)
		}
	}
	st, err := r.GetState(ctx, ws.Object)
	if err != nil || st == nil || resourceCount(st.Raw) != 1000 {
		t.Fatalf("state after apply: %v", err)
	}
	if err := r.Destroy(ctx, ws); err != nil {
		t.Fatalf("destroy: %v", err)
	}
}
