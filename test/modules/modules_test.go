/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package modules runs bring-your-own modules end to end: envtest + CAPI core reconcilers + this
// provider + the real terraform binary, with modules delivered in ConfigMaps and under
// --module-root, credentials from a Secret, and modules that fail the contract check.
package modules

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

var (
	stack      *envtestutil.Stack
	k8s        client.Client // cached, the manager's
	direct     client.Client // uncached, for Events
	ctx        = context.Background()
	moduleRoot string
	outside    string // a module directory outside moduleRoot
	logs       = &envtestutil.SyncBuffer{}
)

func TestMain(m *testing.M) {
	// Every log line of the manager (controllers, CAPI core, controller-runtime) at debug level.
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true), zap.Level(zapcore.Level(-10))))
	os.Exit(envtestutil.Main(m, "modules", logs, setup))
}

// setup lays out the module root (with a symlink that escapes it and a module outside it) and
// starts the stack on it.
func setup(tmp string) (func(), error) {
	moduleRoot, outside = filepath.Join(tmp, "root"), filepath.Join(tmp, "outside")
	for _, d := range []string{filepath.Join(moduleRoot, "family"), outside} {
		if err := os.CopyFS(d, os.DirFS(filepath.Join("testdata", "byo"))); err != nil {
			return nil, err
		}
	}
	// A symlink inside the root pointing outside of it.
	if err := os.Symlink(outside, filepath.Join(moduleRoot, "escape")); err != nil {
		return nil, err
	}
	var stop func()
	var err error
	stack, direct, stop, err = envtestutil.StartDirect(ctx, envtestutil.StackOptions{
		WorkDir:    filepath.Join(tmp, "work"),
		ModuleRoot: moduleRoot,
		// The suite's path modules sleep, refuse or hash in local-exec provisioners.
		Controller: controllers.Options{ClusterConcurrency: 2, MachineConcurrency: 2, ApprovalMode: "auto",
			ModulePolicy: modulecheck.Policy{AllowProvisioners: true}},
	})
	if err == nil {
		k8s = stack.Client
	}
	return stop, err
}

func newNamespace(g *WithT) string {
	ns, err := envtestutil.NewNamespace(ctx, k8s, "mod")
	g.Expect(err).NotTo(HaveOccurred())
	return ns
}

// moduleConfigMap turns testdata/byo/<kind> into a ConfigMap whose keys are the file names.
func moduleConfigMap(g *WithT, ns, name, kind string, edit func(string) string) *corev1.ConfigMap {
	dir := filepath.Join("testdata", "byo", kind)
	entries, err := os.ReadDir(dir)
	g.Expect(err).NotTo(HaveOccurred())
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{}}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		g.Expect(err).NotTo(HaveOccurred())
		s := string(b)
		if edit != nil {
			s = edit(s)
		}
		cm.Data[e.Name()] = s
	}
	return cm
}

func jsonVars(g *WithT, m map[string]any) *apiextensionsv1.JSON {
	b, err := json.Marshal(m)
	g.Expect(err).NotTo(HaveOccurred())
	return &apiextensionsv1.JSON{Raw: b}
}

func newCluster(ns, name string, module *infrav1.ModuleSource) (*clusterv1.Cluster, *infrav1.CustomCluster) {
	cc := &infrav1.CustomCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: infrav1.CustomClusterSpec{
			Region:         "byo-1",
			AdditionalTags: map[string]string{"team": "infra"},
		},
	}
	cc.Spec.Module = module
	paused := false
	cluster := &clusterv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: clusterv1.ClusterSpec{
			Paused: &paused,
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{
				APIGroup: infrav1.GroupVersion.Group, Kind: "CustomCluster", Name: name,
			},
		},
	}
	return cluster, cc
}

func condition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// expectModuleInvalid waits for ModuleValid=False on cc with a message containing every want,
// and checks that no terraform process ran meanwhile.
func expectModuleInvalid(t *testing.T, cc *infrav1.CustomCluster, wants ...string) {
	t.Helper()
	g := NewWithT(t)
	before := stack.Runner.Processes()
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
		c := condition(cc.Status.Conditions, infrav1.ModuleValidCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(infrav1.ModuleInvalidReason))
		for _, w := range wants {
			g.Expect(c.Message).To(ContainSubstring(w))
		}
	}, time.Minute, 200*time.Millisecond).Should(Succeed())
	g.Consistently(stack.Runner.Processes, 3*time.Second, 200*time.Millisecond).Should(Equal(before))
	g.Expect(ptr.Deref(cc.Status.Initialization.Provisioned, false)).To(BeFalse())
	// The reason is also an event.
	g.Eventually(func(g Gomega) {
		events := &corev1.EventList{}
		g.Expect(direct.List(ctx, events, client.InNamespace(cc.Namespace))).To(Succeed())
		found := false
		for _, e := range events.Items {
			found = found || (e.InvolvedObject.Name == cc.Name && e.Reason == infrav1.ModuleInvalidReason && strings.Contains(e.Message, wants[0]))
		}
		g.Expect(found).To(BeTrue(), "a %s event naming %q", infrav1.ModuleInvalidReason, wants[0])
	}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
}

// A module path that leaves --module-root, by its name or through a symlink, is refused.
func TestModulePathEscapesAreRefused(t *testing.T) {
	for _, tt := range []struct{ name, path, want string }{
		{"traversal", "../outside", `spec.module.path "../outside" must be relative to --module-root and must not contain '..'`},
		{"symlink", "escape", `spec.module.path "escape": escapes --module-root`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			ns := newNamespace(g)
			cluster, cc := newCluster(ns, tt.name, &infrav1.ModuleSource{Path: tt.path})
			g.Expect(k8s.Create(ctx, cc)).To(Succeed())
			g.Expect(k8s.Create(ctx, cluster)).To(Succeed())
			expectModuleInvalid(t, cc, tt.want)
		})
	}
}

func TestContractFailureRunsNothing(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(g)
	broken := moduleConfigMap(g, ns, "broken", "cluster", func(s string) string {
		s = strings.Replace(s, `variable "region" { type = string }`, `variable "region" { type = list(string) }`, 1)
		return strings.Replace(s, `output "control_plane_endpoint"`, `output "endpoint"`, 1)
	})
	g.Expect(k8s.Create(ctx, broken)).To(Succeed())
	cluster, cc := newCluster(ns, "broken", &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "broken"}})
	cc.Spec.Variables = jsonVars(g, map[string]any{"hash_dir": t.TempDir(), "nope": 1})
	g.Expect(k8s.Create(ctx, cc)).To(Succeed())
	g.Expect(k8s.Create(ctx, cluster)).To(Succeed())
	expectModuleInvalid(t, cc,
		`variable "region": type list(string) is not compatible with string`,
		`spec.variables "nope": is not a variable of the module`,
		`output "control_plane_endpoint": is missing; the cluster contract requires it`)
}

func TestConfigMapModuleWithCredentialsEndToEnd(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(g)
	hashDir := t.TempDir()
	token := "tok-" + rand.String(24)
	sum := sha256.Sum256([]byte(token))
	wantHash := hex.EncodeToString(sum[:])

	creds := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"},
		Data: map[string][]byte{"CAPC_TEST_TOKEN": []byte(token)}}
	g.Expect(k8s.Create(ctx, creds)).To(Succeed())
	g.Expect(k8s.Create(ctx, moduleConfigMap(g, ns, "byo-cluster", "cluster", nil))).To(Succeed())
	g.Expect(k8s.Create(ctx, moduleConfigMap(g, ns, "byo-machine", "machine", nil))).To(Succeed())

	cluster, cc := newCluster(ns, "byo", &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "byo-cluster"}})
	cc.Spec.Variables = jsonVars(g, map[string]any{"hash_dir": hashDir})
	cc.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: "creds"}
	g.Expect(k8s.Create(ctx, cc)).To(Succeed())
	g.Expect(k8s.Create(ctx, cluster)).To(Succeed())

	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
		g.Expect(cluster.Status.Initialization.InfrastructureProvisioned).To(HaveValue(BeTrue()))
		g.Expect(cluster.Spec.ControlPlaneEndpoint.Host).To(Equal("byo.byo.example"))
	}, 2*time.Minute, 200*time.Millisecond).Should(Succeed())
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
	g.Expect(condition(cc.Status.Conditions, infrav1.ModuleValidCondition).Status).To(Equal(metav1.ConditionTrue))

	t.Log("the credentials Secret reached terraform's environment: the module echoed its hash")
	g.Expect(cc.Status.FailureDomains).To(HaveLen(1))
	g.Expect(cc.Status.FailureDomains[0].Attributes).To(HaveKeyWithValue("token_sha256", wantHash))
	written, err := os.ReadFile(filepath.Join(hashDir, "byo.sha256"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(strings.TrimSpace(string(written))).To(Equal(wantHash))

	t.Log("a machine from a second ConfigMap, with a spec.variables value converted to the declared number")
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "byo-cp-0-bootstrap", Labels: map[string]string{clusterv1.ClusterNameLabel: "byo"}},
		Type:       clusterv1.ClusterSecretType,
		Data:       map[string][]byte{"value": []byte("#cloud-config\n")},
	}
	machine := &clusterv1.Machine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "byo-cp-0",
			Labels: map[string]string{clusterv1.ClusterNameLabel: "byo", clusterv1.MachineControlPlaneLabel: ""}},
		Spec: clusterv1.MachineSpec{
			ClusterName: "byo", Version: "v1.36.3",
			Bootstrap: clusterv1.Bootstrap{DataSecretName: &secret.Name},
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{
				APIGroup: infrav1.GroupVersion.Group, Kind: "CustomMachine", Name: "byo-cp-0",
			},
		},
	}
	cm := &infrav1.CustomMachine{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "byo-cp-0", Labels: map[string]string{clusterv1.ClusterNameLabel: "byo"}},
		Spec:       infrav1.CustomMachineSpec{InstanceType: "byo.small", ImageID: "img-1"},
	}
	cm.Spec.Module = &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "byo-machine"}}
	cm.Spec.Variables = jsonVars(g, map[string]any{"disk_gb": "20"}) // a string; the module declares number
	cm.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: "creds"}
	for _, o := range []client.Object{secret, machine, cm} {
		g.Expect(k8s.Create(ctx, o)).To(Succeed())
	}
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(machine), machine)).To(Succeed())
		g.Expect(machine.Spec.ProviderID).To(HavePrefix("byo://byo-"))
		g.Expect(machine.Status.Addresses).To(ContainElement(clusterv1.MachineAddress{Type: "InternalIP", Address: "10.9.0.20"}))
	}, 2*time.Minute, 200*time.Millisecond).Should(Succeed())
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cm), cm)).To(Succeed())
	g.Expect(cm.Status.Initialization.Provisioned).To(HaveValue(BeTrue()))
	g.Expect(cm.Status.FailureDomain).To(Equal("byo-a"))

	t.Log("the token appears in no status field, event or log line")
	for _, o := range []client.Object{cc, cm, cluster, machine} {
		b, err := json.Marshal(o)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(string(b)).NotTo(ContainSubstring(token), "%T %s", o, o.GetName())
	}
	events := &corev1.EventList{}
	g.Expect(direct.List(ctx, events, client.InNamespace(ns))).To(Succeed())
	g.Expect(events.Items).NotTo(BeEmpty())
	for _, e := range events.Items {
		g.Expect(e.Message).NotTo(ContainSubstring(token), "event %s/%s", e.Reason, e.InvolvedObject.Name)
	}
	out := logs.String()
	g.Expect(out).NotTo(BeEmpty())
	g.Expect(out).To(ContainSubstring("byo")) // the logs did capture this test's objects
	g.Expect(out).NotTo(ContainSubstring(token))
}
