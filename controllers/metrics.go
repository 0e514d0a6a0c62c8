/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/company/cluster-api-provider-custom/tfstate"
)

// objectGauge reports how many objects of each kind are currently in some state (a plan awaiting
// approval, drifted, failing); membership is tracked per object so repeated reconciles do not
// double count. since has one series per object in the state, its value the time this process
// first saw it there: alerts say which object has been in it for how long, and the series of an
// object that leaves the state is deleted, so only objects in the state cost a series.
type objectGauge struct {
	mu    sync.Mutex
	set   map[tfstate.ObjectRef]bool
	gauge *prometheus.GaugeVec
	since *prometheus.GaugeVec
}

func newObjectGauge(name, sinceName, help string) *objectGauge {
	return &objectGauge{set: map[tfstate.ObjectRef]bool{},
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"kind"}),
		since: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: sinceName,
			Help: help + " One series per such object: when this manager first saw it so (Unix seconds)."}, []string{"kind", "namespace", "name"})}
}

// mark records whether obj is in the state.
func (g *objectGauge) mark(obj tfstate.ObjectRef, in bool) {
	key := tfstate.ObjectRef{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.set[key] == in {
		return
	}
	if in {
		g.set[key] = true
		g.gauge.WithLabelValues(obj.Kind).Inc()
		g.since.WithLabelValues(obj.Kind, obj.Namespace, obj.Name).Set(float64(time.Now().Unix()))
	} else {
		delete(g.set, key)
		g.gauge.WithLabelValues(obj.Kind).Dec()
		g.since.DeleteLabelValues(obj.Kind, obj.Namespace, obj.Name)
	}
}

var (
	plansAwaitingApproval = newObjectGauge("capc_plans_awaiting_approval", "capc_plan_awaiting_approval_since_timestamp_seconds",
		"Objects whose saved plan waits for approval.")
	driftedObjects = newObjectGauge("capc_drifted_objects", "capc_drifted_since_timestamp_seconds",
		"Objects whose last drift check found changes not yet applied.")
	failingObjects = newObjectGauge("capc_failing_objects", "capc_failing_since_timestamp_seconds",
		"Objects whose last terraform run (apply, plan or destroy) failed.")
)

func init() {
	for _, g := range []*objectGauge{plansAwaitingApproval, driftedObjects, failingObjects} {
		metrics.Registry.MustRegister(g.gauge, g.since)
	}
}

// forget drops a deleted object from every gauge.
func forget(obj tfstate.ObjectRef) {
	plansAwaitingApproval.mark(obj, false)
	driftedObjects.mark(obj, false)
	failingObjects.mark(obj, false)
}
