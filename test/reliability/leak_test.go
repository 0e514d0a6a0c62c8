/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package reliability

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/modules"
)

var tagsMerge = regexp.MustCompile(`(tags\s*=\s*merge\(var\.tags, )\{`)

// leakyModules copies the fakecloud family under root/leaky and adds a sensitive variable
// (admin_password, put into the resources' tags) and a sensitive output echoing it.
func leakyModules(t *testing.T) string {
	root := t.TempDir()
	for _, kind := range []string{"cluster", "machine"} {
		m, err := modules.Get("fakecloud", kind)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, "leaky", kind)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = fs.WalkDir(m, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := fs.ReadFile(m, p)
			s := string(b)
			if p == "main.tf" {
				s = tagsMerge.ReplaceAllString(s, "${1}{ admin = var.admin_password }, {")
			}
			return os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644)
		})
		extra := "variable \"admin_password\" {\n  type      = string\n  sensitive = true\n}\n\n" +
			"output \"admin_password_echo\" {\n  value     = var.admin_password\n  sensitive = true\n}\n"
		if err := os.WriteFile(filepath.Join(dir, "leaky.tf"), []byte(extra), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "main.tf")); !strings.Contains(string(b), "var.admin_password") {
			t.Fatalf("leaky %s module: could not route admin_password into the tags", kind)
		}
	}
	return root
}

// leakScan puts canary values in user data (the bootstrap Secret), a sensitive spec.variable,
// a sensitive output and the credentials Secret, drives failures, a pending plan, an approval,
// an in-place update and a deletion, and scans the manager's logs, the events, every status and
// metadata field, the plan summaries and the plan text for them.
func leakScan(t *testing.T) {
	canary := map[string]string{
		"credentials token": "CANARY-CRED-" + rand.String(12),
		"extra credential":  "CANARY-EXTRA-" + rand.String(12),
		"user data":         "CANARY-USERDATA-" + rand.String(12),
		"sensitive var":     "CANARY-VAR-" + rand.String(12),
	}
	fc := startFakeCloud(t, canary["credentials token"])
	ns := newNamespace(t, "leak")
	create(t, credentials(ns, "fc", fc, map[string]string{"EXTRA_SECRET": canary["extra credential"]}))
	logs := &syncBuffer{}
	mgr := startManager(t, managerOpts{PodName: "leak-manager", Namespace: ns, WorkDir: t.TempDir(), ModuleRoot: leakyModules(t), Logs: logs})
	mod := &infrav1.ModuleSource{Path: "leaky"}
	pw := vars(fmt.Sprintf(`{"admin_password": %q}`, canary["sensitive var"]))

	hits := map[string][]string{}
	scan := func(where, text string) {
		for what, v := range canary {
			if strings.Contains(text, v) {
				hits[where] = append(hits[where], what)
			}
		}
	}
	scanCluster := func(phase string) {
		lists := []client.ObjectList{&infrav1.CustomClusterList{}, &infrav1.CustomMachineList{}, &clusterv1.ClusterList{}, &clusterv1.MachineList{}}
		for _, l := range lists {
			if err := suite.k8s.List(bg(), l, client.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(l)
			var doc struct {
				Items []struct {
					Metadata struct {
						Annotations map[string]string `json:"annotations"`
						Labels      map[string]string `json:"labels"`
						Name        string            `json:"name"`
					} `json:"metadata"`
					Status json.RawMessage `json:"status"`
				} `json:"items"`
			}
			_ = json.Unmarshal(b, &doc)
			for _, it := range doc.Items {
				m, _ := json.Marshal(it.Metadata)
				scan(phase+": "+it.Metadata.Name+" status", string(it.Status))
				scan(phase+": "+it.Metadata.Name+" metadata", string(m))
			}
		}
		secrets := &corev1.SecretList{}
		if err := suite.k8s.List(bg(), secrets, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets.Items {
			if string(s.Type) == "custom.infrastructure.cluster.x-k8s.io/tfplan" {
				scan(phase+": plan Secret "+s.Name+" plan.txt", string(s.Data["plan.txt"]))
				scan(phase+": plan Secret "+s.Name+" summary.json", string(s.Data["summary.json"]))
				m, _ := json.Marshal(s.ObjectMeta)
				scan(phase+": plan Secret "+s.Name+" metadata", string(m))
			}
		}
	}

	// 1. Instance creates fail (500) first: error paths carry diagnostics.
	fc.SetFaults(t, map[string]any{"op": "create:instance", "error_rate": 1.0})
	cluster, cc := newCluster(ns, "leak", mod, "fc")
	cc.Spec.Variables = pw
	create(t, cc, cluster)
	userData := []byte("#cloud-config\npassword: " + canary["user data"] + "\n")
	var cms []*infrav1.CustomMachine
	for i, manual := range []bool{false, true} {
		s, m, cm := newMachine(ns, "leak", fmt.Sprintf("leak-%d", i), i == 0, mod, "fc")
		s.Data["value"] = userData
		cm.Spec.Variables = pw
		if manual {
			cm.Annotations = map[string]string{infrav1.ApprovalAnnotation: "manual"}
		}
		create(t, s, m, cm)
		cms = append(cms, cm)
	}
	waitFor(t, 3*time.Minute, "a failed instance create", func() (bool, string) {
		n := warningEvents(t, ns, "leak-0", infrav1.ProvisioningFailedReason)
		return n > 0, fmt.Sprintf("%d failures", n)
	})
	scanCluster("failing")
	fc.ClearFaults(t)

	// 2. The manual machine waits with a saved plan (plan text Secret); approve it.
	waitFor(t, 3*time.Minute, "a plan awaiting approval", func() (bool, string) {
		if err := suite.k8s.Get(bg(), client.ObjectKeyFromObject(cms[1]), cms[1]); err != nil {
			return false, err.Error()
		}
		c := findCond(cms[1].Status.Conditions, infrav1.PlanApprovedCondition)
		return c != nil && c.Reason == infrav1.AwaitingApprovalReason, condString(cms[1].Status.Conditions, infrav1.PlanApprovedCondition)
	})
	scanCluster("pending")
	patch := client.MergeFrom(cms[1].DeepCopy())
	cms[1].Annotations[infrav1.ApprovePlanAnnotation] = cms[1].Status.Terraform.Plan.Digest
	if err := suite.k8s.Patch(bg(), cms[1], patch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, "everything provisioned", func() (bool, string) { return allProvisioned(ns) })
	scanCluster("provisioned")

	// 3. An in-place update (tags) next to the sensitive value.
	if err := suite.k8s.Get(bg(), client.ObjectKeyFromObject(cms[0]), cms[0]); err != nil {
		t.Fatal(err)
	}
	serial := cms[0].Status.Terraform.StateSerial
	patch = client.MergeFrom(cms[0].DeepCopy())
	cms[0].Spec.Tags = map[string]string{"role": "node", "changed": "yes"}
	if err := suite.k8s.Patch(bg(), cms[0], patch); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Minute, "the update", func() (bool, string) {
		_ = suite.k8s.Get(bg(), client.ObjectKeyFromObject(cms[0]), cms[0])
		return cms[0].Status.Terraform.StateSerial > serial, "serial unchanged"
	})
	scanCluster("updated")

	// 4. Delete everything.
	deleteClusters(t, ns)
	waitFor(t, 3*time.Minute, "deletion", func() (bool, string) { return allGone(ns) })
	mgr.Stop(t)
	events := &corev1.EventList{}
	if err := suite.k8s.List(bg(), events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	eb, _ := json.Marshal(events)
	scan("events", string(eb))
	scan("manager logs", logs.String())
	if left := fc.Objects(t); len(left) > 0 {
		t.Errorf("fake cloud not empty after deletion: %v", left)
	}
	// Control: the scanner finds a canary where it legitimately is (the user's own spec).
	specJSON, _ := json.Marshal(cc.Spec)
	if scan("control", string(specJSON)); len(hits["control"]) == 0 {
		t.Fatalf("scanner control: the sensitive spec.variables canary was not found in the spec it was written to")
	}
	delete(hits, "control")
	total := 0
	for where, what := range hits {
		total += len(what)
		t.Errorf("LEAK in %s: %s", where, strings.Join(what, ", "))
	}
	report(t, "leaks", map[string]any{
		"canaries": len(canary), "events_scanned": len(events.Items), "log_bytes_scanned": len(logs.String()),
		"hits": total, "panics": checkNoPanics(t, logs),
	})
}
