/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package monitoring checks the alert rules in config/prometheus with the real promtool (built
// into bin/ by make tools): they load, every alert fires and clears on synthetic series, the
// PrometheusRule carries the same groups, and every metric they use is one the manager
// registers. The live /metrics side is in test/reliability (failing objects, runs holding their
// lock) and test/integration (plans awaiting approval, drift).
package monitoring

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	_ "github.com/company/cluster-api-provider-custom/controllers" // registers the controllers' metrics
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

const dir = "../../config/prometheus"

func promtool(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := filepath.Abs("../../bin/promtool")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s missing: run make tools", bin)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert string `json:"alert"`
			Expr  string `json:"expr"`
		} `json:"rules"`
	} `json:"groups"`
}

func readYAML(t *testing.T, name string, into any) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func TestRulesLoad(t *testing.T) {
	out := promtool(t, "check", "rules", "rules.yaml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules:\n%s", out)
	}
}

// Every alert has a test case where it fires and a later one where it has cleared, and
// promtool's evaluation agrees with each.
func TestEveryAlertFiresAndClears(t *testing.T) {
	out := promtool(t, "test", "rules", "rules_test.yaml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
	var rules ruleFile
	readYAML(t, "rules.yaml", &rules)
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				EvalTime  string           `json:"eval_time"`
				Alertname string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	readYAML(t, "rules_test.yaml", &tests)
	fired, clearedAfter := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fired[a.Alertname] = true
			} else if fired[a.Alertname] {
				clearedAfter[a.Alertname] = true
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && (!fired[r.Alert] || !clearedAfter[r.Alert]) {
				t.Errorf("alert %s: fires in a test %v, clears after firing %v", r.Alert, fired[r.Alert], clearedAfter[r.Alert])
			}
		}
	}
}

func TestPrometheusRuleCarriesTheRules(t *testing.T) {
	var plain map[string]any
	readYAML(t, "rules.yaml", &plain)
	var pr struct {
		Kind string         `json:"kind"`
		Spec map[string]any `json:"spec"`
	}
	readYAML(t, "prometheusrule.yaml", &pr)
	if pr.Kind != "PrometheusRule" || !reflect.DeepEqual(pr.Spec["groups"], plain["groups"]) {
		t.Fatal("prometheusrule.yaml's spec.groups differ from rules.yaml: copy rules.yaml's groups under spec")
	}
}

var metricName = regexp.MustCompile(`\bcapc_[a-z0-9_]+`)
var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// registered lists the metric families the manager registers: controller-runtime's registry
// (the controllers' metrics register there when the package loads) and the runner's collectors.
func registered(t *testing.T) map[string]bool {
	t.Helper()
	reg, ok := ctrlmetrics.Registry.(prometheus.Collector)
	if !ok {
		t.Fatalf("controller-runtime's registry (%T) cannot describe its collectors", ctrlmetrics.Registry)
	}
	names := map[string]bool{}
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		reg.Describe(ch)
		for _, c := range tfrunner.NewMetrics().Collectors() {
			c.Describe(ch)
		}
		close(ch)
	}()
	for d := range ch {
		if m := descName.FindStringSubmatch(d.String()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

// checkMetrics fails for every capc_ metric an expression uses that the manager does not export.
func checkMetrics(t *testing.T, names map[string]bool, where, expr string) {
	t.Helper()
	for _, name := range metricName.FindAllString(expr, -1) {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && names[b] {
				base = b
			}
		}
		if !names[base] {
			t.Errorf("%s uses %s, which the manager does not export", where, name)
		}
	}
}

func TestRulesAndDashboardUseExportedMetrics(t *testing.T) {
	names := registered(t)
	var rules ruleFile
	readYAML(t, "rules.yaml", &rules)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			checkMetrics(t, names, "alert "+r.Alert, r.Expr)
		}
	}
	raw, err := os.ReadFile("../../config/grafana/capc-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	queries := 0
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			checkMetrics(t, names, "dashboard panel "+p.Title, q.Expr)
			queries++
		}
	}
	if queries < 10 {
		t.Errorf("the dashboard has %d queries; make dashboard writes it from hack/dashboard", queries)
	}
}

func TestKustomizeBuild(t *testing.T) {
	bin, err := filepath.Abs("../../bin/kustomize")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "build", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, out)
	}
	for _, want := range []string{"kind: PodMonitor", "name: capc-manager", "kind: PrometheusRule", "name: capc-alerts",
		"namespace: capc-system", "honorLabels: true", "alert: CAPCLockHeldPastRunTimeout"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("kustomize build %s lacks %q", dir, want)
		}
	}
}
