/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package jobmode

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// A runner pod killed mid-apply is recovered like a killed local run: the Job fails, the
// manager retries, the next runner takes the expired lock over, reports what the killed run
// may have created, and converges, with no resource created twice.
func TestJobModeRunnerKilledMidApply(t *testing.T) {
	e, ns, marker := slowMachine(t, "kill", 15)
	ctx := context.Background()
	var killed string
	waitFor(t, 2*time.Minute, "the slow create to start in a runner pod", func(ctx context.Context) (bool, error) {
		b, _ := os.ReadFile(marker)
		if !strings.Contains(string(b), "start") {
			return false, nil
		}
		pods, err := e.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: tfstate.LabelKind + "=custommachine"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && e.agent.Kill(ns, p.Name) {
				killed = p.Name
				return true, nil
			}
		}
		return false, nil
	})
	t.Logf("killed runner pod %s mid-apply", killed)
	cm := &infrav1.CustomMachine{}
	waitFor(t, 3*time.Minute, "the machine to converge after its runner was killed", func(ctx context.Context) (bool, error) {
		if err := e.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a-0"}, cm); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return cm.Spec.ProviderID != "", nil
	})
	b, _ := os.ReadFile(marker)
	lines := strings.Fields(string(b))
	if done := strings.Count(string(b), "done"); done != 1 {
		t.Fatalf("creations that completed: %d (%v), want exactly 1", done, lines)
	}
	if starts := strings.Count(string(b), "start"); starts != 2 {
		t.Fatalf("creations started: %d (%v), want the killed one and its retry", starts, lines)
	}
	events := &corev1.EventList{}
	if err := e.k8s.List(ctx, events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	orphans := ""
	for _, ev := range events.Items {
		if ev.InvolvedObject.Name == "a-0" {
			reasons = append(reasons, ev.Reason)
			if ev.Reason == infrav1.SuspectedOrphanReason {
				orphans = ev.Message
			}
		}
	}
	if !strings.Contains(orphans, "terraform_data.instance") || !strings.Contains(orphans, killed) {
		t.Fatalf("no SuspectedOrphan event naming the killed pod %s and terraform_data.instance; events: %v", killed, reasons)
	}
	t.Logf("orphan report: %s", orphans)
	if n := e.stack.Runner.Processes(); n != 0 {
		t.Fatalf("the manager started %d terraform processes in job mode", n)
	}
}

// A manager replaced while a runner Job runs adopts the Job (same name for the same run)
// instead of starting another: one Job, one creation.
func TestJobModeManagerRestartAdoptsJob(t *testing.T) {
	e, ns, marker := slowMachine(t, "adopt", 8)
	waitFor(t, 2*time.Minute, "the slow create to start in a runner pod", func(context.Context) (bool, error) {
		b, _ := os.ReadFile(marker)
		return strings.Contains(string(b), "start"), nil
	})
	if err := e.stack.RestartManager(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.convergedOnce(t, ns, marker, "under the new manager")
}

// slowMachine starts a job-mode stack whose machine a-0 (cluster a, in namespace ns) creates
// with the slow module, taking seconds; marker is the module's creation log.
func slowMachine(t *testing.T, ns string, seconds int, lockTTL ...time.Duration) (*env, string, string) {
	e := slowStack(t, lockTTL...)
	return e, ns, e.slowObjects(t, ns, seconds)
}

// slowStack starts a job-mode stack that runs the slow module (provisioners allowed).
func slowStack(t *testing.T, lockTTL ...time.Duration) *env {
	ttl := 6 * time.Second
	if len(lockTTL) > 0 {
		ttl = lockTTL[0]
	}
	moduleRoot, err := filepath.Abs("../testdata/modules")
	if err != nil {
		t.Fatal(err)
	}
	return start(t, func(o *envtestutil.StackOptions) {
		o.ModuleRoot = moduleRoot
		o.Controller = controllers.Options{ModulePolicy: modulecheck.Policy{AllowProvisioners: true}}
		o.Jobs.Args = append(o.Jobs.Args, "--allow-provisioners")
		o.Runner = func(c *tfrunner.Config) { c.LockTTL = ttl }
	})
}

// slowObjects creates cluster a and its machine a-0 on the slow module in ns, returning the
// module's creation log.
func (e *env) slowObjects(t *testing.T, ns string, seconds int) string {
	marker := filepath.Join(t.TempDir(), "creations")
	cluster, cc := envtestutil.NewCluster(ns, "a", false), envtestutil.NewCustomCluster(ns, "a")
	secret, machine, cm := envtestutil.NewMachine(ns, "a", "a-0", false)
	cm.Spec.Module = &infrav1.ModuleSource{Path: "test"}
	cm.Spec.Variables = &apiextensionsv1.JSON{Raw: []byte(fmt.Sprintf(`{"marker":%q,"seconds":%d}`, marker, seconds))}
	e.namespace(t, ns)
	for _, o := range []client.Object{cluster, cc, secret, machine, cm} {
		if err := e.k8s.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
	return marker
}

// Fencing: a runner cut off from the API server mid-apply stops terraform, provisioner commands
// included, before its lock can expire, so the run that takes the lock over never races it.
func TestJobModeRunnerPartitionedStopsBeforeLockExpiry(t *testing.T) {
	const ttl = 15 * time.Second
	e, ns, marker := slowMachine(t, "fence", 60, ttl)
	waitFor(t, 2*time.Minute, "the slow create to start in a runner pod", func(context.Context) (bool, error) {
		b, _ := os.ReadFile(marker)
		return strings.Contains(string(b), "start"), nil
	})
	ctx := context.Background()
	lease := tfstate.LockLeaseName(tfstate.ObjectRef{Kind: "CustomMachine", Name: "a-0"})
	e.proxy.Cut()
	cut := time.Now()
	l, err := e.kube.CoordinationV1().Leases(ns).Get(ctx, lease, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expires := l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
	var gone time.Time
	for time.Now().Before(expires.Add(5 * time.Second)) {
		if len(processesWith(marker)) == 0 {
			gone = time.Now()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if gone.IsZero() || !gone.Before(expires) {
		t.Fatalf("the partitioned run's processes %v outlived its lock (renewed %s, expired %s, cut %s)",
			processesWith(marker), l.Spec.RenewTime.Format(time.StampMilli), expires.Format(time.StampMilli), cut.Format(time.StampMilli))
	}
	t.Logf("cut at %s; terraform gone %s later, %s before the lock expired", cut.Format(time.StampMilli),
		gone.Sub(cut).Round(10*time.Millisecond), expires.Sub(gone).Round(10*time.Millisecond))
	e.proxy.Restore()
	cm := &infrav1.CustomMachine{}
	waitFor(t, 4*time.Minute, "the machine to converge after the partition healed", func(ctx context.Context) (bool, error) {
		if err := e.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a-0"}, cm); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return cm.Spec.ProviderID != "", nil
	})
	b, _ := os.ReadFile(marker)
	if s, d := strings.Count(string(b), "start"), strings.Count(string(b), "done"); s != 2 || d != 1 {
		t.Fatalf("creations started %d, completed %d; want the partitioned one stopped and one retry completed", s, d)
	}
}

// processesWith lists the pids whose command line mentions s (the slow module's provisioner
// command names its marker file).
func processesWith(s string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, filepath.Base(d))
		}
	}
	return out
}

// Two managers reconciling the same objects at once (no leader election between them, worse
// than a failover) still start one Job per run: the Job's name is the run's.
func TestJobModeTwoManagersOneJobPerRun(t *testing.T) {
	e, ns := slowStack(t), "twins"
	if _, err := e.stack.AddManager(context.Background()); err != nil {
		t.Fatal(err)
	}
	marker := e.slowObjects(t, ns, 4)
	e.convergedOnce(t, ns, marker, "under two managers")
}

// convergedOnce waits for machine a-0 in ns to converge and checks it was created once, by one
// runner Job.
func (e *env) convergedOnce(t *testing.T, ns, marker, how string) {
	t.Helper()
	waitFor(t, 3*time.Minute, "the machine to converge "+how, func(ctx context.Context) (bool, error) {
		cm := &infrav1.CustomMachine{}
		if err := e.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a-0"}, cm); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return cm.Spec.ProviderID != "", nil
	})
	b, _ := os.ReadFile(marker)
	if s, d := strings.Count(string(b), "start"), strings.Count(string(b), "done"); s != 1 || d != 1 {
		t.Fatalf("creations started %d, completed %d; want one of each (one run, one Job)", s, d)
	}
	var machineJobs []string
	for _, j := range e.jobs.names() {
		if strings.HasPrefix(j, ns+"/capc-a-0-") {
			machineJobs = append(machineJobs, j)
		}
	}
	if len(machineJobs) != 1 {
		t.Fatalf("runner Jobs of the machine: %v, want one", machineJobs)
	}
}
