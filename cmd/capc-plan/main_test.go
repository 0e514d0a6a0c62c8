package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
