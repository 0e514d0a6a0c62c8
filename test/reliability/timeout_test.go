/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package reliability

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// stateSerial reads the serial of kind/name's stored state (ok false: no state Secret).
func stateSerial(t *testing.T, ns, kind, name, cluster string) (serial int64, ok bool) {
	t.Helper()
	st, err := suite.states.GetState(bg(), tfstate.ObjectRef{APIVersion: infrav1.GroupVersion.String(), Kind: kind, Namespace: ns, Name: name, ClusterName: cluster})
	if err != nil {
		t.Fatalf("reading state of %s %s: %v", kind, name, err)
	}
	if st == nil {
		return 0, false
	}
	return st.Serial, true
}

// runTimeout runs a manager with a short --run-timeout against a cloud whose instance creates
// outlast it: the machine must show Ready=False/RunTimedOut, keep its state, and converge without
// a duplicate instance once creates are fast again. It has its own manager, namespace and fake
// cloud so the short timeout and the latency touch no other case.
func runTimeout(t *testing.T) {
	const timeout = 8 * time.Second
	fc := startFakeCloud(t, "timeout-token")
	ns := newNamespace(t, "timeout")
	create(t, credentials(ns, "fc", fc, nil))
	logs := &syncBuffer{}
	mgr := startManager(t, managerOpts{PodName: "timeout-manager", Namespace: ns, WorkDir: t.TempDir(), Logs: logs,
		Extra: []string{"--run-timeout=" + timeout.String()}})
	figures := map[string]any{"run_timeout": timeout.String()}

	cluster, cc := newCluster(ns, "rto", fakeCloudModule(), "fc")
	create(t, cc, cluster)
	waitFor(t, 3*time.Minute, "the cluster", func() (bool, string) { return allProvisioned(ns) })
	clusterSerial, _ := stateSerial(t, ns, "CustomCluster", "rto", "rto")
	sampler := sampleSerials(ns)

	// Creates held far past the timeout plus terraform's 30s interrupt grace: every run is
	// interrupted by the timeout while creating the instance.
	fc.SetFaults(t, map[string]any{"op": "create:instance", "latency_ms": 60000})
	s, m, cm := newMachine(ns, "rto", "rto-0", false, fakeCloudModule(), "fc")
	start := time.Now()
	create(t, s, m, cm)
	figures["condition"] = waitTimedOut(t, cm)
	figures["timed_out_after"] = time.Since(start).Round(100 * time.Millisecond).String()
	// Let a retry be interrupted too, so convergence below follows repeated timeouts.
	waitFor(t, 3*time.Minute, "a second interrupted create", func() (bool, string) {
		n := fc.Stats(t).Requests["create:instance"]
		return n >= 2, fmt.Sprintf("%d instance creates", n)
	})
	machineSerial, hadState := stateSerial(t, ns, "CustomMachine", "rto-0", "rto")
	figures["machine_state_at_timeout"] = map[bool]any{true: machineSerial, false: "none"}[hadState]
	figures["interrupted_creates"] = fc.Stats(t).Requests["create:instance"]
	figures["timed_out_run_events"] = warningEvents(t, ns, "rto-0", infrav1.RunTimedOutReason)

	fc.ClearFaults(t)
	cleared := time.Now()
	waitFor(t, 3*time.Minute, "the machine to converge after the creates got fast", func() (bool, string) { return allProvisioned(ns) })
	figures["converged_after_clear"] = time.Since(cleared).Round(100 * time.Millisecond).String()
	samples, regressions := sampler.Stop()
	for _, r := range regressions {
		t.Errorf("state serial went backwards: %s", r)
	}
	figures["serial_samples"], figures["serial_regressions"] = samples, len(regressions)
	checkTimeoutStates(t, ns, clusterSerial, machineSerial, hadState)
	st := fc.Stats(t)
	figures["instances"], figures["duplicate_instances"] = st.Counts["instance"], len(st.DuplicateInstanceNames)
	if st.Counts["instance"] != 1 || len(st.DuplicateInstanceNames) > 0 {
		t.Errorf("want exactly 1 instance after the timed-out runs, got %d (duplicates %v)", st.Counts["instance"], st.DuplicateInstanceNames)
	}

	deleteClusters(t, ns)
	waitFor(t, 3*time.Minute, "deletion", func() (bool, string) { return allGone(ns) })
	if left := fc.Objects(t); len(left) > 0 {
		t.Errorf("fake cloud not empty after deletion: %v", left)
	}
	mgr.Stop(t)
	figures["panics"] = checkNoPanics(t, logs)
	report(t, "faults-run-timeout", figures)
}

// waitTimedOut waits for cm's Ready condition to be False/RunTimedOut saying it timed out, and
// returns its message.
func waitTimedOut(t *testing.T, cm *infrav1.CustomMachine) string {
	t.Helper()
	var msg string
	waitFor(t, 3*time.Minute, cm.Name+" to be Ready=False/"+infrav1.RunTimedOutReason, func() (bool, string) {
		if err := suite.k8s.Get(bg(), client.ObjectKeyFromObject(cm), cm); err != nil {
			return false, err.Error()
		}
		c := findCond(cm.Status.Conditions, infrav1.ReadyCondition)
		if c == nil || c.Status != "False" || c.Reason != infrav1.RunTimedOutReason || !strings.Contains(c.Message, "timed out after") {
			return false, condString(cm.Status.Conditions, infrav1.ReadyCondition)
		}
		msg = c.Message
		return true, ""
	})
	t.Logf("run timeout: %s", msg)
	return msg
}

// checkTimeoutStates checks no state was lost to the timed-out runs: the cluster's state is still
// there and not older, the machine's state (if the interrupted runs wrote one) is still
// there, not older, and tracks the machine's one instance.
func checkTimeoutStates(t *testing.T, ns string, clusterSerial, machineSerial int64, hadState bool) {
	t.Helper()
	if n, ok := stateSerial(t, ns, "CustomCluster", "rto", "rto"); !ok || n < clusterSerial {
		t.Errorf("cluster state lost: serial %d (present %v), was %d", n, ok, clusterSerial)
	}
	n, ok := stateSerial(t, ns, "CustomMachine", "rto-0", "rto")
	if !ok || hadState && n < machineSerial {
		t.Errorf("machine state lost: serial %d (present %v) after %d (present %v) at the timeout", n, ok, machineSerial, hadState)
	}
	tracked := 0
	for _, owner := range trackedIDs(t, ns) {
		if owner == "CustomMachine/rto-0" {
			tracked++
		}
	}
	cm := &infrav1.CustomMachine{}
	if err := suite.k8s.Get(bg(), client.ObjectKey{Namespace: ns, Name: "rto-0"}, cm); err != nil {
		t.Fatal(err)
	}
	if tracked == 0 || cm.Spec.ProviderID == "" {
		t.Errorf("machine state tracks %d object(s), providerID %q", tracked, cm.Spec.ProviderID)
	}
}
