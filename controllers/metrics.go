package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// objectGauge reports how many objects of each kind are currently in some state (a plan awaiting
// approval, drifted); membership is tracked per object so repeated reconciles do not double count.
type objectGauge struct {
	mu    sync.Mutex
	set   map[tfrunner.ObjectRef]bool
	gauge *prometheus.GaugeVec
}

func newObjectGauge(name, help string) *objectGauge {
	return &objectGauge{set: map[tfrunner.ObjectRef]bool{},
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"kind"})}
}

// mark records whether obj is in the state.
func (g *objectGauge) mark(obj tfrunner.ObjectRef, in bool) {
	key := tfrunner.ObjectRef{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.set[key] == in {
		return
	}
	if in {
		g.set[key] = true
		g.gauge.WithLabelValues(obj.Kind).Inc()
	} else {
		delete(g.set, key)
		g.gauge.WithLabelValues(obj.Kind).Dec()
	}
}

var (
	plansAwaitingApproval = newObjectGauge("capc_plans_awaiting_approval", "Objects whose saved plan waits for approval.")
	driftedObjects        = newObjectGauge("capc_drifted_objects", "Objects whose last drift check found changes not yet applied.")
)

func init() {
	metrics.Registry.MustRegister(plansAwaitingApproval.gauge, driftedObjects.gauge)
}

// forget drops a deleted object from every gauge.
func forget(obj tfrunner.ObjectRef) {
	plansAwaitingApproval.mark(obj, false)
	driftedObjects.mark(obj, false)
}
