/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/company/cluster-api-provider-custom/tfjob"
)

// RunnerImage is the provider image, as `make docker-build` names and builds it (BuildImage, fully
// qualified as the CRI looks images up), that job-mode stacks run their runner Jobs from on a
// real node.
const RunnerImage = "ghcr.io/company/cluster-api-provider-custom:v0.1.0"

// BuildImage builds the provider image into dir as `make docker-build` does (buildah, offline,
// FROM scratch) and returns its OCI archive.
func BuildImage(dir string) (string, error) {
	archive := filepath.Join(dir, "image.oci.tar")
	build := exec.Command("make", "-C", RepoRoot(), "docker-build", "IMG="+RunnerImage,
		"IMAGE_DIR="+filepath.Join(dir, "context"), "IMAGE_ARCHIVE="+archive)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make docker-build: %w\n%s", err, out)
	}
	return archive, nil
}

// mirrorMount is where runner pods on the test node find bin/tf-mirror (--provider-mirror).
const mirrorMount = "/mirror"

// NodeRunnerJobs is the job-mode configuration of runner pods on a real node: RunnerImage (from
// the node's image store: IfNotPresent), terraform sandboxed or refused (--sandbox=required:
// Landlock under the runtime's seccomp profile), bin/tf-mirror mounted read-only for the fake
// cloud's provider, and the host network with the API server at apiAddr (there is no kube-proxy
// to route the kubernetes Service; apiAddr may be a CutProxy).
func NodeRunnerJobs(apiAddr string) *tfjob.Config {
	host, port, _ := strings.Cut(apiAddr, ":")
	return &tfjob.Config{Image: RunnerImage, ServiceAccount: "capc-runner", TTL: time.Minute,
		Args: []string{"--provider-mirror=" + mirrorMount, "--sandbox=required"},
		Env:  []corev1.EnvVar{{Name: "KUBERNETES_SERVICE_HOST", Value: host}, {Name: "KUBERNETES_SERVICE_PORT", Value: port}},
		Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{HostNetwork: true,
			Volumes: []corev1.Volume{{Name: "mirror", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: filepath.Join(RepoRoot(), "bin", "tf-mirror")}}}},
			Containers: []corev1.Container{{Name: "runner", ImagePullPolicy: corev1.PullIfNotPresent,
				VolumeMounts: []corev1.VolumeMount{{Name: "mirror", MountPath: mirrorMount, ReadOnly: true}}}}}}}
}

// JobStack is a job-mode stack on a real node: runner pods reach the API server through Proxy,
// which a test can cut.
type JobStack struct {
	*Stack
	Node  *Node
	Proxy *CutProxy
	Jobs  tfjob.Config
}

// StartJobStack starts a stack in job mode (o.Jobs is NodeRunnerJobs through a CutProxy, then
// adjusted by adjust), a real node for it in dir and imports the image archive into the node.
func StartJobStack(ctx context.Context, o StackOptions, dir, archive string, adjust func(*StackOptions)) (js *JobStack, err error) {
	js = &JobStack{}
	if js.Proxy, err = NewCutProxy(""); err != nil {
		return nil, err
	}
	o.Node, o.Jobs = true, NodeRunnerJobs(js.Proxy.Addr())
	if adjust != nil {
		adjust(&o)
	}
	js.Jobs = *o.Jobs
	defer func() {
		if err != nil {
			js.Stop()
		}
	}()
	if js.Stack, err = StartStack(ctx, o); err != nil {
		return js, err
	}
	apiURL, err := url.Parse(js.Env.Config.Host)
	if err != nil {
		return js, err
	}
	js.Proxy.SetTarget(apiURL.Host)
	if js.Node, err = StartNode(ctx, js.Env, dir); err != nil {
		return js, err
	}
	return js, js.Node.ImportImage(archive)
}

// Stop stops the node, the stack and the proxy.
func (js *JobStack) Stop() {
	if js.Node != nil {
		js.Node.Stop()
	}
	if js.Stack != nil {
		_ = js.Stack.Stop()
	}
	js.Proxy.Close()
}

// RunnerNamespace creates ns with the runner's ServiceAccount, Role and RoleBinding from
// config/rbac/runner, as an operator applies them.
func RunnerNamespace(ctx context.Context, c client.Client, ns string) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	for _, f := range []string{"service_account.yaml", "role.yaml", "role_binding.yaml"} {
		objs, err := ReadObjects(filepath.Join(RepoRoot(), "config", "rbac", "runner", f))
		if err != nil {
			return err
		}
		for _, o := range objs {
			o.SetNamespace(ns)
			if err := c.Create(ctx, o); err != nil {
				return fmt.Errorf("creating %s %s in %s: %w", o.GetKind(), o.GetName(), ns, err)
			}
		}
	}
	return nil
}
