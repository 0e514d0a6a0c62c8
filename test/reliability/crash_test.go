package reliability

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
// anything, the fake cloud is left with. Every third trial stops the manager with SIGTERM
// instead: those must leave nothing behind.
func TestCrash(t *testing.T) {
	sc := counts()
	rng := rand.New(rand.NewPCG(seed(t), 1))
	fc := startFakeCloud(t, "crash-token", "-running-delay", "1s")
	ns := newNamespace(t, "crash")
	create(t, credentials(ns, "fc", fc, nil))
	logs := &syncBuffer{}
	opts := managerOpts{PodName: "crash-manager", Namespace: ns, WorkDir: t.TempDir(), Logs: logs}
	mgr := startManager(t, opts)

	var (
		kills, terms, killsMidRun, converged, duplicates int
		orphansKill, orphansTerm                         []string
		applyConverge, deleteConverge, termTime          []time.Duration
	)
	known := map[string]bool{}
	crash := func(graceful bool) {
		if runLocks(ns) > 0 {
			killsMidRun++
		}
		if graceful {
			terms++
			termTime = append(termTime, mgr.Stop(t))
		} else {
			kills++
			mgr.Kill()
		}
		mgr = startManager(t, opts)
	}
	// collect records the fake cloud objects no state tracks (orphans), then deletes them so the
	// next destroy is not blocked by them.
	collect := func(trial string, graceful bool) {
		objs := fc.Objects(t)
		for _, o := range untracked(objs, trackedIDs(t, ns), known) {
			known[o.ID] = true
			line := fmt.Sprintf("trial %s (%s): orphan %s", trial, map[bool]string{true: "SIGTERM", false: "SIGKILL"}[graceful], o)
			t.Log(line)
			if graceful {
				orphansTerm = append(orphansTerm, line)
				t.Errorf("%s: a graceful stop must not orphan anything", line)
			} else {
				orphansKill = append(orphansKill, line)
			}
		}
	}
	cleanOrphans := func() {
		for _, kind := range fcCollections {
			for _, o := range fc.Objects(t) {
				if o.Kind == kind && known[o.ID] {
					fc.Delete(o)
				}
			}
		}
	}

	for i := 0; i < sc.CrashTrials; i++ {
		graceful := i%3 == 2
		name := fmt.Sprintf("t%02d", i)
		cluster, cc := newCluster(ns, name, fakeCloudModule(), "fc")
		s1, m1, cm1 := newMachine(ns, name, name+"-cp", true, fakeCloudModule(), "fc")
		s2, m2, cm2 := newMachine(ns, name, name+"-w", false, fakeCloudModule(), "fc")
		start := time.Now()
		create(t, cc, cluster, s1, m1, cm1, s2, m2, cm2)

		// Apply: the cluster's resources, then both instances (each waits 1s to be running).
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int64N(int64(7*time.Second))))
		crash(graceful)
		if rng.IntN(2) == 0 { // a second crash in half the trials
			time.Sleep(time.Duration(rng.Int64N(int64(4 * time.Second))))
			crash(graceful)
		}
		waitFor(t, 4*time.Minute, "trial "+name+" to converge after the crash", func() (bool, string) { return allProvisioned(ns) })
		applyConverge = append(applyConverge, time.Since(start))
		st := fc.Stats(t)
		for n, c := range st.DuplicateInstanceNames {
			duplicates += c - 1
			t.Logf("trial %s: instance name %q is used by %d live instances", name, n, c)
			if graceful {
				t.Errorf("trial %s (SIGTERM): duplicated instance %q", name, n)
			}
		}
		collect(name, graceful)
		cleanOrphans()

		// Destroy.
		start = time.Now()
		deleteClusters(t, ns)
		time.Sleep(time.Duration(rng.Int64N(int64(4 * time.Second))))
		crash(graceful)
		waitFor(t, 4*time.Minute, "trial "+name+" to be deleted after the crash", func() (bool, string) { return allGone(ns) })
		deleteConverge = append(deleteConverge, time.Since(start))
		converged++
		collect(name, graceful)
		cleanOrphans()
		if left := fc.Objects(t); len(left) > 0 {
			t.Errorf("trial %s: fake cloud not empty after deletion: %v", name, left)
		}
	}
	mgr.Stop(t)
	panics := checkNoPanics(t, logs)
	report(t, "crash", map[string]any{
		"trials": sc.CrashTrials, "converged": converged, "sigkills": kills, "sigterms": terms,
		"crashes_with_a_run_in_flight": killsMidRun, "duplicate_instances": duplicates,
		"orphans_after_sigkill": len(orphansKill), "orphans_after_sigterm": len(orphansTerm),
		"orphans": append(orphansKill, orphansTerm...), "panics": panics,
		"apply_converge_max": maxDur(applyConverge).String(), "delete_converge_max": maxDur(deleteConverge).String(),
		"sigterm_exit_max": maxDur(termTime).String(),
		"fakecloud_created": fc.Stats(t).Created,
	})
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
