/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package reliability

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// seed returns the random seed of a suite (CAPC_SEED reproduces a run).
func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("CAPC_SEED"), 10, 64); err == nil {
		s = v
	}
	t.Logf("seed %d (CAPC_SEED=%d reproduces the kill moments)", s, s)
	return s
}

// runLocks counts the terraform run locks (Leases) held in ns: runs in flight.
func runLocks(ns string) int {
	l := &coordinationv1.LeaseList{}
	if err := suite.k8s.List(bg(), l, client.InNamespace(ns), client.MatchingLabels{"custom.infrastructure.cluster.x-k8s.io/role": "lock"}); err != nil {
		return -1
	}
	return len(l.Items)
}

// TestCrash creates a cluster with two machines per trial, crashes the manager at a random
// moment of the apply and again of the destroy, restarts it with the same --work-dir and
// POD_NAME, and checks that everything converges, that no instance is duplicated and what, if
// anything, the fake cloud is left with. The sigkill trials kill the manager's whole process
// group (a container crash): each orphan must be reported by the provider (a SuspectedOrphan
// event on its owner), none silent. The sigterm trials stop it as the kubelet does: those must
// leave nothing behind.
func TestCrash(t *testing.T) {
	t.Parallel()
	sc := counts()
	t.Run("sigkill", func(t *testing.T) { crashTrials(t, false, sc.CrashTrials) })
	t.Run("sigterm", func(t *testing.T) { crashTrials(t, true, sc.SigtermTrials) })
}

// bugTaintedReplace names the provider bug fixed in 851c8d1 that a stuck machine would mean again.
const bugTaintedReplace = "REGRESSION(tainted-replace, fixed in 851c8d1): an instance half-created by an " +
	"interrupted run is recorded as tainted; auto mode must apply the replace of a never-provisioned " +
	"CustomMachine instead of waiting for a manual approve-plan (Ready=False/AwaitingApproval)"

// crashRun is what one crash suite run has seen so far.
type crashRun struct {
	t        *testing.T
	graceful bool
	how      string
	ns       string
	fc       *fakeCloud
	opts     managerOpts
	mgr      *managerProc
	rng      *rand.Rand

	crashes, crashesMidRun, converged, duplicates, taintedStuck int
	unexplainedDuplicates                                       int
	orphans                                                     []string
	audit                                                       orphanAudit
	applyConverge, deleteConverge, termTime                     []time.Duration
	known                                                       map[string]bool
}

func crashTrials(t *testing.T, graceful bool, trials int) {
	c := &crashRun{t: t, graceful: graceful, how: map[bool]string{true: "SIGTERM", false: "SIGKILL"}[graceful], known: map[string]bool{}}
	c.rng = rand.New(rand.NewPCG(seed(t), 1))
	c.fc = startFakeCloud(t, "crash-token", "-running-delay", "1s")
	c.ns = newNamespace(t, "crash")
	create(t, credentials(c.ns, "fc", c.fc, nil))
	logs := &syncBuffer{}
	c.opts = managerOpts{PodName: "crash-manager", Namespace: c.ns, WorkDir: t.TempDir(), Logs: logs}
	c.mgr = startManager(t, c.opts)
	for i := 0; i < trials; i++ {
		c.trial(fmt.Sprintf("t%02d", i))
	}
	c.mgr.Stop(t)
	panics := checkNoPanics(t, logs)
	// Every create a killed run had sent (adopted on retry through its client token, or else an
	// orphan) must have been reported by the provider as a suspected orphan.
	adopted, reported := 0, reportedAddresses(c.ns)
	for _, n := range c.fc.Stats(t).Replays {
		adopted += n
	}
	if adopted > reported {
		t.Errorf("%d creates of killed runs were adopted on retry, but only %d addresses were reported as suspected orphans", adopted, reported)
	}
	report(t, "crash-"+strings.ToLower(c.how), map[string]any{
		"signal": c.how, "trials": trials, "converged": c.converged, "crashes": c.crashes,
		"crashes_with_a_run_in_flight": c.crashesMidRun, "duplicate_instances": c.duplicates,
		"duplicates_without_an_orphan": c.unexplainedDuplicates,
		"orphans_count":                len(c.orphans), "orphans": c.orphans, "panics": panics,
		"orphans_reported": c.audit.reported, "orphans_silent": c.audit.silent,
		"machines_stuck_on_tainted_replace": c.taintedStuck,
		"apply_converge_max":                maxDur(c.applyConverge).String(), "delete_converge_max": maxDur(c.deleteConverge).String(),
		"sigterm_exit_max":  maxDur(c.termTime).String(),
		"fakecloud_created": c.fc.Stats(t).Created,
		// Creates a killed run had sent, adopted on retry through the modules' client tokens.
		"fakecloud_creates_adopted":  c.fc.Stats(t).Replays,
		"suspected_orphan_events":    countEvents(c.ns, infrav1.SuspectedOrphanReason),
		"suspected_orphan_addresses": reported,
	})
}

// trial creates a cluster and two machines, crashes during the apply (twice in half the trials)
// and during the destroy, and checks convergence and what the fake cloud is left with.
func (c *crashRun) trial(name string) {
	t, ns := c.t, c.ns
	cluster, cc := newCluster(ns, name, fakeCloudModule(), "fc")
	s1, m1, cm1 := newMachine(ns, name, name+"-cp", true, fakeCloudModule(), "fc")
	s2, m2, cm2 := newMachine(ns, name, name+"-w", false, fakeCloudModule(), "fc")
	start := time.Now()
	create(t, cc, cluster, s1, m1, cm1, s2, m2, cm2)

	// Apply: the cluster's resources, then both instances (each waits 1s to be running).
	c.crash()
	if c.rng.IntN(2) == 0 {
		c.crash()
	}
	waitFor(t, 4*time.Minute, "trial "+name+" to converge after the crash", func() (bool, string) {
		// Detected and approved as an operator would, so the trial still converges.
		if n := approveTaintedReplaces(t, ns); n > 0 {
			c.taintedStuck += n
			t.Errorf("trial %s: %d machine(s) stuck on a tainted replace (approved the pending plan to go on): %s", name, n, bugTaintedReplace)
		}
		return allProvisioned(ns)
	})
	c.applyConverge = append(c.applyConverge, time.Since(start))
	dups := c.fc.Stats(t).DuplicateInstanceNames
	for n, k := range dups {
		c.duplicates += k - 1
		t.Logf("trial %s: instance name %q is used by %d live instances", name, n, k)
		if c.graceful {
			t.Errorf("trial %s (SIGTERM): duplicated instance %q", name, n)
		}
	}
	// Every extra instance must be an orphan of a killed create (the fake cloud has no
	// idempotency tokens), never a second create by the provider itself.
	orphaned := map[string]int{}
	for _, o := range c.collect(name, "apply") {
		if o.Kind == "instances" {
			orphaned[o.Name]++
		}
	}
	for n, k := range dups {
		if extra := k - 1 - orphaned[n]; extra > 0 {
			c.unexplainedDuplicates += extra
			t.Errorf("trial %s: instance %q has %d more live copies than orphans: the provider created it twice", name, n, extra)
		}
	}

	// Destroy.
	start = time.Now()
	deleteClusters(t, ns)
	c.crash()
	waitFor(t, 4*time.Minute, "trial "+name+" to be deleted after the crash", func() (bool, string) { return allGone(ns) })
	c.deleteConverge = append(c.deleteConverge, time.Since(start))
	c.converged++
	c.collect(name, "destroy")
	if left := c.fc.Objects(t); len(left) > 0 {
		t.Errorf("trial %s: fake cloud not empty after deletion: %v", name, left)
	}
}

// crash waits (up to 15s) for a terraform run to be in flight, lets it go on for a random
// moment, then crashes the manager and restarts it.
func (c *crashRun) crash() {
	for deadline := time.Now().Add(15 * time.Second); runLocks(c.ns) == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Duration(c.rng.Int64N(int64(2500 * time.Millisecond))))
	if runLocks(c.ns) > 0 {
		c.crashesMidRun++
	}
	c.crashes++
	if c.graceful {
		c.termTime = append(c.termTime, c.mgr.Stop(c.t))
	} else {
		c.mgr.Kill()
	}
	c.mgr = startManager(c.t, c.opts)
}

// collect records the fake cloud objects no state tracks (orphans), checks that the provider
// reported each one, then deletes them so the next destroy is not blocked by them.
func (c *crashRun) collect(trial, phase string) []fcObject {
	t := c.t
	all := c.fc.Objects(t)
	found := untracked(all, trackedIDs(t, c.ns), c.known)
	for _, o := range found {
		c.known[o.ID] = true
		line := fmt.Sprintf("trial %s (%s during %s): orphan %s", trial, c.how, phase, o)
		t.Log(line)
		c.orphans = append(c.orphans, line)
		if c.graceful {
			t.Errorf("%s: a graceful stop must not orphan anything", line)
		}
	}
	silent := c.audit.silent
	c.audit.check(t, c.ns, fmt.Sprintf("trial %s (%s during %s)", trial, c.how, phase), found, all, 20*time.Second)
	if c.audit.silent > silent {
		t.Logf("manager log lines on lock takeovers and orphans:\n%s", grepLines(c.opts.Logs.String(), trial, "stale terraform lock", "orphan"))
	}
	for _, kind := range fcCollections {
		for _, o := range c.fc.Objects(t) {
			if o.Kind == kind && c.known[o.ID] {
				c.fc.Delete(o)
			}
		}
	}
	return found
}

// approveTaintedReplaces approves the pending plan of every never-provisioned CustomMachine that
// waits for approval of a replace (the tainted-replace bug), returning how many it approved.
func approveTaintedReplaces(t *testing.T, ns string) int {
	cms := &infrav1.CustomMachineList{}
	if err := suite.k8s.List(bg(), cms, client.InNamespace(ns)); err != nil {
		return 0
	}
	n := 0
	for i := range cms.Items {
		m := &cms.Items[i]
		c := findCond(m.Status.Conditions, infrav1.ReadyCondition)
		tf := m.Status.Terraform
		if c == nil || c.Reason != infrav1.AwaitingApprovalReason || m.Spec.ProviderID != "" || tf == nil || tf.Plan == nil ||
			tf.Plan.Replace == 0 || m.Annotations[infrav1.ApprovePlanAnnotation] == tf.Plan.Digest {
			continue
		}
		patch := client.MergeFrom(m.DeepCopy())
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[infrav1.ApprovePlanAnnotation] = tf.Plan.Digest
		if err := suite.k8s.Patch(bg(), m, patch); err == nil {
			n++
		}
	}
	return n
}

func maxDur(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		if d > m {
			m = d
		}
	}
	return m.Round(100 * time.Millisecond)
}
