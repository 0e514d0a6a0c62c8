/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zclconf/go-cty/cty"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/company/cluster-api-provider-custom/tfrunner"
)

type countingRT struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// With the state index running, a no-op reconcile makes no API request at all, and a state
// changed behind the runner's back (a new inputs hash) is seen through the index.
func TestNoOpWithStateIndexMakesNoAPIRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := newNamespace(t)
	var requests atomic.Int64
	cfg := rest.CopyConfig(restConfig)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingRT{rt: rt, n: &requests} })
	counted := kubernetes.NewForConfigOrDie(cfg)
	r := newRunner(t, t.TempDir(), "pod-a", func(c *tfrunner.Config) { c.Kube = counted })
	if err := r.WatchStates(ctx, metadata.NewForConfigOrDie(restConfig), ns); err != nil {
		t.Fatal(err)
	}
	ws := clusterWorkspace(t, ns, map[string]cty.Value{
		"cluster_name": cty.StringVal("c1"), "namespace": cty.StringVal(ns), "region": cty.StringVal("eu-west-1"),
	})
	auto := tfrunner.Policy{AutoApply: true}
	if res, err := r.Reconcile(ctx, ws, auto); err != nil || !res.Applied {
		t.Fatalf("first apply: %+v %v", res, err)
	}
	waitSkipped := func() tfrunner.Result {
		t.Helper()
		for i := 0; i < 100; i++ { // the index follows the state Secret's watch events
			before := requests.Load()
			res, err := r.Reconcile(ctx, ws, auto)
			if err != nil {
				t.Fatal(err)
			}
			if res.Skipped && requests.Load() == before {
				return res
			}
		}
		t.Fatal("no-op reconciles kept making API requests")
		return tfrunner.Result{}
	}
	res := waitSkipped()
	if len(res.Outputs) == 0 {
		t.Fatal("no outputs from the index path")
	}
	// Changed inputs are not a no-op: the reconcile plans and applies.
	ws.Variables["region"] = cty.StringVal("eu-west-2")
	if res, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true, AllowDestroy: true}); err != nil || res.Skipped || !res.Applied {
		t.Fatalf("changed inputs: %+v %v", res, err)
	}
	if res := waitSkipped(); !strings.Contains(string(res.Outputs["control_plane_endpoint"].Value), "eu-west-2") {
		t.Fatalf("stale outputs after the change: %s", res.Outputs["control_plane_endpoint"].Value)
	}
}
