/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package security replays a tenant's attacks on the others through its own module: reading
// another namespace's state and workspace, the manager's and a concurrent run's environment, a
// token file the way a pod mounts one, local-exec, a credentials key that steers terraform, a
// provider outside the allow-list. Each must be refused before terraform runs or fail inside
// terraform, with nothing leaked into any status, event, log or plan; the same reads with
// --sandbox=off succeed (the positive control). Real kube-apiserver, CAPI core reconcilers,
// terraform under capc-tfshim (this test binary) in a Landlock sandbox.
package security

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/modules"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfmodule"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfrunner/shim"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// The secrets the attacks go after: the victim's tag (in its state and tfvars), the manager's
// environment, a token file outside every workspace, a concurrent run's credentials.
var (
	victimMarker  = "victim-" + rand.String(16)
	managerMarker = "manager-" + rand.String(16)
	tokenMarker   = "token-" + rand.String(16)
	runMarker     = "run-" + rand.String(16)
	markers       = []string{victimMarker, managerMarker, tokenMarker, runMarker}
)

const managerEnv = "CAPC_SECURITY_MANAGER_SECRET"

var (
	stack     *envtestutil.Stack
	k8s       client.Client // cached, the manager's
	direct    client.Client // uncached, for Events and Secrets
	kube      kubernetes.Interface
	ctx       = context.Background()
	workDir   string
	tokenPath string
	// remoteRepo is a git repository holding a cluster module with a local-exec provisioner.
	remoteRepo string
	binary     *tfrunner.Binary
	logs       = &envtestutil.SyncBuffer{}
	policy     = modulecheck.Policy{DefaultHost: "registry.terraform.io",
		Providers: []tfmodule.ProviderPattern{{Host: "registry.terraform.io", Namespace: "hashicorp", Type: "aws"}}}
)

func TestMain(m *testing.M) {
	if code, ok := tfrunner.ShimMain(); ok { // started as a runner's terraform shim
		os.Exit(code)
	}
	// The manager's secret must be in its environment as the kernel shows it
	// (/proc/<pid>/environ), which os.Setenv does not change: start again with it.
	if os.Getenv(managerEnv) == "" {
		self, _ := os.Executable()
		err := syscall.Exec(self, os.Args, append(os.Environ(), managerEnv+"="+managerMarker))
		fmt.Fprintln(os.Stderr, "re-executing with the manager's secret:", err)
		os.Exit(1)
	}
	managerMarker = os.Getenv(managerEnv)
	markers[1] = managerMarker
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if shim.ABI() == 0 {
		fmt.Fprintln(os.Stderr, "SKIP security: this kernel has no Landlock, so there is no sandbox to attack")
		return 0
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true), zap.Level(zapcore.Level(-10))))
	return envtestutil.Main(m, "security", logs, setup)
}

// setup plants the secrets attacks look for (a service account token, a git repository for the
// remote module), starts the sandboxed stack and provisions the victim.
func setup(tmp string) (func(), error) {
	workDir = filepath.Join(tmp, "work")
	// A token where a pod has its service account's: outside every workspace, readable by the
	// manager's user.
	tokenPath = filepath.Join(tmp, "var", "run", "secrets", "kubernetes.io", "serviceaccount", "token")
	if err := os.MkdirAll(filepath.Dir(tokenPath), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(tokenPath, []byte(tokenMarker), 0o600); err != nil {
		return nil, err
	}
	var err error
	if remoteRepo, err = gitModule(filepath.Join(tmp, "remote.git")); err != nil {
		return nil, fmt.Errorf("a git repository for the remote module: %w", err)
	}
	self, _ := os.Executable()
	var stop func()
	stack, direct, stop, err = envtestutil.StartDirect(ctx, envtestutil.StackOptions{
		WorkDir: workDir,
		Runner: func(c *tfrunner.Config) {
			c.Shim, c.Sandbox = self, tfrunner.SandboxRequired
			c.AllowedProviders = policy.Providers
			// git for the remote module (the manager adds PATH with --allow-remote-modules), and the
			// repository itself: a file:// source is outside the sandbox like any other file.
			c.SandboxReadPaths = []string{"/usr/bin", "/bin", filepath.Join(tmp, "remote.git")}
		},
		Controller: controllers.Options{ClusterConcurrency: 4, ApprovalMode: "auto", ModulePolicy: policy, AllowRemoteModules: true},
	})
	if err != nil {
		return stop, err
	}
	k8s = stack.Client
	kube = kubernetes.NewForConfigOrDie(stack.Env.Config)
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if binary, err = tfrunner.ResolveBinary(cctx, tfrunner.BinaryOptions{Path: filepath.Join(envtestutil.RepoRoot(), "bin", "terraform")}); err != nil {
		return stop, err
	}
	if err := provisionVictim(); err != nil {
		return stop, fmt.Errorf("provisioning the victim: %w", err)
	}
	return stop, nil
}

// victimUID is the victim CustomCluster's UID, which names its workspace: the attacks below
// assume the worst, an attacker who learnt it, and reach it from theirs as ../<victimUID>.
var victimUID string

// victimDir is the victim's workspace.
func victimDir() string { return workspaceOf(victimUID) }

// workspaceOf is the workspace of the object with uid.
func workspaceOf(uid string) string {
	return tfrunner.WorkspaceDir(workDir, tfstate.ObjectRef{UID: uid})
}

// provisionVictim provisions namespace victim's CustomCluster "v" (the bundled simulated
// module) with victimMarker as a tag, so it is in its state file and its tfvars.
func provisionVictim() error {
	if err := k8s.Create(ctx, namespace("victim")); err != nil {
		return err
	}
	cluster, cc := newCluster("victim", "v", nil)
	cc.Spec.AdditionalTags = map[string]string{"owner": victimMarker}
	for _, o := range []client.Object{cc, cluster} {
		if err := k8s.Create(ctx, o); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(cc), cc); err == nil &&
			cc.Status.Initialization.Provisioned != nil && *cc.Status.Initialization.Provisioned {
			victimUID = string(cc.UID)
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("CustomCluster victim/v not provisioned: %+v", cc.Status.Conditions)
}

// newRunner is a runner on the stack's work dir (so ../<victimUID> reaches the victim's
// workspace), with the sandbox mode given and the mutations applied.
func newRunner(t *testing.T, holder string, mode tfrunner.SandboxMode, mut ...func(*tfrunner.Config)) *tfrunner.Runner {
	t.Helper()
	self, _ := os.Executable()
	cfg := tfrunner.Config{Binary: binary, WorkDir: workDir, Kube: kube, Holder: holder, Shim: self,
		Sandbox: mode, Logger: ctrl.Log.WithName(holder), CancelGrace: 5 * time.Second}
	return envtestutil.NewRunner(t, cfg, mut...)
}

func namespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// newCluster is a CAPI Cluster and its CustomCluster (module nil: the bundled default).
func newCluster(ns, name string, module *infrav1.ModuleSource) (*clusterv1.Cluster, *infrav1.CustomCluster) {
	cc := &infrav1.CustomCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: infrav1.CustomClusterSpec{Region: "sec-1"}}
	cc.Spec.Module = module
	paused := false
	cluster := &clusterv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: clusterv1.ClusterSpec{Paused: &paused, InfrastructureRef: clusterv1.ContractVersionedObjectReference{
			APIGroup: infrav1.GroupVersion.Group, Kind: "CustomCluster", Name: name}},
	}
	return cluster, cc
}

// gitModule makes a git repository at dir holding the bundled simulated cluster module plus a
// local-exec provisioner, a remote module as terraform init fetches it (git::file://).
func gitModule(dir string) (string, error) {
	mod, err := modules.Get("simulated", contract.KindCluster)
	if err != nil {
		return "", err
	}
	if err := os.CopyFS(dir, mod); err != nil {
		return "", err
	}
	steal := "resource \"terraform_data\" \"steal\" {\n  provisioner \"local-exec\" { command = \"cat /proc/1/environ\" }\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "steal.tf"), []byte(steal), 0o644); err != nil {
		return "", err
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "module"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("git %v: %v: %s", args, err, out)
		}
	}
	return "git::file://" + dir, nil
}
