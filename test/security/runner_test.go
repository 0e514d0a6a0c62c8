/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package security

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	. "github.com/onsi/gomega"
	"github.com/zclconf/go-cty/cty"

	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// The runner-level half of the suite shows each read twice, on the same work dir: failing in
// the sandbox, and succeeding with --sandbox=off (the positive control: the attack is real).

var runnerNS = "attacker-runner"

func ensureRunnerNS(t *testing.T) {
	t.Helper()
	if err := k8s.Create(ctx, namespace(runnerNS)); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
}

func workspace(name string, files map[string]string, vars map[string]string, env map[string]string) tfrunner.Workspace {
	mod := fstest.MapFS{}
	for k, v := range files {
		mod[k] = &fstest.MapFile{Data: []byte(v), Mode: 0o644}
	}
	vs := map[string]cty.Value{}
	for k, v := range vars {
		vs[k] = cty.StringVal(v)
	}
	return tfrunner.Workspace{Object: tfstate.ObjectRef{APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1",
		Kind: "CustomCluster", Namespace: runnerNS, Name: name, UID: "uid-" + name}, Module: mod, Variables: vs, Env: env}
}

func endpointHost(t *testing.T, res tfrunner.Result) string {
	t.Helper()
	out, ok := res.Outputs["control_plane_endpoint"]
	if !ok {
		t.Fatalf("no control_plane_endpoint output: %+v", res.Outputs)
	}
	return string(out.Value)
}

func TestSandboxOnAndOff(t *testing.T) {
	ensureRunnerNS(t)
	sandboxed := newRunner(t, "sandboxed", tfrunner.SandboxRequired)
	open := newRunner(t, "open", tfrunner.SandboxOff)
	for i, tt := range readTargets() {
		t.Run(strings.ReplaceAll(tt.name, " ", "-"), func(t *testing.T) {
			g := NewWithT(t)
			ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			vars := map[string]string{"target": tt.target}
			_, err := sandboxed.Reconcile(ctx, workspace(fmt.Sprintf("s%d", i), map[string]string{"main.tf": readModule}, vars, nil), tfrunner.Policy{AutoApply: true})
			g.Expect(err).To(HaveOccurred())
			g.Expect(strings.Join(strings.Fields(err.Error()), " ")).To(ContainSubstring("permission denied"))
			g.Expect(err.Error()).NotTo(ContainSubstring(tt.marker))

			res, err := open.Reconcile(ctx, workspace(fmt.Sprintf("o%d", i), map[string]string{"main.tf": readModule}, vars, nil), tfrunner.Policy{AutoApply: true})
			g.Expect(err).NotTo(HaveOccurred(), "--sandbox=off: the same read succeeds")
			g.Expect(endpointHost(t, res)).To(ContainSubstring(tt.marker))
			t.Logf("sandboxed: permission denied; --sandbox=off: read %s", tt.marker)
		})
	}
}

// lengthModule proves a file is readable without leaking it.
const lengthModule = `
variable "target" { type = string }
output "control_plane_endpoint" {
  value = { host = "len-${length(file(var.target))}", port = 6443 }
}
`

// TestConcurrentRunsCannotReadEachOther: run A holds a credential in its environment while its
// provisioner sleeps; run B, sandboxed with /proc readable (so only Landlock's ptrace rule stands
// between them), cannot read A's or the manager's environment, though it reads its own /proc.
func TestConcurrentRunsCannotReadEachOther(t *testing.T) {
	ensureRunnerNS(t)
	g := NewWithT(t)
	shell := func(c *tfrunner.Config) { c.SandboxReadPaths = []string{"/bin", "/usr/bin"} }
	runA := newRunner(t, "run-a", tfrunner.SandboxRequired, shell)
	actx, stopA := context.WithCancel(ctx)
	aDone := make(chan error, 1)
	go func() {
		_, err := runA.Reconcile(actx, workspace("run-a", map[string]string{"main.tf": `
resource "terraform_data" "slow" {
  provisioner "local-exec" { command = "sleep 60" }
}
output "control_plane_endpoint" { value = { host = "a", port = 6443 } }
`}, nil, map[string]string{"CAPC_RUN_TOKEN": runMarker}), tfrunner.Policy{AutoApply: true})
		aDone <- err
	}()
	defer func() { stopA(); <-aDone }()
	var pid int
	g.Eventually(func() int { pid = terraformWithEnv("CAPC_RUN_TOKEN=" + runMarker); return pid }, time.Minute, 100*time.Millisecond).
		ShouldNot(BeZero(), "run A's terraform apply")
	t.Logf("run A: terraform pid %d", pid)

	withProc := newRunner(t, "run-b", tfrunner.SandboxRequired, func(c *tfrunner.Config) { c.SandboxReadPaths = []string{"/proc"} })
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	res, err := withProc.Reconcile(cctx, workspace("run-b-self", map[string]string{"main.tf": lengthModule},
		map[string]string{"target": "/proc/self/status"}, nil), tfrunner.Policy{AutoApply: true})
	g.Expect(err).NotTo(HaveOccurred(), "a sandboxed run with /proc allowed reads its own /proc files")
	g.Expect(endpointHost(t, res)).NotTo(ContainSubstring(`"len-0"`))
	for i, tt := range []struct{ name, target string }{
		{"a concurrent run's environment", fmt.Sprintf("/proc/%d/environ", pid)},
		{"a concurrent run's memory", fmt.Sprintf("/proc/%d/mem", pid)},
		{"the manager's environment", fmt.Sprintf("/proc/%d/environ", os.Getpid())},
	} {
		name, target := tt.name, tt.target
		res, err := withProc.Reconcile(cctx, workspace("run-b-"+strconv.Itoa(i), map[string]string{"main.tf": readModule},
			map[string]string{"target": target}, nil), tfrunner.Policy{AutoApply: true})
		g.Expect(err).To(HaveOccurred(), "%s: %v", name, res.Outputs)
		g.Expect(strings.Join(strings.Fields(err.Error()), " ")).To(ContainSubstring("permission denied"), name)
		for _, m := range markers {
			g.Expect(err.Error()).NotTo(ContainSubstring(m))
		}
		t.Logf("%s: permission denied", name)
	}
	open := newRunner(t, "run-b-open", tfrunner.SandboxOff)
	res, err = open.Reconcile(cctx, workspace("run-b-open", map[string]string{"main.tf": readModule},
		map[string]string{"target": fmt.Sprintf("/proc/%d/environ", pid)}, nil), tfrunner.Policy{AutoApply: true})
	g.Expect(err).NotTo(HaveOccurred(), "--sandbox=off: run A's environment is readable")
	g.Expect(endpointHost(t, res)).To(ContainSubstring(runMarker))
}

// terraformWithEnv finds a terraform process (this test's descendant) whose environment holds kv.
func terraformWithEnv(kv string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.TrimSpace(string(comm)) != "terraform" || !bytes.Contains(cmdline, []byte("apply")) {
			continue
		}
		env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		for _, v := range bytes.Split(env, []byte{0}) {
			if string(v) == kv {
				return pid
			}
		}
	}
	return 0
}

// TestAllowedLocalExecStaysInTheSandbox: an operator who allows provisioners lets their
// commands run, inside the run's sandbox.
func TestAllowedLocalExecStaysInTheSandbox(t *testing.T) {
	ensureRunnerNS(t)
	g := NewWithT(t)
	module := map[string]string{"main.tf": `
variable "target" { type = string }
resource "terraform_data" "steal" {
  provisioner "local-exec" { command = "grep -o 'victim-[a-z0-9]*' ${var.target}" }
}
output "control_plane_endpoint" { value = { host = "x", port = 6443 } }
`}
	vars := map[string]string{"target": filepath.Join(victimDir(), "terraform.tfstate")}
	shell := func(c *tfrunner.Config) { c.SandboxReadPaths = []string{"/bin", "/usr/bin"} }
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_, err := newRunner(t, "exec-sandboxed", tfrunner.SandboxRequired, shell).Reconcile(cctx, workspace("exec-s", module, vars, nil), tfrunner.Policy{AutoApply: true})
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("Permission denied"))
	g.Expect(err.Error()).NotTo(ContainSubstring(victimMarker))
	_, err = newRunner(t, "exec-open", tfrunner.SandboxOff).Reconcile(cctx, workspace("exec-o", module, vars, nil), tfrunner.Policy{AutoApply: true})
	g.Expect(err).NotTo(HaveOccurred(), "--sandbox=off: the provisioner reads the victim's state")
}

// TestAllowListHoldsAtInit: a provider outside the allow-list is not installed even when a
// filesystem mirror has it (the CLI configuration, not only the module check, enforces it).
func TestAllowListHoldsAtInit(t *testing.T) {
	ensureRunnerNS(t)
	g := NewWithT(t)
	mirror := filepath.Join(envtestutil.RepoRoot(), "bin", "tf-mirror")
	if _, err := os.Stat(mirror); err != nil {
		t.Fatalf("the fakecloud provider mirror (make fakecloud): %v", err)
	}
	module := map[string]string{"main.tf": `
terraform {
  required_providers {
    fakecloud = { source = "company/fakecloud" }
  }
}
output "control_plane_endpoint" { value = { host = "x", port = 6443 } }
`}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	allowAWS := func(c *tfrunner.Config) {
		c.ProviderMirrors = []string{mirror}
		c.AllowedProviders = policy.Providers
		c.WorkDir = t.TempDir() // its own CLI configuration and plugin cache
	}
	_, err := newRunner(t, "allow-aws", tfrunner.SandboxRequired, allowAWS).Reconcile(cctx, workspace("allow-aws", module, nil, nil), tfrunner.Policy{AutoApply: true})
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("company/fakecloud"))
	t.Logf("allow-list hashicorp/aws: %s", firstLine(strings.TrimSpace(err.Error())))
	allowAll := func(c *tfrunner.Config) { c.ProviderMirrors = []string{mirror}; c.WorkDir = t.TempDir() }
	_, err = newRunner(t, "allow-all", tfrunner.SandboxRequired, allowAll).Reconcile(cctx, workspace("allow-all", module, nil, nil), tfrunner.Policy{AutoApply: true})
	g.Expect(err).NotTo(HaveOccurred(), "without the allow-list the mirrored provider installs (and runs in the sandbox)")
}
