/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package rbac_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// tenantCannotWritePolicies: a tenant bound in its namespace to the provider's tenant role uses
// CustomClusters there, and cannot write a CustomPolicy, not even when bound in its namespace to
// the policy admin role too (a namespace admin could make that binding): RoleBindings never grant
// cluster-scoped objects.
func tenantCannotWritePolicies(t *testing.T, ctx context.Context, admin client.Client, adminCfg *rest.Config, scheme *runtime.Scheme, ns string) {
	g := NewWithT(t)
	for _, role := range []string{"capc-tenant-edit-role", "capc-policy-admin-role"} {
		g.Expect(admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice-" + role},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}})).To(Succeed())
	}
	cfg := rest.CopyConfig(adminCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "alice"}
	alice, err := client.New(cfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	_, cc, _ := newCluster(ns, "alices")
	g.Expect(alice.Create(ctx, cc)).To(Succeed(), "a tenant creates CustomClusters in its namespace")
	err = alice.Create(ctx, &infrav1.CustomPolicy{ObjectMeta: metav1.ObjectMeta{Name: "alice-allows-everything"}})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a tenant must not create a CustomPolicy: %v", err)
	pol := &infrav1.CustomPolicy{}
	g.Expect(admin.Get(ctx, client.ObjectKey{Name: "tenants"}, pol)).To(Succeed())
	pol.Spec.PlanPolicies = nil
	g.Expect(apierrors.IsForbidden(alice.Update(ctx, pol))).To(BeTrue(), "a tenant must not loosen the rules that govern it")
	g.Expect(apierrors.IsForbidden(alice.Delete(ctx, pol))).To(BeTrue(), "a tenant must not delete the rules that govern it")
}

// planPolicies is the sample plan policy set as a ConfigMap in the provider's namespace.
func planPolicies(t *testing.T) *corev1.ConfigMap {
	dir := filepath.Join(envtestutil.RepoRoot(), "config", "samples", "policy", "rego")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		data[e.Name()] = string(b)
	}
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: providerNS, Name: "rbac-plan-policies"}, Data: data}
}
