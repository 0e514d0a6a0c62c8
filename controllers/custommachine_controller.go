/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
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
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// CustomMachineReconciler reconciles a CustomMachine.
type CustomMachineReconciler struct{ base }

// SetupWithManager registers the reconciler; Machine, CustomCluster and Cluster changes map to CustomMachines.
func (r *CustomMachineReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, opts controller.Options) error {
	log := ctrl.LoggerFrom(ctx)
	clusterToMachines, err := util.ClusterToTypedObjectsMapper(mgr.GetClient(), &infrav1.CustomMachineList{}, mgr.GetScheme())
	if err != nil {
		return err
	}
	// The watch filter applies to each watch, not to the builder: Flux sources are not labelled
	// for a shard (watchSources filters the objects they map to instead).
	filter := builder.WithPredicates(predicates.ResourceHasFilterLabel(mgr.GetScheme(), log, r.Options.WatchFilter))
	bld := ctrl.NewControllerManagedBy(mgr).
		For(&infrav1.CustomMachine{}, filter).
		WithOptions(opts).
		Watches(&clusterv1.Machine{},
			handler.EnqueueRequestsFromMapFunc(util.MachineToInfrastructureMapFunc(infrav1.GroupVersion.WithKind("CustomMachine"))),
			filter, builder.WithPredicates(machineInputsChanged())).
		Watches(&infrav1.CustomCluster{}, handler.EnqueueRequestsFromMapFunc(r.customClusterToMachines),
			filter, builder.WithPredicates(clusterOutputsChanged())).
		Watches(&clusterv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(clusterToMachines),
			builder.WithPredicates(predicates.ClusterPausedTransitionsOrInfrastructureProvisioned(mgr.GetScheme(), log),
				predicates.ResourceHasFilterLabel(mgr.GetScheme(), log, r.Options.WatchFilter))).
		Named("custommachine")
	watchJobs(mgr, bld, &infrav1.CustomMachine{}, r.Options)
	pw := policyWatch{c: mgr.GetClient(), list: func() client.ObjectList { return &infrav1.CustomMachineList{} }, watchFilter: r.Options.WatchFilter}
	if err := watchSources(ctx, mgr, bld, &infrav1.CustomMachine{}, pw); err != nil {
		return err
	}
	pw.watch(bld, r.policyCache)
	return bld.Complete(r)
}

// customClusterToMachines requeues a cluster's machines when its outputs (status) change.
func (r *CustomMachineReconciler) customClusterToMachines(ctx context.Context, o client.Object) []ctrl.Request {
	clusterName := o.GetLabels()[clusterv1.ClusterNameLabel]
	if clusterName == "" {
		return nil
	}
	list := &infrav1.CustomMachineList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace()),
		client.MatchingLabels{clusterv1.ClusterNameLabel: clusterName}); err != nil {
		return nil
	}
	reqs := make([]ctrl.Request, 0, len(list.Items))
	for i := range list.Items {
		reqs = append(reqs, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return reqs
}

// Reconcile follows CAPD's skeleton: fetch, owners, paused, finalizer, patch, normal/delete. Each
// step changes the object in memory; one deferred patch writes the outcome (see patcher).
func (r *CustomMachineReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	cm := &infrav1.CustomMachine{}
	if err := r.Client.Get(ctx, req.NamespacedName, cm); err != nil {
		if apierrors.IsNotFound(err) {
			r.stale.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if annotations.IsExternallyManaged(cm) || r.stale.stale(cm) {
		return ctrl.Result{}, nil
	}
	machine, err := util.GetOwnerMachine(ctx, r.Client, cm.ObjectMeta)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("getting owner Machine of CustomMachine %s: %w", cm.Name, err)
	}
	if machine == nil && cm.DeletionTimestamp.IsZero() {
		if wait, ok := r.ownerGrace(cm); ok {
			return wait, nil
		}
	}
	p := r.newPatcher(cm)
	defer func() {
		if err := p.Patch(ctx, cm, &cm.Status.ObservedGeneration); err != nil {
			reterr = kerrors.NewAggregate([]error{reterr, r.writeRefused(ctx, p, cm, err)})
		}
	}()
	if machine == nil {
		if !cm.DeletionTimestamp.IsZero() {
			return r.reconcileDelete(ctx, p, cm, nil)
		}
		setNotReady(cm, infrav1.WaitingForOwnerReason, "waiting for the Machine controller to set an owner reference")
		return ctrl.Result{}, nil
	}
	cluster, err := util.GetClusterFromMetadata(ctx, r.Client, machine.ObjectMeta)
	if err != nil {
		if !cm.DeletionTimestamp.IsZero() && apierrors.IsNotFound(err) {
			return r.reconcileDelete(ctx, p, cm, nil)
		}
		setNotReady(cm, infrav1.WaitingForOwnerReason, "waiting for the Machine's Cluster: %v", err)
		return r.waitRequeue(cm), nil
	}
	ctx = ctrl.LoggerInto(ctx, ctrl.LoggerFrom(ctx).WithValues("Cluster", cluster.Name, "Machine", machine.Name))
	if r.paused(ctx, cluster, cm) {
		return ctrl.Result{}, nil
	}
	if !cm.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, p, cm, cluster)
	}
	// Written with the reconcile's outcome, or before terraform runs (blockMove), whichever is first.
	controllerutil.AddFinalizer(cm, infrav1.MachineFinalizer)
	return r.reconcileNormal(ctx, p, cm, machine, cluster)
}

func (r *CustomMachineReconciler) reconcileNormal(ctx context.Context, p *patcher, cm *infrav1.CustomMachine, machine *clusterv1.Machine, cluster *clusterv1.Cluster) (ctrl.Result, error) {
	if !ptrTrue(cluster.Status.Initialization.InfrastructureProvisioned) {
		setNotReady(cm, infrav1.WaitingForClusterInfraReason, "waiting for Cluster %s infrastructure to be provisioned", cluster.Name)
		return ctrl.Result{}, nil
	}
	cc, err := r.customCluster(ctx, cluster)
	if err != nil {
		setNotReady(cm, infrav1.WaitingForClusterInfraReason, "%v", err)
		return r.waitRequeue(cm), nil
	}
	userData, ok, err := r.userData(ctx, cm, machine)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !ok {
		return r.waitRequeue(cm), nil
	}
	fd := machine.Spec.FailureDomain
	vars, err := machineVariables(machineInput{
		ClusterName: cluster.Name, Machine: cm, Cluster: cc, UserData: userData,
		FailureDomain: fd, ControlPlane: util.IsControlPlaneMachine(machine),
	})
	if err != nil {
		setNotReady(cm, infrav1.InvalidSpecReason, "%v", err)
		r.Recorder.Eventf(cm, corev1.EventTypeWarning, infrav1.InvalidSpecReason, "%v", err)
		return ctrl.Result{}, nil
	}
	in := r.runInput(p, cm, cluster.Name)
	in.vars = vars
	res, ok, result, err := r.run(ctx, in)
	if err != nil {
		return result, err
	}
	h, err := machineHealth(res)
	if err != nil {
		err = &outputsError{msg: err.Error()}
	} else if ok {
		err = r.setOutputs(ctx, cm, res.Outputs)
	}
	if err != nil {
		return r.outputsRefused(cm, err)
	}
	if h.Status == contract.Unhealthy {
		// Reported whether or not the plan that found it was applied (a manual-mode plan waits).
		r.instanceLost(cm, infrav1.InstanceUnhealthyReason, "%s", h)
		return result, nil
	}
	if ok {
		setReady(cm, r.sandboxNote())
	}
	return result, nil
}

// setOutputs writes the run's outputs into cm, all or nothing: outputs that break the contract or
// would not fit the API are refused (*outputsError), and so is a first providerID another
// CustomMachine holds, in any namespace (*duplicateError).
func (r *CustomMachineReconciler) setOutputs(ctx context.Context, cm *infrav1.CustomMachine, outs map[string]tfrunner.Output) error {
	next := cm.DeepCopy()
	if err := applyMachineOutputs(next, outs); err != nil {
		return &outputsError{msg: err.Error()}
	}
	if err := r.checkOutputs("CustomMachine", contract.KindMachine, cm, next); err != nil {
		return err
	}
	if cm.Spec.ProviderID == "" {
		holder, err := r.providerIDHolder(ctx, cm, next.Spec.ProviderID)
		if err != nil {
			return err
		}
		if holder != "" {
			return &duplicateError{id: next.Spec.ProviderID, holder: holder}
		}
	}
	*cm = *next
	return nil
}

// duplicateError is a providerID another CustomMachine holds.
type duplicateError struct{ id, holder string }

func (e *duplicateError) Error() string {
	return fmt.Sprintf("the module's provider_id %q is CustomMachine %s's: not set (CAPI matches Nodes to Machines by it); "+
		"the run's state is kept, and this machine retries until the module gives it its own or %s is gone", e.id, e.holder, e.holder)
}

// outputsRefused reports outputs setOutputs refused: a duplicate providerID is retried (the
// other machine may go), invalid outputs wait for a new run.
func (r *CustomMachineReconciler) outputsRefused(cm *infrav1.CustomMachine, err error) (ctrl.Result, error) {
	var dup *duplicateError
	var bad *outputsError
	switch {
	case errors.As(err, &dup):
		setNotReady(cm, infrav1.DuplicateProviderIDReason, "%v", err)
		r.Recorder.Eventf(cm, corev1.EventTypeWarning, infrav1.DuplicateProviderIDReason, "%v", err)
		return ctrl.Result{RequeueAfter: duplicateRequeue}, nil
	case errors.As(err, &bad):
		r.refuseOutputs(cm, err)
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, err
}

// duplicateRequeue is how often a machine whose providerID another holds looks again.
const duplicateRequeue = 20 * time.Second

// userData reads the bootstrap data; ok is false (with a condition) while it is not there yet.
func (r *CustomMachineReconciler) userData(ctx context.Context, cm *infrav1.CustomMachine, machine *clusterv1.Machine) (string, bool, error) {
	name := machine.Spec.Bootstrap.DataSecretName
	if name == nil || *name == "" {
		if cm.Spec.UserData != "" && machine.Spec.Bootstrap.ConfigRef.Name == "" {
			return cm.Spec.UserData, true, nil
		}
		setNotReady(cm, infrav1.WaitingForBootstrapDataReason, "waiting for the Machine's bootstrap data secret")
		return "", false, nil
	}
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: cm.Namespace, Name: *name}, s); err != nil {
		if apierrors.IsNotFound(err) {
			setNotReady(cm, infrav1.WaitingForBootstrapDataReason, "bootstrap data secret %s not found", *name)
			return "", false, nil
		}
		return "", false, fmt.Errorf("reading bootstrap data secret %s: %w", *name, err)
	}
	v, found := s.Data["value"]
	if !found {
		setNotReady(cm, infrav1.WaitingForBootstrapDataReason, "bootstrap data secret %s has no 'value' key", *name)
		return "", false, nil
	}
	return string(v), true, nil
}

func (r *CustomMachineReconciler) customCluster(ctx context.Context, cluster *clusterv1.Cluster) (*infrav1.CustomCluster, error) {
	ref := cluster.Spec.InfrastructureRef
	if ref.Kind != "CustomCluster" || ref.Name == "" {
		return nil, fmt.Errorf("cluster %s has no CustomCluster infrastructureRef", cluster.Name)
	}
	cc := &infrav1.CustomCluster{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: cluster.Namespace, Name: ref.Name}, cc); err != nil {
		return nil, fmt.Errorf("getting CustomCluster %s: %w", ref.Name, err)
	}
	return cc, nil
}

func (r *CustomMachineReconciler) runInput(p *patcher, cm *infrav1.CustomMachine, clusterName string) runInput {
	return runInput{
		obj: cm, patch: p, ref: objectRef(cm, "CustomMachine", clusterName), kind: contract.KindMachine,
		spec: cm.Spec.TerraformSpec, status: &cm.Status.Terraform, handled: &cm.Status.LastHandledReconcileAt, sensitive: sensitiveMachineVariables,
		noRecreate: true, // CAPI Machines are immutable: a lost instance is replaced with its Machine
	}
}

func (r *CustomMachineReconciler) reconcileDelete(ctx context.Context, p *patcher, cm *infrav1.CustomMachine, cluster *clusterv1.Cluster) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(cm, infrav1.MachineFinalizer) {
		return ctrl.Result{}, nil
	}
	clusterName := cm.Labels[clusterv1.ClusterNameLabel]
	in := r.runInput(p, cm, clusterName)
	if why := releaseReason(cm); why != "" {
		if err := r.release(ctx, cm, in.ref, why); err != nil {
			return ctrl.Result{}, err
		}
		controllerutil.RemoveFinalizer(cm, infrav1.MachineFinalizer)
		return ctrl.Result{}, nil
	}
	setCondition(cm, infrav1.ReadyCondition, false, infrav1.DeletingReason, "destroying instance")
	// Destroy needs the variables the module declares without defaults; the cluster's outputs may
	// already be gone, so an empty CustomCluster stands in for them.
	cc := &infrav1.CustomCluster{}
	if cluster != nil {
		if got, err := r.customCluster(ctx, cluster); err == nil {
			cc = got
		}
	}
	vars, err := machineVariables(machineInput{ClusterName: clusterName, Machine: cm, Cluster: cc})
	if err != nil {
		return ctrl.Result{}, err
	}
	in.vars = vars
	done, err := r.destroy(ctx, in)
	if err != nil || !done {
		return ctrl.Result{RequeueAfter: lockedRequeue}, err
	}
	controllerutil.RemoveFinalizer(cm, infrav1.MachineFinalizer)
	return ctrl.Result{}, nil
}

func ptrTrue(b *bool) bool { return b != nil && *b }
