package reliability

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
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

// failover runs two managers with leader election (distinct POD_NAMEs and work dirs, as two pods),
// kills the leader's whole process group while it applies, and checks that the other one takes
// over without a double apply and without the state serial ever going backwards.
func failover(t *testing.T) {
	fc := startFakeCloud(t, "failover-token", "-running-delay", "3s")
	ns := newNamespace(t, "failover")
	create(t, credentials(ns, "fc", fc, nil))
	logs := &syncBuffer{}
	mk := func(name string) *managerProc {
		return startManager(t, managerOpts{PodName: name, Namespace: ns, WorkDir: t.TempDir(), LeaderElect: true, Logs: logs})
	}
	a, b := mk("replica-a"), mk("replica-b")
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
	sampler := sampleSerials(ns)

	cluster, cc := newCluster(ns, "fo", fakeCloudModule(), "fc")
	create(t, cc, cluster)
	for i := 0; i < 3; i++ {
		s, m, cm := newMachine(ns, "fo", fmt.Sprintf("fo-%d", i), i == 0, fakeCloudModule(), "fc")
		create(t, s, m, cm)
	}
	// Kill the leader while instances are being created (each takes 3s to be running).
	waitFor(t, 3*time.Minute, "instance creates in flight", func() (bool, string) {
		st := fc.Stats(t)
		return st.Requests["create:instance"] > 0 && runLocks(ns) > 0, fmt.Sprintf("requests %v, locks %d", st.Requests, runLocks(ns))
	})
	time.Sleep(time.Second)
	locksAtKill := runLocks(ns)
	killedAt := time.Now()
	leader.Kill()
	t.Logf("killed leader %s with %d run(s) in flight", leader.opts.PodName, locksAtKill)
	waitFor(t, time.Minute, "the standby to lead", func() (bool, string) { return standby.IsLeader(), "" })
	leaderAfter := time.Since(killedAt)
	waitFor(t, 5*time.Minute, "convergence under the new leader", func() (bool, string) { return allProvisioned(ns) })
	convergedAfter := time.Since(killedAt)
	samples, regressions := sampler.Stop()
	for _, r := range regressions {
		t.Errorf("state serial went backwards: %s", r)
	}

	// Instances sharing a name: those created before the kill beyond the first are double
	// applies (two runs of the same object while the old leader lived); an untracked one created
	// before the kill is an orphan of the kill (a create whose result terraform never recorded).
	tracked := trackedIDs(t, ns)
	byName := map[string][]fcObject{}
	for _, o := range fc.Objects(t) {
		if o.Kind == "instances" {
			byName[o.Name] = append(byName[o.Name], o)
		}
	}
	doubleApplies := 0
	var orphans []string
	for name, list := range byName {
		sort.Slice(list, func(i, j int) bool { return list[i].CreatedAt < list[j].CreatedAt })
		before := 0
		for _, o := range list {
			created, _ := time.Parse(time.RFC3339Nano, o.CreatedAt)
			if created.Before(killedAt) {
				before++
			}
			if tracked[o.ID] == "" {
				orphans = append(orphans, "orphan of the kill: "+o.String())
				t.Logf("orphan of the kill: %s", o)
			}
		}
		if before > 1 {
			doubleApplies += before - 1
			t.Errorf("instance %q was created %d times before the leader was killed: double apply", name, before)
		}
	}
	// Clean the orphans up so the destroy is not blocked, then delete everything.
	known := map[string]bool{}
	for _, o := range untracked(fc.Objects(t), tracked, nil) {
		known[o.ID] = true
	}
	for _, kind := range fcCollections {
		for _, o := range fc.Objects(t) {
			if o.Kind == kind && known[o.ID] {
				fc.Delete(o)
			}
		}
	}
	deleteClusters(t, ns)
	waitFor(t, 3*time.Minute, "deletion", func() (bool, string) { return allGone(ns) })
	if left := fc.Objects(t); len(left) > 0 {
		t.Errorf("fake cloud not empty after deletion: %v", left)
	}
	standby.Stop(t)
	report(t, "failover", map[string]any{
		"runs_in_flight_at_kill": locksAtKill, "new_leader_after": leaderAfter.Round(100 * time.Millisecond).String(),
		"converged_after_kill": convergedAfter.Round(100 * time.Millisecond).String(),
		"double_applies":       doubleApplies, "serial_samples": samples, "serial_regressions": len(regressions),
		"orphans_of_the_kill": orphans, "panics": checkNoPanics(t, logs),
	})
}
