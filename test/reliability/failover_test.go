/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package reliability

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/company/cluster-api-provider-custom/bench"
)

// serialSampler reads the serial annotation of every state Secret of ns every 200ms and counts
// the times one went backwards.
type serialSampler struct {
	mu          sync.Mutex
	last        map[string]int64
	samples     int
	regressions []string
	stop, done  chan struct{}
}

func sampleSerials(ns string) *serialSampler {
	s := &serialSampler{last: map[string]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			cur, err := stateSerials(ns)
			if err != nil {
				continue
			}
			s.mu.Lock()
			s.samples++
			for name, v := range cur {
				if prev, ok := s.last[name]; ok && v < prev {
					s.regressions = append(s.regressions, fmt.Sprintf("%s: serial %d after %d", name, v, prev))
				}
				s.last[name] = v
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *serialSampler) Stop() (samples int, regressions []string) {
	close(s.stop)
	<-s.done
	return s.samples, s.regressions
}

// failover runs two managers with leader election (distinct POD_NAMEs and work dirs, as two pods)
// and, in each of counts().FailoverTrials trials, kills the leader's whole process group while it
// applies, and checks that the other one takes over without a double apply and without the state
// serial ever going backwards. The new leader takes the dead leader's run locks over as soon as it
// leads (their holder no longer leads, and its terraform processes died with it), not after
// --state-lock-ttl (40s). The killed replica comes back as the next trial's standby, as its pod
// would. Figures: each trial's, and p50/p95 of the time to a new leader and to convergence.
func failover(t *testing.T) {
	fc := startFakeCloud(t, "failover-token", "-running-delay", "3s")
	ns := newNamespace(t, "failover")
	create(t, credentials(ns, "fc", fc, nil))
	logs := &syncBuffer{}
	mk := func(name string) *managerProc {
		return startManager(t, managerOpts{PodName: name, Namespace: ns, WorkDir: t.TempDir(), LeaderElect: true, Logs: logs})
	}
	a, b := mk("replica-0"), mk("replica-1")
	var leaders, converged []time.Duration
	var trials []map[string]any
	sum := map[string]int{}
	for i := 0; i < counts().FailoverTrials; i++ {
		var leader, standby *managerProc
		waitFor(t, time.Minute, "a leader", func() (bool, string) {
			switch {
			case a.IsLeader():
				leader, standby = a, b
			case b.IsLeader():
				leader, standby = b, a
			}
			return leader != nil, "no replica started its controllers"
		})
		tr, leaderAfter, convergedAfter := failoverTrial(t, ns, fc, logs, leader, standby, fmt.Sprintf("fo%d", i))
		leaders, converged = append(leaders, leaderAfter), append(converged, convergedAfter)
		trials = append(trials, tr)
		for _, k := range []string{"double_applies", "serial_regressions", "runs_in_flight_at_kill", "locks_taken_from_the_lost_leader"} {
			sum[k] += tr[k].(int)
		}
		a, b = standby, mk(fmt.Sprintf("replica-%d", i+2)) // the killed replica's pod, restarted
	}
	a.Stop(t)
	b.Stop(t)
	l, c := bench.Summarize(leaders), bench.Summarize(converged)
	round := func(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }
	figures := map[string]any{"trials": len(trials), "per_trial": trials,
		"new_leader_after_p50": round(l.Median), "new_leader_after_p95": round(l.P95),
		"converged_after_kill_p50": round(c.Median), "converged_after_kill_p95": round(c.P95),
		"panics": checkNoPanics(t, logs)}
	for k, v := range sum {
		figures[k] = v
	}
	report(t, "failover", figures)
}

// failoverTrial provisions a cluster and three machines named prefix under the leader, kills the
// leader while instance creates are in flight, waits for the standby to lead and converge, checks
// the cloud, and deletes everything again.
func failoverTrial(t *testing.T, ns string, fc *fakeCloud, logs *syncBuffer, leader, standby *managerProc, prefix string) (map[string]any, time.Duration, time.Duration) {
	sampler := sampleSerials(ns)
	takenBefore := strings.Count(logs.String(), "taking over the lock of a manager that no longer leads")
	cluster, cc := newCluster(ns, prefix, fakeCloudModule(), "fc")
	create(t, cc, cluster)
	for i := 0; i < 3; i++ {
		s, m, cm := newMachine(ns, prefix, fmt.Sprintf("%s-%d", prefix, i), i == 0, fakeCloudModule(), "fc")
		create(t, s, m, cm)
	}
	// Kill the leader while instances are being created (each takes 3s to be running).
	creates := fc.Stats(t).Requests["create:instance"]
	waitFor(t, 3*time.Minute, "instance creates in flight", func() (bool, string) {
		st := fc.Stats(t)
		return st.Requests["create:instance"] > creates && runLocks(ns) > 0, fmt.Sprintf("requests %v, locks %d", st.Requests, runLocks(ns))
	})
	time.Sleep(time.Second)
	locksAtKill := runLocks(ns)
	killedAt := time.Now()
	leader.Kill()
	t.Logf("%s: killed leader %s with %d run(s) in flight", prefix, leader.opts.PodName, locksAtKill)
	waitFor(t, time.Minute, "the standby to lead", func() (bool, string) { return standby.IsLeader(), "" })
	leaderAfter := time.Since(killedAt)
	// Leader election (about 15s), then the applies themselves.
	waitFor(t, 3*time.Minute, "convergence under the new leader", func() (bool, string) { return allProvisioned(ns) })
	convergedAfter := time.Since(killedAt)
	takenOver := strings.Count(logs.String(), "taking over the lock of a manager that no longer leads") - takenBefore
	if locksAtKill > 0 && takenOver == 0 {
		t.Errorf("%s: %d run locks were held at the kill, none was taken over from the dead leader at once", prefix, locksAtKill)
	}
	samples, regressions := sampler.Stop()
	for _, r := range regressions {
		t.Errorf("%s: state serial went backwards: %s", prefix, r)
	}
	figures := failoverCloud(t, ns, fc, killedAt)
	deleteClusters(t, ns)
	waitFor(t, 3*time.Minute, "deletion", func() (bool, string) { return allGone(ns) })
	if left := fc.Objects(t); len(left) > 0 {
		t.Errorf("%s: fake cloud not empty after deletion: %v", prefix, left)
	}
	figures["runs_in_flight_at_kill"] = locksAtKill
	figures["locks_taken_from_the_lost_leader"] = takenOver
	figures["new_leader_after"] = leaderAfter.Round(100 * time.Millisecond).String()
	figures["converged_after_kill"] = convergedAfter.Round(100 * time.Millisecond).String()
	figures["serial_samples"], figures["serial_regressions"] = samples, len(regressions)
	return figures, leaderAfter, convergedAfter
}

// failoverCloud counts double applies (instances sharing a name created before the kill beyond
// the first: two runs of one object while the old leader lived) and the orphans of the kill
// (objects no state tracks), checks the new leader reported each orphan, then deletes them so
// the destroy is not blocked.
func failoverCloud(t *testing.T, ns string, fc *fakeCloud, killedAt time.Time) map[string]any {
	all := fc.Objects(t)
	byName := map[string][]fcObject{}
	for _, o := range all {
		if o.Kind == "instances" {
			byName[o.Name] = append(byName[o.Name], o)
		}
	}
	doubleApplies := 0
	for name, list := range byName {
		before := 0
		for _, o := range list {
			if created, _ := time.Parse(time.RFC3339Nano, o.CreatedAt); created.Before(killedAt) {
				before++
			}
		}
		if before > 1 {
			doubleApplies += before - 1
			t.Errorf("instance %q was created %d times before the leader was killed: double apply", name, before)
		}
	}
	found := untracked(all, trackedIDs(t, ns), nil)
	var orphans []string
	for _, o := range found {
		orphans = append(orphans, "orphan of the kill: "+o.String())
		t.Logf("orphan of the kill: %s", o)
	}
	var audit orphanAudit
	audit.check(t, ns, "failover", found, all, 20*time.Second)
	for _, kind := range fcCollections {
		for _, o := range found {
			if o.Kind == kind {
				fc.Delete(o)
			}
		}
	}
	return map[string]any{
		"double_applies": doubleApplies, "orphans_of_the_kill": orphans,
		"orphans_reported": audit.reported, "orphans_silent": audit.silent,
	}
}
