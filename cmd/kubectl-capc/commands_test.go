/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tfjson "github.com/hashicorp/terraform-json"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

const ns = "plugin"

// TestPlugin runs every command against one live stack: a cluster provisioned in auto mode and a
// machine in manual mode whose plans wait for approval.
func TestPlugin(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		envtestutil.NewCluster(ns, "demo", false), envtestutil.NewCustomCluster(ns, "demo"),
	} {
		if err := e.k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	secret, machine, cm := envtestutil.NewMachine(ns, "demo", "demo-0", true)
	cm.Annotations = map[string]string{infrav1.ApprovalAnnotation: "manual"}
	for _, o := range []client.Object{secret, machine, cm} {
		if err := e.k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	first := e.waitResult(t, ns, "demo-0", infrav1.RunPendingApproval, "").Status.Terraform.Plan.Digest

	t.Run("status", func(t *testing.T) {
		golden(t, "status", e.mustCapc(t, "status", "-n", ns))
		golden(t, "status-all", e.mustCapc(t, "status", "-A", "-l", "cluster.x-k8s.io/cluster-name=demo"))
		var doc struct{ Items []statusRow }
		if err := json.Unmarshal([]byte(e.mustCapc(t, "status", "-n", ns, "-o", "json")), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Items) != 2 || doc.Items[1].PendingPlan == nil || doc.Items[1].PendingPlan.Digest != first {
			t.Fatalf("status -o json: %+v, want the machine's pending plan %s", doc.Items, first)
		}
	})
	t.Run("plan show", func(t *testing.T) {
		golden(t, "plan-show", e.mustCapc(t, "plan", "show", "custommachine/demo-0", "-n", ns))
		var v planView
		if err := json.Unmarshal([]byte(e.mustCapc(t, "plan", "show", "cm/demo-0", "-n", ns, "-o", "json")), &v); err != nil {
			t.Fatal(err)
		}
		if !v.Pending || v.Digest != first || v.Summary.Add == 0 || !strings.Contains(v.Text, "terraform_data.instance") {
			t.Fatalf("plan show -o json: %+v", v)
		}
		if strings.Contains(v.Text, "runcmd") {
			t.Fatal("the plan text shows the bootstrap data, a sensitive variable")
		}
	})
	t.Run("approve", func(t *testing.T) { testApprove(t, e, first) })
	t.Run("state", func(t *testing.T) { testState(t, e) })
	t.Run("plan preview", func(t *testing.T) {
		out := e.mustCapc(t, "plan", "preview", "custommachine/demo-0", "-n", ns, "--wait")
		golden(t, "plan-preview", out)
	})
	t.Run("unlock", func(t *testing.T) { testUnlock(t, e) })
	t.Run("state restore", func(t *testing.T) { testRestore(t, e) })
	t.Run("reconcile", func(t *testing.T) {
		out := e.mustCapc(t, "reconcile", "customcluster/demo", "-n", ns)
		if !strings.Contains(out, "customcluster/demo reconciled: Ready=True Provisioned") {
			t.Fatalf("reconcile: %s", out)
		}
		cc := &infrav1.CustomCluster{}
		if err := e.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo"}, cc); err != nil {
			t.Fatal(err)
		}
		if at := cc.Annotations[infrav1.ReconcileRequestAnnotation]; at == "" || cc.Status.LastHandledReconcileAt != at ||
			cc.Status.Terraform == nil || cc.Status.Terraform.LastDriftCheckTime == nil {
			t.Fatalf("requested %q, handled %q, drift checked %v", at, cc.Status.LastHandledReconcileAt, cc.Status.Terraform)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, c := range []struct{ args, want string }{
			{"approve customcluster/demo", "has no plan pending approval (last run Succeeded)"},
			{"plan show custommachine/nope", `custommachines.infrastructure.cluster.x-k8s.io "nope" not found`},
			{"state show cm/demo-0 aws_instance.nope", "has no resource instance aws_instance.nope"},
			{"status -o wide2", `unknown output format "wide2"`},
			{"plan show machine/demo-0", `unknown kind "machine"`},
			{"approve demo-0", "name the object as KIND/NAME"},
		} {
			out, err := e.capc(t, nil, append(strings.Fields(c.args), "-n", ns)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: err %v, want %q\n%s", c.args, err, c.want, out)
			}
		}
	})
}

// confirmAfter answers the approval prompt with answer after running change, as a user who
// takes their time while someone else edits the object.
type confirmAfter struct {
	change func()
	answer io.Reader
}

func (c *confirmAfter) Read(p []byte) (int, error) {
	if c.change != nil {
		c.change()
		c.change = nil
	}
	return c.answer.Read(p)
}

func testApprove(t *testing.T, e *env, first string) {
	ctx := context.Background()
	merge := func(mutate func(*infrav1.CustomMachine)) func() {
		return func() {
			cm := e.machine(t, ns, "demo-0")
			patch := client.MergeFrom(cm.DeepCopy())
			mutate(cm)
			if err := e.k8s.Patch(ctx, cm, patch); err != nil {
				t.Error(err)
			}
		}
	}
	out, err := e.capc(t, strings.NewReader("n\n"), "approve", "custommachine/demo-0", "-n", ns)
	if !errors.Is(err, errNotApproved) || !strings.Contains(out, "Approve plan") {
		t.Fatalf("answering n: %v\n%s", err, out)
	}
	if _, ok := e.machine(t, ns, "demo-0").Annotations[infrav1.ApprovePlanAnnotation]; ok {
		t.Fatal("a declined approval annotated the object")
	}
	golden(t, "approve-declined", out)

	// A spec change while the user reads the plan: refused, never an approval of the old digest.
	tag := merge(func(cm *infrav1.CustomMachine) {
		cm.Spec.Tags = maps.Clone(cm.Spec.Tags)
		cm.Spec.Tags["cost-center"] = "42"
	})
	out, err = e.capc(t, &confirmAfter{change: tag, answer: strings.NewReader("y\n")}, "approve", "cm/demo-0", "-n", ns)
	if err == nil || !strings.Contains(err.Error(), "spec of custommachine/demo-0 changed") {
		t.Fatalf("approval across a spec change: %v\n%s", err, out)
	}
	if _, ok := e.machine(t, ns, "demo-0").Annotations[infrav1.ApprovePlanAnnotation]; ok {
		t.Fatal("an approval across a spec change annotated the object")
	}
	second := e.waitResult(t, ns, "demo-0", infrav1.RunPendingApproval, first).Status.Terraform.Plan.Digest

	// A metadata-only change meanwhile (a label) leaves the plan as shown: approved.
	label := merge(func(cm *infrav1.CustomMachine) { cm.Labels = maps.Clone(cm.Labels); cm.Labels["reviewed"] = "yes" })
	out, err = e.capc(t, &confirmAfter{change: label, answer: strings.NewReader("yes\n")}, "approve", "cm/demo-0", "-n", ns)
	if err != nil || !strings.Contains(out, "approved plan "+second) {
		t.Fatalf("approving: %v\n%s", err, out)
	}
	golden(t, "approve", out)
	eventually(t, "the approved plan applied", func(context.Context) (bool, error) {
		cm := e.machine(t, ns, "demo-0")
		_, pending := cm.Annotations[infrav1.ApprovePlanAnnotation]
		ts := cm.Status.Terraform
		return ts.LastRunResult == infrav1.RunSucceeded && ts.Plan.Digest == second && !pending && cm.Spec.ProviderID != "", nil
	})
}

func testState(t *testing.T, e *env) {
	golden(t, "state-list", e.mustCapc(t, "state", "list", "custommachine/demo-0", "-n", ns))
	show := e.mustCapc(t, "state", "show", "custommachine/demo-0", "terraform_data.instance", "-n", ns)
	golden(t, "state-show", show)
	if strings.Contains(show, "runcmd") {
		t.Fatal("state show printed the bootstrap data")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "terraform.tfstate")
	e.mustCapc(t, "state", "pull", "cm/demo-0", "-n", ns, "-f", file)
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("pulled state file: %v %v", fi, err)
	}
	if _, err := e.capc(t, nil, "state", "pull", "cm/demo-0", "-n", ns, "-f", file); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("pull over an existing file: %v", err)
	}
	// The real terraform CLI reads the pulled file.
	tf := exec.Command(filepath.Join(envtestutil.RepoRoot(), "bin", "terraform"), "show", "-json", file)
	tf.Dir = dir
	b, err := tf.Output()
	if err != nil {
		t.Fatalf("terraform show -json: %v", err)
	}
	var st tfjson.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, r := range st.Values.RootModule.Resources {
		addrs = append(addrs, r.Address)
	}
	if list := e.mustCapc(t, "state", "list", "cm/demo-0", "-n", ns); strings.Join(addrs, "\n")+"\n" != list {
		t.Fatalf("terraform show lists %v, state list %q", addrs, list)
	}
}

// testUnlock plants Leases as a dead and a live holder elsewhere would leave them, and checks
// the plugin releases only what it should and the manager takes the released lock over.
func testUnlock(t *testing.T, e *env) {
	ctx := context.Background()
	obj := tfstate.ObjectRef{Kind: "CustomCluster", Namespace: ns, Name: "demo"}
	golden(t, "unlock-free", e.mustCapc(t, "unlock", "customcluster/demo", "-n", ns))
	plant := func(renewed time.Time, holder string) {
		t.Helper()
		at := metav1.NewMicroTime(renewed)
		l := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tfstate.LockLeaseName(obj),
				Labels:      map[string]string{tfstate.LabelRole: "lock", tfstate.LabelKind: "customcluster", tfstate.LabelName: "demo"},
				Annotations: map[string]string{tfstate.AnnRunID: "run-1", tfstate.AnnCreating: `["terraform_data.vpc"]`}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To(int32(40)), AcquireTime: &at, RenewTime: &at},
		}
		if err := e.k8s.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	preview := func() {
		t.Helper()
		e.mustCapc(t, "plan", "preview", "cc/demo", "-n", ns, "--wait", "--timeout", "90s")
	}

	plant(time.Now().Add(-10*time.Minute), "manager-gone")
	golden(t, "unlock-expired", e.mustCapc(t, "unlock", "customcluster/demo", "-n", ns))
	preview() // the stack's runner takes the released lock over
	events := &corev1.EventList{}
	if err := e.k8s.List(ctx, events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, ev := range events.Items {
		if ev.InvolvedObject.Name == "demo" && ev.InvolvedObject.Kind == "CustomCluster" {
			reasons = append(reasons, ev.Reason)
		}
	}
	if !strings.Contains(strings.Join(reasons, ","), "LockReleased") {
		t.Fatalf("no LockReleased event on customcluster/demo: %v", reasons)
	}

	plant(time.Now(), "manager-elsewhere")
	golden(t, "status-locked", e.mustCapc(t, "status", "-n", ns))
	out, err := e.capc(t, nil, "unlock", "customcluster/demo", "-n", ns)
	if err == nil || !strings.Contains(err.Error(), "the lock is live") {
		t.Fatalf("unlock of a live lock without --force: %v\n%s", err, out)
	}
	golden(t, "unlock-live", out)
	golden(t, "unlock-force", e.mustCapc(t, "unlock", "customcluster/demo", "-n", ns, "--force"))
	preview()
}

// testRestore lists the cluster's state backups, is refused while a run holds the lock, then
// restores the oldest backup and sees the next run take it.
func testRestore(t *testing.T, e *env) {
	ctx := context.Background()
	// A change applied: the state from before it is kept as a backup.
	cc := &infrav1.CustomCluster{}
	if err := e.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "demo"}, cc); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(cc.DeepCopy())
	cc.Spec.AdditionalTags = map[string]string{"restore": "test"}
	if err := e.k8s.Patch(ctx, cc, patch); err != nil {
		t.Fatal(err)
	}
	e.mustCapc(t, "reconcile", "customcluster/demo", "-n", ns)
	out := e.mustCapc(t, "state", "backups", "customcluster/demo", "-n", ns)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "SERIAL") {
		t.Fatalf("state backups:\n%s", out)
	}
	oldest := strings.Fields(lines[len(lines)-1])[0]
	obj := tfstate.ObjectRef{Kind: "CustomCluster", Namespace: ns, Name: "demo"}
	before, err := e.stack.Runner.GetState(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}

	now := metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: tfstate.LockLeaseName(obj)},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("manager-busy"), LeaseDurationSeconds: ptr.To(int32(40)), AcquireTime: &now, RenewTime: &now},
	}
	if err := e.k8s.Create(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if out, err := e.capc(t, nil, "state", "restore", "customcluster/demo", "--serial", oldest, "-n", ns); err == nil || !strings.Contains(err.Error(), "locked by manager-busy") {
		t.Fatalf("restore under a live lock: %v\n%s", err, out)
	}
	if err := e.k8s.Delete(ctx, lease); err != nil {
		t.Fatal(err)
	}

	out = e.mustCapc(t, "state", "restore", "customcluster/demo", "--serial", oldest, "-n", ns)
	if !strings.Contains(out, "restored customcluster/demo's backup of serial "+oldest+" as serial") {
		t.Fatalf("restore: %s", out)
	}
	after, err := e.stack.Runner.GetState(ctx, obj)
	if err != nil || after.Serial <= before.Serial || after.Lineage != before.Lineage {
		t.Fatalf("state after restore: serial %d (was %d): %v", after.Serial, before.Serial, err)
	}
	// The next run plans against the restored state and converges again.
	e.mustCapc(t, "reconcile", "customcluster/demo", "-n", ns)
}
