/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Command dashboard writes the provider's Grafana dashboard (config/grafana/capc-dashboard.json)
// from code: `make dashboard`. Every query uses metrics the manager exports (test/monitoring
// checks them); edit this file, not the JSON.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

var ds = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Expr(expr).LegendFormat(legend).Datasource(ds)
}

func series(title, unit, desc string, queries ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().Title(title).Description(desc).Unit(unit).Datasource(ds).Span(12).Height(8).Min(0)
	for _, q := range queries {
		p = p.WithTarget(q)
	}
	return p
}

func single(title, unit, desc, expr string) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).Description(desc).Unit(unit).Datasource(ds).Span(6).Height(4).
		GraphMode(common.BigValueGraphModeArea).WithTarget(query(expr, ""))
}

func build() (dashboard.Dashboard, error) {
	return dashboard.NewDashboardBuilder("Cluster API Provider Custom (terraform)").
		Uid("capc-terraform").
		Description("What terraform is doing to the clusters: runs, durations, slots, approvals, drift and orphans (cluster-api-provider-custom).").
		Tags([]string{"cluster-api", "terraform", "capc"}).
		Refresh("1m").
		Time("now-6h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithRow(dashboard.NewRowBuilder("Now")).
		WithPanel(single("Objects failing", "none", "Objects whose last terraform run failed (alert: CAPCTerraformRunsFailing).",
			`sum(capc_failing_objects)`)).
		WithPanel(single("Plans awaiting approval", "none", "Saved plans waiting for an approve-plan annotation (alert: CAPCPlanAwaitingApproval).",
			`sum(capc_plans_awaiting_approval)`)).
		WithPanel(single("Drifted objects", "none", "Objects whose drift check found changes not applied yet (alert: CAPCDriftNotCorrected).",
			`sum(capc_drifted_objects)`)).
		WithPanel(single("Suspected orphans (24 h)", "none", "Resources interrupted runs may have created untracked (alert: CAPCSuspectedOrphans).",
			`sum(increase(capc_suspected_orphans_total[24h]))`)).
		WithRow(dashboard.NewRowBuilder("Runs")).
		WithPanel(series("Terraform operations by operation and result", "ops",
			"Finished terraform processes per second.",
			query(`sum by (operation, result) (rate(capc_terraform_run_duration_seconds_count[$__rate_interval]))`, "{{operation}} {{result}}"))).
		WithPanel(series("Run duration p50 / p95 by operation", "s",
			"Successful terraform processes (alert: CAPCRunDurationRegression).",
			query(`histogram_quantile(0.5, sum by (operation, le) (rate(capc_terraform_run_duration_seconds_bucket{result="success"}[$__rate_interval])))`, "p50 {{operation}}"),
			query(`histogram_quantile(0.95, sum by (operation, le) (rate(capc_terraform_run_duration_seconds_bucket{result="success"}[$__rate_interval])))`, "p95 {{operation}}"))).
		WithPanel(series("Runs in flight vs run slots", "none",
			"Terraform processes running against --max-concurrent-runs; at the slots, runs queue (README, Sizing).",
			query(`sum(capc_terraform_runs_in_flight)`, "in flight"),
			query(`sum(capc_terraform_run_slots)`, "slots"))).
		WithPanel(series("Reconciles skipped and lock waits", "ops",
			"Reconciles answered from the inputs hash with no terraform process, and runs refused because another holder had the object's lock.",
			query(`sum(rate(capc_terraform_skipped_total[$__rate_interval]))`, "skipped (no-op)"),
			query(`sum(rate(capc_terraform_lock_waits_total[$__rate_interval]))`, "lock waits"))).
		WithRow(dashboard.NewRowBuilder("Objects")).
		WithPanel(series("Approvals waiting, drift and failures by kind", "none", "",
			query(`sum by (kind) (capc_plans_awaiting_approval)`, "awaiting approval {{kind}}"),
			query(`sum by (kind) (capc_drifted_objects)`, "drifted {{kind}}"),
			query(`sum by (kind) (capc_failing_objects)`, "failing {{kind}}"))).
		WithPanel(series("Runs holding their lock, by age", "s",
			"Age of each run holding its object's state lock (alert past --run-timeout: CAPCLockHeldPastRunTimeout).",
			query(`time() - capc_terraform_run_started_timestamp_seconds`, "{{kind}} {{namespace}}/{{name}}"),
			query(`max(capc_terraform_run_timeout_seconds)`, "run timeout"))).
		Build()
}

func main() {
	d, err := build()
	if err == nil {
		var out []byte
		if out, err = json.MarshalIndent(d, "", "  "); err == nil {
			_, err = os.Stdout.Write(append(out, '\n'))
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}
