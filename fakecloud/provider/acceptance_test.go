/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package provider_test

// Acceptance-style test: the real terraform binary (bin/terraform of the repository) installs the
// provider from a filesystem mirror and drives modules/fakecloud/{cluster,machine} against a
// fake cloud started in this process on 127.0.0.1:0. It needs no tfrunner: it writes its own
// TF_CLI_CONFIG_FILE.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/company/cluster-api-provider-custom/fakecloud/client"
	"github.com/company/cluster-api-provider-custom/fakecloud/server"
)

const providerVersion = "0.1.0"

// repoRoot is the main module's root (the directory holding modules/fakecloud).
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "modules", "fakecloud", "cluster", "main.tf")); err == nil {
			return d
		}
	}
	t.Fatalf("no modules/fakecloud above %s", dir)
	return ""
}

// mirror returns a filesystem mirror holding the provider: $FAKECLOUD_TF_MIRROR (make fakecloud
// fills bin/tf-mirror), else one built now from this module's sources.
func mirror(t *testing.T) string {
	t.Helper()
	if m := os.Getenv("FAKECLOUD_TF_MIRROR"); m != "" {
		return m
	}
	m := t.TempDir()
	dir := filepath.Join(m, "registry.terraform.io", "company", "fakecloud", providerVersion, runtime.GOOS+"_"+runtime.GOARCH)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "terraform-provider-fakecloud_v"+providerVersion), "../cmd/terraform-provider-fakecloud")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the provider: %v\n%s", err, out)
	}
	return m
}

type tfEnv struct {
	t      *testing.T
	bin    string
	env    []string
	root   string
	client *client.Client
}

// workspace copies module (cluster or machine) into a fresh directory with vars as tfvars.
func (e *tfEnv) workspace(module string, vars map[string]any) string {
	e.t.Helper()
	dir := e.t.TempDir()
	src := filepath.Join(e.root, "modules", "fakecloud", module)
	entries, err := os.ReadDir(src)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range entries {
		b, err := os.ReadFile(filepath.Join(src, f.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name()), b, 0o600); err != nil {
			e.t.Fatal(err)
		}
	}
	b, _ := json.Marshal(vars)
	if err := os.WriteFile(filepath.Join(dir, "terraform.tfvars.json"), b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

// run runs terraform in dir and returns its output and exit code.
func (e *tfEnv) run(dir string, args ...string) (string, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n := 1
	if args[0] == "state" {
		n = 2 // "state rm": flags follow the subcommand
	}
	argv := append(append(append([]string{}, args[:n]...), "-no-color"), args[n:]...)
	cmd := exec.CommandContext(ctx, e.bin, argv...)
	cmd.Dir, cmd.Env = dir, e.env
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("terraform %v: %v", args, err)
	}
	e.t.Logf("terraform %s: exit %d in %s", strings.Join(args, " "), code, time.Since(t0).Round(time.Millisecond))
	return string(out), code
}

func (e *tfEnv) ok(dir string, args ...string) string {
	e.t.Helper()
	out, code := e.run(dir, args...)
	if code != 0 {
		e.t.Fatalf("terraform %v: exit %d\n%s", args, code, out)
	}
	return out
}

func (e *tfEnv) outputs(dir string) map[string]any {
	e.t.Helper()
	var raw map[string]struct{ Value any }
	if err := json.Unmarshal([]byte(e.ok(dir, "output", "-json")), &raw); err != nil {
		e.t.Fatal(err)
	}
	out := map[string]any{}
	for k, v := range raw {
		out[k] = v.Value
	}
	return out
}

// planActions plans and returns the actions per resource address (no-op ones left out).
func (e *tfEnv) planActions(dir string) map[string]string {
	e.t.Helper()
	e.ok(dir, "plan", "-input=false", "-out=tfplan")
	var p struct {
		ResourceChanges []struct {
			Address string
			Change  struct{ Actions []string }
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal([]byte(e.ok(dir, "show", "-json", "tfplan")), &p); err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, rc := range p.ResourceChanges {
		a := strings.Join(rc.Change.Actions, ",")
		if a != "no-op" && a != "read" {
			out[rc.Address] = a
		}
	}
	return out
}

func (e *tfEnv) stats() server.Stats {
	e.t.Helper()
	raw, err := e.client.Do(context.Background(), "GET", "/admin/stats", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal(raw)
	var st server.Stats
	_ = json.Unmarshal(b, &st)
	return st
}

func setup(t *testing.T, opts server.Options) *tfEnv {
	t.Helper()
	root := repoRoot(t)
	bin := os.Getenv("TERRAFORM")
	if bin == "" {
		bin = filepath.Join(root, "bin", "terraform")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no terraform binary (%v): run make tools", err)
	}
	m := mirror(t)
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	u, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	home := t.TempDir()
	cache := filepath.Join(home, "plugin-cache")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(home, "terraformrc")
	cfg := fmt.Sprintf(`plugin_cache_dir = %q
disable_checkpoint = true
provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/company/*"]
  }
  direct {
    exclude = ["registry.terraform.io/company/*"]
  }
}
`, cache, m)
	if err := os.WriteFile(rc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TF_CLI_CONFIG_FILE=" + rc, "CHECKPOINT_DISABLE=1",
		"TF_IN_AUTOMATION=1", "FAKECLOUD_ENDPOINT=" + u, "FAKECLOUD_TOKEN=" + opts.Token, "FAKECLOUD_RETRY_TIMEOUT=30s"}
	return &tfEnv{t: t, bin: bin, env: env, root: root,
		client: &client.Client{Endpoint: u, Token: opts.Token, RetryTimeout: time.Nanosecond}}
}

func machineVars(name string, cluster map[string]any, controlPlane bool, userData string) map[string]any {
	return map[string]any{
		"cluster_name": "c1", "machine_name": name, "instance_type": "small", "image_id": "img-1",
		"security_group_ids": cluster["security_group_ids"], "user_data": userData, "control_plane": controlPlane,
		"root_volume": map[string]any{"size": 20}, "additional_volumes": []any{map[string]any{"size": 50}},
		"tags": map[string]any{"role": "test"}, "cluster": cluster,
	}
}

func TestModulesAgainstFakeCloud(t *testing.T) {
	// Seed 7: the first fault draw is 0.03, so the first create under a 34 % error rate fails and
	// the retry path always runs (a random seed left it untested about one run in eight).
	e := setup(t, server.Options{Token: "tok-canary", RunningDelay: time.Second, Seed: 7})

	// Cluster: init installs the provider from the mirror and records it in the lock file.
	cdir := e.workspace("cluster", map[string]any{"cluster_name": "c1", "namespace": "ns", "region": "r1", "tags": map[string]string{"env": "test"}})
	out := e.ok(cdir, "init", "-input=false")
	if !strings.Contains(out, "company/fakecloud") {
		t.Fatalf("init did not install company/fakecloud:\n%s", out)
	}
	lock, err := os.ReadFile(filepath.Join(cdir, ".terraform.lock.hcl"))
	if err != nil || !strings.Contains(string(lock), `provider "registry.terraform.io/company/fakecloud"`) || !strings.Contains(string(lock), `constraints = "`+providerVersion+`"`) {
		t.Fatalf("lock file: %v\n%s", err, lock)
	}
	e.ok(cdir, "apply", "-input=false", "-auto-approve")
	co := e.outputs(cdir)
	ep := co["control_plane_endpoint"].(map[string]any)
	lb := co["load_balancer"].(map[string]any)
	subnets := co["subnet_ids"].([]any)
	fds := co["failure_domains"].([]any)
	if !strings.HasSuffix(ep["host"].(string), ".lb.fakecloud.local") || ep["port"].(float64) != 6443 || ep["host"] != lb["dns_name"] ||
		!strings.HasPrefix(lb["arn"].(string), "arn:fakecloud:") || !strings.HasPrefix(co["vpc_id"].(string), "vpc-") ||
		len(subnets) != 3 || len(co["security_group_ids"].([]any)) != 2 || len(fds) != 3 {
		t.Fatalf("cluster outputs: %v", co)
	}
	fd0 := fds[0].(map[string]any)
	if fd0["name"] != "r1a" || fd0["attributes"].(map[string]any)["subnet_id"] != subnets[0] {
		t.Fatalf("failure domain: %v", fd0)
	}
	if code := func() int { _, c := e.run(cdir, "plan", "-input=false", "-detailed-exitcode"); return c }(); code != 0 {
		t.Fatalf("plan right after apply: exit %d, want 0 (no changes)", code)
	}

	// Machine: the cluster variable carries the cluster outputs as the controllers pass them.
	cluster := map[string]any{"name": "c1", "region": "r1", "vpc_cidr": "10.0.0.0/16", "subnets": []any{}}
	for k, v := range co {
		cluster[k] = v
	}
	mdir := e.workspace("machine", machineVars("m1", cluster, true, "#cloud-config canary-user-data"))
	e.ok(mdir, "init", "-input=false")
	out = e.ok(mdir, "apply", "-input=false", "-auto-approve")
	if strings.Contains(out, "canary-user-data") || strings.Contains(out, "tok-canary") {
		t.Fatalf("apply output shows a sensitive value:\n%s", out)
	}
	mo := e.outputs(mdir)
	id := mo["instance_id"].(string)
	addrs := mo["addresses"].([]any)
	if !strings.HasPrefix(id, "i-") || mo["instance_state"] != "running" || mo["provider_id"] != "fakecloud:///r1a/"+id ||
		mo["failure_domain"] != "r1a" || len(addrs) != 2 || addrs[0].(map[string]any)["address"] != "10.0.0.10" {
		t.Fatalf("machine outputs: %v", mo)
	}
	st := e.stats()
	if st.Counts[server.KindInstance] != 1 || st.Counts[server.KindLBTarget] != 1 || st.Total != 9 || len(st.DuplicateInstanceNames) != 0 {
		t.Fatalf("stats after apply: %+v", st)
	}
	if a := e.planActions(mdir); len(a) != 0 {
		t.Fatalf("plan right after apply: %v, want no changes", a)
	}

	// Out-of-band delete: the refresh notices, the plan creates the instance (and its target) again.
	if _, err := e.client.Do(context.Background(), "DELETE", "/v1/instances/"+id, nil); err != nil {
		t.Fatal(err)
	}
	if a := e.planActions(mdir); a["fakecloud_instance.this"] != "create" || a["fakecloud_lb_target.api[0]"] != "create" || len(a) != 2 {
		t.Fatalf("plan after out-of-band delete: %v, want the instance and its target created", a)
	}
	e.ok(mdir, "apply", "-input=false", "-auto-approve")
	id2 := e.outputs(mdir)["instance_id"].(string)
	if id2 == id {
		t.Fatalf("recreated instance kept id %s", id)
	}

	// Import: forget the instance, import it by id. Terraform core then plans at most an in-place
	// update with no attribute changes (it records that user_data came from a sensitive variable,
	// a mark an import cannot know); never a create or replace. After it the plan is empty.
	e.ok(mdir, "state", "rm", "fakecloud_instance.this")
	e.ok(mdir, "import", "-input=false", "fakecloud_instance.this", id2)
	if a := e.planActions(mdir); len(a) > 1 || (len(a) == 1 && a["fakecloud_instance.this"] != "update") {
		t.Fatalf("plan after import: %v, want nothing or an in-place update of the instance", a)
	}
	e.ok(mdir, "apply", "-input=false", "-auto-approve")
	if a := e.planActions(mdir); len(a) != 0 || e.outputs(mdir)["instance_id"] != id2 {
		t.Fatalf("plan after import and apply: %v, want no changes", a)
	}

	// In-place update: tags change without replacing the instance.
	vars := machineVars("m1", cluster, true, "#cloud-config canary-user-data")
	vars["tags"] = map[string]any{"role": "changed"}
	b, _ := json.Marshal(vars)
	_ = os.WriteFile(filepath.Join(mdir, "terraform.tfvars.json"), b, 0o600)
	if a := e.planActions(mdir); a["fakecloud_instance.this"] != "update" || len(a) != 1 {
		t.Fatalf("plan after a tag change: %v, want one in-place update", a)
	}
	e.ok(mdir, "apply", "-input=false", "-auto-approve")

	// Stopped out of band: nothing to change, the refresh reports it through the health output.
	if h := e.outputs(mdir)["health"].(map[string]any); h["status"] != "healthy" {
		t.Fatalf("health of a running instance: %v", h)
	}
	for _, action := range []string{"stop", "start"} {
		if _, err := e.client.Do(context.Background(), "POST", "/v1/instances/"+id2+"/"+action, nil); err != nil {
			t.Fatal(err)
		}
		if a := e.planActions(mdir); len(a) != 0 {
			t.Fatalf("plan after %s: %v, want no resource changes", action, a)
		}
		e.ok(mdir, "apply", "-refresh-only", "-input=false", "-auto-approve")
		want := map[string]string{"stop": "unhealthy", "start": "healthy"}[action]
		if h := e.outputs(mdir)["health"].(map[string]any); h["status"] != want || e.outputs(mdir)["instance_state"] != map[string]string{"stop": "stopped", "start": "running"}[action] {
			t.Fatalf("health after %s: %v, want %s", action, h, want)
		}
	}

	// Faults: 5xx on a third of the creates and updates, latency and an eventual-consistency
	// window; the provider retries and waits through them.
	if _, err := e.client.Do(context.Background(), "POST", "/admin/faults", server.Faults{Rules: []server.Rule{
		{Op: "create:*", ErrorRate: 0.34, LatencyMS: 50}, {Op: "update:*", ErrorRate: 0.34}, {Op: "get:instance", ConsistencyMS: 500},
	}}); err != nil {
		t.Fatal(err)
	}
	m2 := e.workspace("machine", machineVars("m2", cluster, false, ""))
	e.ok(m2, "init", "-input=false")
	e.ok(m2, "apply", "-input=false", "-auto-approve")
	if mo := e.outputs(m2); mo["instance_state"] != "running" {
		t.Fatalf("m2 outputs: %v", mo)
	}

	// Quota: a clear diagnostic, no retry storm, nothing created.
	zero := 0
	if _, err := e.client.Do(context.Background(), "POST", "/admin/faults", server.Faults{Rules: []server.Rule{{Op: "create:instance", Quota: &zero}}}); err != nil {
		t.Fatal(err)
	}
	m3 := e.workspace("machine", machineVars("m3", cluster, false, ""))
	e.ok(m3, "init", "-input=false")
	out, code := e.run(m3, "apply", "-input=false", "-auto-approve")
	if code == 0 || !strings.Contains(out, "Creating fakecloud_instance failed") || !strings.Contains(out, "QuotaExceeded") || !strings.Contains(out, "limit 0") {
		t.Fatalf("apply over quota: exit %d\n%s", code, out)
	}
	if _, err := e.client.Do(context.Background(), "DELETE", "/admin/faults", nil); err != nil {
		t.Fatal(err)
	}
	if st := e.stats(); st.Injected["error"] == 0 || st.Injected["quota"] != 1 || st.Counts[server.KindInstance] != 2 {
		t.Fatalf("stats after faults: %+v", st)
	}

	// Destroy everything: the fake cloud ends empty.
	e.ok(m3, "destroy", "-input=false", "-auto-approve")
	e.ok(m2, "destroy", "-input=false", "-auto-approve")
	e.ok(mdir, "destroy", "-input=false", "-auto-approve")
	e.ok(cdir, "destroy", "-input=false", "-auto-approve")
	if st := e.stats(); st.Total != 0 {
		t.Fatalf("objects left after destroy: %v", st.Counts)
	}
}

func TestProviderDiagnostics(t *testing.T) {
	e := setup(t, server.Options{Token: "right"})
	// Wrong token: 401 with a hint, not retried.
	vars := map[string]any{"cluster_name": "c1", "region": "r1"}
	dir := e.workspace("cluster", vars)
	e.ok(dir, "init", "-input=false")
	for i, kv := range e.env {
		if strings.HasPrefix(kv, "FAKECLOUD_TOKEN=") {
			e.env[i] = "FAKECLOUD_TOKEN=wrong"
		}
	}
	out, code := e.run(dir, "apply", "-input=false", "-auto-approve")
	if code == 0 || !strings.Contains(out, "HTTP 401") || !strings.Contains(out, "FAKECLOUD_TOKEN") || strings.Contains(out, "attempts") {
		t.Fatalf("apply with a wrong token: exit %d\n%s", code, out)
	}
	// No endpoint at all.
	for i, kv := range e.env {
		if strings.HasPrefix(kv, "FAKECLOUD_ENDPOINT=") {
			e.env[i] = "FAKECLOUD_ENDPOINT="
		}
	}
	out, code = e.run(dir, "plan", "-input=false")
	if code == 0 || !strings.Contains(out, "fakecloud endpoint is not set") {
		t.Fatalf("plan without an endpoint: exit %d\n%s", code, out)
	}
	if st := e.stats(); st.Total != 0 {
		t.Fatalf("objects: %v", st.Counts)
	}
}
