/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package rbac_test checks the provider's RBAC is least privilege and sufficient: the RBAC objects
// of the release components (config/default: ServiceAccount, generated ClusterRole, bindings,
// leader-election Role) are installed on a real API server, and this provider's reconcilers run
// in a manager whose client impersonates the ServiceAccount, while CAPI's core reconcilers run with
// admin rights in a second manager (they have their own, broader role in a real installation).
// A cluster and a machine are provisioned and deleted under that identity, the API server's audit
// log proves no request of the ServiceAccount was forbidden (and lists what it used), and actions
// the role does not grant are forbidden.
package rbac_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/modules"
	"github.com/company/cluster-api-provider-custom/modulesrc"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

const (
	providerNS = "capc-system"
	saName     = "capc-controller-manager"
	saUser     = "system:serviceaccount:" + providerNS + ":" + saName
)

// clusterctlVar matches ${NAME:=default}; the components are installed with the defaults.
var clusterctlVar = regexp.MustCompile(`\$\{([A-Za-z0-9_]+):=([^}]*)\}`)

// startEnv starts kube-apiserver (RBAC authorization, as envtest configures it) with CAPI's and
// our CRDs and an audit log of every request's metadata.
func startEnv(t *testing.T, dir string) (*envtest.Environment, *rest.Config, string) {
	t.Helper()
	assets, err := envtestutil.Assets()
	if err != nil {
		t.Fatal(err)
	}
	capi, err := envtestutil.CAPICRDDir()
	if err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	auditLog := filepath.Join(dir, "audit.log")
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(envtestutil.RepoRoot(), "config", "crd", "bases"), capi},
		ErrorIfCRDPathMissing: true,
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	args.Set("audit-policy-file", policy)
	args.Set("audit-log-path", auditLog)
	args.Set("audit-log-mode", "blocking")
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return env, cfg, auditLog
}

// components builds config/default and returns its objects with clusterctl variables defaulted.
func components(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	cmd := exec.Command(filepath.Join(envtestutil.RepoRoot(), "bin", "kustomize"), "build", filepath.Join(envtestutil.RepoRoot(), "config", "default"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build config/default: %v\n%s", err, stderr.String())
	}
	out = clusterctlVar.ReplaceAll(out, []byte("$2"))
	objs, err := envtestutil.DecodeObjects(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("components: %v", err)
	}
	return objs
}

// generatedRole reads config/rbac/role.yaml, the ClusterRole controller-gen writes from the markers.
func generatedRole(t *testing.T) *rbacv1.ClusterRole {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.UnmarshalStrict(raw, role); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	return role
}

// TestRoleHasNoWildcards: no "*" anywhere, no non-resource URLs, no escalation verbs, and
// nothing outside what the provider's contract needs.
func TestRoleHasNoWildcards(t *testing.T) {
	role := generatedRole(t)
	if len(role.Rules) == 0 {
		t.Fatal("config/rbac/role.yaml has no rules")
	}
	allowedGroups := map[string]bool{"": true, "events.k8s.io": true, "coordination.k8s.io": true,
		"cluster.x-k8s.io": true, "infrastructure.cluster.x-k8s.io": true}
	for i, r := range role.Rules {
		for _, s := range append(append(append([]string{}, r.Verbs...), r.Resources...), r.APIGroups...) {
			if strings.Contains(s, "*") {
				t.Errorf("rule %d has a wildcard %q: %+v", i, s, r)
			}
		}
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("rule %d grants non-resource URLs %v", i, r.NonResourceURLs)
		}
		for _, v := range r.Verbs {
			switch v {
			case "escalate", "bind", "impersonate", "deletecollection":
				t.Errorf("rule %d grants %q", i, v)
			}
		}
		for _, g := range r.APIGroups {
			if g == "source.toolkit.fluxcd.io" { // Flux sources of spec.module.sourceRef: read only
				if strings.Join(r.Verbs, ",") != "get,list,watch" {
					t.Errorf("rule %d grants %v on Flux sources, want get, list, watch only", i, r.Verbs)
				}
				continue
			}
			if g == "" && contains(r.Resources, "namespaces") { // which CustomPolicies govern a namespace: read only
				if strings.Join(r.Resources, ",") != "namespaces" || strings.Join(r.Verbs, ",") != "get,list,watch" {
					t.Errorf("rule %d grants %v on %v, want get, list, watch on namespaces only", i, r.Verbs, r.Resources)
				}
			}
			if g == "batch" { // runner Jobs (job mode): no update or patch of anyone's Jobs
				if strings.Join(r.Resources, ",") != "jobs" || strings.Join(r.Verbs, ",") != "create,delete,get,list,watch" {
					t.Errorf("rule %d grants %v on batch %v, want create, delete, get, list, watch on jobs only", i, r.Verbs, r.Resources)
				}
				continue
			}
			if !allowedGroups[g] {
				t.Errorf("rule %d grants API group %q", i, g)
			}
		}
		if contains(r.APIGroups, "") {
			for _, res := range r.Resources {
				if res != "secrets" && res != "configmaps" && res != "events" && res != "namespaces" {
					t.Errorf("rule %d grants core resource %q", i, res)
				}
			}
		}
		if contains(r.APIGroups, "cluster.x-k8s.io") {
			for _, v := range r.Verbs {
				if v != "get" && v != "list" && v != "watch" {
					t.Errorf("rule %d: CAPI core objects must be read-only, grants %q", i, v)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// auditEvent is the part of an audit.k8s.io/v1 Event this test reads.
type auditEvent struct {
	AuditID          string `json:"auditID"`
	Verb             string `json:"verb"`
	Stage            string `json:"stage"`
	ImpersonatedUser *struct {
		Username string `json:"username"`
	} `json:"impersonatedUser"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		APIGroup    string `json:"apiGroup"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// saRequests reads the audit log: the ServiceAccount's requests as "verb group/resource[/sub]
// (scope)" → count, and those that were forbidden. A watch still open has only its
// ResponseStarted event, so each request (audit ID) is counted once from whichever stage came.
func saRequests(t *testing.T, path string) (used map[string]int, forbidden []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	used = map[string]int{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit log: %v", err)
		}
		if e.ImpersonatedUser == nil || e.ImpersonatedUser.Username != saUser || e.ObjectRef == nil || seen[e.AuditID] {
			continue
		}
		seen[e.AuditID] = true
		res := e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			res += "/" + e.ObjectRef.Subresource
		}
		scope := "namespaced"
		if e.ObjectRef.Namespace == "" {
			scope = "cluster-wide"
		} else if e.ObjectRef.Namespace == providerNS {
			scope = providerNS
		}
		key := fmt.Sprintf("%s %s/%s (%s)", e.Verb, e.ObjectRef.APIGroup, res, scope)
		used[key]++
		if e.ResponseStatus != nil && e.ResponseStatus.Code == 403 {
			forbidden = append(forbidden, key)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return used, forbidden
}

func TestProvisionAsServiceAccount(t *testing.T) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(90 * time.Second)
	g.SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
	logs := &envtestutil.SyncBuffer{}
	logger := zap.New(zap.WriteTo(logs), zap.UseDevMode(true))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)

	dir := t.TempDir()
	_, adminCfg, auditLog := startEnv(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	scheme, err := envtestutil.NewScheme()
	g.Expect(err).NotTo(HaveOccurred())
	admin, err := client.New(adminCfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())

	// The release components' Namespace and RBAC, exactly as clusterctl would install them.
	role := generatedRole(t)
	var installed []string
	for _, o := range components(t) {
		switch o.GetKind() {
		case "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
		default:
			continue
		}
		if o.GetKind() == "ClusterRole" && o.GetName() == "capc-manager-role" {
			cr := &rbacv1.ClusterRole{}
			g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, cr)).To(Succeed())
			g.Expect(cr.Rules).To(Equal(role.Rules), "the components' ClusterRole must be config/rbac/role.yaml")
		}
		g.Expect(admin.Create(ctx, o)).To(Succeed(), "creating %s %s", o.GetKind(), o.GetName())
		installed = append(installed, o.GetKind()+"/"+o.GetName())
	}
	sort.Strings(installed)
	g.Expect(installed).To(Equal([]string{
		"ClusterRole/capc-manager-role", "ClusterRole/capc-policy-admin-role", "ClusterRole/capc-tenant-edit-role", "ClusterRole/capc-tenant-view-role",
		"ClusterRoleBinding/capc-manager-rolebinding", "Namespace/capc-system",
		"Role/capc-leader-election-role", "Role/capc-policy-reader-role",
		"RoleBinding/capc-leader-election-rolebinding", "RoleBinding/capc-policy-reader-rolebinding", "ServiceAccount/capc-controller-manager",
	}))

	// CAPI's core reconcilers: admin rights, their own manager.
	stopCAPI, err := envtestutil.StartCAPIManager(ctx, adminCfg)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = stopCAPI() }()

	// This provider: every request (manager cache, client, leader election, events, terraform
	// state in tfrunner) is made as the ServiceAccount.
	saCfg := rest.CopyConfig(adminCfg)
	saCfg.Impersonate = rest.ImpersonationConfig{UserName: saUser}
	stopProvider := startProvider(t, ctx, saCfg, filepath.Join(dir, "work"))
	defer stopProvider()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rbac-demo", Labels: map[string]string{"tenant": "true"}}}
	g.Expect(admin.Create(ctx, ns)).To(Succeed())
	// A platform team's CustomPolicy governs the namespace: its plan policies (a ConfigMap in the
	// provider's namespace) judge every plan, read under the ServiceAccount too.
	g.Expect(admin.Create(ctx, planPolicies(t))).To(Succeed())
	g.Expect(admin.Create(ctx, &infrav1.CustomPolicy{ObjectMeta: metav1.ObjectMeta{Name: "tenants"}, Spec: infrav1.CustomPolicySpec{
		NamespaceSelector: metav1.LabelSelector{MatchLabels: ns.Labels},
		PlanPolicies:      []infrav1.PlanPolicySource{{ConfigMapRef: &infrav1.LocalObjectReference{Name: "rbac-plan-policies"}}},
	}})).To(Succeed())
	cluster, cc, creds := newCluster(ns.Name, "demo")
	bootstrap, machine, cm := envtestutil.NewMachine(ns.Name, "demo", "demo-cp-0", true)
	// The machine's module comes from a ConfigMap (the simulated machine module's files), so the
	// ConfigMap read is exercised under the ServiceAccount too.
	moduleCM := moduleConfigMap(t, ns.Name, "demo-machine-module")
	cm.Spec.Module = &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: moduleCM.Name}}
	for _, o := range []client.Object{creds, moduleCM, cc, cluster, bootstrap, machine, cm} {
		g.Expect(admin.Create(ctx, o)).To(Succeed(), "creating %T %s", o, o.GetName())
	}

	g.Eventually(func(g Gomega) {
		g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
		g.Expect(cluster.Status.Initialization.InfrastructureProvisioned).To(HaveValue(BeTrue()))
		g.Expect(cluster.Spec.ControlPlaneEndpoint.IsValid()).To(BeTrue())
	}).Should(Succeed(), "Cluster infrastructure provisioned under the ServiceAccount")
	g.Eventually(func(g Gomega) {
		g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(machine), machine)).To(Succeed())
		g.Expect(machine.Spec.ProviderID).NotTo(BeEmpty())
		g.Expect(machine.Status.Addresses).NotTo(BeEmpty())
	}).Should(Succeed(), "Machine provisioned under the ServiceAccount")
	g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
	g.Expect(cm.Status.Initialization.Provisioned).To(HaveValue(BeTrue()))
	g.Expect(conditions.IsTrue(cm, infrav1.PolicyPassedCondition)).To(BeTrue(), "the plan policies judged the machine: %v", cm.Status.Conditions)
	g.Expect(stateSecrets(ctx, g, admin, ns.Name)).To(BeNumerically(">=", 2), "state Secrets written by the ServiceAccount")
	events := &corev1.EventList{}
	g.Eventually(func() int {
		g.Expect(admin.List(ctx, events, client.InNamespace(ns.Name))).To(Succeed())
		return len(events.Items)
	}).ShouldNot(BeZero(), "events recorded by the ServiceAccount")

	// Deletion: terraform destroy, state Secrets and finalizers removed, all as the ServiceAccount.
	g.Expect(admin.Delete(ctx, cluster)).To(Succeed())
	for _, o := range []client.Object{cm, machine, cc, cluster} {
		g.Eventually(func() bool {
			return apierrors.IsNotFound(admin.Get(ctx, client.ObjectKeyFromObject(o), o))
		}).Should(BeTrue(), "%T %s should be gone", o, o.GetName())
	}
	g.Eventually(func() int { return stateSecrets(ctx, g, admin, ns.Name) }).Should(BeZero())

	used, forbidden := saRequests(t, auditLog)
	g.Expect(forbidden).To(BeEmpty(), "requests of the ServiceAccount were forbidden: the role lacks a permission")
	g.Expect(used).NotTo(BeEmpty(), "the audit log has no request of the ServiceAccount")
	keys := make([]string, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("requests made as %s (verb group/resource (scope): count):\n  %s", saUser, strings.Join(func() []string {
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = fmt.Sprintf("%s: %d", k, used[k])
		}
		return out
	}(), "\n  "))
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(strings.ToLower(l), "forbidden") {
			t.Errorf("log line mentions forbidden: %s", l)
		}
	}

	// What the role does not grant is forbidden for the ServiceAccount.
	sa, err := client.New(saCfg, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	kube := kubernetes.NewForConfigOrDie(saCfg)
	forbiddenActions := map[string]func() error{
		"list Nodes":                  func() error { return sa.List(ctx, &corev1.NodeList{}) },
		"delete a Namespace":          func() error { return sa.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name}}) },
		"create a Pod":                func() error { return sa.Create(ctx, testPod(ns.Name)) },
		"list Pods":                   func() error { return sa.List(ctx, &corev1.PodList{}) },
		"create a ClusterRoleBinding": func() error { return sa.Create(ctx, escalation()) },
		"create a CAPI Cluster": func() error {
			return sa.Create(ctx, &clusterv1.Cluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "x"}})
		},
		"create a CustomClusterTemplate": func() error {
			return sa.Create(ctx, &infrav1.CustomClusterTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "x"}})
		},
		"delete a CustomCluster": func() error { return sa.DeleteAllOf(ctx, &infrav1.CustomCluster{}, client.InNamespace(ns.Name)) },
		"create a CustomPolicy":  func() error { return sa.Create(ctx, &infrav1.CustomPolicy{ObjectMeta: metav1.ObjectMeta{Name: "x"}}) },
		"list ConfigMaps outside its namespace": func() error {
			return sa.List(ctx, &corev1.ConfigMapList{}, client.InNamespace(ns.Name))
		},
		"create a ServiceAccount token": func() error {
			_, err := kube.CoreV1().ServiceAccounts(providerNS).CreateToken(ctx, saName, nil, metav1.CreateOptions{})
			return err
		},
	}
	for name, do := range forbiddenActions {
		err := do()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s as %s: want Forbidden, got %v", name, saUser, err)
		}
	}
	_, forbidden = saRequests(t, auditLog)
	g.Expect(len(forbidden)).To(BeNumerically(">=", len(forbiddenActions)), "the audit log records the forbidden requests")
	tenantCannotWritePolicies(t, ctx, admin, adminCfg, scheme, ns.Name)
}

// startProvider runs this provider's reconcilers as cmd/manager wires them (leader election in
// capc-system included), with cfg for every request.
func startProvider(t *testing.T, ctx context.Context, cfg *rest.Config, workDir string) func() {
	t.Helper()
	scheme, err := envtestutil.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                true,
		LeaderElectionID:              "capc-manager.infrastructure.cluster.x-k8s.io",
		LeaderElectionNamespace:       providerNS,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	bin, err := tfrunner.ResolveBinary(ctx, tfrunner.BinaryOptions{Path: filepath.Join(envtestutil.RepoRoot(), "bin", "terraform")})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := tfrunner.New(tfrunner.Config{
		Binary: bin, WorkDir: workDir, Kube: kubernetes.NewForConfigOrDie(cfg),
		Holder: "rbac-test", MaxConcurrentRuns: 2, Logger: logr.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.WatchStates(ctx, metadata.NewForConfigOrDie(cfg), ""); err != nil { // as the manager does
		t.Fatal(err)
	}
	sources, err := modulesrc.NewStore(filepath.Join(workDir, "sources"), modulesrc.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := controllers.Setup(ctx, mgr, runner, controllers.Options{ApprovalMode: "auto", ModuleRoot: workDir, Sources: sources}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		cancel()
		t.Fatalf("provider manager cache did not sync as %s: %v", saUser, <-done)
	}
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("provider manager: %v", err)
		}
	}
}

func newCluster(ns, name string) (*clusterv1.Cluster, *infrav1.CustomCluster, *corev1.Secret) {
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-credentials"},
		Data:       map[string][]byte{"EXAMPLE_TOKEN": []byte("not-a-secret")},
	}
	cc := envtestutil.NewCustomCluster(ns, name)
	cc.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: creds.Name}
	return envtestutil.NewCluster(ns, name, false), cc, creds
}

// moduleConfigMap holds the bundled simulated machine module, one key per file.
func moduleConfigMap(t *testing.T, ns, name string) *corev1.ConfigMap {
	t.Helper()
	fsys, err := modules.Get("simulated", contract.KindMachine)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]string{}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		data[e.Name()] = string(b)
	}
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

func stateSecrets(ctx context.Context, g Gomega, c client.Client, ns string) int {
	list, err := envtestutil.StateSecrets(ctx, c, ns, "")
	g.Expect(err).NotTo(HaveOccurred())
	return len(list)
}

func testPod(ns string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "x"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}},
	}
}

func escalation() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "capc-escalate"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: saName, Namespace: providerNS}},
	}
}
