/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/planpolicy"
)

// The platform team's CustomPolicies and the namespaces they select are read from the cache;
// plan policy ConfigMaps from a cache of the provider's namespace only (newPolicyCache), which a
// Role there grants (config/rbac/policy_role.yaml).
// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=custompolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// tenant reads the CustomPolicies that govern namespace.
func (b *base) tenant(ctx context.Context, namespace string) (tenant, error) {
	var list infrav1.CustomPolicyList
	if err := b.Client.List(ctx, &list); err != nil {
		return tenant{}, fmt.Errorf("listing CustomPolicies: %w", err)
	}
	if len(list.Items) == 0 {
		return tenant{namespace: namespace}, nil
	}
	ns := &corev1.Namespace{}
	if err := b.Client.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return tenant{}, fmt.Errorf("reading namespace %s for its CustomPolicies: %w", namespace, err)
	}
	return governing(list.Items, namespace, ns.Labels)
}

// PolicySourceError is a plan policy source that cannot be read (a missing ConfigMap, a Flux
// source without an artifact): the plans it should judge wait, never pass unjudged.
type PolicySourceError struct{ Message string }

func (e *PolicySourceError) Error() string { return e.Message }

// planPolicies reads and compiles the plan policies of the governing CustomPolicies.
func (b *base) planPolicies(ctx context.Context, t tenant) ([]planpolicy.Set, error) {
	srcs := t.planPolicies()
	if len(srcs) == 0 {
		return nil, nil
	}
	sets := make([]planpolicy.Set, 0, len(srcs))
	for _, src := range srcs {
		set, err := b.planPolicySet(ctx, src)
		if err != nil {
			return nil, err
		}
		if err := planpolicy.Check(set); err != nil {
			return nil, err
		}
		sets = append(sets, set)
	}
	return sets, nil
}

// planPolicySet reads one source's .rego files: a ConfigMap's keys in the provider's namespace,
// or the files under path in a Flux source's artifact (all of them, as conftest loads a directory).
func (b *base) planPolicySet(ctx context.Context, src infrav1.PlanPolicySource) (planpolicy.Set, error) {
	set := planpolicy.Set{Name: policySourceName(src, b.Options.PolicyNamespace), Files: map[string]string{}}
	if src.ConfigMapRef != nil {
		cm := &corev1.ConfigMap{}
		if err := b.policyConfigMaps.Get(ctx, client.ObjectKey{Namespace: b.Options.PolicyNamespace, Name: src.ConfigMapRef.Name}, cm); err != nil {
			return set, &PolicySourceError{Message: fmt.Sprintf("plan policy %s: %v", set.Name, err)}
		}
		for k, v := range cm.Data {
			if strings.HasSuffix(k, ".rego") {
				set.Files[k] = v
			}
		}
		for k, v := range cm.BinaryData {
			if strings.HasSuffix(k, ".rego") {
				set.Files[k] = string(v)
			}
		}
		return set, nil
	}
	a, err := b.sourceArtifact(ctx, src.SourceRef, src.SourceRef.Namespace)
	if err == nil {
		var dir string
		if dir, err = b.Options.Sources.Artifact(ctx, a.url, a.digest); err == nil {
			set.Files, err = artifactPolicies.files(dir, a.digest, src.Path)
		}
	}
	if err != nil {
		return set, &PolicySourceError{Message: fmt.Sprintf("plan policy %s: %v", set.Name, err)}
	}
	return set, nil
}

// artifactPolicies caches the .rego files read from unpacked Flux artifacts by digest and path.
var artifactPolicies = &regoFiles{m: map[string]map[string]string{}}

type regoFiles struct {
	sync.Mutex
	m map[string]map[string]string
}

func (c *regoFiles) files(dir, digest, sub string) (map[string]string, error) {
	key := digest + "\x00" + sub
	c.Lock()
	files, ok := c.m[key]
	c.Unlock()
	if ok {
		return files, nil
	}
	files, err := planpolicy.ReadDir(os.DirFS(dir), sub)
	if err != nil {
		return nil, err
	}
	c.Lock()
	if len(c.m) >= 64 {
		c.m = map[string]map[string]string{}
	}
	c.m[key] = files
	c.Unlock()
	return files, nil
}

// policyRefused says why the object's plans cannot be judged: PolicyPassed=False and Ready=False
// with reason PolicyInvalid, and a Warning event when the message is new.
func (b *base) policyRefused(obj object, err error) {
	if messageChanged(obj, infrav1.PolicyPassedCondition, err.Error()) {
		b.Recorder.Eventf(obj, corev1.EventTypeWarning, infrav1.PolicyInvalidReason, "%v", err)
	}
	setCondition(obj, infrav1.PolicyPassedCondition, false, infrav1.PolicyInvalidReason, "%v", err)
	setNotReady(obj, infrav1.PolicyInvalidReason, "%v", err)
}

// policyVerdict records the plan policies' verdict on a plan that may be applied: PolicyPassed
// True, with the warnings listed (and a Warning event naming the policies when they change).
// Without plan policies the condition goes.
func (b *base) policyVerdict(obj object, v *planpolicy.Verdict, policed bool) {
	switch {
	case !policed:
		conditions.Delete(obj, infrav1.PolicyPassedCondition)
	case v == nil: // no plan in this reconcile: the last verdict stands
	case len(v.Warnings) > 0:
		msg := "plan policies warn: " + planpolicy.Summary(v.Warnings)
		if messageChanged(obj, infrav1.PolicyPassedCondition, msg) {
			b.Recorder.Eventf(obj, corev1.EventTypeWarning, infrav1.PolicyWarningsReason, "Plan policies %s warn: %s", planpolicy.Policies(v.Warnings), planpolicy.Summary(v.Warnings))
		}
		setCondition(obj, infrav1.PolicyPassedCondition, true, infrav1.PolicyWarningsReason, "%s", msg)
	default:
		setCondition(obj, infrav1.PolicyPassedCondition, true, infrav1.PolicyPassedReason, "")
	}
}

// policyDenied records a plan the plan policies deny: PolicyPassed=False listing each message
// (reason PolicyInvalid when a policy failed on it), Ready=False unless the object is already
// provisioned (its infrastructure stands; the change waits), and a Warning event naming the
// policies when the verdict is new.
func (b *base) policyDenied(obj object, denied string, v *planpolicy.Verdict) {
	reason := infrav1.PolicyDeniedReason
	if len(v.Errors) > 0 {
		reason = infrav1.PolicyInvalidReason
	}
	if messageChanged(obj, infrav1.PolicyPassedCondition, denied) {
		who := planpolicy.Policies(v.Denials)
		if who == "" {
			who = "plan policies"
		}
		b.Recorder.Eventf(obj, corev1.EventTypeWarning, reason, "Denied by %s: %s", who, denied)
	}
	setCondition(obj, infrav1.PolicyPassedCondition, false, reason, "%s", denied)
	if !conditions.IsTrue(obj, infrav1.ReadyCondition) {
		setNotReady(obj, reason, "%s", denied)
	}
}
