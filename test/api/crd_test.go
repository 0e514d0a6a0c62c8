/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package api_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

var ourCRDs = []string{
	"customclusters.infrastructure.cluster.x-k8s.io",
	"custommachines.infrastructure.cluster.x-k8s.io",
	"customclustertemplates.infrastructure.cluster.x-k8s.io",
	"custommachinetemplates.infrastructure.cluster.x-k8s.io",
	"custompolicies.infrastructure.cluster.x-k8s.io",
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

func TestCRDsInstalledWithContractLabel(t *testing.T) {
	ctx := context.Background()
	capi := []string{
		"clusters.cluster.x-k8s.io", "machines.cluster.x-k8s.io", "machinedeployments.cluster.x-k8s.io",
		"machinesets.cluster.x-k8s.io", "clusterclasses.cluster.x-k8s.io",
	}
	for _, name := range append(append([]string{}, ourCRDs...), capi...) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			t.Errorf("CRD %s not installed: %v", name, err)
			continue
		}
		if !established(crd) {
			t.Errorf("CRD %s is not Established: %+v", name, crd.Status.Conditions)
		}
	}
	for _, name := range ourCRDs {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
			continue // reported above
		}
		if got := crd.Labels["cluster.x-k8s.io/v1beta2"]; got != "v1beta1" {
			t.Errorf("CRD %s: label cluster.x-k8s.io/v1beta2 = %q, want v1beta1 (labels %v)", name, got, crd.Labels)
		}
		if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Name != "v1beta1" || !crd.Spec.Versions[0].Served || !crd.Spec.Versions[0].Storage {
			t.Errorf("CRD %s: want one served storage version v1beta1, got %+v", name, crd.Spec.Versions)
		}
	}
}

// TestSamplesAccepted creates every object of config/samples (our kinds and CAPI's) in a fresh
// namespace, so the samples stay valid against both our CRDs and CAPI's.
func TestSamplesAccepted(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	files, err := filepath.Glob(filepath.Join(samplesDir(), "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found in %s: %v", samplesDir(), err)
	}
	created := map[string]int{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		for _, o := range readObjects(t, f) {
			o.SetNamespace(ns)
			if err := k8s.Create(ctx, o); err != nil {
				t.Errorf("%s: %s %s rejected: %v", filepath.Base(f), o.GetKind(), o.GetName(), err)
				continue
			}
			created[o.GetKind()]++
		}
	}
	want := map[string]int{"Cluster": 1, "CustomCluster": 1, "Machine": 2, "CustomMachine": 2, "Secret": 1,
		"CustomClusterTemplate": 1, "CustomMachineTemplate": 1}
	for kind, n := range want {
		if created[kind] != n {
			t.Errorf("created %d %s from the samples, want %d", created[kind], kind, n)
		}
	}

	// The typed view of what the API server stored: spec fields survived and defaults applied.
	cc := &infrav1.CustomCluster{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo"}, cc); err != nil {
		t.Fatalf("getting CustomCluster: %v", err)
	}
	if cc.Spec.Region != "us-east-1" || cc.Spec.NetworkSpec.VPC.CIDRBlock != "10.0.0.0/16" ||
		len(cc.Spec.NetworkSpec.Subnets) != 2 || len(cc.Spec.NetworkSpec.SecurityGroups) != 1 ||
		cc.Spec.NetworkSpec.SecurityGroups[0].IngressRules[0].FromPort != 6443 {
		t.Errorf("CustomCluster spec not stored as written: %+v", cc.Spec)
	}
	if lb := cc.Spec.LoadBalancerSpec; lb == nil || lb.Type != "network" || lb.Port != 6443 {
		t.Errorf("loadBalancerSpec = %+v, want type network port 6443", lb)
	}
	cm := &infrav1.CustomMachine{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo-worker-0"}, cm); err != nil {
		t.Fatalf("getting CustomMachine: %v", err)
	}
	if cm.Spec.InstanceType != "t3.large" || cm.Spec.ImageID != "ami-0123456789abcdef0" ||
		cm.Spec.RootVolume == nil || cm.Spec.RootVolume.Size != 50 {
		t.Errorf("CustomMachine spec not stored as written: %+v", cm.Spec)
	}
}

// expectRejected creates obj and asserts the API server refuses it as invalid with every substring.
func expectRejected(t *testing.T, err error, substrings ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want rejection containing %q", substrings)
	}
	t.Logf("rejected as expected: %v", err)
	if !apierrors.IsInvalid(err) {
		t.Errorf("error is not Invalid (422): %v", err)
	}
	for _, s := range substrings {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func TestInvalidObjectsRejected(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	cases := []struct {
		name   string
		file   string
		kind   string
		object string
		mutate func(u *unstructured.Unstructured)
		want   []string
	}{
		{
			name: "bad VPC CIDR", file: "cluster.yaml", kind: "CustomCluster", object: "demo",
			mutate: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, "10.0.0.0/33", "spec", "networkSpec", "vpc", "cidrBlock")
			},
			want: []string{"spec.networkSpec.vpc.cidrBlock", "cidrBlock must be a valid CIDR"},
		},
		{
			name: "bad subnet CIDR", file: "cluster.yaml", kind: "CustomCluster", object: "demo",
			mutate: func(u *unstructured.Unstructured) {
				subnets, _, _ := unstructured.NestedSlice(u.Object, "spec", "networkSpec", "subnets")
				subnets[1].(map[string]any)["cidrBlock"] = "not-a-cidr"
				_ = unstructured.SetNestedSlice(u.Object, subnets, "spec", "networkSpec", "subnets")
			},
			want: []string{"spec.networkSpec.subnets[1].cidrBlock", "cidrBlock must be a valid CIDR"},
		},
		{
			name: "bad ingress CIDR", file: "cluster.yaml", kind: "CustomCluster", object: "demo",
			mutate: func(u *unstructured.Unstructured) {
				sgs, _, _ := unstructured.NestedSlice(u.Object, "spec", "networkSpec", "securityGroups")
				rule := sgs[0].(map[string]any)["ingressRules"].([]any)[0].(map[string]any)
				rule["cidrBlocks"] = []any{"0.0.0.0"}
				_ = unstructured.SetNestedSlice(u.Object, sgs, "spec", "networkSpec", "securityGroups")
			},
			want: []string{"cidrBlocks entries must be valid CIDRs"},
		},
		{
			name: "missing region", file: "cluster.yaml", kind: "CustomCluster", object: "demo",
			mutate: func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, "spec", "region") },
			want:   []string{"spec.region", "Required value"},
		},
		{
			name: "missing instanceType", file: "machines.yaml", kind: "CustomMachine", object: "demo-worker-0",
			mutate: func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, "spec", "instanceType") },
			want:   []string{"spec.instanceType", "Required value"},
		},
		{
			name: "empty instanceType", file: "machines.yaml", kind: "CustomMachine", object: "demo-worker-0",
			mutate: func(u *unstructured.Unstructured) {
				_ = unstructured.SetNestedField(u.Object, "", "spec", "instanceType")
			},
			want: []string{"spec.instanceType", "at least 1 chars long"},
		},
		{
			name: "missing imageId", file: "machines.yaml", kind: "CustomMachine", object: "demo-worker-0",
			mutate: func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, "spec", "imageId") },
			want:   []string{"spec.imageId", "Required value"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := sample(t, c.file, c.kind, c.object)
			u.SetNamespace(ns)
			c.mutate(u)
			expectRejected(t, k8s.Create(ctx, u), c.want...)
		})
	}
}

func TestProviderIDImmutableOnceSet(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	cm := &infrav1.CustomMachine{}
	toTyped(t, sample(t, "machines.yaml", "CustomMachine", "demo-worker-0"), cm)
	cm.Namespace = ns
	if err := k8s.Create(ctx, cm); err != nil {
		t.Fatalf("creating CustomMachine without providerID: %v", err)
	}

	// Setting it the first time is allowed.
	cm.Spec.ProviderID = "custom:///us-east-1a/i-0abc"
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatalf("setting providerID the first time: %v", err)
	}
	// Writing the same value again is allowed (idempotent patches from the controller).
	cm.Spec.Tags = map[string]string{"role": "worker", "extra": "yes"}
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatalf("updating another field with providerID unchanged: %v", err)
	}

	changed := cm.DeepCopy()
	changed.Spec.ProviderID = "custom:///us-east-1a/i-0def"
	expectRejected(t, k8s.Update(ctx, changed), "providerID is immutable once set")

	cleared := cm.DeepCopy()
	cleared.Spec.ProviderID = ""
	expectRejected(t, k8s.Update(ctx, cleared), "providerID is immutable once set")

	got := &infrav1.CustomMachine{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(cm), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.ProviderID != "custom:///us-east-1a/i-0abc" {
		t.Errorf("providerID = %q after rejected updates, want the original", got.Spec.ProviderID)
	}
}

func TestTemplatesRoundTrip(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)

	// Every defaulted field is written out so what comes back must equal what went in.
	mt := &infrav1.CustomMachineTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "workers"},
		Spec: infrav1.CustomMachineTemplateSpec{Template: infrav1.CustomMachineTemplateResource{
			ObjectMeta: clusterv1.ObjectMeta{Labels: map[string]string{"role": "worker"}, Annotations: map[string]string{"a": "b"}},
			Spec: infrav1.CustomMachineSpec{
				InstanceType:       "t3.large",
				ImageID:            "ami-0123456789abcdef0",
				SSHKeyName:         "ops",
				SecurityGroupIDs:   []string{"sg-1", "sg-2"},
				IAMInstanceProfile: "nodes",
				RootVolume:         &infrav1.Volume{Size: 50, Type: "gp3", Encrypted: ptr.To(true)},
				AdditionalVolumes:  []infrav1.Volume{{DeviceName: "/dev/sdb", Size: 100, Type: "io2", IOPS: 3000}},
				Tags:               map[string]string{"team": "platform"},
				TerraformSpec: infrav1.TerraformSpec{
					Module:         &infrav1.ModuleSource{Name: "simulated"},
					CredentialsRef: &infrav1.LocalObjectReference{Name: "aws-creds"},
				},
			},
		}},
	}
	ct := &infrav1.CustomClusterTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "clusters"},
		Spec: infrav1.CustomClusterTemplateSpec{Template: infrav1.CustomClusterTemplateResource{
			Spec: envtestutil.NewCustomCluster(ns, "clusters").Spec,
		}},
	}

	for _, obj := range []client.Object{mt, ct} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatalf("creating %T: %v", obj, err)
		}
	}
	gotMT := &infrav1.CustomMachineTemplate{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(mt), gotMT); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(gotMT.Spec, mt.Spec) {
		t.Errorf("CustomMachineTemplate spec changed in a round trip:\n got  %+v\n want %+v", gotMT.Spec, mt.Spec)
	}
	gotCT := &infrav1.CustomClusterTemplate{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(ct), gotCT); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(gotCT.Spec, ct.Spec) {
		t.Errorf("CustomClusterTemplate spec changed in a round trip:\n got  %+v\n want %+v", gotCT.Spec, ct.Spec)
	}

	// Template bodies are validated like the objects they stamp out.
	bad := mt.DeepCopy()
	bad.ResourceVersion = ""
	bad.Name = "bad"
	bad.Spec.Template.Spec.ImageID = ""
	expectRejected(t, k8s.Create(ctx, bad), "spec.template.spec.imageId")
	badCT := ct.DeepCopy()
	badCT.ResourceVersion = ""
	badCT.Name = "bad"
	badCT.Spec.Template.Spec.NetworkSpec.VPC.CIDRBlock = "10.0.0.300/16"
	expectRejected(t, k8s.Create(ctx, badCT), "cidrBlock must be a valid CIDR")
}

// spec.module: one source of the module at most, path alone or inside an archive or Flux source.
func TestModuleSourceValidation(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	sourceRef := map[string]any{"kind": "GitRepository", "name": "infra"}
	cases := []struct {
		name   string
		module map[string]any
		want   []string // nil: accepted
	}{
		{name: "path with sourceRef", module: map[string]any{"path": "teams/a", "sourceRef": sourceRef}},
		{name: "path with configMapRef", module: map[string]any{"path": "teams/a", "configMapRef": map[string]any{"name": "m"}}},
		{name: "sourceRef in another namespace", module: map[string]any{"sourceRef": map[string]any{"kind": "Bucket", "name": "b", "namespace": "flux-system"}}},
		{name: "name and sourceRef", module: map[string]any{"name": "simulated", "sourceRef": sourceRef},
			want: []string{"set at most one of name, configMapRef, sourceRef, source"}},
		{name: "path with name", module: map[string]any{"name": "simulated", "path": "x"}, want: []string{"path is a directory under --module-root"}},
		{name: "path with source", module: map[string]any{"source": "git::https://x", "path": "x"}, want: []string{"path is a directory under --module-root"}},
		{name: "unknown source kind", module: map[string]any{"sourceRef": map[string]any{"kind": "HelmChart", "name": "x"}},
			want: []string{"spec.module.sourceRef.kind", "Unsupported value"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := sample(t, "cluster.yaml", "CustomCluster", "demo")
			u.SetNamespace(ns)
			u.SetName(fmt.Sprintf("module-%d", i))
			_ = unstructured.SetNestedField(u.Object, c.module, "spec", "module")
			err := k8s.Create(ctx, u)
			if c.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			expectRejected(t, err, c.want...)
		})
	}
}
