/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/cluster-api/util"
	"sigs.k8s.io/cluster-api/util/annotations"
	"sigs.k8s.io/cluster-api/util/predicates"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// Least privilege: the patch helper only patches; Secrets and ConfigMaps are read uncached (no
// watch); CAPI objects are only read. test/rbac fails on any forbidden request.
// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=customclusters;custommachines,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=customclusters/status;custommachines/status,verbs=patch
// +kubebuilder:rbac:groups=infrastructure.cluster.x-k8s.io,resources=customclusters/finalizers;custommachines/finalizers,verbs=update
// +kubebuilder:rbac:groups=cluster.x-k8s.io,resources=clusters;machines,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete

// CustomClusterReconciler reconciles a CustomCluster.
type CustomClusterReconciler struct{ base }

// SetupWithManager registers the reconciler; Cluster changes (e.g. unpause) map to their CustomCluster.
func (r *CustomClusterReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts controller.Options) error {
	log := ctrl.LoggerFrom(ctx)
	bld := ctrl.NewControllerManagedBy(mgr).
		For(&infrav1.CustomCluster{}, builder.WithPredicates(predicates.ResourceHasFilterLabel(mgr.GetScheme(), log, r.Options.WatchFilter))).
		WithOptions(opts).
		Watches(&clusterv1.Cluster{},
			handler.EnqueueRequestsFromMapFunc(util.ClusterToInfrastructureMapFunc(ctx,
				infrav1.GroupVersion.WithKind("CustomCluster"), mgr.GetClient(), &infrav1.CustomCluster{})),
			builder.WithPredicates(predicates.ClusterPausedTransitions(mgr.GetScheme(), log),
				predicates.ResourceHasFilterLabel(mgr.GetScheme(), log, r.Options.WatchFilter)),
		).
		Named("customcluster")
	pw := policyWatch{c: mgr.GetClient(), list: func() client.ObjectList { return &infrav1.CustomClusterList{} }, watchFilter: r.Options.WatchFilter}
	if err := watchSources(ctx, mgr, bld, &infrav1.CustomCluster{}, pw); err != nil {
		return err
	}
	pw.watch(bld, r.policyCache)
	watchJobs(mgr, bld, &infrav1.CustomCluster{}, r.Options)
	return bld.Complete(r)
}

// Reconcile follows CAPD's skeleton: fetch, owner, paused, finalizer, patch, normal/delete. Each
// step changes the object in memory; one deferred patch writes the outcome (see patcher).
func (r *CustomClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	cc := &infrav1.CustomCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, cc); err != nil {
		if apierrors.IsNotFound(err) {
			r.stale.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if annotations.IsExternallyManaged(cc) || r.stale.stale(cc) {
		return ctrl.Result{}, nil
	}
	cluster, err := util.GetOwnerCluster(ctx, r.Client, cc.ObjectMeta)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("getting owner Cluster of CustomCluster %s: %w", cc.Name, err)
	}
	if cluster == nil && cc.DeletionTimestamp.IsZero() {
		if wait, ok := r.ownerGrace(cc); ok {
			return wait, nil
		}
	}
	p := r.newPatcher(cc)
	defer func() {
		if err := p.Patch(ctx, cc, &cc.Status.ObservedGeneration); err != nil {
			reterr = kerrors.NewAggregate([]error{reterr, r.writeRefused(ctx, p, cc, err)})
		}
	}()
	if cluster == nil {
		if !cc.DeletionTimestamp.IsZero() {
			return r.reconcileDelete(ctx, p, cc, cc.Labels[clusterv1.ClusterNameLabel])
		}
		setNotReady(cc, infrav1.WaitingForOwnerReason, "waiting for the Cluster controller to set an owner reference")
		return ctrl.Result{}, nil
	}
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("Cluster", cluster.Name))
	if r.paused(ctx, cluster, cc) {
		return ctrl.Result{}, nil
	}
	if !cc.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, p, cc, cluster.Name)
	}
	// Written with the reconcile's outcome, or before terraform runs (blockMove), whichever is first.
	controllerutil.AddFinalizer(cc, infrav1.ClusterFinalizer)
	return r.reconcileNormal(ctx, p, cc, cluster.Name)
}

func (r *CustomClusterReconciler) runInput(p *patcher, cc *infrav1.CustomCluster, clusterName string) runInput {
	return runInput{
		obj: cc, patch: p, ref: objectRef(cc, "CustomCluster", clusterName), kind: contract.KindCluster,
		spec: cc.Spec.TerraformSpec, status: &cc.Status.Terraform, handled: &cc.Status.LastHandledReconcileAt,
	}
}

func (r *CustomClusterReconciler) reconcileNormal(ctx context.Context, p *patcher, cc *infrav1.CustomCluster, clusterName string) (ctrl.Result, error) {
	in := r.runInput(p, cc, clusterName)
	vars, err := clusterVariables(clusterName, cc)
	if err != nil {
		setNotReady(cc, infrav1.InvalidSpecReason, "%v", err)
		r.Recorder.Eventf(cc, corev1.EventTypeWarning, infrav1.InvalidSpecReason, "%v", err)
		return ctrl.Result{}, nil
	}
	in.vars = vars
	res, ok, result, err := r.run(ctx, in)
	if err != nil || !ok {
		return result, err
	}
	next := cc.DeepCopy()
	err = applyClusterOutputs(next, res.Outputs)
	if err != nil {
		err = &outputsError{msg: err.Error()}
	} else {
		err = r.checkOutputs("CustomCluster", contract.KindCluster, cc, next)
	}
	if err != nil {
		r.refuseOutputs(cc, err)
		return ctrl.Result{}, nil
	}
	*cc = *next
	setReady(cc, r.sandboxNote())
	return result, nil
}

func (r *CustomClusterReconciler) reconcileDelete(ctx context.Context, p *patcher, cc *infrav1.CustomCluster, clusterName string) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(cc, infrav1.ClusterFinalizer) {
		return ctrl.Result{}, nil
	}
	in := r.runInput(p, cc, clusterName)
	if why := releaseReason(cc); why != "" {
		if err := r.release(ctx, cc, in.ref, why); err != nil {
			return ctrl.Result{}, err
		}
		controllerutil.RemoveFinalizer(cc, infrav1.ClusterFinalizer)
		return ctrl.Result{}, nil
	}
	// Machines' instances live in the cluster's network: destroy only once they are gone.
	machines := &infrav1.CustomMachineList{}
	if err := r.Client.List(ctx, machines, client.InNamespace(cc.Namespace),
		client.MatchingLabels{clusterv1.ClusterNameLabel: clusterName}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing CustomMachines of cluster %s: %w", clusterName, err)
	}
	if n := len(machines.Items); n > 0 && clusterName != "" {
		setCondition(cc, infrav1.ReadyCondition, false, infrav1.WaitingForMachinesReason, "waiting for %d CustomMachines to be deleted", n)
		return ctrl.Result{RequeueAfter: lockedRequeue}, nil
	}
	setCondition(cc, infrav1.ReadyCondition, false, infrav1.DeletingReason, "destroying infrastructure")
	vars, err := clusterVariables(clusterName, cc)
	if err != nil {
		return ctrl.Result{}, err
	}
	in.vars = vars
	done, err := r.destroy(ctx, in)
	if err != nil || !done {
		return ctrl.Result{RequeueAfter: lockedRequeue}, err
	}
	controllerutil.RemoveFinalizer(cc, infrav1.ClusterFinalizer)
	return ctrl.Result{}, nil
}

// releaseReason says why an object is released without destroy, or "" to destroy it.
func releaseReason(obj client.Object) string {
	a := obj.GetAnnotations()
	if _, ok := a[clusterctlv1.DeleteForMoveAnnotation]; ok {
		return "clusterctl move (" + clusterctlv1.DeleteForMoveAnnotation + ")"
	}
	if a[infrav1.OrphanOnDeleteAnnotation] == "true" {
		return infrav1.OrphanOnDeleteAnnotation + " is true; cloud resources were left in place"
	}
	return ""
}

// objectRef identifies obj's state objects; they are labelled with the cluster and owned by obj.
func objectRef(obj client.Object, kind, clusterName string) tfstate.ObjectRef {
	return tfstate.ObjectRef{
		APIVersion: infrav1.GroupVersion.String(), Kind: kind, Namespace: obj.GetNamespace(),
		Name: obj.GetName(), UID: string(obj.GetUID()), ClusterName: clusterName,
	}
}
