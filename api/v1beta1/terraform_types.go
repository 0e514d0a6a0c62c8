/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package v1beta1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ModuleSource selects the Terraform root module run for an object. At most one of name,
// configMapRef, sourceRef or source may be set, and path alone or with configMapRef (an
// archive) or sourceRef; when none is, the bundled "simulated" family is used. The root module
// of a tree (path, archive, sourceRef) is <path>/<kind> (kind: cluster or machine) when that
// directory exists, else <path> itself; it may call local modules anywhere in the tree.
// +kubebuilder:validation:XValidation:rule="[has(self.name), has(self.configMapRef), has(self.sourceRef), has(self.source)].filter(x, x).size() <= 1",message="set at most one of name, configMapRef, sourceRef, source"
// +kubebuilder:validation:XValidation:rule="!has(self.path) || !(has(self.name) || has(self.source))",message="path is a directory under --module-root, in a configMapRef archive or in a sourceRef artifact; not valid with name or source"
// +kubebuilder:validation:XValidation:rule="!has(self.version) || has(self.source)",message="version is only valid with source"
type ModuleSource struct {
	// name of a module family bundled in the provider binary (e.g. simulated, aws).
	// +optional
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9-]{0,62}$`
	Name string `json:"name,omitempty"`

	// path of the module directory: on the manager's filesystem relative to --module-root, or
	// inside the configMapRef archive or the sourceRef artifact.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^[^\x00]*$`
	Path string `json:"path,omitempty"`

	// configMapRef names a ConfigMap in the object's namespace holding the module: either its
	// files, one key per file name, or one binaryData key ending in .tar.gz or .tgz holding a
	// module tree (use path to select a directory in it).
	// +optional
	ConfigMapRef *LocalObjectReference `json:"configMapRef,omitempty"`

	// sourceRef names a Flux source (GitRepository, OCIRepository or Bucket) whose artifact
	// holds the module tree (use path to select a directory in it).
	// +optional
	SourceRef *SourceReference `json:"sourceRef,omitempty"`

	// source is a remote module source (registry or git), used only with --allow-remote-modules.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Source string `json:"source,omitempty"`

	// version constrains a registry source's version.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Version string `json:"version,omitempty"`
}

// SourceReference names a Flux source.toolkit.fluxcd.io object.
type SourceReference struct {
	// kind of the source.
	// +kubebuilder:validation:Enum=GitRepository;OCIRepository;Bucket
	Kind string `json:"kind"`
	// name of the source.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// namespace of the source; defaults to the object's. Another namespace needs the
	// manager's --allow-cross-namespace-sources.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the referenced object.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// TerraformSpec holds the Terraform-related fields shared by clusters and machines.
type TerraformSpec struct {
	// module selects the root module; defaults to the bundled simulated family.
	// +optional
	Module *ModuleSource `json:"module,omitempty"`

	// variables are extra module variables (a JSON object), converted to the module's declared types.
	// Contract variables rendered from the spec take precedence.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Variables *apiextensionsv1.JSON `json:"variables,omitempty"`

	// credentialsRef names a Secret in the object's namespace whose keys become the environment
	// of this object's terraform processes (e.g. AWS_ACCESS_KEY_ID). Values are never logged.
	// +optional
	CredentialsRef *LocalObjectReference `json:"credentialsRef,omitempty"`
}

// RunResult is the outcome of a terraform run.
// +kubebuilder:validation:Enum=Succeeded;Failed;Skipped;PendingApproval;Denied
type RunResult string

// Run results.
const (
	RunSucceeded       RunResult = "Succeeded"
	RunFailed          RunResult = "Failed"
	RunSkipped         RunResult = "Skipped"
	RunPendingApproval RunResult = "PendingApproval"
	// RunDenied: the plan policies denied the plan; it is kept for review, never applied.
	RunDenied RunResult = "Denied"
)

// ResourceChange is one planned resource change (address and action, never values).
type ResourceChange struct {
	// address of the resource in the module, e.g. terraform_data.instance.
	// +kubebuilder:validation:MaxLength=1024
	Address string `json:"address"`
	// action planned for it.
	// +kubebuilder:validation:Enum=create;update;delete;replace;read
	Action string `json:"action"`
}

// PlanStatus summarises a plan.
type PlanStatus struct {
	// digest is the sha256 of the saved planfile; approve it with the approve-plan annotation.
	// +optional
	Digest string `json:"digest,omitempty"`
	// inputsHash is the inputs hash the plan was made from.
	// +optional
	InputsHash string `json:"inputsHash,omitempty"`
	// add counts resources to create.
	Add int32 `json:"add"`
	// change counts resources to update in place.
	Change int32 `json:"change"`
	// destroy counts resources to delete.
	Destroy int32 `json:"destroy"`
	// replace counts resources to delete and re-create.
	Replace int32 `json:"replace"`
	// resources lists the planned changes.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=500
	Resources []ResourceChange `json:"resources,omitempty"`
	// previewToken echoes the plan-preview annotation this plan answered.
	// +optional
	PreviewToken string `json:"previewToken,omitempty"`
	// createdAt is when the plan was made.
	// +optional
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`
}

// TerraformStatus reports the provider's terraform runs for an object.
type TerraformStatus struct {
	// appliedInputsHash is the inputs hash (variables + module digest + terraform version) last applied.
	// +optional
	AppliedInputsHash string `json:"appliedInputsHash,omitempty"`
	// moduleRevision is the module the last successful run used: a Flux source's revision
	// (e.g. main@sha1:4f2c…) or sha256:<module digest prefix> for other user modules.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ModuleRevision string `json:"moduleRevision,omitempty"`
	// stateSerial is the serial of the stored state.
	// +optional
	StateSerial int64 `json:"stateSerial,omitempty"`
	// lastRunTime is when terraform last ran (or was skipped) for this object.
	// +optional
	LastRunTime *metav1.Time `json:"lastRunTime,omitempty"`
	// lastRunResult is the outcome of that run.
	// +optional
	LastRunResult RunResult `json:"lastRunResult,omitempty"`
	// lastDriftCheckTime is when drift was last checked.
	// +optional
	LastDriftCheckTime *metav1.Time `json:"lastDriftCheckTime,omitempty"`
	// plan is the current plan (pending approval or last applied).
	// +optional
	Plan *PlanStatus `json:"plan,omitempty"`
	// progress is the terraform apply or destroy running now, from terraform's own output; set
	// only for a run longer than the manager's --progress-interval, updated at most that often,
	// and removed when the run ends.
	// +optional
	Progress *RunProgress `json:"progress,omitempty"`
	// outputs are the module's non-sensitive outputs (values as JSON) but for the contract's that
	// fill fields of their own (providerID, addresses, ...), each at most 1 KiB, 8 KiB and 64
	// outputs in all; every output, sensitive ones included, is in outputsSecret.
	// +optional
	Outputs map[string]apiextensionsv1.JSON `json:"outputs,omitempty"`
	// outputsOmitted names the non-sensitive outputs too large for status (see outputsSecret).
	// +optional
	// +kubebuilder:validation:MaxItems=256
	OutputsOmitted []string `json:"outputsOmitted,omitempty"`
	// outputsSecret names the Secret in the object's namespace, owned by it, that holds every
	// output of the module after each successful apply: one key per output, its value as JSON.
	// +optional
	OutputsSecret string `json:"outputsSecret,omitempty"`
	// outputsDigest is the sha256 of the outputs outputsSecret holds.
	// +optional
	OutputsDigest string `json:"outputsDigest,omitempty"`
}

// RunProgress is a terraform apply or destroy in flight.
type RunProgress struct {
	// operation is apply or destroy.
	// +kubebuilder:validation:Enum=apply;destroy
	Operation string `json:"operation"`
	// done is the resource instances terraform finished in this run.
	// +kubebuilder:validation:Minimum=0
	Done int32 `json:"done"`
	// planned is the resource instances the run changes (0 while terraform has not said).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Planned int32 `json:"planned,omitempty"`
	// current is the resource instance terraform started last.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Current string `json:"current,omitempty"`
	// startedAt is when terraform started.
	StartedAt metav1.Time `json:"startedAt"`
}
