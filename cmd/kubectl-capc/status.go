/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// statusRow is one object's line in `kubectl capc status` (and its -o json|yaml item).
type statusRow struct {
	Namespace   string       `json:"namespace"`
	Kind        string       `json:"kind"`
	Name        string       `json:"name"`
	Ready       string       `json:"ready"`
	LastRun     string       `json:"lastRun,omitempty"`
	LastRunTime *metav1.Time `json:"lastRunTime,omitempty"`
	Running     *runningRun  `json:"running,omitempty"`
	PendingPlan *planCounts  `json:"pendingPlan,omitempty"`
	DriftedAt   *metav1.Time `json:"driftedSince,omitempty"`
	Error       string       `json:"error,omitempty"`
}

// runningRun is the run holding the object's lock now, with its progress when the manager
// reports it (runs longer than its --progress-interval).
type runningRun struct {
	Holder   string               `json:"holder"`
	RunID    string               `json:"runID,omitempty"`
	Since    metav1.Time          `json:"since"`
	Expired  bool                 `json:"expired,omitempty"`
	Progress *infrav1.RunProgress `json:"progress,omitempty"`
}

type planCounts struct {
	Digest  string `json:"digest"`
	Add     int32  `json:"add"`
	Change  int32  `json:"change"`
	Destroy int32  `json:"destroy"`
	Replace int32  `json:"replace"`
}

func (p planCounts) String() string {
	return fmt.Sprintf("%s +%d ~%d -%d ±%d", short(p.Digest), p.Add, p.Change, p.Destroy, p.Replace)
}

func short(digest string) string { return digest[:min(len(digest), 12)] }

// failureReasons are the condition reasons that mean "something is wrong", whose message is
// the row's error.
var failureReasons = map[string]bool{
	infrav1.ProvisioningFailedReason: true, infrav1.RunTimedOutReason: true, infrav1.DeletionFailedReason: true,
	infrav1.InvalidSpecReason: true, infrav1.ModuleInvalidReason: true, infrav1.ModuleNotAllowedReason: true,
	infrav1.SourceNotReadyReason: true, infrav1.SandboxUnavailableReason: true,
	infrav1.CredentialsNotFoundReason: true, infrav1.CredentialsInvalidReason: true, infrav1.StalePlanReason: true,
}

func (a *app) statusCommand() *cobra.Command {
	var allNamespaces bool
	var selector, output string
	c := &cobra.Command{
		Use:   "status",
		Short: "One row per CustomCluster and CustomMachine: ready, last run, running now, pending plan, drift, last error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rows, err := a.statusRows(cmd.Context(), allNamespaces, selector)
			if err != nil {
				return err
			}
			if ok, err := printStructured(cmd.OutOrStdout(), output, map[string]any{"items": rows}); ok {
				return err
			}
			return printStatus(cmd.OutOrStdout(), rows, allNamespaces, a.now())
		},
	}
	c.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list objects in all namespaces")
	c.Flags().StringVarP(&selector, "selector", "l", "", "label selector, e.g. cluster.x-k8s.io/cluster-name=demo")
	c.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: a table)")
	return c
}

func (a *app) statusRows(ctx context.Context, all bool, selector string) ([]statusRow, error) {
	var opts []client.ListOption
	ns := ""
	if !all {
		var err error
		if ns, err = a.namespace(); err != nil {
			return nil, err
		}
		opts = append(opts, client.InNamespace(ns))
	}
	if selector != "" {
		sel, err := labelsSelector(selector)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.MatchingLabelsSelector{Selector: sel})
	}
	var clusters infrav1.CustomClusterList
	if err := a.client.List(ctx, &clusters, opts...); err != nil {
		return nil, fmt.Errorf("listing CustomClusters: %w", err)
	}
	var machines infrav1.CustomMachineList
	if err := a.client.List(ctx, &machines, opts...); err != nil {
		return nil, fmt.Errorf("listing CustomMachines: %w", err)
	}
	locks, err := a.locks(ctx, ns)
	if err != nil {
		return nil, err
	}
	var rows []statusRow
	for i := range clusters.Items {
		rows = append(rows, row(newTarget(&clusters.Items[i]), locks, a.now()))
	}
	for i := range machines.Items {
		rows = append(rows, row(newTarget(&machines.Items[i]), locks, a.now()))
	}
	return rows, nil
}

// locks lists the lock Leases in ns ("" for all), by namespace/name.
func (a *app) locks(ctx context.Context, ns string) (map[string]*coordinationv1.Lease, error) {
	list, err := a.kube.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{LabelSelector: tfstate.LabelRole + "=lock"})
	if err != nil {
		return nil, fmt.Errorf("listing lock Leases: %w", err)
	}
	m := map[string]*coordinationv1.Lease{}
	for i := range list.Items {
		m[list.Items[i].Namespace+"/"+list.Items[i].Name] = &list.Items[i]
	}
	return m, nil
}

// row is the pure mapping from an object and the lock Leases to its status row.
func row(t target, locks map[string]*coordinationv1.Lease, now time.Time) statusRow {
	r := statusRow{Namespace: t.obj.GetNamespace(), Kind: t.Kind, Name: t.obj.GetName(), Ready: "Unknown"}
	if c := t.condition(infrav1.ReadyCondition); c != nil {
		r.Ready = string(c.Status)
	}
	if t.tf != nil {
		r.LastRun, r.LastRunTime = string(t.tf.LastRunResult), t.tf.LastRunTime
	}
	if l := locks[t.obj.GetNamespace()+"/"+tfstate.LockLeaseName(t.ref())]; l != nil {
		if li := tfstate.LockInfoOf(l); li != nil {
			r.Running = &runningRun{Holder: li.Holder, RunID: li.RunID, Since: metav1.NewTime(li.Since), Expired: li.Expired(now)}
			if t.tf != nil {
				r.Running.Progress = t.tf.Progress
			}
		}
	}
	if p := t.pendingPlan(); p != nil {
		r.PendingPlan = &planCounts{Digest: p.Digest, Add: p.Add, Change: p.Change, Destroy: p.Destroy, Replace: p.Replace}
	}
	if c := t.condition(infrav1.InSyncCondition); c != nil && c.Status == metav1.ConditionFalse && c.Reason == infrav1.DriftedReason {
		r.DriftedAt = &c.LastTransitionTime
	}
	for _, c := range t.conds {
		if c.Status == metav1.ConditionFalse && failureReasons[c.Reason] {
			r.Error = c.Reason + ": " + firstLine(c.Message)
			break
		}
	}
	return r
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func printStatus(w io.Writer, rows []statusRow, withNamespace bool, now time.Time) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "No CustomClusters or CustomMachines found.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	if withNamespace {
		fmt.Fprint(tw, "NAMESPACE\t")
	}
	fmt.Fprintln(tw, "NAME\tREADY\tLAST RUN\tRUNNING\tPENDING PLAN\tDRIFT\tERROR")
	for _, r := range rows {
		if withNamespace {
			fmt.Fprintf(tw, "%s\t", r.Namespace)
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\n", strings.ToLower(r.Kind), r.Name, r.Ready,
			lastRun(r, now), running(r.Running, now), dash(r.PendingPlan), drift(r.DriftedAt, now), clip(r.Error, 100))
	}
	return tw.Flush()
}

func lastRun(r statusRow, now time.Time) string {
	if r.LastRun == "" {
		return "-"
	}
	if r.LastRunTime == nil {
		return r.LastRun
	}
	return r.LastRun + " " + age(r.LastRunTime.Time, now) + " ago"
}

// running is "apply 3/7 aws_instance.this (holder, 2m)" or "holder, 12s" before progress shows.
func running(r *runningRun, now time.Time) string {
	if r == nil {
		return "-"
	}
	held := fmt.Sprintf("%s, %s", r.Holder, age(r.Since.Time, now))
	if r.Expired {
		held += ", EXPIRED"
	}
	p := r.Progress
	if p == nil {
		return held
	}
	counts := fmt.Sprintf("%d", p.Done)
	if p.Planned > 0 {
		counts += fmt.Sprintf("/%d", p.Planned)
	}
	s := p.Operation + " " + counts
	if p.Current != "" {
		s += " " + p.Current
	}
	return s + " (" + held + ")"
}

func drift(t *metav1.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return "drifted " + age(t.Time, now) + " ago"
}

func dash(p *planCounts) string {
	if p == nil {
		return "-"
	}
	return p.String()
}

func age(t, now time.Time) string { return duration.HumanDuration(now.Sub(t)) }

func clip(s string, n int) string {
	if s == "" {
		return "-"
	}
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
