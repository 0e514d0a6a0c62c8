/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/modulesrc"
)

// The contract types modulecheck checks against must be exactly what the controllers render.
func TestContractTypesMatchRenderedVariables(t *testing.T) {
	cc := &infrav1.CustomCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}}
	full := &infrav1.CustomCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}, Spec: infrav1.CustomClusterSpec{
		Region: "r",
		NetworkSpec: infrav1.NetworkSpec{
			VPC:     infrav1.VPCSpec{CIDRBlock: "10.0.0.0/16"},
			Subnets: []infrav1.SubnetSpec{{CIDRBlock: "10.0.1.0/24", AvailabilityZone: "a", IsPublic: true}},
			SecurityGroups: []infrav1.SecurityGroupSpec{{Name: "g", IngressRules: []infrav1.IngressRule{
				{Protocol: "tcp", FromPort: 1, ToPort: 2, CIDRBlocks: []string{"0.0.0.0/0"}},
			}}},
		},
		LoadBalancerSpec: &infrav1.LoadBalancerSpec{Port: 6443},
		AdditionalTags:   map[string]string{"a": "b"},
	}}
	full.Status.Network = &infrav1.NetworkStatus{VPCID: "v", Subnets: []string{"s"}, SecurityGroups: []string{"g"}}
	full.Status.LoadBalancer = &infrav1.LoadBalancerStatus{DNSName: "d", ARN: "a"}
	full.Status.FailureDomains = []clusterv1.FailureDomain{{Name: "a", ControlPlane: ptr.To(true), Attributes: map[string]string{"k": "v"}}}
	cm := &infrav1.CustomMachine{ObjectMeta: metav1.ObjectMeta{Name: "m"}}
	fullM := &infrav1.CustomMachine{ObjectMeta: metav1.ObjectMeta{Name: "m"}, Spec: infrav1.CustomMachineSpec{
		InstanceType: "t", ImageID: "i", SSHKeyName: "k", SubnetID: "s", SecurityGroupIDs: []string{"g"},
		IAMInstanceProfile: "p", RootVolume: &infrav1.Volume{Size: 1, Encrypted: ptr.To(true)},
		AdditionalVolumes: []infrav1.Volume{{Size: 2, IOPS: 3}}, Tags: map[string]string{"x": "y"},
	}}
	check := func(t *testing.T, kind string, vars map[string]cty.Value) {
		t.Helper()
		want := contract.Variables(kind)
		if len(vars) != len(want) {
			t.Errorf("%s: controllers render %d variables, the contract lists %d", kind, len(vars), len(want))
		}
		for _, cv := range want {
			v, ok := vars[cv.Name]
			if !ok {
				t.Errorf("%s: contract variable %q is not rendered", kind, cv.Name)
				continue
			}
			if !v.Type().Equals(cv.Type) {
				t.Errorf("%s: variable %q rendered as %#v, contract says %#v", kind, cv.Name, v.Type(), cv.Type)
			}
			if v.IsNull() && !cv.MayBeNull {
				t.Errorf("%s: variable %q rendered null but the contract says it never is", kind, cv.Name)
			}
		}
	}
	for _, c := range []*infrav1.CustomCluster{cc, full} {
		vars, err := clusterVariables("capi", c)
		if err != nil {
			t.Fatal(err)
		}
		check(t, contract.KindCluster, vars.contract)
		for _, m := range []*infrav1.CustomMachine{cm, fullM} {
			vars, err := machineVariables(machineInput{ClusterName: "capi", Machine: m, Cluster: c})
			if err != nil {
				t.Fatal(err)
			}
			check(t, contract.KindMachine, vars.contract)
		}
	}
}

const testMachineModule = `
variable "machine_name" { type = string }
variable "disk_gb" {
  type    = number
  default = 10
}
output "provider_id" { value = "custom://t/${var.machine_name}" }
`

func testBase(objs ...runtime.Object) *base {
	return &base{APIReader: fake.NewClientBuilder().WithRuntimeObjects(objs...).Build(), Options: Options{Sources: testStore}}
}

// testStore unpacks the archives of the unit tests.
var testStore = func() *modulesrc.Store {
	dir, err := os.MkdirTemp("", "capc-controllers-test-")
	if err != nil {
		panic(err)
	}
	s, err := modulesrc.NewStore(dir, modulesrc.StoreOptions{})
	if err != nil {
		panic(err)
	}
	return s
}()

func machineRun(module *infrav1.ModuleSource, vars string) runInput {
	cm := &infrav1.CustomMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m"}}
	in := runInput{obj: cm, kind: contract.KindMachine, spec: infrav1.TerraformSpec{Module: module},
		vars: variables{contract: map[string]cty.Value{"machine_name": cty.StringVal("m")}}}
	if vars != "" {
		in.spec.Variables = &apiextensionsv1.JSON{Raw: []byte(vars)}
	}
	in.vars.extras, _ = extraVariables(in.spec.Variables) // as machineVariables parses them
	return in
}

func TestConfigMapModule(t *testing.T) {
	cmap := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "mod"},
		Data:       map[string]string{"main.tf": testMachineModule, "README.md": "notes"},
		BinaryData: map[string][]byte{"script.sh": []byte("#!/bin/sh\n")},
	}
	b := testBase(cmap)
	ref := &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "mod"}}

	cm, err := b.module(context.Background(), machineRun(ref, `{"disk_gb": "20"}`), tenant{})
	if err != nil {
		t.Fatal(err)
	}
	mod, vars := cm.tree.FS, cm.vars
	for _, f := range []string{"main.tf", "README.md", "script.sh"} {
		if _, err := fs.Stat(mod, f); err != nil {
			t.Errorf("file %s: %v", f, err)
		}
	}
	if got := vars["disk_gb"]; !got.RawEquals(cty.NumberIntVal(20)) {
		t.Errorf("disk_gb = %#v, want the declared number 20", got)
	}
	if got := vars["machine_name"]; !got.RawEquals(cty.StringVal("m")) {
		t.Errorf("contract variables must be kept, got %#v", got)
	}

	_, err = b.module(context.Background(), machineRun(ref, `{"disk": 20}`), tenant{})
	var ce *ContractError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), `spec.variables "disk": is not a variable of the module`) {
		t.Errorf("unknown spec.variables key: got %v", err)
	}

	missing := &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "nope"}}
	if _, err := b.module(context.Background(), machineRun(missing, ""), tenant{}); err == nil || !strings.Contains(err.Error(), "reading module ConfigMap ns/nope") {
		t.Errorf("missing ConfigMap: got %v", err)
	}
}

func TestContractFailureListsEveryProblem(t *testing.T) {
	cmap := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bad"}, Data: map[string]string{
		"main.tf": `variable "machine_name" { type = number }` + "\n" + `variable "zone" { type = string }` + "\n",
	}}
	_, err := testBase(cmap).module(context.Background(),
		machineRun(&infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "bad"}}, ""), tenant{})
	var ce *ContractError
	if !errors.As(err, &ce) {
		t.Fatalf("want a ContractError, got %v", err)
	}
	for _, want := range []string{`variable "machine_name": type number is not compatible with string`,
		`variable "zone": is required`, `output "provider_id": is missing`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %q", err, want)
		}
	}
}

func TestPathModuleConfinement(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	write := func(dir string) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(testMachineModule), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "good", "machine"))
	write(filepath.Join(outside, "machine"))
	// The family directory is fine, but its machine directory points outside the root.
	if err := os.MkdirAll(filepath.Join(root, "sneaky"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "machine"), filepath.Join(root, "sneaky", "machine")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	b := testBase()
	b.Options.ModuleRoot = root
	if _, err := b.module(context.Background(), machineRun(&infrav1.ModuleSource{Path: "good"}, ""), tenant{}); err != nil {
		t.Fatalf("a confined module was refused: %v", err)
	}
	for _, p := range []string{"sneaky", "link", "../" + filepath.Base(outside), "good/../../x"} {
		_, err := b.module(context.Background(), machineRun(&infrav1.ModuleSource{Path: p}, ""), tenant{})
		if err == nil {
			t.Errorf("path %q escaping the module root was accepted", p)
		}
	}
}

func TestRemoteModule(t *testing.T) {
	src := &infrav1.ModuleSource{Source: "app.terraform.io/acme/capi-machine/aws", Version: "~> 1.2"}
	b := testBase()
	if _, err := b.module(context.Background(), machineRun(src, ""), tenant{}); err == nil || !strings.Contains(err.Error(), "--allow-remote-modules") {
		t.Fatalf("a remote module without --allow-remote-modules: got %v", err)
	}
	b.Options.AllowRemoteModules = true
	for _, kind := range []string{contract.KindCluster, contract.KindMachine} {
		mod, err := remoteModule(src.Source, src.Version, kind, []string{"disk_gb", "cluster_name"})
		if err != nil {
			t.Fatal(err)
		}
		r := modulecheck.Check(mod, kind, map[string]cty.Value{"disk_gb": cty.NumberIntVal(1)})
		if !r.OK() || len(r.Warnings) > 0 {
			t.Errorf("%s wrapper: problems %v, warnings %v", kind, r.Problems, r.Warnings)
		}
		b, _ := fs.ReadFile(mod, "main.tf")
		for _, want := range []string{`source\s+= "app.terraform.io/acme/capi-machine/aws"`, `version\s+= "~> 1.2"`, `disk_gb\s+= var.disk_gb`} {
			if !regexp.MustCompile(want).Match(b) {
				t.Errorf("%s wrapper lacks %q:\n%s", kind, want, b)
			}
		}
	}
	cm, err := b.module(context.Background(), machineRun(src, `{"disk_gb": 5}`), tenant{})
	if err != nil {
		t.Fatal(err)
	}
	mod, vars := cm.tree.FS, cm.vars
	if !vars["disk_gb"].RawEquals(cty.NumberIntVal(5)) {
		t.Errorf("disk_gb = %#v", vars["disk_gb"])
	}
	main, _ := fs.ReadFile(mod, "main.tf")
	if !regexp.MustCompile(`disk_gb\s+= var.disk_gb`).Match(main) || !strings.Contains(string(main), `lookup(module.this, "instance_id", null)`) {
		t.Errorf("wrapper:\n%s", main)
	}
	// A source is a literal: interpolation syntax is escaped, never evaluated.
	mod, _ = remoteModule("git::https://x/${path.cwd}", "", contract.KindCluster, nil)
	main, _ = fs.ReadFile(mod, "main.tf")
	if !strings.Contains(string(main), `"git::https://x/$${path.cwd}"`) {
		t.Errorf("source not escaped:\n%s", main)
	}
}

// A spec.variables key named like a contract variable is not silently ignored: ModuleValid says so
// and a Warning event tells the user once, not on every reconcile.
func TestModuleWarningsShown(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	b := testBase()
	b.Recorder = rec
	in := machineRun(nil, `{"machine_name": "other", "instance_type": "big"}`)
	cm, err := b.module(context.Background(), in, tenant{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		b.moduleValid(in.obj, cm.warnings)
	}
	c := conditions.Get(in.obj, infrav1.ModuleValidCondition)
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != infrav1.ModuleWarningsReason ||
		!strings.Contains(c.Message, `spec.variables "machine_name": ignored`) || !strings.Contains(c.Message, `spec.variables "instance_type": ignored`) {
		t.Fatalf("ModuleValid = %+v", c)
	}
	if len(rec.Events) != 1 {
		t.Fatalf("want one Warning event, got %d", len(rec.Events))
	}
	if e := <-rec.Events; !strings.HasPrefix(e, "Warning "+infrav1.ModuleWarningsReason) {
		t.Fatalf("event %q", e)
	}
	b.moduleValid(in.obj, nil)
	if c := conditions.Get(in.obj, infrav1.ModuleValidCondition); c.Reason != infrav1.ModuleValidReason || c.Message != "" {
		t.Fatalf("warnings not cleared: %+v", c)
	}
}

// A Flux source: another namespace's needs the operator's consent; one without a Ready artifact
// is SourceNotReady (a wait, not an error loop).
func TestFluxSourceRefusals(t *testing.T) {
	notReady := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
		"metadata": map[string]any{"namespace": "ns", "name": "repo"},
		"status":   map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "False", "message": "auth failed"}}},
	}}
	b := testBase()
	b.Sources = fake.NewClientBuilder().WithObjects(notReady).Build()
	run := func(ref infrav1.SourceReference) error {
		_, err := b.module(context.Background(), machineRun(&infrav1.ModuleSource{SourceRef: &ref}, ""), tenant{})
		return err
	}
	var pe *modulecheck.PolicyError
	if err := run(infrav1.SourceReference{Kind: "GitRepository", Name: "repo", Namespace: "other"}); !errors.As(err, &pe) ||
		!strings.Contains(err.Error(), "--allow-cross-namespace-sources") {
		t.Errorf("cross-namespace source: %v", err)
	}
	var se *SourceNotReadyError
	if err := run(infrav1.SourceReference{Kind: "GitRepository", Name: "repo"}); !errors.As(err, &se) ||
		!strings.Contains(err.Error(), "GitRepository ns/repo is not Ready: auth failed") {
		t.Errorf("not Ready source: %v", err)
	}
	if err := run(infrav1.SourceReference{Kind: "GitRepository", Name: "missing"}); !errors.As(err, &se) {
		t.Errorf("missing source: %v", err)
	}
	b.Options.AllowCrossNamespaceSources = true
	if err := run(infrav1.SourceReference{Kind: "GitRepository", Name: "repo", Namespace: "ns"}); !errors.As(err, &se) {
		t.Errorf("same namespace spelled out: %v", err)
	}
}

// A path module tree: its remote calls need --allow-remote-modules; a contract problem names
// the root module's directory in the tree.
func TestPathModuleTreeChecks(t *testing.T) {
	root := t.TempDir()
	for p, c := range map[string]string{
		"t/machine/main.tf": testMachineModule + "module \"l\" {\n  source = \"../../shared/l\"\n}\n",
		"shared/l/main.tf":  "module \"vpc\" {\n  source = \"terraform-aws-modules/vpc/aws\"\n}\n",
		"bad/machine/x.tf":  "module \"l\" {\n  source = \"../../shared/ok\"\n}\n",
		"shared/ok/main.tf": "# nothing\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := testBase()
	b.Options.ModuleRoot = root
	_, err := b.module(context.Background(), machineRun(&infrav1.ModuleSource{Path: "t"}, ""), tenant{})
	var pe *modulecheck.PolicyError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), `module "vpc" (shared/l/main.tf:1): source "terraform-aws-modules/vpc/aws" is remote`) {
		t.Errorf("remote call in a tree: %v", err)
	}
	b.Options.AllowRemoteModules = true
	cm, err := b.module(context.Background(), machineRun(&infrav1.ModuleSource{Path: "t"}, ""), tenant{})
	if err != nil || cm.tree.Root != "t/machine" || !strings.HasPrefix(cm.revision, "t@sha256:") {
		t.Errorf("tree with --allow-remote-modules: %+v, %v", cm.tree, err)
	}
	_, err = b.module(context.Background(), machineRun(&infrav1.ModuleSource{Path: "bad"}, ""), tenant{})
	var ce *ContractError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "root module bad/machine/ fails the contract check") {
		t.Errorf("contract problem in a tree: %v", err)
	}
}
