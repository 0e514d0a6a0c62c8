/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/yaml"

	"github.com/company/cluster-api-provider-custom/tfjob"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// runnerMain is `manager runner`: the one terraform run of a runner Job (job mode), with the
// same runner code as local mode; the result goes to a Secret the manager reads.
func runnerMain(ctx context.Context, o *options) error {
	binary, err := resolveBinary(ctx, o)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(o.Request)
	if err != nil {
		return fmt.Errorf("reading the run request: %w", err)
	}
	var q tfjob.Request
	if err := json.Unmarshal(raw, &q); err != nil {
		return fmt.Errorf("decoding the run request %s: %w", o.Request, err)
	}
	cfg, err := ctrl.GetConfig() // the pod's ServiceAccount
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	kube, err := tfrunner.NewKubeClient(cfg)
	if err != nil {
		return err
	}
	shim, err := shimPath()
	if err != nil {
		return err
	}
	policy, err := o.modulePolicy()
	if err != nil {
		return err
	}
	r, err := tfrunner.New(tfrunner.Config{
		Binary: binary, WorkDir: o.WorkDir, Kube: kube, Holder: holderIdentity(), Shim: shim,
		MaxConcurrentRuns: 1, RunTimeout: o.RunTimeout, LockTTL: o.StateLockTTL, Logger: ctrl.Log.WithName("runner"),
		Sandbox: tfrunner.SandboxMode(o.Sandbox), SandboxReadPaths: o.sandboxReadPaths(),
		AllowedProviders: policy.Providers, ProviderMirrors: o.ProviderMirrors,
	})
	if err != nil {
		return fmt.Errorf("creating the terraform runner (--work-dir=%q): %w", o.WorkDir, err)
	}
	return tfjob.Run(ctx, r, o.WorkDir, &q, os.Getenv("JOB_NAME"), os.Environ(), policy.Refuse)
}

// jobRunner wraps the local runner for --runner=job: what needs terraform runs in Jobs.
func jobRunner(ctx context.Context, o *options, local *tfrunner.Runner) (*tfjob.Runner, error) {
	jc := tfjob.Config{Image: o.RunnerImage, ServiceAccount: o.RunnerServiceAccount, TTL: o.RunnerJobTTL,
		Args: o.runnerArgs()}
	if o.RunnerPodTemplate != "" {
		t, err := podTemplate(ctx, local, o.RunnerPodTemplate)
		if err != nil {
			return nil, err
		}
		jc.Template = t
	}
	return tfjob.New(local, jc, ctrl.Log.WithName("jobs")), nil
}

// podTemplate reads the operator's runner pod template from a ConfigMap (namespace/name).
func podTemplate(ctx context.Context, r *tfrunner.Runner, ref string) (*corev1.PodTemplateSpec, error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok {
		return nil, fmt.Errorf("--runner-pod-template %q: want namespace/name", ref)
	}
	cm, err := r.Kube().CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("--runner-pod-template: %w", err)
	}
	var t corev1.PodTemplateSpec
	if err := yaml.UnmarshalStrict([]byte(cm.Data["pod-template.yaml"]), &t); err != nil {
		return nil, fmt.Errorf("--runner-pod-template %s: key pod-template.yaml: %w", ref, err)
	}
	if err := tfjob.ValidateTemplate(&t); err != nil {
		return nil, fmt.Errorf("--runner-pod-template %s: %w", ref, err)
	}
	return &t, nil
}

// runnerArgs are the flags a runner Job needs from this manager's: the engine, the sandbox and
// the module policy (the run timeout and lock TTL come from the runner's own configuration).
func (o *options) runnerArgs() []string {
	args := []string{"--engine=" + o.Engine, "--sandbox=" + o.Sandbox}
	if o.TerraformVersion != "" {
		args = append(args, "--terraform-version="+o.TerraformVersion)
	}
	if o.AllowProvisioners {
		args = append(args, "--allow-provisioners")
	}
	if o.AllowedProviders != "" {
		args = append(args, "--allowed-providers="+o.AllowedProviders)
	}
	for _, p := range o.SandboxReadPaths {
		args = append(args, "--sandbox-allow-read="+p)
	}
	for _, m := range o.ProviderMirrors {
		args = append(args, "--provider-mirror="+m)
	}
	return args
}
