/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package api_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The sample CustomPolicy is accepted; a plan policy source names exactly one of a ConfigMap and
// a Flux source, and a Flux source with its namespace (a CustomPolicy is cluster-scoped).
func TestCustomPolicyValidation(t *testing.T) {
	ctx := context.Background()
	samples := readObjects(t, filepath.Join(samplesDir(), "policy", "custompolicy.yaml"))
	if len(samples) != 1 || samples[0].GetKind() != "CustomPolicy" {
		t.Fatalf("config/samples/policy/custompolicy.yaml: %v", samples)
	}
	if err := k8s.Create(ctx, samples[0]); err != nil {
		t.Fatalf("the sample CustomPolicy is refused: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, samples[0]) })
	cm := map[string]any{"name": "policies"}
	git := map[string]any{"kind": "GitRepository", "name": "policies", "namespace": "flux-system"}
	cases := []struct {
		name   string
		source map[string]any
		want   []string // nil: accepted
	}{
		{name: "configMapRef", source: map[string]any{"configMapRef": cm}},
		{name: "sourceRef with a path", source: map[string]any{"sourceRef": git, "path": "terraform"}},
		{name: "both", source: map[string]any{"configMapRef": cm, "sourceRef": git}, want: []string{"set exactly one of configMapRef and sourceRef"}},
		{name: "neither", source: map[string]any{"path": "x"}, want: []string{"set exactly one of configMapRef and sourceRef"}},
		{name: "sourceRef without namespace", source: map[string]any{"sourceRef": map[string]any{"kind": "Bucket", "name": "b"}},
			want: []string{"a policy's sourceRef needs a namespace"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("infrastructure.cluster.x-k8s.io/v1beta1")
			u.SetKind("CustomPolicy")
			u.SetName(fmt.Sprintf("validation-%d", i))
			u.Object["spec"] = map[string]any{"namespaceSelector": map[string]any{}, "planPolicies": []any{c.source}}
			err := k8s.Create(ctx, u)
			if c.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				_ = k8s.Delete(ctx, u)
				return
			}
			expectRejected(t, err, c.want...)
		})
	}
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("infrastructure.cluster.x-k8s.io/v1beta1")
	u.SetKind("CustomPolicy")
	u.SetName("bad-kind")
	u.Object["spec"] = map[string]any{"namespaceSelector": map[string]any{}, "modules": map[string]any{"kinds": []any{"Helm"}}}
	expectRejected(t, k8s.Create(ctx, u), "spec.modules.kinds[0]", "Unsupported value")
}
