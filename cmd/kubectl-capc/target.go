/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// target is one CustomCluster or CustomMachine, reduced to what the commands read.
type target struct {
	Kind  string
	obj   client.Object
	tf    *infrav1.TerraformStatus
	conds []metav1.Condition
}

func newTarget(obj client.Object) target {
	switch o := obj.(type) {
	case *infrav1.CustomCluster:
		return target{Kind: "CustomCluster", obj: o, tf: o.Status.Terraform, conds: o.Status.Conditions}
	case *infrav1.CustomMachine:
		return target{Kind: "CustomMachine", obj: o, tf: o.Status.Terraform, conds: o.Status.Conditions}
	}
	panic(fmt.Sprintf("unexpected object type %T", obj))
}

func (t target) ref() tfstate.ObjectRef {
	return tfstate.ObjectRef{Kind: t.Kind, Namespace: t.obj.GetNamespace(), Name: t.obj.GetName()}
}

// String is kind/name as the user types it.
func (t target) String() string { return strings.ToLower(t.Kind) + "/" + t.obj.GetName() }

func (t target) condition(typ string) *metav1.Condition {
	return meta.FindStatusCondition(t.conds, typ)
}

// handledAt is the object's status.lastHandledReconcileAt.
func (t target) handledAt() string {
	switch o := t.obj.(type) {
	case *infrav1.CustomCluster:
		return o.Status.LastHandledReconcileAt
	case *infrav1.CustomMachine:
		return o.Status.LastHandledReconcileAt
	}
	return ""
}

// pendingPlan is the status plan when it waits for approval.
func (t target) pendingPlan() *infrav1.PlanStatus {
	if t.tf == nil || t.tf.LastRunResult != infrav1.RunPendingApproval || t.tf.Plan == nil || t.tf.Plan.Digest == "" {
		return nil
	}
	return t.tf.Plan
}

// parseKind maps what a user may type (kubectl's resource names, short names, singular or
// plural, with or without the group) to the object kind.
func parseKind(s string) (client.Object, error) {
	s = strings.TrimSuffix(strings.ToLower(s), "."+infrav1.GroupVersion.Group)
	switch s {
	case "customcluster", "customclusters", "cc":
		return &infrav1.CustomCluster{}, nil
	case "custommachine", "custommachines", "cm":
		return &infrav1.CustomMachine{}, nil
	}
	return nil, fmt.Errorf("unknown kind %q: use customcluster/NAME or custommachine/NAME", s)
}

// get fetches KIND/NAME in the command's namespace.
func (a *app) get(ctx context.Context, arg string) (target, error) {
	kind, name, ok := strings.Cut(arg, "/")
	if !ok || name == "" {
		return target{}, fmt.Errorf("%q: name the object as KIND/NAME, e.g. customcluster/demo", arg)
	}
	obj, err := parseKind(kind)
	if err != nil {
		return target{}, err
	}
	ns, err := a.namespace()
	if err != nil {
		return target{}, err
	}
	if err := a.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		return target{}, fmt.Errorf("getting %s in namespace %s: %w", arg, ns, err)
	}
	return newTarget(obj), nil
}

// printStructured writes v as kubectl's -o json or -o yaml would; ok is false for other formats.
func printStructured(w io.Writer, format string, v any) (ok bool, err error) {
	switch format {
	case "json":
		b, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return true, err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return true, err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return true, err
		}
		_, err = w.Write(b)
		return true, err
	case "", "wide", "text":
		return false, nil
	}
	return true, fmt.Errorf("unknown output format %q: use json or yaml", format)
}
