/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// Flux sources are read as unstructured objects: importing Flux's API module would pin
// k8s.io/* to its versions, and the provider needs four status fields.
// +kubebuilder:rbac:groups=source.toolkit.fluxcd.io,resources=gitrepositories;ocirepositories;buckets,verbs=get;list;watch

// fluxGroupVersion serves the three source kinds a module may come from.
var fluxGroupVersion = schema.GroupVersion{Group: "source.toolkit.fluxcd.io", Version: "v1"}

// sourceKinds are the Flux source kinds spec.module.sourceRef accepts.
var sourceKinds = []string{"GitRepository", "OCIRepository", "Bucket"}

// sourceRefIndex indexes CustomClusters and CustomMachines by the Flux source they use.
const sourceRefIndex = "spec.module.sourceRef"

// SourceNotReadyError is a Flux source that has no artifact to use yet: the object waits
// (ModuleValid=False, SourceNotReady) and is reconciled again when the source changes.
type SourceNotReadyError struct{ Message string }

func (e *SourceNotReadyError) Error() string { return e.Message }

// artifact is what the provider reads from a Flux source's status.
type artifact struct {
	url, digest, revision string
}

// sourceKey is the sourceRefIndex value of a reference made from namespace.
func sourceKey(ref *infrav1.SourceReference, namespace string) string {
	if ref.Namespace != "" {
		namespace = ref.Namespace
	}
	return ref.Kind + "/" + namespace + "/" + ref.Name
}

// sourceArtifact reads the source's current artifact; a source that is missing, not Ready or
// without an artifact is a SourceNotReadyError.
func (b *base) sourceArtifact(ctx context.Context, ref *infrav1.SourceReference, namespace string) (artifact, error) {
	ns := namespace
	if ref.Namespace != "" && ref.Namespace != namespace {
		if !b.Options.AllowCrossNamespaceSources {
			return artifact{}, refused("spec.module.sourceRef",
				"%s %s/%s is in another namespace; this manager allows that only with --allow-cross-namespace-sources", ref.Kind, ref.Namespace, ref.Name)
		}
		ns = ref.Namespace
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(fluxGroupVersion.WithKind(ref.Kind))
	name := fmt.Sprintf("%s %s/%s", ref.Kind, ns, ref.Name)
	if err := b.Sources.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, u); err != nil {
		if client.IgnoreNotFound(err) == nil || meta.IsNoMatchError(err) {
			return artifact{}, &SourceNotReadyError{Message: fmt.Sprintf("module source %s: %v", name, err)}
		}
		return artifact{}, fmt.Errorf("reading module source %s: %w", name, err)
	}
	ready, msg := readyCondition(u)
	if !ready {
		return artifact{}, &SourceNotReadyError{Message: fmt.Sprintf("module source %s is not Ready: %s", name, msg)}
	}
	a := artifact{}
	a.url, _, _ = unstructured.NestedString(u.Object, "status", "artifact", "url")
	a.digest, _, _ = unstructured.NestedString(u.Object, "status", "artifact", "digest")
	a.revision, _, _ = unstructured.NestedString(u.Object, "status", "artifact", "revision")
	if a.url == "" || a.digest == "" {
		return artifact{}, &SourceNotReadyError{Message: fmt.Sprintf("module source %s has no artifact (url and digest) yet", name)}
	}
	return a, nil
}

// readyCondition returns the Ready condition of a Flux object's status: true, or false and why.
func readyCondition(u *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Ready" {
			continue
		}
		msg, _ := m["message"].(string)
		return m["status"] == "True", msg
	}
	return false, "no Ready condition yet"
}

// artifactDigestOrReady is what a source change must alter to concern its users.
func artifactDigestOrReady(u *unstructured.Unstructured) string {
	d, _, _ := unstructured.NestedString(u.Object, "status", "artifact", "digest")
	ready, _ := readyCondition(u)
	return fmt.Sprintf("%s/%t", d, ready)
}

// watchSources makes a new artifact (or a source turning Ready) reconcile the objects of w's
// kind that use it as their module or through their plan policies. Kinds whose CRDs are not
// installed are skipped: Flux is optional.
func watchSources(ctx context.Context, mgr ctrl.Manager, bld *builder.Builder, obj client.Object, w policyWatch) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, obj, sourceRefIndex, func(o client.Object) []string {
		spec := terraformSpecOf(o)
		if spec == nil || spec.Module == nil || spec.Module.SourceRef == nil {
			return nil
		}
		return []string{sourceKey(spec.Module.SourceRef, o.GetNamespace())}
	}); err != nil {
		return fmt.Errorf("indexing %s: %w", sourceRefIndex, err)
	}
	changed := predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return artifactDigestOrReady(e.ObjectOld.(*unstructured.Unstructured)) != artifactDigestOrReady(e.ObjectNew.(*unstructured.Unstructured))
	}}
	for _, kind := range sourceKinds {
		gvk := fluxGroupVersion.WithKind(kind)
		if _, err := mgr.GetRESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			ctrl.LoggerFrom(ctx).Info("Flux source kind not installed; spec.module.sourceRef of this kind waits for it (restart the manager after installing Flux)", "kind", kind)
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		bld.Watches(u, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, src client.Object) []reconcile.Request {
			l := w.list()
			key := kind + "/" + src.GetNamespace() + "/" + src.GetName()
			if err := mgr.GetClient().List(ctx, l, client.MatchingFields{sourceRefIndex: key}); err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "listing users of a module source", "source", key)
				return nil
			}
			return append(requests(l, w.watchFilter), w.usingSource(ctx, key)...)
		}), builder.WithPredicates(changed))
	}
	return nil
}

// terraformSpecOf returns the TerraformSpec of a CustomCluster or CustomMachine.
func terraformSpecOf(o client.Object) *infrav1.TerraformSpec {
	switch v := o.(type) {
	case *infrav1.CustomCluster:
		return &v.Spec.TerraformSpec
	case *infrav1.CustomMachine:
		return &v.Spec.TerraformSpec
	}
	return nil
}
