/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package jobmode

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// A runner pod deleted mid-apply (no grace) is recovered like a killed local run: the Job fails,
// the manager retries, the next runner takes the expired lock over and converges, with no
// instance created twice (the provider's idempotency token adopts the one the killed run made).
func TestJobModeRunnerPodDeletedMidApply(t *testing.T) {
	e, ns := slowMachine(t, "kill", 15*time.Second)
	pod := e.waitCreating(t, ns)
	if err := e.kube.CoreV1().Pods(ns).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))}); err != nil {
		t.Fatal(err)
	}
	t.Logf("deleted runner pod %s mid-apply", pod.Name)
	e.converged(t, ns, "after its runner pod was deleted")
	if n := e.stack.Runner.Processes(); n != 0 {
		t.Fatalf("the manager started %d terraform processes in job mode", n)
	}
}

// The node's own faults mid-apply: containerd killed (its shims and the runner container run
// on) and started again, then the kubelet restarted. The run still converges to one instance.
func TestJobModeNodeFaultsMidApply(t *testing.T) {
	e, ns := slowMachine(t, "node", 10*time.Second)
	pod := e.waitCreating(t, ns)
	e.node.KillContainerd()
	time.Sleep(2 * time.Second)
	if err := e.node.StartContainerd(); err != nil {
		t.Fatal(err)
	}
	if err := e.node.RestartKubelet(); err != nil {
		t.Fatal(err)
	}
	t.Logf("killed containerd and restarted the kubelet while %s ran", pod.Name)
	e.converged(t, ns, "after containerd was killed and the kubelet restarted")
}

// A manager replaced while a runner Job runs adopts the Job (same name for the same run)
// instead of starting another: one Job, one creation.
func TestJobModeManagerRestartAdoptsJob(t *testing.T) {
	e, ns := slowMachine(t, "adopt", 8*time.Second)
	e.waitCreating(t, ns)
	if err := e.stack.RestartManager(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.convergedOnce(t, ns, "under the new manager")
}

// slowMachine starts a job-mode stack whose fake cloud takes delay to run an instance, and
// creates cluster a with machine a-0 in ns on it.
func slowMachine(t *testing.T, ns string, delay time.Duration, lockTTL ...time.Duration) (*env, string) {
	e := slowStack(t, delay, lockTTL...)
	e.slowObjects(t, ns)
	return e, ns
}

// slowStack starts a job-mode stack with a short lock TTL (default 6 s) on a slow fake cloud.
func slowStack(t *testing.T, delay time.Duration, lockTTL ...time.Duration) *env {
	ttl := 6 * time.Second
	if len(lockTTL) > 0 {
		ttl = lockTTL[0]
	}
	return startSlow(t, delay, func(o *envtestutil.StackOptions) {
		o.Runner = func(c *tfrunner.Config) { c.LockTTL = ttl }
	})
}

// slowObjects creates cluster a and its machine a-0 on the fake cloud in ns.
func (e *env) slowObjects(t *testing.T, ns string) {
	e.namespace(t, ns)
	creds, cluster, cc, secret, machine, cm := e.fakeCloudObjects(ns, "a", "a-0")
	for _, o := range []client.Object{creds, cluster, cc, secret, machine, cm} {
		if err := e.k8s.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// waitCreating waits for machine a-0's instance to be pending in the fake cloud (its runner is
// mid-apply, waiting for it to run) and returns the runner pod doing it.
func (e *env) waitCreating(t *testing.T, ns string) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	waitFor(t, 3*time.Minute, "the machine's create to start in a runner pod", func(ctx context.Context) (bool, error) {
		inst, err := e.fc.Instances("a-0")
		if err != nil || len(inst) == 0 {
			return false, err
		}
		pods, err := e.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: tfstate.LabelKind + "=custommachine"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning {
				pod = p
				return true, nil
			}
		}
		return false, nil
	})
	return pod
}

// converged waits for machine a-0 in ns to get its providerID and checks the fake cloud holds
// exactly one instance of it.
func (e *env) converged(t *testing.T, ns, how string) {
	t.Helper()
	waitFor(t, 4*time.Minute, "the machine to converge "+how, func(ctx context.Context) (bool, error) {
		cm := &infrav1.CustomMachine{}
		if err := e.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a-0"}, cm); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return cm.Spec.ProviderID != "", nil
	})
	inst, err := e.fc.Instances("a-0")
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.fc.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if len(inst) != 1 || len(st.DuplicateInstanceNames) > 0 {
		t.Fatalf("instances of a-0: %d (duplicates %v), want exactly 1", len(inst), st.DuplicateInstanceNames)
	}
	t.Logf("converged %s: instances created %d, creates adopted %v", how, st.Created["instance"], st.Replays)
}

// Fencing: a runner cut off from the API server mid-apply stops terraform and its provider
// (found by the runner container's cgroup) before its lock can expire, so the run that takes the
// lock over never races it.
func TestJobModeRunnerPartitionedStopsBeforeLockExpiry(t *testing.T) {
	const ttl = 15 * time.Second
	// The create lasts 25 s: past the cut and the lock's expiry (at most ttl after the last
	// renewal), short enough that the retry after the partition does not wait long.
	e, ns := slowMachine(t, "fence", 25*time.Second, ttl)
	pod := e.waitCreating(t, ns)
	ctx := context.Background()
	lease := tfstate.LockLeaseName(tfstate.ObjectRef{Kind: "CustomMachine", Name: "a-0"})
	if procs := terraformProcesses(pod); len(procs) == 0 {
		t.Fatalf("no terraform process of runner pod %s found in its container's cgroup", pod.Name)
	} else {
		t.Logf("runner pod %s's terraform processes: %v", pod.Name, procs)
	}
	e.proxy.Cut()
	cut := time.Now()
	l, err := e.kube.CoordinationV1().Leases(ns).Get(ctx, lease, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expires := l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
	var gone time.Time
	for time.Now().Before(expires.Add(5 * time.Second)) {
		if len(terraformProcesses(pod)) == 0 {
			gone = time.Now()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if gone.IsZero() || !gone.Before(expires) {
		t.Fatalf("the partitioned run's processes %v outlived its lock (renewed %s, expired %s, cut %s)",
			terraformProcesses(pod), l.Spec.RenewTime.Format(time.StampMilli), expires.Format(time.StampMilli), cut.Format(time.StampMilli))
	}
	t.Logf("cut at %s; the runner pod's terraform processes gone %s later, %s before the lock expired", cut.Format(time.StampMilli),
		gone.Sub(cut).Round(10*time.Millisecond), expires.Sub(gone).Round(10*time.Millisecond))
	e.proxy.Restore()
	e.converged(t, ns, "after the partition healed")
}

// terraformProcesses lists the pids of the runner container's terraform processes (terraform,
// its shim and its providers): the processes in the container's cgroup (named by its container ID)
// other than the runner itself. The pod's sandbox (pause) container has a cgroup of its own.
func terraformProcesses(pod corev1.Pod) []string {
	if len(pod.Status.ContainerStatuses) == 0 || pod.Status.ContainerStatuses[0].ContainerID == "" {
		return nil
	}
	_, id, _ := strings.Cut(pod.Status.ContainerStatuses[0].ContainerID, "://")
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup"))
		comm, _ := os.ReadFile(filepath.Join(d, "comm"))
		if err == nil && strings.Contains(string(b), id) && strings.TrimSpace(string(comm)) != "manager" {
			out = append(out, filepath.Base(d)+"/"+strings.TrimSpace(string(comm)))
		}
	}
	return out
}

// Two managers reconciling the same objects at once (no leader election between them, worse
// than a failover) still start one Job per run: the Job's name is the run's.
func TestJobModeTwoManagersOneJobPerRun(t *testing.T) {
	e, ns := slowStack(t, 4*time.Second), "twins"
	if _, err := e.stack.AddManager(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.slowObjects(t, ns)
	e.convergedOnce(t, ns, "under two managers")
}

// convergedOnce waits for machine a-0 in ns to converge and checks it was created once, by one
// runner Job.
func (e *env) convergedOnce(t *testing.T, ns, how string) {
	t.Helper()
	e.converged(t, ns, how)
	if st, err := e.fc.Stats(); err != nil || st.Created["instance"] != 1 {
		t.Fatalf("instances created: %v (%v), want one (one run, one Job)", st.Created, err)
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
