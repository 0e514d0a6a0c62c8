/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package reliability

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// load creates N CustomMachines at once in one cluster, polls /healthz every second and samples
// the manager's RSS, waits for all of them, deletes everything and checks the fake cloud is empty.
func load(t *testing.T, n int) {
	fc := startFakeCloud(t, "load-token", "-running-delay", "500ms")
	ns := newNamespace(t, "load")
	create(t, credentials(ns, "fc", fc, nil))
	logs := &syncBuffer{}
	mgr := startManager(t, managerOpts{PodName: "load-manager", Namespace: ns, WorkDir: t.TempDir(), Logs: logs})

	var mu sync.Mutex
	polls, unhealthy, maxRSS := 0, []string{}, 0
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
			}
			code, body := httpGet("http://"+mgr.Health+"/healthz", 2*time.Second)
			rss := mgr.RSSKiB()
			mu.Lock()
			polls++
			if code != http.StatusOK {
				unhealthy = append(unhealthy, fmt.Sprintf("%s: %d %s", time.Now().Format(time.TimeOnly), code, body))
			}
			maxRSS = max(maxRSS, rss)
			mu.Unlock()
		}
	}()

	cluster, cc := newCluster(ns, "load", fakeCloudModule(), "fc")
	create(t, cc, cluster)
	waitFor(t, 3*time.Minute, "the cluster", func() (bool, string) { return allProvisioned(ns) })
	start := time.Now()
	var objs []client.Object
	for i := 0; i < n; i++ {
		s, m, cm := newMachine(ns, "load", fmt.Sprintf("load-%03d", i), false, fakeCloudModule(), "fc")
		objs = append(objs, s, m, cm)
	}
	create(t, objs...)
	provisioned := waitFor(t, time.Duration(n)*12*time.Second+3*time.Minute, fmt.Sprintf("%d machines", n), func() (bool, string) { return allProvisioned(ns) })
	st := fc.Stats(t)
	if st.Counts["instance"] != n {
		t.Errorf("fake cloud has %d instances, want %d", st.Counts["instance"], n)
	}
	if len(st.DuplicateInstanceNames) > 0 {
		t.Errorf("duplicated instances: %v", st.DuplicateInstanceNames)
	}
	start = time.Now()
	deleteClusters(t, ns)
	deleted := waitFor(t, time.Duration(n)*12*time.Second+3*time.Minute, "deletion", func() (bool, string) { return allGone(ns) })
	_ = start
	close(stop)
	<-done
	left := fc.Objects(t)
	if len(left) > 0 {
		t.Errorf("fake cloud not empty after deletion: %d objects, e.g. %v", len(left), left[0])
	}
	for _, u := range unhealthy {
		t.Errorf("/healthz not OK: %s", u)
	}
	mgr.Stop(t)
	report(t, "load", map[string]any{
		"machines": n, "all_provisioned_in": provisioned.Round(time.Second).String(), "all_deleted_in": deleted.Round(time.Second).String(),
		"healthz_polls": polls, "healthz_failures": len(unhealthy), "manager_max_rss_mib": maxRSS / 1024,
		"fakecloud_left": len(left), "panics": checkNoPanics(t, logs),
	})
}
