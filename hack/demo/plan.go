/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"fmt"
	"maps"

	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// planPreview switches one machine to manual approval, changes its tags, shows the saved plan
// waiting for approval, approves exactly its digest and waits for it to be applied.
func (d *demo) planPreview(ctx context.Context) error {
	ms, err := d.machines(ctx)
	if err != nil || len(ms) == 0 {
		return fmt.Errorf("no machines to preview a plan for: %v", err)
	}
	cm := &ms[0]
	step(fmt.Sprintf("Plan preview: custommachine/%s in manual approval mode, tag cost-center=42 added", cm.Name))
	patch := client.MergeFrom(cm.DeepCopy())
	cm.Annotations = maps.Clone(cm.Annotations)
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[infrav1.ApprovalAnnotation] = "manual"
	cm.Spec.Tags = maps.Clone(cm.Spec.Tags)
	if cm.Spec.Tags == nil {
		cm.Spec.Tags = map[string]string{}
	}
	cm.Spec.Tags["cost-center"] = "42"
	if err := d.c.Patch(ctx, cm, patch); err != nil {
		return err
	}
	key := client.ObjectKeyFromObject(cm)
	var digest string
	err = poll(ctx, "a plan awaiting approval", func() (string, bool, error) {
		if err := d.c.Get(ctx, key, cm); err != nil {
			return "", false, err
		}
		ts := cm.Status.Terraform
		if ts == nil || ts.LastRunResult != infrav1.RunPendingApproval || ts.Plan == nil {
			return "waiting for the plan", false, nil
		}
		digest = ts.Plan.Digest
		return fmt.Sprintf("plan %s: %d to add, %d to change, %d to destroy, %d to replace", digest[:12], ts.Plan.Add, ts.Plan.Change, ts.Plan.Destroy, ts.Plan.Replace), true, nil
	})
	if err != nil {
		return err
	}
	for _, r := range cm.Status.Terraform.Plan.Resources {
		fmt.Printf("     %s %s\n", r.Action, r.Address)
	}
	fmt.Printf("   approving: kubectl annotate custommachine -n %s %s %s=%s\n", cm.Namespace, cm.Name, infrav1.ApprovePlanAnnotation, digest)
	patch = client.MergeFrom(cm.DeepCopy())
	cm.Annotations = maps.Clone(cm.Annotations)
	cm.Annotations[infrav1.ApprovePlanAnnotation] = digest
	if err := d.c.Patch(ctx, cm, patch); err != nil {
		return err
	}
	return poll(ctx, "the approved plan to be applied", func() (string, bool, error) {
		if err := d.c.Get(ctx, key, cm); err != nil {
			return "", false, err
		}
		ts := cm.Status.Terraform
		done := ts != nil && ts.LastRunResult == infrav1.RunSucceeded && ts.Plan != nil && ts.Plan.Digest == digest
		return fmt.Sprintf("last run: %s", ts.LastRunResult), done, nil
	})
}
