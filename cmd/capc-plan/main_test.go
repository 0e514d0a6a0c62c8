/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/company/cluster-api-provider-custom/tfrunner"
)

func repo(p string) string { return filepath.Join("..", "..", p) }

func terraformPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(repo("bin/terraform"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("terraform not built (make tools): %v", err)
	}
	return p
}

func TestPlanSampleCluster(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), options{file: repo("config/samples/cluster.yaml"), terraform: terraformPath(t), output: "text"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	// vpc + 2 subnets + 3 security groups (the sample's, control plane, nodes) + load balancer
	if !strings.Contains(out.String(), "CustomCluster default/demo: 7 to add, 0 to change, 0 to destroy, 0 to replace") {
		t.Errorf("unexpected plan:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "Terraform will perform the following actions") {
		t.Error("the human-readable plan is missing")
	}
}

func TestPlanSampleMachineJSONHidesUserData(t *testing.T) {
	dir := t.TempDir()
	const canary = "canary-userdata-7f3a9c"
	m := `apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: CustomMachine
metadata: {name: m0, labels: {cluster.x-k8s.io/cluster-name: demo}}
spec: {instanceType: t3.large, imageId: ami-1, userData: "` + canary + `"}
`
	if err := os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(m), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), options{file: filepath.Join(dir, "m.yaml"), clusterFile: repo("config/samples/cluster.yaml"),
		terraform: terraformPath(t), output: "json", controlPlane: true}, &out)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Summary struct{ Add, Change int }
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got.Summary.Add != 2 { // the instance and its load balancer registration
		t.Errorf("add = %d, want 2:\n%s", got.Summary.Add, out.String())
	}
	var text bytes.Buffer
	if err := run(context.Background(), options{file: filepath.Join(dir, "m.yaml"), terraform: terraformPath(t), output: "text"}, &text); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String()+text.String(), canary) {
		t.Error("user data leaked into the plan output")
	}
}

func TestPlanRejectsOtherKinds(t *testing.T) {
	err := run(context.Background(), options{file: repo("config/samples/bootstrap-secret.yaml"), output: "text"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no CustomCluster or CustomMachine") {
		t.Errorf("err = %v", err)
	}
}

// capc-plan takes the manager's path: a module the manager refuses is refused here, before any
// terraform runs, with the manager's message (the one its ModuleValid condition shows).
func TestPlanRefusesWhatTheManagerRefuses(t *testing.T) {
	root := t.TempDir()
	machine := `variable "cluster_name" { type = string }
variable "machine_name" { type = string }
variable "user_data" {
  type      = string
  sensitive = true
}
output "instance_id" { value = var.machine_name }
`
	withID := machine + `output "provider_id" { value = "custom://x/${var.machine_name}" }
resource "terraform_data" "boot" {
  provisioner "local-exec" { command = "true" }
}
`
	for dir, main := range map[string]string{"nocontract": machine, "provisioner": withID} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dir, "main.tf"), []byte(main), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	obj := filepath.Join(root, "m.yaml")
	for _, tc := range []struct {
		path, want string
		o          options
	}{
		{"nocontract", `module fails the contract check (1 problem(s)): output "provider_id": is missing; the machine contract requires it`, options{}},
		{"provisioner", `module is not allowed by the manager's module policy (1 problem(s)): `, options{}},
		{"provisioner", `local-exec`, options{}},
	} {
		m := "apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: CustomMachine\nmetadata: {name: m0}\n" +
			"spec: {instanceType: t3.large, imageId: ami-1, module: {path: " + tc.path + "}}\n"
		if err := os.WriteFile(obj, []byte(m), 0o600); err != nil {
			t.Fatal(err)
		}
		tc.o.file, tc.o.moduleRoot, tc.o.terraform, tc.o.output = obj, root, terraformPath(t), "text"
		err := run(context.Background(), tc.o, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tc.path, err, tc.want)
		}
	}
	// Allowed as the manager would allow it: the plan is made (provisioners only run on apply).
	var out bytes.Buffer
	if err := run(context.Background(), options{file: obj, moduleRoot: root, terraform: terraformPath(t), output: "text",
		allowProvisioners: true}, &out); err != nil || !strings.Contains(out.String(), "1 to add") {
		t.Fatalf("with -allow-provisioners: %v\n%s", err, out.String())
	}
}

// capc-plan judges a plan with the same Rego policies the manager would (the sample policy set):
// a denial is printed and fails the command, a warning is printed, a policy that does not
// compile fails before anything is planned.
func TestPlanPolicies(t *testing.T) {
	dir := t.TempDir()
	machine := func(instanceType string) string {
		p := filepath.Join(dir, instanceType+".yaml")
		m := `apiVersion: infrastructure.cluster.x-k8s.io/v1beta1
kind: CustomMachine
metadata: {name: m0, labels: {cluster.x-k8s.io/cluster-name: demo}}
spec: {instanceType: ` + instanceType + `, imageId: ami-1}
`
		if err := os.WriteFile(p, []byte(m), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	policies := repo("config/samples/policy/rego")
	var out bytes.Buffer
	err := run(context.Background(), options{file: machine("m5.24xlarge"), terraform: terraformPath(t), output: "text", policies: []string{policies}}, &out)
	var denied *tfrunner.PolicyDeniedError
	if !errors.As(err, &denied) {
		t.Fatalf("want the plan denied, got %v\n%s", err, out.String())
	}
	if want := "DENY  terraform_data.instance: instance type m5.24xlarge is not allowed (allowed: m5.large, m5.xlarge, t3.large, t3.medium) (" + policies + ", main.deny)"; !strings.Contains(out.String(), want) {
		t.Errorf("the denial is not printed as %q:\n%s", want, out.String())
	}
	out.Reset()
	if err := run(context.Background(), options{file: machine("t3.large"), terraform: terraformPath(t), output: "json", policies: []string{policies}}, &out); err != nil {
		t.Fatalf("an allowed instance type: %v\n%s", err, out.String())
	}
	var got struct {
		Policy struct{ Denials, Warnings []any }
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got.Policy.Denials) != 0 {
		t.Errorf("json verdict: %v\n%s", err, out.String())
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "broken.rego"), []byte("package main\n\ndeny contains msg if {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), options{file: machine("t3.large"), terraform: terraformPath(t), policies: []string{bad}}, &out)
	if err == nil || !strings.Contains(err.Error(), "broken.rego:") {
		t.Errorf("a policy that does not parse must fail naming its file and line: %v", err)
	}
}
