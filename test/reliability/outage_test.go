/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package reliability

import (
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// apiServerOutage cuts the manager off the API server while terraform creates (the cluster's VPC
// held 8 s in the fake cloud, which terraform reaches directly). /healthz stays 200 throughout:
// the process is fine and a restart would not bring the server back. /readyz says the server is
// gone within seconds and is 200 again once it is back. The run's state reaches its Secret once
// the server is back, the cluster converges, and nothing is created twice.
func apiServerOutage(t *testing.T) {
	fc := startFakeCloud(t, "outage-token")
	ns := newNamespace(t, "outage")
	create(t, credentials(ns, "fc", fc, nil))
	host, err := url.Parse(suite.cfg.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := envtestutil.NewCutProxy(host.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	cfg := rest.CopyConfig(suite.cfg)
	cfg.Host = "https://" + proxy.Addr()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := envtestutil.WriteKubeconfig(cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	mgr := startManager(t, managerOpts{PodName: "outage-manager", Namespace: ns, WorkDir: t.TempDir(), Kubeconfig: kubeconfig})
	probe := func(path string) int { code, _ := httpGet("http://"+mgr.Health+path, 5*time.Second); return code }
	waitFor(t, time.Minute, "/readyz with the API server reachable", func() (bool, string) {
		c := probe("/readyz")
		return c == http.StatusOK, fmt.Sprint(c)
	})

	fc.SetFaults(t, map[string]any{"op": "create:vpc", "latency_ms": 8000})
	cluster, cc := newCluster(ns, "out", fakeCloudModule(), "fc")
	create(t, cc, cluster)
	waitFor(t, 2*time.Minute, "the VPC create in flight", func() (bool, string) {
		n := fc.Stats(t).Requests["create:vpc"]
		return n >= 1, fmt.Sprintf("%d VPC creates", n)
	})
	proxy.Cut()
	cut := time.Now()
	notReady := waitFor(t, 30*time.Second, "/readyz to report the API server gone", func() (bool, string) {
		c := probe("/readyz")
		return c != http.StatusOK, fmt.Sprint(c)
	})
	if c := probe("/healthz"); c != http.StatusOK {
		t.Errorf("/healthz during the outage: %d, want 200 (the process is fine)", c)
	}
	time.Sleep(time.Until(cut.Add(12 * time.Second)))
	if c := probe("/healthz"); c != http.StatusOK {
		t.Errorf("/healthz late in the outage: %d, want 200", c)
	}
	proxy.Restore()
	ready := waitFor(t, 30*time.Second, "/readyz once the API server is back", func() (bool, string) {
		c := probe("/readyz")
		return c == http.StatusOK, fmt.Sprint(c)
	})
	fc.ClearFaults(t)
	converged := waitFor(t, 3*time.Minute, "the cluster after the outage", func() (bool, string) { return allProvisioned(ns) })
	if n := fc.Stats(t).Created["vpc"]; n != 1 {
		t.Errorf("%d VPCs created, want 1: the run after the outage created again what the cut one made", n)
	}
	report(t, "apiserver-outage", map[string]any{
		"outage": "12s, mid-create", "readyz_failed_after": notReady.String(), "readyz_back_after_restore": ready.String(),
		"converged_after_restore": converged.String(), "vpcs_created": fc.Stats(t).Created["vpc"],
	})
}
