/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package tfjob is job mode: each terraform run of an object is a Kubernetes Job that runs the
// provider image's `runner` subcommand in the object's namespace, so the manager never starts
// terraform. The manager's side (Runner) answers what needs no terraform through the local
// runner's small Local interface and reads each Job's result; the pod's side (Run) runs the
// request with a local tfrunner.Runner. Requests, results and errors are types that survive
// the Job boundary, so a Job's outcome means to the controllers what a local run's does. It
// never imports controllers or controller-runtime.
package tfjob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// Config configures job mode.
type Config struct {
	Image          string
	ServiceAccount string // the runner's ServiceAccount, in each object's namespace
	// Template, when set, supplies the runner pod's scheduling, resources and volumes: node
	// selector, tolerations, affinity, priority class, image pull secrets, host network, extra
	// volumes, and of its container named "runner" the resources, image pull policy and volume
	// mounts (a provider mirror, say). ValidateTemplate checks it.
	Template *corev1.PodTemplateSpec
	// TTL deletes finished Jobs this long after they end (the manager deletes those it read first).
	TTL time.Duration
	// Args and Env are added to the runner container's (the lock TTL, sandbox flags, a test's
	// kubeconfig).
	Args []string
	Env  []corev1.EnvVar
}

// Local is what job mode needs of the local runner (tfrunner.Runner): the answers that take no
// terraform, and what the objects it makes are named, labelled and owned by.
type Local interface {
	Unchanged(ctx context.Context, ws tfrunner.Workspace, p tfrunner.Policy) (tfrunner.Result, bool)
	HasState(ctx context.Context, obj tfstate.ObjectRef) (bool, error)
	DeleteState(ctx context.Context, obj tfstate.ObjectRef) error
	ObjectMeta(obj tfstate.ObjectRef, name, role string) metav1.ObjectMeta
	Limits() tfrunner.Limits
	Kube() kubernetes.Interface
}

// The local runner is what both sides of a Job need.
var (
	_ Local  = (*tfrunner.Runner)(nil)
	_ Engine = (*tfrunner.Runner)(nil)
)

// Runner runs terraform in Jobs; the manager process never starts terraform. Runs answered
// without terraform (nothing changed) and the state reads stay local. It implements the
// controllers' Runner as the local runner does.
type Runner struct {
	local  Local
	jobs   Config
	kube   kubernetes.Interface
	limits tfrunner.Limits
	log    logr.Logger
	// inflight is the Job this process last started or saw running per object: its result is
	// read (and the Job deleted) before the object is answered any other way, also when the
	// state the Job pushed already makes the object look unchanged.
	inflight sync.Map // object key → Job name
}

// New wraps local for job mode.
func New(local Local, cfg Config, log logr.Logger) *Runner {
	return &Runner{local: local, jobs: cfg, kube: local.Kube(), limits: local.Limits(), log: log}
}

// HasState reports whether the object has a state Secret (read locally).
func (j *Runner) HasState(ctx context.Context, obj tfstate.ObjectRef) (bool, error) {
	return j.local.HasState(ctx, obj)
}

// DeleteState removes the object's state, plan and lock objects (locally: no terraform).
func (j *Runner) DeleteState(ctx context.Context, obj tfstate.ObjectRef) error {
	return j.local.DeleteState(ctx, obj)
}

// RunningError says the run is in a Job that has not finished: the caller checks back later.
type RunningError struct {
	Job   string
	Since time.Time
}

func (e *RunningError) Error() string {
	return fmt.Sprintf("terraform runs in Job %s since %s", e.Job, e.Since.UTC().Format(time.RFC3339))
}

// Paths in the runner container.
const (
	requestMount = "/var/run/capc/request"
	workMount    = "/tmp/capc"
	// CredentialsEnvPrefix prefixes the credentials Secret's keys in the runner's environment.
	CredentialsEnvPrefix = "CAPC_CRED_"
	runnerContainer      = "runner"
)

// Reconcile answers an unchanged object locally, else runs (or checks on) the run's Job.
func (j *Runner) Reconcile(ctx context.Context, ws tfrunner.Workspace, p tfrunner.Policy) (tfrunner.Result, error) {
	if res, ok, err := j.collect(ctx, ws); ok {
		return res, err
	}
	if res, ok := j.local.Unchanged(ctx, ws, p); ok {
		return res, nil
	}
	q, err := NewRequest(OpReconcile, ws, p)
	if err != nil {
		return tfrunner.Result{}, err
	}
	return j.run(ctx, ws, q)
}

// Destroy runs (or checks on) the object's destroy Job.
func (j *Runner) Destroy(ctx context.Context, ws tfrunner.Workspace) error {
	// A Job of this object ended: a destroy's that left no state is the answer; a reconcile's
	// (its result moot now) or a failed one leads to the destroy Job.
	if _, ok, err := j.collect(ctx, ws); ok && (err != nil || j.destroyed(ctx, ws)) {
		return err
	}
	q, err := NewRequest(OpDestroy, ws, tfrunner.Policy{})
	if err != nil {
		return err
	}
	_, err = j.run(ctx, ws, q)
	return err
}

// run creates the request's Job, or reads the result of the one that ran it. The Job's name is
// derived from the object and the request, so a manager restarted (or a second one) finds the
// Job already there instead of starting another.
func (j *Runner) run(ctx context.Context, ws tfrunner.Workspace, q *Request) (tfrunner.Result, error) {
	body, err := json.Marshal(q)
	if err != nil {
		return tfrunner.Result{}, err
	}
	if len(body) > tfrunner.SecretBudget {
		return tfrunner.Result{}, fmt.Errorf("the run request is %d KiB, over the %d KiB a Secret holds: the module tree is too big for job mode", len(body)>>10, tfrunner.SecretBudget>>10)
	}
	return j.check(ctx, ws, jobName(ws.Object, body), body)
}

func objectKey(o tfstate.ObjectRef) string { return o.Kind + "/" + o.Namespace + "/" + o.Name }

// collect reads the result of the Job this process knows to be running for the object, if
// any: ok is false when there is none (or it is gone), and the caller goes on.
func (j *Runner) collect(ctx context.Context, ws tfrunner.Workspace) (res tfrunner.Result, ok bool, err error) {
	name, known := j.inflight.Load(objectKey(ws.Object))
	if !known {
		return tfrunner.Result{}, false, nil
	}
	res, err = j.check(ctx, ws, name.(string), nil)
	if errors.Is(err, errJobGone) {
		return tfrunner.Result{}, false, nil
	}
	return res, true, err
}

// destroyed reports whether the object has no state left (after a destroy Job ran).
func (j *Runner) destroyed(ctx context.Context, ws tfrunner.Workspace) bool {
	has, err := j.local.HasState(ctx, ws.Object)
	return err == nil && !has
}

var errJobGone = errors.New("runner Job gone")

// check starts the Job when it does not exist (body given), or reports it running, or reads
// its result and deletes it.
func (j *Runner) check(ctx context.Context, ws tfrunner.Workspace, name string, body []byte) (tfrunner.Result, error) {
	key := objectKey(ws.Object)
	job, err := j.kube.BatchV1().Jobs(ws.Object.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		j.inflight.Delete(key)
		if body == nil {
			return tfrunner.Result{}, errJobGone
		}
		err = j.start(ctx, ws, name, body)
		if errors.As(err, new(*RunningError)) {
			j.inflight.Store(key, name)
		}
		return tfrunner.Result{}, err
	}
	if err != nil {
		return tfrunner.Result{}, fmt.Errorf("reading runner Job %s: %w", name, err)
	}
	done, failed := jobFinished(job)
	if !done || job.DeletionTimestamp != nil {
		j.inflight.Store(key, name)
		return tfrunner.Result{}, &RunningError{Job: name, Since: job.CreationTimestamp.Time}
	}
	res, runErr := j.result(ctx, job, failed)
	j.inflight.Delete(key)
	// The result is read: deleting the Job and its Secrets is off the object's path (three API
	// round trips before its status could be written). Until it is gone, a reconcile that asks
	// for the same run finds the Job ended, or being deleted, and reads or waits as above.
	go func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := j.cleanup(cctx, job); err != nil {
			j.log.Info("deleting a finished runner Job failed; its TTL removes it", "job", name, "error", err.Error())
		}
	}()
	if res.Orphans != nil && ws.OnSuspectedOrphans != nil {
		ws.OnSuspectedOrphans(ctx, *res.Orphans)
	}
	return res.Result, runErr
}

// start creates the Job, then its request Secret, owned by the Job (the pod waits for it as
// for any Secret volume), so that the Job's deletion removes both.
func (j *Runner) start(ctx context.Context, ws tfrunner.Workspace, name string, body []byte) error {
	if ws.OnRun != nil {
		if err := ws.OnRun(ctx); err != nil {
			return err
		}
	}
	created, err := j.kube.BatchV1().Jobs(ws.Object.Namespace).Create(ctx, j.job(ws, name), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return &RunningError{Job: name, Since: time.Now()}
	}
	if err != nil {
		return fmt.Errorf("creating runner Job %s: %w", name, err)
	}
	req := &corev1.Secret{ObjectMeta: j.local.ObjectMeta(ws.Object, name+"-request", "run-request"),
		Type: tfstate.SecretTypeRun, Data: map[string][]byte{"request.json": body}}
	delete(req.Labels, tfstate.LabelMove)
	req.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: name, UID: created.UID}}
	if err := tfstate.CreateOrReplace(ctx, j.kube, req); err != nil {
		_ = j.cleanup(ctx, created)
		return fmt.Errorf("writing the run request of Job %s: %w", name, err)
	}
	j.log.Info("started runner Job", "object", ws.Object.Name, "job", name)
	return &RunningError{Job: name, Since: created.CreationTimestamp.Time}
}

// result reads what the runner wrote; a Job that failed without writing it (killed, evicted,
// past its deadline) is an error the manager retries like any failed run.
func (j *Runner) result(ctx context.Context, job *batchv1.Job, failed string) (Outcome, error) {
	var res Outcome
	sec, err := j.kube.CoreV1().Secrets(job.Namespace).Get(ctx, job.Name+"-result", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if failed == "" {
			failed = "it completed without writing its result"
		}
		return res, fmt.Errorf("runner Job %s failed: %s", job.Name, failed)
	}
	if err != nil {
		return res, fmt.Errorf("reading the result of runner Job %s: %w", job.Name, err)
	}
	if err := json.Unmarshal(sec.Data["result.json"], &res); err != nil {
		return res, fmt.Errorf("decoding the result of runner Job %s: %w", job.Name, err)
	}
	return res, res.Error.Err()
}

func (j *Runner) cleanup(ctx context.Context, job *batchv1.Job) error {
	bg := metav1.DeletePropagationBackground
	err := j.kube.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
	for _, s := range []string{job.Name + "-request", job.Name + "-result"} {
		if e := j.kube.CoreV1().Secrets(job.Namespace).Delete(ctx, s, metav1.DeleteOptions{}); e != nil && !apierrors.IsNotFound(e) {
			err = errors.Join(err, e)
		}
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// jobFinished reports whether the Job ended, and why it failed ("" when it completed). A Job
// whose runner pod succeeded is done at SuccessCriteriaMet: the runner wrote its result before it
// exited, and Complete only follows once the Job controller has finished with the pod (a second
// sync, about a second later). A failing Job is done only at Failed: at FailureTarget its pod may
// still be stopping, with terraform in it.
func jobFinished(job *batchv1.Job) (done bool, failed string) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete, batchv1.JobSuccessCriteriaMet:
			return true, ""
		case batchv1.JobFailed:
			return true, strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	return false, ""
}

// jobName is capc-<object name, cut>-<hash of the object's UID and the request>: one Job per run.
func jobName(obj tfstate.ObjectRef, body []byte) string {
	h := sha256.New()
	h.Write([]byte(obj.Kind + "/" + obj.UID + "/" + obj.Name + "\n"))
	h.Write(body)
	name := strings.Trim(tfstate.LabelValue(obj.Name), "-._")
	if len(name) > 36 {
		name = strings.Trim(name[:36], "-._")
	}
	return strings.ToLower("capc-" + name + "-" + hex.EncodeToString(h.Sum(nil))[:10])
}

// job is the runner Job: one pod, no retries (the manager retries with backoff), a deadline
// past the run timeout, non-root with a read-only root filesystem.
func (j *Runner) job(ws tfrunner.Workspace, name string) *batchv1.Job {
	meta := j.local.ObjectMeta(ws.Object, name, "run")
	delete(meta.Labels, tfstate.LabelMove) // a run is not moved: clusterctl move waits for it instead
	c := corev1.Container{
		Name: runnerContainer, Image: j.jobs.Image,
		Args: append([]string{"runner", "--request=" + requestMount + "/request.json", "--work-dir=" + workMount,
			fmt.Sprintf("--run-timeout=%s", j.limits.RunTimeout), fmt.Sprintf("--state-lock-ttl=%s", j.limits.LockTTL)}, j.jobs.Args...),
		Env: append([]corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "JOB_NAME", Value: name},
		}, j.jobs.Env...),
		VolumeMounts: []corev1.VolumeMount{{Name: "request", MountPath: requestMount, ReadOnly: true}, {Name: "work", MountPath: workMount}},
		SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
			RunAsNonRoot: ptr.To(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
	}
	if ws.CredentialsSecret != "" {
		c.EnvFrom = []corev1.EnvFromSource{{Prefix: CredentialsEnvPrefix,
			SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: ws.CredentialsSecret}}}}
	}
	spec := corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever, ServiceAccountName: j.jobs.ServiceAccount, Containers: []corev1.Container{c},
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65532)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Volumes: []corev1.Volume{
			{Name: "request", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name + "-request"}}},
			{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
	applyTemplate(&spec, j.jobs.Template)
	deadline := int64((j.limits.RunTimeout + 2*j.limits.CancelGrace + time.Minute) / time.Second)
	job := &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{
		BackoffLimit: ptr.To(int32(0)), ActiveDeadlineSeconds: &deadline,
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: meta.Labels}, Spec: spec},
	}}
	if j.jobs.TTL > 0 {
		job.Spec.TTLSecondsAfterFinished = ptr.To(int32(j.jobs.TTL / time.Second))
	}
	return job
}

// reservedVolumes are the runner pod's own volumes (request and work directory).
var reservedVolumes = map[string]string{"request": requestMount, "work": workMount}

// applyTemplate copies what an operator's template may set into the runner pod spec; nothing
// else of it (security contexts, commands, the pod's own volumes) can be changed.
func applyTemplate(spec *corev1.PodSpec, t *corev1.PodTemplateSpec) {
	if t == nil {
		return
	}
	spec.NodeSelector, spec.Tolerations, spec.Affinity = t.Spec.NodeSelector, t.Spec.Tolerations, t.Spec.Affinity
	spec.PriorityClassName, spec.ImagePullSecrets = t.Spec.PriorityClassName, t.Spec.ImagePullSecrets
	spec.HostNetwork = t.Spec.HostNetwork
	if t.Spec.HostNetwork {
		spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
	}
	spec.Volumes = append(spec.Volumes, t.Spec.Volumes...)
	for _, tc := range t.Spec.Containers {
		if tc.Name == runnerContainer {
			c := &spec.Containers[0]
			c.Resources, c.ImagePullPolicy = tc.Resources, tc.ImagePullPolicy
			c.VolumeMounts = append(c.VolumeMounts, tc.VolumeMounts...)
		}
	}
}

// ValidateTemplate refuses a runner pod template whose volumes or mounts would replace the
// runner's own (its request and work directory), or whose mounts name no volume of the template.
func ValidateTemplate(t *corev1.PodTemplateSpec) error {
	if t == nil {
		return nil
	}
	names := map[string]bool{}
	for _, v := range t.Spec.Volumes {
		if _, ok := reservedVolumes[v.Name]; ok {
			return fmt.Errorf("runner pod template: volume name %q is the runner's own", v.Name)
		}
		names[v.Name] = true
	}
	for _, tc := range t.Spec.Containers {
		if tc.Name != runnerContainer {
			continue
		}
		for _, m := range tc.VolumeMounts {
			if !names[m.Name] {
				return fmt.Errorf("runner pod template: mount %q names no volume of the template", m.Name)
			}
			for _, p := range reservedVolumes {
				if m.MountPath == p || strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") || strings.HasPrefix(m.MountPath, p+"/") {
					return fmt.Errorf("runner pod template: mount path %q overlaps the runner's %s", m.MountPath, p)
				}
			}
		}
	}
	return nil
}
