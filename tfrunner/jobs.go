package tfrunner

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

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// JobConfig configures job mode: each terraform run is a Kubernetes Job running the provider
// image's `runner` subcommand in the object's namespace.
type JobConfig struct {
	Image          string
	ServiceAccount string // the runner's ServiceAccount, in each object's namespace
	// Template, when set, supplies the runner pod's scheduling and resources: node selector,
	// tolerations, affinity, priority class, image pull secrets, and the resources of its
	// container named "runner".
	Template *corev1.PodTemplateSpec
	// TTL deletes finished Jobs this long after they end (the manager deletes those it read first).
	TTL time.Duration
	// Args and Env are added to the runner container's (the lock TTL, sandbox flags, a test's
	// kubeconfig).
	Args []string
	Env  []corev1.EnvVar
}

// JobRunner runs terraform in Jobs; the manager process never starts terraform. Runs answered
// without terraform (nothing changed) and the state reads stay local.
type JobRunner struct {
	*Runner
	Jobs JobConfig
	// inflight is the Job this process last started or saw running per object: its result is
	// read (and the Job deleted) before the object is answered any other way, also when the
	// state the Job pushed already makes the object look unchanged.
	inflight sync.Map // object key → Job name
}

// JobRunningError says the run is in a Job that has not finished: the caller checks back later.
type JobRunningError struct {
	Job   string
	Since time.Time
}

func (e *JobRunningError) Error() string {
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
func (j *JobRunner) Reconcile(ctx context.Context, ws Workspace, p Policy) (Result, error) {
	if res, err, ok := j.collect(ctx, ws); ok {
		return res, err
	}
	if res, ok := j.Unchanged(ctx, ws, p); ok {
		return res, nil
	}
	q, err := NewJobRequest(OpReconcile, ws, p)
	if err != nil {
		return Result{}, err
	}
	return j.run(ctx, ws, q)
}

// Destroy runs (or checks on) the object's destroy Job.
func (j *JobRunner) Destroy(ctx context.Context, ws Workspace) error {
	// A Job of this object ended: a destroy's that left no state is the answer; a reconcile's
	// (its result moot now) or a failed one leads to the destroy Job.
	if _, err, ok := j.collect(ctx, ws); ok && (err != nil || j.destroyed(ctx, ws)) {
		return err
	}
	q, err := NewJobRequest(OpDestroy, ws, Policy{})
	if err != nil {
		return err
	}
	_, err = j.run(ctx, ws, q)
	return err
}

// Unchanged is Reconcile's lock-free no-op answer, without terraform: ok when the stored state
// was applied from these exact inputs.
func (r *Runner) Unchanged(ctx context.Context, ws Workspace, p Policy) (Result, bool) {
	rn, err := r.newRun(ws)
	if err != nil {
		return Result{}, false
	}
	serial, outputs, ok := r.unchanged(ctx, rn, p)
	if !ok {
		return Result{}, false
	}
	r.cfg.Metrics.Skipped.Inc()
	return Result{Skipped: true, StateSerial: serial, Outputs: outputs, InputsHash: rn.hash, FinishedAt: r.now()}, true
}

// run creates the request's Job, or reads the result of the one that ran it. The Job's name is
// derived from the object and the request, so a manager restarted (or a second one) finds the
// Job already there instead of starting another.
func (j *JobRunner) run(ctx context.Context, ws Workspace, q *JobRequest) (Result, error) {
	body, err := json.Marshal(q)
	if err != nil {
		return Result{}, err
	}
	if len(body) > planSecretBudget {
		return Result{}, fmt.Errorf("the run request is %d KiB, over the %d KiB a Secret holds: the module tree is too big for job mode", len(body)>>10, planSecretBudget>>10)
	}
	return j.check(ctx, ws, jobName(ws.Object, body), body)
}

func objectKey(o ObjectRef) string { return o.Kind + "/" + o.Namespace + "/" + o.Name }

// collect reads the result of the Job this process knows to be running for the object, if
// any: ok is false when there is none (or it is gone), and the caller goes on.
func (j *JobRunner) collect(ctx context.Context, ws Workspace) (Result, error, bool) {
	name, known := j.inflight.Load(objectKey(ws.Object))
	if !known {
		return Result{}, nil, false
	}
	res, err := j.check(ctx, ws, name.(string), nil)
	if errors.Is(err, errJobGone) {
		return Result{}, nil, false
	}
	return res, err, true
}

// destroyed reports whether the object has no state left (after a destroy Job ran).
func (j *JobRunner) destroyed(ctx context.Context, ws Workspace) bool {
	has, err := j.HasState(ctx, ws.Object)
	return err == nil && !has
}

var errJobGone = errors.New("runner Job gone")

// check starts the Job when it does not exist (body given), or reports it running, or reads
// its result and deletes it.
func (j *JobRunner) check(ctx context.Context, ws Workspace, name string, body []byte) (Result, error) {
	key := objectKey(ws.Object)
	job, err := j.cfg.Kube.BatchV1().Jobs(ws.Object.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		j.inflight.Delete(key)
		if body == nil {
			return Result{}, errJobGone
		}
		err = j.start(ctx, ws, name, body)
		if errors.As(err, new(*JobRunningError)) {
			j.inflight.Store(key, name)
		}
		return Result{}, err
	}
	if err != nil {
		return Result{}, fmt.Errorf("reading runner Job %s: %w", name, err)
	}
	done, failed := jobFinished(job)
	if !done || job.DeletionTimestamp != nil {
		j.inflight.Store(key, name)
		return Result{}, &JobRunningError{Job: name, Since: job.CreationTimestamp.Time}
	}
	res, runErr := j.result(ctx, job, failed)
	if err := j.cleanup(ctx, job); err != nil {
		j.cfg.Logger.Info("deleting a finished runner Job failed; its TTL removes it", "job", name, "error", err.Error())
	}
	j.inflight.Delete(key)
	if res.Orphans != nil && ws.OnSuspectedOrphans != nil {
		ws.OnSuspectedOrphans(ctx, *res.Orphans)
	}
	return res.Result, runErr
}

// start creates the Job, then its request Secret, owned by the Job (the pod waits for it as
// for any Secret volume), so that the Job's deletion removes both.
func (j *JobRunner) start(ctx context.Context, ws Workspace, name string, body []byte) error {
	if ws.OnRun != nil {
		if err := ws.OnRun(ctx); err != nil {
			return err
		}
	}
	created, err := j.cfg.Kube.BatchV1().Jobs(ws.Object.Namespace).Create(ctx, j.job(ws, name), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return &JobRunningError{Job: name, Since: j.now()}
	}
	if err != nil {
		return fmt.Errorf("creating runner Job %s: %w", name, err)
	}
	req := &corev1.Secret{ObjectMeta: j.objectMeta(ws.Object, name+"-request", "run-request"),
		Type: SecretTypeRun, Data: map[string][]byte{"request.json": body}}
	delete(req.Labels, LabelMove)
	req.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: name, UID: created.UID}}
	if err := j.createOrReplace(ctx, req); err != nil {
		_ = j.cleanup(ctx, created)
		return fmt.Errorf("writing the run request of Job %s: %w", name, err)
	}
	j.cfg.Logger.Info("started runner Job", "object", ws.Object.Name, "job", name)
	return &JobRunningError{Job: name, Since: created.CreationTimestamp.Time}
}

// result reads what the runner wrote; a Job that failed without writing it (killed, evicted,
// past its deadline) is an error the manager retries like any failed run.
func (j *JobRunner) result(ctx context.Context, job *batchv1.Job, failed string) (JobResult, error) {
	var res JobResult
	sec, err := j.cfg.Kube.CoreV1().Secrets(job.Namespace).Get(ctx, job.Name+"-result", metav1.GetOptions{})
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

func (j *JobRunner) cleanup(ctx context.Context, job *batchv1.Job) error {
	bg := metav1.DeletePropagationBackground
	err := j.cfg.Kube.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
	for _, s := range []string{job.Name + "-request", job.Name + "-result"} {
		if e := j.cfg.Kube.CoreV1().Secrets(job.Namespace).Delete(ctx, s, metav1.DeleteOptions{}); e != nil && !apierrors.IsNotFound(e) {
			err = errors.Join(err, e)
		}
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// jobFinished reports whether the Job ended, and why it failed ("" when it completed).
func jobFinished(job *batchv1.Job) (done bool, failed string) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, ""
		case batchv1.JobFailed:
			return true, strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	return false, ""
}

// jobName is capc-<object name, cut>-<hash of the object's UID and the request>: one Job per run.
func jobName(obj ObjectRef, body []byte) string {
	h := sha256.New()
	h.Write([]byte(obj.Kind + "/" + obj.UID + "/" + obj.Name + "\n"))
	h.Write(body)
	name := strings.Trim(labelValue(obj.Name), "-._")
	if len(name) > 36 {
		name = strings.Trim(name[:36], "-._")
	}
	return strings.ToLower("capc-" + name + "-" + hex.EncodeToString(h.Sum(nil))[:10])
}

// job is the runner Job: one pod, no retries (the manager retries with backoff), a deadline
// past the run timeout, non-root with a read-only root filesystem.
func (j *JobRunner) job(ws Workspace, name string) *batchv1.Job {
	meta := j.objectMeta(ws.Object, name, "run")
	delete(meta.Labels, LabelMove) // a run is not moved: clusterctl move waits for it instead
	c := corev1.Container{
		Name: runnerContainer, Image: j.Jobs.Image,
		Args: append([]string{"runner", "--request=" + requestMount + "/request.json", "--work-dir=" + workMount,
			fmt.Sprintf("--run-timeout=%s", j.cfg.RunTimeout), fmt.Sprintf("--state-lock-ttl=%s", j.cfg.LockTTL)}, j.Jobs.Args...),
		Env: append([]corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "JOB_NAME", Value: name},
		}, j.Jobs.Env...),
		VolumeMounts: []corev1.VolumeMount{{Name: "request", MountPath: requestMount, ReadOnly: true}, {Name: "work", MountPath: workMount}},
		SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
			RunAsNonRoot: ptr.To(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
	}
	if ws.CredentialsSecret != "" {
		c.EnvFrom = []corev1.EnvFromSource{{Prefix: CredentialsEnvPrefix,
			SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: ws.CredentialsSecret}}}}
	}
	spec := corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever, ServiceAccountName: j.Jobs.ServiceAccount, Containers: []corev1.Container{c},
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65532)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Volumes: []corev1.Volume{
			{Name: "request", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: name + "-request"}}},
			{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}
	if t := j.Jobs.Template; t != nil {
		spec.NodeSelector, spec.Tolerations, spec.Affinity = t.Spec.NodeSelector, t.Spec.Tolerations, t.Spec.Affinity
		spec.PriorityClassName, spec.ImagePullSecrets = t.Spec.PriorityClassName, t.Spec.ImagePullSecrets
		for _, tc := range t.Spec.Containers {
			if tc.Name == runnerContainer {
				spec.Containers[0].Resources = tc.Resources
			}
		}
	}
	deadline := int64((j.cfg.RunTimeout + 2*j.cfg.CancelGrace + time.Minute) / time.Second)
	job := &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{
		BackoffLimit: ptr.To(int32(0)), ActiveDeadlineSeconds: &deadline,
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: meta.Labels}, Spec: spec},
	}}
	if j.Jobs.TTL > 0 {
		job.Spec.TTLSecondsAfterFinished = ptr.To(int32(j.Jobs.TTL / time.Second))
	}
	return job
}
