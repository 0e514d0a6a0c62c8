/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package security

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// readModule is the attack of the issue: a cluster module whose control_plane_endpoint is
// computed from a file it should never see (var.target, relative to its own workspace unless
// absolute). Whatever secret it finds would land in the attacker's own status.
const readModule = `
variable "target" { type = string }
locals {
  path = startswith(var.target, "/") ? var.target : "${abspath(path.cwd)}/${var.target}"
}
output "control_plane_endpoint" {
  value = { host = regex("(?:victim|manager|token|run)-[a-z0-9]{16}", file(local.path)), port = 6443 }
}
`

// readTargets are the files an attacker goes after, and what each would leak.
func readTargets() []struct{ name, target, marker string } {
	return []struct{ name, target, marker string }{
		{"another namespace's state", "../" + victimUID + "/terraform.tfstate", victimMarker},
		{"another namespace's workspace", "../" + victimUID + "/terraform.tfvars", victimMarker},
		{"the manager's environment", fmt.Sprintf("/proc/%d/environ", os.Getpid()), managerMarker},
		{"a service account token", tokenPath, tokenMarker},
	}
}

// attack creates, in a fresh namespace, a ConfigMap module with files and a CustomCluster
// (and its Cluster) using it, with spec.variables vars and, if creds is not nil, a credentials
// Secret.
func attack(g *WithT, files map[string]string, vars map[string]any, creds map[string][]byte) *infrav1.CustomCluster {
	ns := "attacker-" + rand.String(6)
	g.Expect(k8s.Create(ctx, namespace(ns))).To(Succeed())
	g.Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "attack"}, Data: files})).To(Succeed())
	cluster, cc := newCluster(ns, "a", &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "attack"}})
	if vars != nil {
		b, err := json.Marshal(vars)
		g.Expect(err).NotTo(HaveOccurred())
		cc.Spec.Variables = &apiextensionsv1.JSON{Raw: b}
	}
	if creds != nil {
		g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"}, Data: creds})).To(Succeed())
		cc.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: "creds"}
	}
	g.Expect(k8s.Create(ctx, cc)).To(Succeed())
	g.Expect(k8s.Create(ctx, cluster)).To(Succeed())
	return cc
}

// expectRefused waits for condition typ of cc to be False with reason and a message containing
// every want, then checks that nothing leaked.
func expectRefused(t *testing.T, cc *infrav1.CustomCluster, typ, reason string, wants ...string) {
	t.Helper()
	g := NewWithT(t)
	var msg string
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
		c := meta(cc.Status.Conditions, typ)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(reason))
		msg = strings.Join(strings.Fields(c.Message), " ") // terraform wraps its diagnostics
		for _, w := range wants {
			g.Expect(msg).To(ContainSubstring(w))
		}
	}, 2*time.Minute, 200*time.Millisecond).Should(Succeed(), func() string { return debugState(cc) })
	t.Logf("%s=False/%s: %s", typ, reason, firstLine(msg))
	g.Expect(msg).NotTo(ContainSubstring(workDir), "the manager's paths in a tenant's condition")
	g.Expect(ptr.Deref(cc.Status.Initialization.Provisioned, false)).To(BeFalse())
	expectNothingLeaked(t, cc.Namespace)
}

// expectNothingLeaked looks for every secret of the suite in the namespace's objects (custom
// and CAPI clusters with their status, events, Secrets: state and plans) and in the log lines
// about it.
func expectNothingLeaked(t *testing.T, ns string) {
	t.Helper()
	g := NewWithT(t)
	var objs []any
	for _, l := range []client.ObjectList{&infrav1.CustomClusterList{}, &clusterv1.ClusterList{}, &corev1.EventList{}, &corev1.SecretList{}} {
		g.Expect(direct.List(ctx, l, client.InNamespace(ns))).To(Succeed())
		objs = append(objs, l)
	}
	b, err := json.Marshal(objs)
	g.Expect(err).NotTo(HaveOccurred())
	var lines []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, ns) {
			lines = append(lines, line)
		}
	}
	g.Expect(lines).NotTo(BeEmpty(), "the logs captured this namespace's reconciles")
	for _, m := range markers {
		g.Expect(string(b)).NotTo(ContainSubstring(m), "a secret in namespace %s's objects", ns)
		g.Expect(strings.Join(lines, "\n")).NotTo(ContainSubstring(m), "a secret in the logs about namespace %s", ns)
	}
}

func meta(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// TestReadsFailInsideTerraform: the module passes every check (it is valid terraform reading a
// file), so terraform runs; inside the sandbox the read fails and the run says why.
func TestReadsFailInsideTerraform(t *testing.T) {
	for _, tt := range readTargets() {
		t.Run(strings.ReplaceAll(tt.name, " ", "-"), func(t *testing.T) {
			t.Parallel()
			cc := attack(NewWithT(t), map[string]string{"main.tf": readModule}, map[string]any{"target": tt.target}, nil)
			expectRefused(t, cc, infrav1.ReadyCondition, infrav1.ProvisioningFailedReason, "permission denied")
		})
	}
}

// TestOtherWorkspacesCannotBeFound: a module may stat any path (Landlock does not cover stat),
// so a workspace's name must be one no other tenant can derive. Workspaces are named by object
// UID: the names an attacker could derive from the victim's namespace and name (the layout before,
// a hash of them) find nothing, while the real one (the control) is found by stat alone.
func TestOtherWorkspacesCannotBeFound(t *testing.T) {
	g := NewWithT(t)
	sum := sha256.Sum256([]byte("CustomCluster/victim/v"))
	guesses := []string{
		filepath.Join(workDir, "ws", "victim", "customcluster-v", "terraform.tfstate"),
		filepath.Join(workDir, "ws", "ref-"+hex.EncodeToString(sum[:12]), "terraform.tfstate"),
		filepath.Join(victimDir(), "terraform.tfstate"),
	}
	cc := attack(g, map[string]string{"main.tf": `
variable "guesses" { type = list(string) }
output "control_plane_endpoint" {
  value = { host = join(".", [for g in var.guesses : fileexists(g) ? "found" : "absent"]), port = 6443 }
}
`}, map[string]any{"guesses": guesses}, nil)
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
		g.Expect(ptr.Deref(cc.Status.Initialization.Provisioned, false)).To(BeTrue())
	}, 2*time.Minute, 200*time.Millisecond).Should(Succeed(), func() string { return debugState(cc) })
	g.Expect(cc.Spec.ControlPlaneEndpoint.Host).To(Equal("absent.absent.found"))
}

// TestLocalExecIsRefused: a provisioner runs any command; without --allow-provisioners the
// module is refused before terraform starts.
func TestLocalExecIsRefused(t *testing.T) {
	g := NewWithT(t)
	cc := attack(g, map[string]string{"main.tf": readModule + `
resource "terraform_data" "steal" {
  provisioner "local-exec" {
    command = "cat ../*/terraform.tfstate"
  }
}
`}, map[string]any{"target": tokenPath}, nil)
	expectRefused(t, cc, infrav1.ModuleValidCondition, infrav1.ModuleNotAllowedReason,
		`provisioner "local-exec": in resource "terraform_data" "steal" (main.tf:11) is not allowed`)
	// Other attackers' runs are retried meanwhile, so count this object's workspace, not processes.
	g.Expect(workspaceOf(string(cc.UID))).NotTo(BeADirectory(), "no terraform ran for it")
}

// TestProviderOutsideTheAllowListIsRefused: the external data source runs any program.
func TestProviderOutsideTheAllowListIsRefused(t *testing.T) {
	cc := attack(NewWithT(t), map[string]string{"main.tf": `
data "external" "steal" {
  program = ["sh", "-c", "cat /proc/1/environ"]
}
output "control_plane_endpoint" {
  value = { host = data.external.steal.result.x, port = 6443 }
}
`}, nil, nil)
	expectRefused(t, cc, infrav1.ModuleValidCondition, infrav1.ModuleNotAllowedReason,
		`provider "registry.terraform.io/hashicorp/external": used by data "external" "steal" (main.tf:2) is not in the manager's provider allow-list (registry.terraform.io/hashicorp/aws)`)
}

// TestCredentialsCannotSteerTerraform: a credentials key that would swap terraform's CLI
// configuration (and with it provider installation and the plugin cache) is refused by name.
func TestCredentialsCannotSteerTerraform(t *testing.T) {
	cc := attack(NewWithT(t), map[string]string{"main.tf": readModule}, map[string]any{"target": tokenPath},
		map[string][]byte{"TF_CLI_CONFIG_FILE": []byte("/tmp/evil.tfrc"), "AWS_ACCESS_KEY_ID": []byte("AKIA" + rand.String(16))})
	expectRefused(t, cc, infrav1.ReadyCondition, infrav1.CredentialsInvalidReason,
		`key "TF_CLI_CONFIG_FILE" would configure terraform itself`)
}

// TestCredentialsCannotRunCommands: terraform starts git (and ssh) to fetch a git module source
// with --allow-remote-modules, a shell for provisioners, runtimes for helper scripts; each reads
// the environment. A credentials key that would make one of them run a command (or read
// configuration from a file the module wrote) runs code the module policy refuses as a
// provisioner, so it is refused by name before terraform starts, whatever the module.
func TestCredentialsCannotRunCommands(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	fsmonitor := map[string][]byte{"GIT_CONFIG_COUNT": []byte("1"), "GIT_CONFIG_KEY_0": []byte("core.fsmonitor"),
		"GIT_CONFIG_VALUE_0": []byte("touch " + marker)}
	// The attack is real: git runs what these keys say.
	git := exec.Command("git", "-C", strings.TrimPrefix(remoteRepo, "git::file://"), "status")
	for k, v := range fsmonitor {
		git.Env = append(git.Environ(), k+"="+string(v))
	}
	_ = git.Run()
	NewWithT(t).Expect(marker).To(BeAnExistingFile(), "git ran the core.fsmonitor of the environment")
	NewWithT(t).Expect(os.Remove(marker)).To(Succeed())

	for _, tt := range []struct {
		name  string
		creds map[string][]byte
		want  string
	}{
		{"git-config", fsmonitor, `key "GIT_CONFIG_COUNT" would make git or ssh`},
		{"git-ssh", map[string][]byte{"GIT_SSH_COMMAND": []byte("touch " + marker)}, `key "GIT_SSH_COMMAND" would make git or ssh`},
		{"shell", map[string][]byte{"BASH_ENV": []byte(marker)}, `key "BASH_ENV" would make a shell`},
		{"runtime", map[string][]byte{"NODE_OPTIONS": []byte("--require " + marker)}, `key "NODE_OPTIONS" would make a language runtime`},
		{"config-file", map[string][]byte{"AWS_CONFIG_FILE": []byte("./aws.cfg")}, `key "AWS_CONFIG_FILE" names a program to run or a file`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := NewWithT(t)
			ns := "attacker-" + rand.String(6)
			g.Expect(k8s.Create(ctx, namespace(ns))).To(Succeed())
			creds := maps.Clone(tt.creds)
			creds["AWS_ACCESS_KEY_ID"] = []byte("AKIA" + rand.String(16))
			g.Expect(k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "creds"}, Data: creds})).To(Succeed())
			cluster, cc := newCluster(ns, "remote", &infrav1.ModuleSource{Source: remoteRepo})
			cc.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: "creds"}
			g.Expect(k8s.Create(ctx, cc)).To(Succeed())
			g.Expect(k8s.Create(ctx, cluster)).To(Succeed())
			expectRefused(t, cc, infrav1.ReadyCondition, infrav1.CredentialsInvalidReason, tt.want)
			g.Expect(marker).NotTo(BeAnExistingFile(), "no command of the credentials ran")
		})
	}
}

// TestRemoteModuleProvisionerIsRefused: a remote module's files exist only after terraform init
// downloads them; the policy is applied to them then, before any plan.
func TestRemoteModuleProvisionerIsRefused(t *testing.T) {
	g := NewWithT(t)
	ns := "attacker-" + rand.String(6)
	g.Expect(k8s.Create(ctx, namespace(ns))).To(Succeed())
	cluster, cc := newCluster(ns, "remote", &infrav1.ModuleSource{Source: remoteRepo})
	g.Expect(k8s.Create(ctx, cc)).To(Succeed())
	g.Expect(k8s.Create(ctx, cluster)).To(Succeed())
	expectRefused(t, cc, infrav1.ModuleValidCondition, infrav1.ModuleNotAllowedReason,
		`provisioner "local-exec": in resource "terraform_data" "steal" (this/steal.tf:2) is not allowed`)
	g.Expect(filepath.Join(workspaceOf(string(cc.UID)), "terraform.tfstate")).NotTo(BeAnExistingFile(), "nothing was applied")
}

// debugState is what a failed wait shows: the object's conditions and the log lines about it.
func debugState(cc *infrav1.CustomCluster) string {
	b, _ := json.MarshalIndent(cc.Status.Conditions, "", "  ")
	var lines []string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, cc.Namespace) {
			lines = append(lines, line)
		}
	}
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return string(b) + "\n" + strings.Join(lines, "\n")
}
