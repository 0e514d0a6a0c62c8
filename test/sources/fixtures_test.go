/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package sources

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/bench"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/modules"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// labelModule is the shared module the machine root module calls; version changes what it
// creates, so an edit is a real change to plan.
func labelModule(version string) string {
	return fmt.Sprintf(`variable "name" {
  type = string
}

resource "terraform_data" "label" {
  input = "${var.name}-%s"
}

output "id" {
  value = terraform_data.label.output
}
`, version)
}

// writeRepo writes a module repository as infra teams keep one into dir: root modules per team
// (the bundled simulated modules, plus a call of a shared module each) and shared modules beside
// them, called through relative sources from two levels down.
func writeRepo(t *testing.T, dir string) {
	t.Helper()
	for _, kind := range []string{contract.KindCluster, contract.KindMachine} {
		m, err := modules.Get("simulated", kind)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(filepath.Join(dir, "teams", "a", kind), m); err != nil {
			t.Fatal(err)
		}
	}
	for p, c := range map[string]string{
		"teams/a/cluster/net.tf":   "module \"net\" {\n  source = \"../../../shared/net\"\n}\n",
		"teams/a/machine/label.tf": "module \"label\" {\n  source = \"../../../shared/label\"\n  name   = var.machine_name\n}\n",
		"shared/net/main.tf":       "output \"cidr\" {\n  value = \"10.0.0.0/16\"\n}\n",
		"shared/label/main.tf":     labelModule("v1"),
		"README.md":                "# infra modules\n",
	} {
		if err := writeFile(filepath.Join(dir, p), c); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(p, content string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(content), 0o644)
}

// tarGz packs dir as a .tar.gz (what `tar czf - -C dir .` writes).
func tarGz(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := bench.TarGz(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newNamespace creates a namespace for one test.
func newNamespace(g Gomega) string {
	ns, err := envtestutil.NewNamespace(ctx, stack.Client, "src")
	g.Expect(err).NotTo(HaveOccurred())
	return ns
}

// workload is a Cluster with one control-plane Machine, both from module.
type workload struct {
	cluster *clusterv1.Cluster
	cc      *infrav1.CustomCluster
	cm      *infrav1.CustomMachine
	objs    []client.Object
}

func newWorkload(ns, name string, module *infrav1.ModuleSource) workload {
	cluster := envtestutil.NewCluster(ns, name, false)
	cc := &infrav1.CustomCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: infrav1.CustomClusterSpec{Region: "us-east-1"}}
	cc.Spec.Module = module.DeepCopy()
	bootstrap, machine, cm := envtestutil.NewMachine(ns, name, name+"-cp-0", true)
	cm.Spec.Module = module.DeepCopy()
	return workload{cluster: cluster, cc: cc, cm: cm, objs: []client.Object{cc, cluster, bootstrap, machine, cm}}
}

func (w workload) create(g Gomega) {
	for _, o := range w.objs {
		g.Expect(stack.Client.Create(ctx, o)).To(Succeed(), "creating %T %s", o, o.GetName())
	}
}

// provisioned waits until both objects are provisioned and returns them.
func (w workload) provisioned(g Gomega) (*infrav1.CustomCluster, *infrav1.CustomMachine) {
	g.Eventually(func(g Gomega) {
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(w.cc), w.cc)).To(Succeed())
		g.Expect(w.cc.Status.Initialization.Provisioned).To(HaveValue(BeTrue()), "CustomCluster: %v", w.cc.Status.Conditions)
		g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(w.cm), w.cm)).To(Succeed())
		g.Expect(w.cm.Status.Initialization.Provisioned).To(HaveValue(BeTrue()), "CustomMachine: %v", w.cm.Status.Conditions)
		g.Expect(w.cm.Spec.ProviderID).NotTo(BeEmpty())
	}, 3*time.Minute, 250*time.Millisecond).Should(Succeed())
	return w.cc, w.cm
}

// deleted deletes the Cluster and waits until every object and state Secret is gone.
func (w workload) deleted(g Gomega) {
	g.Expect(stack.Client.Delete(ctx, w.cluster)).To(Succeed())
	for _, o := range []client.Object{w.cm, w.cc, w.cluster} {
		g.Eventually(func() error { return stack.Client.Get(ctx, client.ObjectKeyFromObject(o), o) }, 3*time.Minute, 250*time.Millisecond).
			Should(MatchError(ContainSubstring("not found")), "%T %s should be gone", o, o.GetName())
	}
}

// poke makes the provider reconcile an object now (a path module's files are not watched).
func poke(g Gomega, o client.Object) {
	g.Expect(stack.Client.Get(ctx, client.ObjectKeyFromObject(o), o)).To(Succeed())
	p := client.MergeFrom(o.DeepCopyObject().(client.Object))
	ann := o.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann["test/poke"] = rand.String(6)
	o.SetAnnotations(ann)
	g.Expect(stack.Client.Patch(ctx, o, p)).To(Succeed())
}

// condition returns "Status/Reason: message" of a condition.
func condition(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return fmt.Sprintf("%s/%s: %s", c.Status, c.Reason, c.Message)
		}
	}
	return ""
}

// stateSecrets counts the state Secrets of a cluster's objects.
func stateSecrets(g Gomega, ns, clusterName string) int {
	list, err := envtestutil.StateSecrets(ctx, stack.Client, ns, clusterName)
	g.Expect(err).NotTo(HaveOccurred())
	return len(list)
}
