/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfjob

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/zclconf/go-cty/cty"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/modulesrc"
	"github.com/company/cluster-api-provider-custom/planpolicy"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

func TestRequestRoundTrip(t *testing.T) {
	mod := fstest.MapFS{
		"machine/main.tf":   {Data: []byte(`resource "terraform_data" "x" {}`)},
		"modules/lb/lb.tf":  {Data: []byte(`variable "port" {}`)},
		"machine/README.md": {Data: []byte("docs")},
	}
	vars := map[string]cty.Value{
		"name":  cty.StringVal("m-0"),
		"tags":  cty.MapVal(map[string]cty.Value{"role": cty.StringVal("node")}),
		"sizes": cty.ListVal([]cty.Value{cty.NumberIntVal(50), cty.NumberIntVal(100)}),
		"extra": cty.NullVal(cty.String),
	}
	ws := tfrunner.Workspace{Object: tfstate.ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m-0", UID: "u1"}, Module: mod,
		ModuleDir: "machine", Variables: vars, Sensitive: []string{"name"}}
	// The plan policies travel with the run: the runner pod judges the plan as the manager would.
	plans := []planpolicy.Set{{Name: "ConfigMap capc-system/sizes", Files: map[string]string{"deny.rego": "package main\n"}}}
	q, err := NewRequest(OpReconcile, ws, tfrunner.Policy{AutoApply: true, PreviewToken: "p1", PlanPolicies: plans})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	var back Request
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	got, err := back.Workspace(dir, map[string]string{"TOKEN": "x"})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range vars {
		if !got.Variables[name].RawEquals(v) {
			t.Errorf("variable %s: %#v, want %#v", name, got.Variables[name], v)
		}
	}
	if back.Policy.PreviewToken != "p1" || !back.Policy.AutoApply || got.ModuleDir != "machine" || got.Env["TOKEN"] != "x" ||
		planpolicy.Digest(back.Policy.PlanPolicies) != planpolicy.Digest(plans) {
		t.Errorf("request: %+v, workspace %+v", back, got)
	}
	want, _ := tfrunner.TreeDigest(mod, "machine")
	if d, err := tfrunner.TreeDigest(got.Module, "machine"); err != nil || d != want {
		t.Errorf("module digest after the trip %s (%v), want %s", d, err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "modules", "lb", "lb.tf")); err != nil {
		t.Errorf("a called module was not unpacked: %v", err)
	}
	// Same request, same Job; another request or another object, another Job.
	again, _ := json.Marshal(q)
	if jobName(ws.Object, b) != jobName(ws.Object, again) || len(jobName(ws.Object, b)) > 52 {
		t.Errorf("job name not stable or too long: %s", jobName(ws.Object, b))
	}
	other := ws.Object
	other.UID = "u2"
	if jobName(ws.Object, b) == jobName(other, b) || jobName(ws.Object, b) == jobName(ws.Object, append(b, ' ')) {
		t.Error("different runs share a Job name")
	}
}

// The runner pod unpacks its module with the artifacts' hardened unpacker: an entry that
// leaves the work dir, or a link, is refused before anything runs.
func TestRequestModuleIsUnpackedHardened(t *testing.T) {
	for name, mod := range map[string][]byte{
		"escape": tarEntries(t, tar.TypeReg, "../escape.tf"),
		"link":   tarEntries(t, tar.TypeSymlink, "out.tf"),
	} {
		q := &Request{Module: mod, Variables: []byte(`{}`), VarsType: []byte(`"dynamic"`)}
		if _, err := q.Workspace(t.TempDir(), nil); err == nil || !errors.As(err, new(*modulesrc.ArchiveError)) {
			t.Errorf("%s: %v, want an archive refusal", name, err)
		}
	}
}

func TestErrorRoundTrip(t *testing.T) {
	since := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, err := range []error{
		&tfstate.LockedError{Holder: "pod-a", RunID: "r1", Since: since, Expires: since.Add(time.Minute)},
		&tfrunner.StalePlanError{Approved: "a", Saved: "b", Reason: "digest does not match"},
		&tfrunner.TerraformError{Op: "apply", Diagnostics: "Error: quota exceeded"},
		tfrunner.NewTimeoutError("interrupted", time.Minute),
		&tfrunner.SandboxError{Status: tfrunner.SandboxStatus{Mode: tfrunner.SandboxRequired, Reason: "Landlock is not available"}},
		errors.New("module policy: provisioner local-exec"),
		&tfrunner.GoneError{Addresses: []string{"fakecloud_instance.this"}},
		&tfrunner.PolicyDeniedError{Digest: "abc", Verdict: planpolicy.Verdict{Digest: "p", Denials: []planpolicy.Finding{{Policy: "ConfigMap capc-system/x", Rule: "main.deny", Message: "too big"}}}},
		fmt.Errorf("checking installed modules: %w", &modulecheck.PolicyError{Problems: []modulecheck.Problem{{Item: `module "x"`, Message: "provisioner local-exec"}}}),
	} {
		b, _ := json.Marshal(NewError(err))
		var je Error
		if e := json.Unmarshal(b, &je); e != nil {
			t.Fatal(e)
		}
		got := je.Err()
		// A policy refusal keeps its type, so the controllers give it the same reason (NotAllowed)
		// in job mode as in local mode.
		if sent := (*modulecheck.PolicyError)(nil); errors.As(err, &sent) {
			var pe *modulecheck.PolicyError
			if !errors.As(got, &pe) || pe.Error() != sent.Error() {
				t.Errorf("policy: %v → %v", err, got)
			}
			continue
		}
		var locked *tfstate.LockedError
		var stale *tfrunner.StalePlanError
		var to *tfrunner.RunTimeoutError
		switch err.(type) {
		case *tfstate.LockedError:
			if !errors.As(got, &locked) || locked.Holder != "pod-a" || !locked.Since.Equal(since) {
				t.Errorf("locked: %v", got)
			}
		case *tfrunner.StalePlanError:
			if !errors.As(got, &stale) || stale.Saved != "b" {
				t.Errorf("stale: %v", got)
			}
		case *tfrunner.PolicyDeniedError: // the verdict crosses whole: the condition lists each message
			var d *tfrunner.PolicyDeniedError
			if !errors.As(got, &d) || got.Error() != err.Error() || d.Verdict.Denials[0].Policy != "ConfigMap capc-system/x" {
				t.Errorf("denied: %v → %v", err, got)
			}
		case *tfrunner.GoneError:
			var gone *tfrunner.GoneError
			if !errors.As(got, &gone) || len(gone.Addresses) != 1 || got.Error() != err.Error() {
				t.Errorf("gone: %v", got)
			}
		case *tfrunner.SandboxError:
			var se *tfrunner.SandboxError
			if !errors.As(got, &se) || got.Error() != err.Error() {
				t.Errorf("sandbox: %v → %v", err, got)
			}
		case *tfrunner.TerraformError:
			if errors.As(err, &to) != errors.As(got, &to) || !errors.Is(got, got) || got.Error() == "" {
				t.Errorf("terraform: %v → %v", err, got)
			}
		default:
			if got.Error() != err.Error() {
				t.Errorf("other: %v → %v", err, got)
			}
		}
	}
	if NewError(nil) != nil || (*Error)(nil).Err() != nil {
		t.Error("no error must stay no error")
	}
}

// The runner Job: one try, a deadline past the run timeout, non-root and read-only, the
// credentials only as environment of its pod, the operator's scheduling and resources.
func TestRunnerJobSpec(t *testing.T) {
	cpu := resource.MustParse("500m")
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: map[string]string{"pool": "runners"},
		Tolerations: []corev1.Toleration{{Key: "runners", Operator: corev1.TolerationOpExists}},
		Containers: []corev1.Container{{Name: "runner", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: cpu}}}}}}
	j := &Runner{local: limitsOnly{}, limits: limitsOnly{}.Limits(),
		jobs: Config{Image: "img:v1", ServiceAccount: "capc-runner", Template: tmpl, TTL: 10 * time.Minute}}
	ws := tfrunner.Workspace{Object: tfstate.ObjectRef{APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1", Kind: "CustomMachine", Namespace: "ns",
		Name: "m-0", UID: "u1"}, CredentialsSecret: "cloud"}
	job := j.job(ws, "capc-m-0-abc")
	spec, pod := job.Spec, job.Spec.Template.Spec
	c := pod.Containers[0]
	switch {
	case *spec.BackoffLimit != 0, *spec.ActiveDeadlineSeconds != 1860+60, *spec.TTLSecondsAfterFinished != 600:
		t.Errorf("job spec: %+v", spec)
	case pod.RestartPolicy != corev1.RestartPolicyNever, pod.ServiceAccountName != "capc-runner", !*pod.SecurityContext.RunAsNonRoot:
		t.Errorf("pod spec: %+v", pod)
	case !*c.SecurityContext.ReadOnlyRootFilesystem, *c.SecurityContext.AllowPrivilegeEscalation, c.SecurityContext.Capabilities.Drop[0] != "ALL":
		t.Errorf("container security: %+v", c.SecurityContext)
	case len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef.Name != "cloud" || c.EnvFrom[0].Prefix != CredentialsEnvPrefix:
		t.Errorf("credentials: %+v", c.EnvFrom)
	case pod.NodeSelector["pool"] != "runners" || len(pod.Tolerations) != 1 || !c.Resources.Requests.Cpu().Equal(cpu):
		t.Errorf("template not applied: %+v %+v", pod, c.Resources)
	case job.Labels[tfstate.LabelRole] != "run" || job.Labels[tfstate.LabelName] != "m-0" || hasKey(job.Labels, tfstate.LabelMove):
		t.Errorf("labels: %v", job.Labels)
	case len(job.OwnerReferences) != 1 || job.OwnerReferences[0].UID != "u1":
		t.Errorf("owner: %+v", job.OwnerReferences)
	}
}

// An operator's template adds volumes, mounts, host networking and a pull policy to the runner
// pod, and may not replace the runner's own volumes or mount over their paths.
func TestRunnerPodTemplate(t *testing.T) {
	mirror := corev1.Volume{Name: "mirror", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/mirror"}}}
	tmpl := func(v corev1.Volume, mounts ...corev1.VolumeMount) *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{Spec: corev1.PodSpec{HostNetwork: true, Volumes: []corev1.Volume{v},
			Containers: []corev1.Container{{Name: "runner", ImagePullPolicy: corev1.PullIfNotPresent, VolumeMounts: mounts}}}}
	}
	ok := tmpl(mirror, corev1.VolumeMount{Name: "mirror", MountPath: "/mirror", ReadOnly: true})
	if err := ValidateTemplate(ok); err != nil {
		t.Fatal(err)
	}
	j := &Runner{local: limitsOnly{}, limits: limitsOnly{}.Limits(), jobs: Config{Image: "img:v1", Template: ok}}
	pod := j.job(tfrunner.Workspace{Object: tfstate.ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}}, "capc-m-1").Spec.Template.Spec
	c := pod.Containers[0]
	if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet || len(pod.Volumes) != 3 || pod.Volumes[2].Name != "mirror" ||
		len(c.VolumeMounts) != 3 || c.VolumeMounts[2].MountPath != "/mirror" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("template not applied: %+v", pod)
	}
	for name, bad := range map[string]*corev1.PodTemplateSpec{
		"a volume named request":    tmpl(corev1.Volume{Name: "request"}),
		"a mount of no volume":      tmpl(mirror, corev1.VolumeMount{Name: "other", MountPath: "/x"}),
		"a mount over the work dir": tmpl(mirror, corev1.VolumeMount{Name: "mirror", MountPath: "/tmp/capc"}),
		"a mount above the request": tmpl(mirror, corev1.VolumeMount{Name: "mirror", MountPath: "/var/run"}),
		"a mount inside the work":   tmpl(mirror, corev1.VolumeMount{Name: "mirror", MountPath: "/tmp/capc/x"}),
	} {
		if err := ValidateTemplate(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

// limitsOnly is the local runner as the Job spec reads it: its limits and object metadata.
type limitsOnly struct{ Local }

func (limitsOnly) Limits() tfrunner.Limits {
	return tfrunner.Limits{RunTimeout: 30 * time.Minute, CancelGrace: 30 * time.Second, LockTTL: 40 * time.Second}
}

func (limitsOnly) ObjectMeta(obj tfstate.ObjectRef, name, role string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: obj.Namespace, Labels: tfstate.Labels(obj, role),
		OwnerReferences: tfstate.DefaultOwnerRefs(obj)}
}

// tarEntries packs empty files with exactly these names (no cleaning), as a hostile request might.
func tarEntries(t *testing.T, typ byte, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Typeflag: typ, Linkname: "/etc/passwd"}); err != nil {
			t.Fatal(err)
		}
	}
	_ = tw.Close()
	_ = zw.Close()
	return buf.Bytes()
}
