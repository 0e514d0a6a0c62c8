/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package v1beta1

// Condition types. Ready is mirrored by CAPI onto the owning Cluster/Machine; Paused is the
// contract's paused condition.
const (
	ReadyCondition  = "Ready"
	PausedCondition = "Paused"

	// InfrastructureProvisionedCondition reports the result of the last terraform run.
	InfrastructureProvisionedCondition = "InfrastructureProvisioned"
	// ModuleValidCondition reports whether the module resolves and satisfies the contract.
	ModuleValidCondition = "ModuleValid"
	// PlanApprovedCondition is False while a saved plan waits for approval.
	PlanApprovedCondition = "PlanApproved"
	// InSyncCondition is False when a drift check found changes.
	InSyncCondition = "InSync"
	// PolicyPassedCondition is the plan policies' verdict on the object's last plan (absent when
	// no CustomPolicy gives it plan policies).
	PolicyPassedCondition = "PolicyPassed"
)

// Condition reasons.
const (
	ProvisionedReason             = "Provisioned"
	ProvisioningReason            = "Provisioning"
	ProvisioningFailedReason      = "ProvisioningFailed"
	RunTimedOutReason             = "RunTimedOut"     // terraform ran past --run-timeout and was interrupted
	SuspectedOrphanReason         = "SuspectedOrphan" // event: an interrupted run may have left untracked resources
	WaitingForOwnerReason         = "WaitingForOwner"
	WaitingForClusterInfraReason  = "WaitingForClusterInfrastructure"
	WaitingForBootstrapDataReason = "WaitingForBootstrapData"
	WaitingForMachinesReason      = "WaitingForMachinesDeletion"
	DeletingReason                = "Deleting"
	DeletionFailedReason          = "DeletionFailed"
	InvalidSpecReason             = "InvalidSpec"
	ModuleValidReason             = "Valid"
	ModuleInvalidReason           = "Invalid"
	ModuleWarningsReason          = "ValidWithWarnings"  // usable, but the contract check has warnings (in the message)
	ModuleNotAllowedReason        = "NotAllowed"         // the manager's module policy refuses a provisioner or provider
	SourceNotReadyReason          = "SourceNotReady"     // spec.module.sourceRef has no artifact to use (missing, not Ready, unreachable)
	SandboxUnavailableReason      = "SandboxUnavailable" // --sandbox=required, but terraform cannot be sandboxed here
	CredentialsNotFoundReason     = "CredentialsNotFound"
	CredentialsInvalidReason      = "CredentialsInvalid" // a credentials Secret key or value that cannot reach terraform
	AwaitingApprovalReason        = "AwaitingApproval"
	ApprovedReason                = "Approved"
	StalePlanReason               = "StalePlan"
	LockedReason                  = "Locked"
	InSyncReason                  = "InSync"
	DriftedReason                 = "Drifted"
	// InstanceTerminatedReason: a machine's resources were deleted outside Terraform. They are
	// never created again under the same Machine (CAPI replaces it); deleting it destroys the rest.
	InstanceTerminatedReason = "InstanceTerminated"
	// InstanceUnhealthyReason: the machine module's health output says unhealthy.
	InstanceUnhealthyReason = "InstanceUnhealthy"
	// InvalidOutputsReason: the module's outputs break the contract or would not fit the API (the
	// message names the output and the limit); nothing of them was written.
	InvalidOutputsReason = "InvalidOutputs"
	// DuplicateProviderIDReason: the module's provider_id is another CustomMachine's (named in the
	// message); it is not set, the run's state is kept, and the machine retries by itself.
	DuplicateProviderIDReason = "DuplicateProviderID"
	// StatusWriteFailedReason: the API server refused the write of a reconcile's outcome.
	StatusWriteFailedReason = "StatusWriteFailed"
	// PolicyPassedReason: the plan policies found nothing to deny or warn about.
	PolicyPassedReason = "PolicyPassed"
	// PolicyWarningsReason: the plan policies warn (listed in the message); the plan was not held.
	PolicyWarningsReason = "PolicyWarnings"
	// PolicyDeniedReason: a plan policy denies the plan (each message listed); it is kept for
	// review and never applied, not even when approved. Changing the spec or the policy plans again.
	PolicyDeniedReason = "PolicyDenied"
	// PolicyInvalidReason: a plan policy does not compile or failed on the plan (the message names
	// the file and line), or a CustomPolicy cannot be used; nothing is applied until it is fixed.
	PolicyInvalidReason = "PolicyInvalid"
	// RulesRefuseReason: a CustomPolicy that governs the namespace does not allow what the object uses.
	RulesRefuseReason = "NotAllowedByPolicy"
)

// Finalizers.
const (
	ClusterFinalizer = "customcluster.infrastructure.cluster.x-k8s.io"
	MachineFinalizer = "custommachine.infrastructure.cluster.x-k8s.io"
)

// AnnotationPrefix prefixes every annotation this provider reads.
const AnnotationPrefix = "custom.infrastructure.cluster.x-k8s.io/"

// Annotations (see README "Annotations").
const (
	ApprovalAnnotation       = AnnotationPrefix + "approval"
	ApprovePlanAnnotation    = AnnotationPrefix + "approve-plan"
	PlanPreviewAnnotation    = AnnotationPrefix + "plan-preview"
	AllowDestroyAnnotation   = AnnotationPrefix + "allow-destroy"
	OrphanOnDeleteAnnotation = AnnotationPrefix + "orphan-on-delete"
	// ReconcileRequestAnnotation is Flux's convention: any new value runs the object's reconcile at
	// once (past a failed run's backoff) with a fresh plan, and status.lastHandledReconcileAt echoes it.
	ReconcileRequestAnnotation = "reconcile.fluxcd.io/requestedAt"
)
