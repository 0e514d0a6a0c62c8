/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

func outputs(t *testing.T, m map[string]any) map[string]tfrunner.Output {
	t.Helper()
	out := map[string]tfrunner.Output{}
	for k, v := range m {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = tfrunner.Output{Value: b}
	}
	return out
}

func TestClusterVariables(t *testing.T) {
	tests := []struct {
		name    string
		spec    infrav1.CustomClusterSpec
		check   func(t *testing.T, v map[string]cty.Value)
		wantErr string
	}{
		{
			name: "minimal spec renders typed nulls and empty collections",
			spec: infrav1.CustomClusterSpec{Region: "eu-west-1"},
			check: func(t *testing.T, v map[string]cty.Value) {
				if got := v["region"].AsString(); got != "eu-west-1" {
					t.Errorf("region = %q", got)
				}
				if !v["load_balancer"].IsNull() || !v["vpc"].GetAttr("cidr_block").IsNull() {
					t.Error("unset load balancer and vpc cidr must be null")
				}
				if v["subnets"].LengthInt() != 0 || !v["subnets"].Type().IsListType() {
					t.Errorf("subnets = %#v, want an empty typed list", v["subnets"])
				}
			},
		},
		{
			name: "network, load balancer and tags",
			spec: infrav1.CustomClusterSpec{
				Region: "us-east-1",
				NetworkSpec: infrav1.NetworkSpec{
					VPC:     infrav1.VPCSpec{CIDRBlock: "10.0.0.0/16"},
					Subnets: []infrav1.SubnetSpec{{CIDRBlock: "10.0.1.0/24", AvailabilityZone: "a", IsPublic: true}},
					SecurityGroups: []infrav1.SecurityGroupSpec{{Name: "api", IngressRules: []infrav1.IngressRule{
						{Protocol: "tcp", FromPort: 6443, ToPort: 6443, CIDRBlocks: []string{"0.0.0.0/0"}}}}},
				},
				LoadBalancerSpec: &infrav1.LoadBalancerSpec{Port: 6443},
				AdditionalTags:   map[string]string{"team": "infra"},
			},
			check: func(t *testing.T, v map[string]cty.Value) {
				sn := v["subnets"].Index(cty.NumberIntVal(0))
				if sn.GetAttr("is_public").True() != true || sn.GetAttr("availability_zone").AsString() != "a" {
					t.Errorf("subnet = %#v", sn)
				}
				rule := v["security_groups"].Index(cty.NumberIntVal(0)).GetAttr("ingress_rules").Index(cty.NumberIntVal(0))
				if !rule.GetAttr("from_port").RawEquals(cty.NumberIntVal(6443)) {
					t.Errorf("rule = %#v", rule)
				}
				if v["tags"].Index(cty.StringVal("team")).AsString() != "infra" {
					t.Error("tags not rendered")
				}
			},
		},
		{
			name: "contract variables win over spec.variables; extra ones pass through",
			spec: infrav1.CustomClusterSpec{Region: "r", TerraformSpec: infrav1.TerraformSpec{
				Variables: &apiextensionsv1.JSON{Raw: []byte(`{"region":"evil","nat_gateways":3,"extra":{"a":[1,2]}}`)}}},
			check: func(t *testing.T, v map[string]cty.Value) {
				if v["region"].AsString() != "r" {
					t.Error("spec.variables overrode a contract variable")
				}
				if !v["nat_gateways"].RawEquals(cty.NumberIntVal(3)) {
					t.Errorf("nat_gateways = %#v", v["nat_gateways"])
				}
			},
		},
		{
			name:    "spec.variables must be an object",
			spec:    infrav1.CustomClusterSpec{Region: "r", TerraformSpec: infrav1.TerraformSpec{Variables: &apiextensionsv1.JSON{Raw: []byte(`[1]`)}}},
			wantErr: "must be a JSON object",
		},
		{
			name:    "spec.variables keys must be identifiers",
			spec:    infrav1.CustomClusterSpec{Region: "r", TerraformSpec: infrav1.TerraformSpec{Variables: &apiextensionsv1.JSON{Raw: []byte(`{"a b":1}`)}}},
			wantErr: "not a valid terraform variable name",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := &infrav1.CustomCluster{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}, Spec: tt.spec}
			v, err := clusterVariables("c", cc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// What the module runs with: spec.variables under the contract's (checkModule).
			all := maps.Clone(v.extras)
			maps.Copy(all, v.contract)
			if _, err := tfrunner.RenderVariables(all); err != nil {
				t.Fatalf("variables do not render: %v", err)
			}
			tt.check(t, all)
		})
	}
}

func TestMachineVariables(t *testing.T) {
	cc := &infrav1.CustomCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: infrav1.CustomClusterSpec{
		Region: "us-east-1", AdditionalTags: map[string]string{"team": "infra", "role": "cluster"},
		ControlPlaneEndpoint: clusterv1.APIEndpoint{Host: "lb", Port: 6443}}}
	cm := &infrav1.CustomMachine{ObjectMeta: metav1.ObjectMeta{Name: "m"}, Spec: infrav1.CustomMachineSpec{
		InstanceType: "t3.large", ImageID: "ami-1", Tags: map[string]string{"role": "node"},
		AdditionalVolumes: []infrav1.Volume{{DeviceName: "/dev/sdb", Size: 100}}}}
	vars, err := machineVariables(machineInput{ClusterName: "c", Machine: cm, Cluster: cc, UserData: "#cloud-config", ControlPlane: true})
	if err != nil {
		t.Fatal(err)
	}
	v := vars.contract
	if v["tags"].Index(cty.StringVal("role")).AsString() != "node" || v["tags"].Index(cty.StringVal("team")).AsString() != "infra" {
		t.Errorf("machine tags must override cluster tags: %#v", v["tags"])
	}
	if !v["root_volume"].IsNull() || v["additional_volumes"].LengthInt() != 1 {
		t.Error("volumes not rendered")
	}
	if v["cluster"].GetAttr("control_plane_endpoint").GetAttr("host").AsString() != "lb" || !v["control_plane"].True() {
		t.Error("cluster outputs or control_plane flag missing")
	}
	if _, err := tfrunner.RenderVariables(v); err != nil {
		t.Fatalf("variables do not render: %v", err)
	}
}

func TestApplyClusterOutputs(t *testing.T) {
	good := map[string]any{
		"control_plane_endpoint": map[string]any{"host": "api.example", "port": 6443},
		"vpc_id":                 "vpc-1", "subnet_ids": []string{"s-1"}, "security_group_ids": []string{"sg-1"},
		"load_balancer":   map[string]any{"dns_name": "lb.example", "arn": "arn:lb"},
		"failure_domains": []any{map[string]any{"name": "a", "control_plane": true, "attributes": map[string]string{"subnet_id": "s-1"}}},
	}
	tests := []struct {
		name     string
		outs     map[string]any
		userHost string
		wantHost string
		wantErr  string
	}{
		{name: "maps every output", outs: good, wantHost: "api.example"},
		{name: "keeps a user-set endpoint", outs: good, userHost: "mine.example", wantHost: "mine.example"},
		{name: "missing endpoint", outs: map[string]any{"vpc_id": "v"}, wantErr: "control_plane_endpoint"},
		{name: "wrong type", outs: map[string]any{"control_plane_endpoint": "x"}, wantErr: "do not match the contract"},
		{name: "failure domain without name", outs: map[string]any{
			"control_plane_endpoint": map[string]any{"host": "h", "port": 1}, "failure_domains": []any{map[string]any{}}},
			wantErr: "without a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := &infrav1.CustomCluster{}
			if tt.userHost != "" {
				cc.Spec.ControlPlaneEndpoint = clusterv1.APIEndpoint{Host: tt.userHost, Port: 443}
			}
			err := applyClusterOutputs(cc, outputs(t, tt.outs))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if cc.Status.Initialization.Provisioned != nil {
					t.Error("provisioned set despite an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cc.Spec.ControlPlaneEndpoint.Host != tt.wantHost || !*cc.Status.Initialization.Provisioned {
				t.Errorf("endpoint = %v", cc.Spec.ControlPlaneEndpoint)
			}
			if cc.Status.Network.VPCID != "vpc-1" || cc.Status.LoadBalancer.ARN != "arn:lb" || len(cc.Status.FailureDomains) != 1 {
				t.Errorf("status = %+v", cc.Status)
			}
		})
	}
}

func TestApplyMachineOutputs(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{
			"instance_id": "i-1", "instance_state": "running", "provider_id": "custom://r/i-1", "failure_domain": "a",
			"addresses": []any{map[string]any{"type": "InternalIP", "address": "10.0.0.5"}},
		}
	}
	tests := []struct {
		name       string
		mutate     func(map[string]any)
		providerID string
		wantErr    string
	}{
		{name: "maps every output"},
		{name: "same providerID is fine", providerID: "custom://r/i-1"},
		{name: "providerID never changes", providerID: "custom://r/i-0", wantErr: "immutable"},
		{name: "empty providerID", mutate: func(m map[string]any) { m["provider_id"] = "" }, wantErr: "provider_id is empty"},
		{name: "bad address type", mutate: func(m map[string]any) {
			m["addresses"] = []any{map[string]any{"type": "Public", "address": "1.2.3.4"}}
		}, wantErr: `output addresses: status.addresses[0].type in body should be one of [Hostname ExternalIP InternalIP ExternalDNS InternalDNS]`},
		{name: "more addresses than the API holds", mutate: func(m map[string]any) {
			var many []any
			for i := range 33 {
				many = append(many, map[string]any{"type": "InternalIP", "address": fmt.Sprintf("10.0.0.%d", i)})
			}
			m["addresses"] = many
		}, wantErr: "output addresses: status.addresses in body should have at most 32 items"},
		{name: "providerID too long", mutate: func(m map[string]any) { m["provider_id"] = "custom://" + strings.Repeat("x", 600) },
			wantErr: "output provider_id: spec.providerID in body should be at most 512 chars long"},
	}
	limits, err := loadAPILimits()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			if tt.mutate != nil {
				tt.mutate(m)
			}
			cm := &infrav1.CustomMachine{Spec: infrav1.CustomMachineSpec{ProviderID: tt.providerID}}
			err := applyMachineOutputs(cm, outputs(t, m))
			if err == nil {
				err = limits.check("CustomMachine", contract.KindMachine, cm)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cm.Spec.ProviderID != "custom://r/i-1" || len(cm.Status.Addresses) != 1 || cm.Status.FailureDomain != "a" {
				t.Errorf("machine = %+v", cm)
			}
		})
	}
}

func TestMachineHealth(t *testing.T) {
	tests := []struct {
		name            string
		state, planned  map[string]any // nil planned: no plan in this reconcile
		status, message string
		wantErr         string
	}{
		{name: "no health output: no opinion", state: map[string]any{"provider_id": "p"}},
		{name: "string", state: map[string]any{"health": "Unhealthy"}, status: "unhealthy"},
		{name: "object", state: map[string]any{"health": map[string]any{"status": "healthy", "message": "ok"}}, status: "healthy", message: "ok"},
		{name: "null", state: map[string]any{"health": nil}},
		{name: "the plan's refresh wins over state", state: map[string]any{"health": "healthy"},
			planned: map[string]any{"health": map[string]any{"status": "unhealthy", "message": "instance i-1 is stopped"}},
			status:  "unhealthy", message: "instance i-1 is stopped"},
		{name: "known only after apply", state: map[string]any{"health": "unhealthy"}, planned: map[string]any{}},
		{name: "unknown", state: map[string]any{"health": "unknown"}, status: "unknown"},
		{name: "bad status", state: map[string]any{"health": "dying"}, wantErr: `status "dying"`},
		{name: "bad shape", state: map[string]any{"health": []any{"x"}}, wantErr: "string or an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tfrunner.Result{Outputs: outputs(t, tt.state)}
			if tt.planned != nil {
				res.PlannedOutputs = outputs(t, tt.planned)
			}
			h, err := machineHealth(res)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || h.Status != tt.status || h.Message != tt.message {
				t.Fatalf("health = %+v, %v; want %q %q", h, err, tt.status, tt.message)
			}
		})
	}
	sensitive := outputs(t, map[string]any{"health": "unhealthy"})
	sensitive["health"] = tfrunner.Output{Value: sensitive["health"].Value, Sensitive: true}
	if h, err := machineHealth(tfrunner.Result{Outputs: sensitive}); err != nil || h.Status != "" {
		t.Fatalf("a sensitive health output is ignored like every sensitive output: %+v %v", h, err)
	}
}

func TestSensitiveOutputsStayOutOfStatus(t *testing.T) {
	outs := outputs(t, map[string]any{"instance_id": "i-secret", "provider_id": "custom://r/i-1"})
	outs["instance_id"] = tfrunner.Output{Value: outs["instance_id"].Value, Sensitive: true}
	cm := &infrav1.CustomMachine{}
	if err := applyMachineOutputs(cm, outs); err != nil {
		t.Fatal(err)
	}
	if cm.Status.InstanceID != "" {
		t.Errorf("a sensitive output reached status: %q", cm.Status.InstanceID)
	}
}

func TestPolicyFor(t *testing.T) {
	tests := []struct {
		name string
		ann  map[string]string
		def  string
		want tfrunner.Policy
	}{
		{name: "default auto", def: "auto", want: tfrunner.Policy{AutoApply: true}},
		{name: "default manual", def: "manual", want: tfrunner.Policy{}},
		{name: "annotation overrides default", def: "auto", ann: map[string]string{infrav1.ApprovalAnnotation: "manual"}, want: tfrunner.Policy{}},
		{name: "invalid annotation falls back", def: "manual", ann: map[string]string{infrav1.ApprovalAnnotation: "yes"}, want: tfrunner.Policy{}},
		{name: "allow destroy and approve", def: "auto", ann: map[string]string{
			infrav1.AllowDestroyAnnotation: "true", infrav1.ApprovePlanAnnotation: "abc"},
			want: tfrunner.Policy{AutoApply: true, AllowDestroy: true, ApproveDigest: "abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := policyFor(tt.ann, tt.def); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("policyFor = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPathModuleNeedsRelativePathAndRoot(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"../etc", "/etc", "a/../../b"} {
		if _, err := pathModule(root, p, "machine"); err == nil || !strings.Contains(err.Error(), "must be relative") {
			t.Errorf("pathModule(%q) = %v, want a refusal", p, err)
		}
	}
	if _, err := pathModule("", "x", "machine"); err == nil {
		t.Error("a path without --module-root was accepted")
	}
}

// The cluster's outputs are held to the CRD's limits too, named by output.
func TestClusterOutputLimits(t *testing.T) {
	limits, err := loadAPILimits()
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		outs    map[string]any
		wantErr string
	}{
		"fits": {outs: map[string]any{"control_plane_endpoint": map[string]any{"host": "api.example", "port": 6443}}},
		"host too long": {outs: map[string]any{"control_plane_endpoint": map[string]any{"host": strings.Repeat("h", 600), "port": 6443}},
			wantErr: "output control_plane_endpoint: spec.controlPlaneEndpoint.host in body should be at most 512 chars long"},
		"port out of range": {outs: map[string]any{"control_plane_endpoint": map[string]any{"host": "api.example", "port": 70000}},
			wantErr: "output control_plane_endpoint: spec.controlPlaneEndpoint.port in body should be less than or equal to 65535"},
	} {
		t.Run(name, func(t *testing.T) {
			cc := &infrav1.CustomCluster{}
			err := applyClusterOutputs(cc, outputs(t, tt.outs))
			if err == nil {
				err = limits.check("CustomCluster", contract.KindCluster, cc)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// Every contract output's API field is a field of the CRD: a value of the wrong type there is
// refused and named by its output (a misspelt field would match nothing and check nothing).
func TestOutputAPIFieldsExist(t *testing.T) {
	limits, err := loadAPILimits()
	if err != nil {
		t.Fatal(err)
	}
	for kind, moduleKind := range map[string]string{"CustomCluster": contract.KindCluster, "CustomMachine": contract.KindMachine} {
		for _, o := range contract.Outputs(moduleKind) {
			if o.APIField == "" {
				continue
			}
			u := &unstructured.Unstructured{Object: map[string]any{}}
			if err := unstructured.SetNestedField(u.Object, int64(7), strings.Split(o.APIField, ".")...); err != nil {
				t.Fatal(err)
			}
			if err := limits.check(kind, moduleKind, u); err == nil || !strings.Contains(err.Error(), "output "+o.Name+": ") {
				t.Errorf("%s output %s at %s: %v", kind, o.Name, o.APIField, err)
			}
		}
	}
}
