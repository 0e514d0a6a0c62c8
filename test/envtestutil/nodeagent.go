/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// NodeAgent plays the kubelet's part, and only that, on a machine without a container runtime:
// it registers a Node, binds unscheduled pods to it, runs each pod's container as a local
// process (its image mapped to a local executable) with the pod's args, env, envFrom and
// volumes (emptyDir and Secret volumes become directories; their mount paths are rewritten in
// the args), and writes pod status and exit codes. Everything else (the Job controller, the
// garbage collector, the API server) is the real thing. Not emulated: user ids, read-only root
// filesystems, resource limits and the ServiceAccount token mount (Env supplies a kubeconfig).
type NodeAgent struct {
	Kube   kubernetes.Interface
	Node   string
	Images map[string]string // image → local executable
	Env    []string          // added to every process
	Dir    string            // where pod directories and logs go
	// Identity, when set, is the environment standing in for the pod's ServiceAccount token
	// mount (a kubeconfig of that ServiceAccount's user).
	Identity func(pod *corev1.Pod) ([]string, error)

	mu      sync.Mutex
	running map[types.UID]*exec.Cmd
	started map[types.UID]bool
	// want is the status each started pod must show (running, then terminated); a write of it
	// that was lost (conflicts with the Job controller's updates under load) is made again on the
	// next pass, as the kubelet's status manager does.
	want map[types.UID]podStatus
	// Envs records each pod's process environment (by pod name), for tests to inspect.
	Envs map[string][]string
	// StartLatency records, per pod started, the time from its creation to its process start:
	// scheduling (binding), the Job controller's and the agent's own polling, volumes and env.
	StartLatency []time.Duration
}

// Run registers the node and serves pods until ctx ends.
func (a *NodeAgent) Run(ctx context.Context) error {
	a.running, a.started, a.Envs = map[types.UID]*exec.Cmd{}, map[types.UID]bool{}, map[string][]string{}
	a.want = map[types.UID]podStatus{}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.Node}}
	if _, err := a.Kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("registering node %s: %w", a.Node, err)
	}
	defer a.killAll()
	for {
		pods, err := a.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range pods.Items {
				a.serve(ctx, &pods.Items[i])
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Latencies returns the start latencies so far.
func (a *NodeAgent) Latencies() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Duration(nil), a.StartLatency...)
}

// Kill SIGKILLs the process of the pod named name (a pod's process dying mid-run).
func (a *NodeAgent) Kill(namespace, name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.running {
		if slices.Contains(c.Env, "CAPC_POD="+namespace+"/"+name) {
			killGroup(c)
			return true
		}
	}
	return false
}

func (a *NodeAgent) killAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.running {
		killGroup(c)
	}
}

func killGroup(c *exec.Cmd) { _ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }

func (a *NodeAgent) serve(ctx context.Context, pod *corev1.Pod) {
	switch {
	case pod.DeletionTimestamp != nil:
		a.mu.Lock()
		if c := a.running[pod.UID]; c != nil {
			killGroup(c) // the grace period is not emulated
		}
		a.mu.Unlock()
		zero := int64(0)
		_ = a.Kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	case pod.Spec.NodeName == "":
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: a.Node}}
		_ = a.Kube.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	case pod.Spec.NodeName == a.Node:
		a.mu.Lock()
		started, want := a.started[pod.UID], a.want[pod.UID]
		a.mu.Unlock()
		switch {
		case !started && pod.Status.Phase == corev1.PodPending:
			if err := a.start(ctx, pod); err != nil {
				a.waiting(ctx, pod, err)
			}
		case started && want.change != nil && pod.Status.Phase != want.phase:
			a.status(ctx, pod, want.change)
		}
	}
}

type podStatus struct {
	phase  corev1.PodPhase
	change func(*corev1.PodStatus)
}

// configError is a pod whose container cannot be configured yet (a missing Secret), as the
// kubelet's CreateContainerConfigError.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func (a *NodeAgent) start(ctx context.Context, pod *corev1.Pod) error {
	if len(pod.Spec.Containers) != 1 {
		return &configError{"the node agent runs pods of one container"}
	}
	c := pod.Spec.Containers[0]
	exe, ok := a.Images[c.Image]
	if !ok {
		return &configError{fmt.Sprintf("image %q is not known to the node agent", c.Image)}
	}
	dir := filepath.Join(a.Dir, string(pod.UID))
	mounts, err := a.volumes(ctx, pod, c, dir)
	if err != nil {
		return err
	}
	env, err := a.env(ctx, pod, c)
	if err != nil {
		return err
	}
	if a.Identity != nil {
		id, err := a.Identity(pod)
		if err != nil {
			return &configError{fmt.Sprintf("service account: %v", err)}
		}
		env = append(env, id...)
	}
	// The image's entrypoint is the executable; the container's args follow it.
	args := rewriteMounts(c.Args, mounts)
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Env = append(append(env, a.Env...), "HOME="+dir, "CAPC_POD="+pod.Namespace+"/"+pod.Name)
	log, err := os.Create(filepath.Join(a.Dir, pod.Namespace+"_"+pod.Name+".log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a kill takes the whole container, as a runtime's cgroup kill does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return &configError{fmt.Sprintf("starting %s: %v", exe, err)}
	}
	a.mu.Lock()
	a.running[pod.UID], a.started[pod.UID], a.Envs[pod.Name] = cmd, true, cmd.Env
	a.StartLatency = append(a.StartLatency, time.Since(pod.CreationTimestamp.Time))
	a.mu.Unlock()
	now := metav1.Now()
	running := func(s *corev1.PodStatus) {
		s.Phase, s.StartTime, s.HostIP = corev1.PodRunning, &now, "127.0.0.1"
		s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, Ready: true, Started: ptrTo(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
	}
	a.setWant(pod.UID, corev1.PodRunning, running)
	a.status(ctx, pod, running)
	go func() {
		err := cmd.Wait()
		killGroup(cmd) // the container ends with its main process: nothing it started outlives it
		log.Close()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
			if code < 0 {
				code = 137 // killed by a signal
			}
		}
		a.mu.Lock()
		delete(a.running, pod.UID)
		a.mu.Unlock()
		phase, reason := corev1.PodSucceeded, "Completed"
		if code != 0 {
			phase, reason = corev1.PodFailed, "Error"
		}
		end := metav1.Now()
		terminated := func(s *corev1.PodStatus) {
			s.Phase = phase
			s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: reason, StartedAt: now, FinishedAt: end}}}}
		}
		a.setWant(pod.UID, phase, terminated)
		a.status(context.WithoutCancel(ctx), pod, terminated)
	}()
	return nil
}

func ptrTo[T any](v T) *T { return &v }

// rewriteMounts replaces the mount paths in args by their directories, in one pass over each
// arg (mounts sorted longest first, so /a/b wins over /a): a replaced path is never rewritten
// again, even when its directory starts with another mount path (a work dir under
// /tmp/capc-bench-… and the mount /tmp/capc).
func rewriteMounts(args []string, mounts [][2]string) []string {
	var pairs []string
	for _, m := range mounts {
		pairs = append(pairs, m[0], m[1])
	}
	r := strings.NewReplacer(pairs...)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	return out
}

func (a *NodeAgent) setWant(uid types.UID, phase corev1.PodPhase, change func(*corev1.PodStatus)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.want[uid] = podStatus{phase: phase, change: change}
}

// volumes makes each volume a directory under dir and returns [mountPath, directory] pairs,
// longest mount path first.
func (a *NodeAgent) volumes(ctx context.Context, pod *corev1.Pod, c corev1.Container, dir string) ([][2]string, error) {
	paths := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		vdir := filepath.Join(dir, "volumes", v.Name)
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return nil, err
		}
		switch {
		case v.EmptyDir != nil:
		case v.Secret != nil:
			s, err := a.Kube.CoreV1().Secrets(pod.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				return nil, &configError{fmt.Sprintf("volume %s: %v", v.Name, err)}
			}
			for k, data := range s.Data {
				if err := os.WriteFile(filepath.Join(vdir, k), data, 0o600); err != nil {
					return nil, err
				}
			}
		default:
			return nil, &configError{fmt.Sprintf("volume %s: only emptyDir and secret volumes are emulated", v.Name)}
		}
		paths[v.Name] = vdir
	}
	var mounts [][2]string
	for _, m := range c.VolumeMounts {
		if d, ok := paths[m.Name]; ok {
			mounts = append(mounts, [2]string{m.MountPath, d})
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i][0]) > len(mounts[j][0]) })
	return mounts, nil
}

// env resolves the container's env and envFrom as the kubelet does (values, field refs, Secret
// keys and whole Secrets with a prefix).
func (a *NodeAgent) env(ctx context.Context, pod *corev1.Pod, c corev1.Container) ([]string, error) {
	var out []string
	secret := func(name string) (*corev1.Secret, error) {
		s, err := a.Kube.CoreV1().Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, &configError{fmt.Sprintf("secret %q: %v", name, err)}
		}
		return s, nil
	}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef == nil {
			return nil, &configError{"only envFrom secretRef is emulated"}
		}
		s, err := secret(ef.SecretRef.Name)
		if err != nil {
			return nil, err
		}
		for k, v := range s.Data {
			out = append(out, ef.Prefix+k+"="+string(v))
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out = append(out, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			out = append(out, e.Name+"="+pod.Name)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			out = append(out, e.Name+"="+pod.Namespace)
		case e.ValueFrom.SecretKeyRef != nil:
			s, err := secret(e.ValueFrom.SecretKeyRef.Name)
			if err != nil {
				return nil, err
			}
			out = append(out, e.Name+"="+string(s.Data[e.ValueFrom.SecretKeyRef.Key]))
		default:
			return nil, &configError{fmt.Sprintf("env %s: source not emulated", e.Name)}
		}
	}
	return out, nil
}

// waiting reports a container that cannot start yet; the next pass retries.
func (a *NodeAgent) waiting(ctx context.Context, pod *corev1.Pod, err error) {
	reason := "CreateContainerConfigError"
	var ce *configError
	if !errors.As(err, &ce) {
		reason = "CreateContainerError"
	}
	c := pod.Spec.Containers[0]
	if cs := pod.Status.ContainerStatuses; len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Message == err.Error() {
		return
	}
	a.status(ctx, pod, func(s *corev1.PodStatus) {
		s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}}}}
	})
}

func (a *NodeAgent) status(ctx context.Context, pod *corev1.Pod, change func(*corev1.PodStatus)) {
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := a.Kube.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || cur.UID != pod.UID {
			return nil
		}
		change(&cur.Status)
		_, err = a.Kube.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}
