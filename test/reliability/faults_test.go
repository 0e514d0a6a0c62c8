/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package reliability

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// warningEvents counts Warning events with reason for the object named name in ns.
func warningEvents(t *testing.T, ns, name, reason string) int {
	l := &corev1.EventList{}
	if err := suite.k8s.List(bg(), l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range l.Items {
		if e.InvolvedObject.Name == name && e.Reason == reason {
			n += int(max(e.Count, 1))
			if e.Series != nil {
				n += int(e.Series.Count)
			}
		}
	}
	return n
}

// liveSeries returns the lines of the manager's live /metrics for family name whose labels
// include every want ("key=\"value\"").
func liveSeries(t *testing.T, mgr *managerProc, name string, want ...string) []string {
	t.Helper()
	code, body := httpGet("http://"+mgr.Metrics+"/metrics", 5*time.Second)
	if code != 200 {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// faults injects 500s, quota errors and slow creates in the fake cloud and checks that the
// object's condition carries terraform's diagnostic (without the token), that the provider
// retries with backoff, and that it converges once the fault clears.
func faults(t *testing.T) {
	token := "fault-token-" + fmt.Sprint(time.Now().UnixNano())
	fc := startFakeCloud(t, token)
	ns := newNamespace(t, "faults")
	create(t, credentials(ns, "fc", fc, nil))
	logs := &syncBuffer{}
	mgr := startManager(t, managerOpts{PodName: "faults-manager", Namespace: ns, WorkDir: t.TempDir(), Logs: logs,
		Extra: []string{"--progress-interval=1s"}})
	figures := map[string]any{}

	// failing waits for obj's Ready condition to be False/ProvisioningFailed with every want in its
	// message, then for retries (count failed-run events), returning the message.
	failing := func(obj client.Object, conds func() []metav1.Condition, wants ...string) string {
		var msg string
		waitFor(t, 3*time.Minute, obj.GetName()+" to fail with "+strings.Join(wants, ", "), func() (bool, string) {
			if err := suite.k8s.Get(bg(), client.ObjectKeyFromObject(obj), obj); err != nil {
				return false, err.Error()
			}
			c := findCond(conds(), infrav1.ReadyCondition)
			if c == nil || c.Status != "False" || c.Reason != infrav1.ProvisioningFailedReason {
				return false, condString(conds(), infrav1.ReadyCondition)
			}
			for _, w := range wants {
				if !strings.Contains(c.Message, w) {
					return false, condString(conds(), infrav1.ReadyCondition)
				}
			}
			msg = c.Message
			return true, ""
		})
		if strings.Contains(msg, token) {
			t.Errorf("%s: condition message carries the fake cloud token: %s", obj.GetName(), msg)
		}
		waitFor(t, 3*time.Minute, obj.GetName()+" to retry", func() (bool, string) {
			n := warningEvents(t, ns, obj.GetName(), infrav1.ProvisioningFailedReason)
			return n >= 2, fmt.Sprintf("%d failed runs", n)
		})
		return msg
	}

	// 1. Every create answers 500: the cluster fails with the diagnostic and retries.
	fc.SetFaults(t, map[string]any{"op": "create:*", "error_rate": 1.0})
	cluster, cc := newCluster(ns, "flt", fakeCloudModule(), "fc")
	create(t, cc, cluster)
	msg := failing(cc, func() []metav1.Condition { return cc.Status.Conditions }, "HTTP 500", "InternalError")
	t.Logf("500s: %s", msg)
	figures["http500_condition"] = msg
	// The alert rules (config/prometheus) see the failing object on the live /metrics, by name.
	failingSeries := []string{`kind="CustomCluster"`, `namespace="` + ns + `"`, `name="flt"`}
	if s := liveSeries(t, mgr, "capc_failing_since_timestamp_seconds", failingSeries...); len(s) != 1 {
		t.Errorf("failing cluster on /metrics: %q, want one series", s)
	}
	if s := liveSeries(t, mgr, "capc_terraform_run_timeout_seconds"); len(s) != 1 || !strings.HasSuffix(s[0], " 1800") {
		t.Errorf("run timeout on /metrics: %q, want the default 30m", s)
	}
	fc.ClearFaults(t)
	cleared := time.Now()
	waitFor(t, 5*time.Minute, "the cluster to converge after the 500s cleared", func() (bool, string) { return allProvisioned(ns) })
	if s := liveSeries(t, mgr, "capc_failing_since_timestamp_seconds", failingSeries...); len(s) != 0 {
		t.Errorf("a converged cluster still has a failing series: %q", s)
	}
	figures["http500_converged_after_clear"] = time.Since(cleared).Round(100 * time.Millisecond).String()
	figures["http500_failed_runs"] = warningEvents(t, ns, "flt", infrav1.ProvisioningFailedReason)

	// 2. Instance quota exhausted (not retried by the provider: a quota error is final per run).
	fc.SetFaults(t, map[string]any{"op": "create:instance", "quota": 0})
	s, m, cm := newMachine(ns, "flt", "flt-quota", false, fakeCloudModule(), "fc")
	create(t, s, m, cm)
	msg = failing(cm, func() []metav1.Condition { return cm.Status.Conditions }, "QuotaExceeded", "quota exceeded for")
	t.Logf("quota: %s", msg)
	figures["quota_condition"] = msg
	fc.ClearFaults(t)
	cleared = time.Now()
	waitFor(t, 5*time.Minute, "the machine to converge after the quota was raised", func() (bool, string) { return allProvisioned(ns) })
	figures["quota_converged_after_clear"] = time.Since(cleared).Round(100 * time.Millisecond).String()
	figures["quota_failed_runs"] = warningEvents(t, ns, "flt-quota", infrav1.ProvisioningFailedReason)

	// 3. Slow, flaky cloud: 4s per instance create, 30% of every call failing with 500 (the
	// provider retries them) and 1s of eventual consistency on reads.
	fc.SetFaults(t,
		map[string]any{"op": "create:instance", "latency_ms": 4000},
		map[string]any{"op": "*:*", "error_rate": 0.3},
		map[string]any{"op": "get:*", "consistency_ms": 1000},
	)
	start := time.Now()
	for i := 0; i < 2; i++ {
		s, m, cm := newMachine(ns, "flt", fmt.Sprintf("flt-slow-%d", i), false, fakeCloudModule(), "fc")
		create(t, s, m, cm)
	}
	// A slow create holds its lock for seconds: while it does, its run shows on /metrics, and
	// `kubectl capc status` shows the lock holder and the run's progress.
	var started []string
	running, lastStatus := "", ""
	waitFor(t, 2*time.Minute, "a slow run on /metrics and its progress in kubectl capc status", func() (bool, string) {
		if len(started) == 0 {
			started = liveSeries(t, mgr, "capc_terraform_run_started_timestamp_seconds", `namespace="`+ns+`"`, `name="flt-slow-`)
		}
		if running == "" {
			running, lastStatus = pluginRunning(t, ns)
		}
		return len(started) > 0 && running != "", fmt.Sprintf("series %q, kubectl capc status:\n%s", started, lastStatus)
	})
	figures["kubectl_capc_status_running"] = running
	waitFor(t, 5*time.Minute, "machines to converge on a slow, flaky cloud", func() (bool, string) { return allProvisioned(ns) })
	// Runs longer than --progress-interval announced themselves; none left its progress behind.
	inProgress := 0
	for i := 0; i < 2; i++ {
		name := fmt.Sprintf("flt-slow-%d", i)
		inProgress += warningEvents(t, ns, name, "RunInProgress")
		cm := &infrav1.CustomMachine{}
		if err := suite.k8s.Get(bg(), client.ObjectKey{Namespace: ns, Name: name}, cm); err != nil {
			t.Fatal(err)
		}
		if ts := cm.Status.Terraform; ts != nil && ts.Progress != nil {
			t.Errorf("%s: progress left after its run: %+v", name, ts.Progress)
		}
	}
	if inProgress == 0 {
		t.Error("no RunInProgress event for runs of 4 s and more with --progress-interval=1s")
	}
	figures["run_in_progress_events"] = inProgress
	figures["slow_flaky_converged_after"] = time.Since(start).Round(100 * time.Millisecond).String()
	fc.ClearFaults(t)
	st := fc.Stats(t)
	figures["faults_injected"] = st.Injected
	if n := st.DuplicateInstanceNames; len(n) > 0 {
		t.Errorf("duplicated instances: %v", n)
	}

	deleteClusters(t, ns)
	waitFor(t, 3*time.Minute, "deletion", func() (bool, string) { return allGone(ns) })
	if left := fc.Objects(t); len(left) > 0 {
		t.Errorf("fake cloud not empty after deletion: %v", left)
	}
	mgr.Stop(t)
	if strings.Contains(logs.String(), token) {
		t.Errorf("manager logs carry the fake cloud token")
	}
	figures["panics"] = checkNoPanics(t, logs)
	report(t, "faults", figures)
}

// progressRow matches a `kubectl capc status` row of a slow machine whose RUNNING column shows
// an apply's progress and the lock holder.
var progressRow = regexp.MustCompile(`custommachine/flt-slow-\d.*\bapply \d+(/\d+)? .*\(faults-manager`)

// pluginRunning runs `kubectl capc status` (the built plugin) and returns the first row that
// shows a slow run in progress ("" if none) and the whole output.
func pluginRunning(t *testing.T, ns string) (string, string) {
	t.Helper()
	out, err := exec.Command(suite.pluginBin, "status", "-n", ns, "--kubeconfig", suite.kubeconfig).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl capc status: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if progressRow.MatchString(line) {
			return strings.Join(strings.Fields(line), " "), string(out)
		}
	}
	return "", string(out)
}
