/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/company/cluster-api-provider-custom/tfstate"
)

// Metrics are the runner's Prometheus collectors. The manager registers them on
// controller-runtime's registry; tfrunner itself stays free of controller-runtime.
type Metrics struct {
	// RunDuration observes each terraform operation (init, plan, show, apply, destroy) by result.
	RunDuration *prometheus.HistogramVec
	// InFlight counts terraform processes running now.
	InFlight prometheus.Gauge
	// LockWaits counts runs refused because another holder had the object's lock.
	LockWaits prometheus.Counter
	// Skipped counts reconciles answered from the inputs hash without any terraform process.
	Skipped prometheus.Counter
	// SuspectedOrphans counts resources interrupted runs were creating and never recorded in state.
	SuspectedOrphans prometheus.Counter
	// Operations counts terraform operations by whether they ran inside the sandbox.
	Operations *prometheus.CounterVec
	// RunStarted has one series per object whose run holds its lock now: when the lock was taken.
	RunStarted *prometheus.GaugeVec
	// RunTimeout is --run-timeout, for alerts on runs (and their locks) that outlive it.
	RunTimeout prometheus.Gauge
	// Slots is --max-concurrent-runs, to read InFlight against.
	Slots prometheus.Gauge
	// Sandboxed is 1 when this manager sandboxes terraform runs, 0 when it does not.
	Sandboxed prometheus.Gauge
}

// NewMetrics returns unregistered collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		RunDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "capc_terraform_run_duration_seconds",
			Help:    "Duration of terraform operations by operation and result.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900},
		}, []string{"operation", "result"}),
		InFlight:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "capc_terraform_runs_in_flight", Help: "Terraform operations running now."}),
		LockWaits: prometheus.NewCounter(prometheus.CounterOpts{Name: "capc_terraform_lock_waits_total", Help: "Runs refused because the object's state lock was held elsewhere."}),
		Skipped:   prometheus.NewCounter(prometheus.CounterOpts{Name: "capc_terraform_skipped_total", Help: "Reconciles answered from the inputs hash without running terraform."}),
		SuspectedOrphans: prometheus.NewCounter(prometheus.CounterOpts{Name: "capc_suspected_orphans_total",
			Help: "Resources an interrupted run was creating that are not in its state (they may exist in the cloud untracked)."}),
		Operations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "capc_terraform_operations_total",
			Help: "Terraform operations started, by whether they ran inside the Landlock sandbox."}, []string{"sandboxed"}),
		RunStarted: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "capc_terraform_run_started_timestamp_seconds",
			Help: "One series per object whose terraform run holds its state lock now: when the run took the lock (Unix seconds)."},
			[]string{"kind", "namespace", "name"}),
		RunTimeout: prometheus.NewGauge(prometheus.GaugeOpts{Name: "capc_terraform_run_timeout_seconds",
			Help: "The manager's --run-timeout: a run still holding its lock past it was not interrupted as it should have been."}),
		Slots: prometheus.NewGauge(prometheus.GaugeOpts{Name: "capc_terraform_run_slots",
			Help: "The manager's --max-concurrent-runs: terraform processes it runs at once at most."}),
		Sandboxed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "capc_terraform_sandboxed",
			Help: "1 when terraform runs are sandboxed (Landlock), 0 when they are not (see the manager's start log)."}),
	}
}

// Collectors lists the collectors for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.RunDuration, m.InFlight, m.LockWaits, m.Skipped, m.SuspectedOrphans,
		m.Operations, m.Sandboxed, m.RunStarted, m.RunTimeout, m.Slots}
}

// observe runs one terraform operation for obj, recording its duration, result and concurrency.
func (r *Runner) observe(obj tfstate.ObjectRef, op string, fn func() error) error {
	m := r.cfg.Metrics
	m.InFlight.Inc()
	m.Operations.WithLabelValues(strconv.FormatBool(r.sandbox.Enabled)).Inc()
	r.trace(obj, StepStarted)
	start := time.Now()
	err := speakable(fn())
	r.trace(obj, StepExited)
	m.InFlight.Dec()
	result := "success"
	if err != nil {
		result = "error"
	}
	m.RunDuration.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
	return err
}
