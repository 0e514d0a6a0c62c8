/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

// CustomMachineSpec defines the desired instance of a CAPI Machine.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.providerID) || size(oldSelf.providerID) == 0 || (has(self.providerID) && self.providerID == oldSelf.providerID)",message="providerID is immutable once set"
type CustomMachineSpec struct {
	// providerID is the instance's identity, set once by the provider from the module's provider_id output.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ProviderID string `json:"providerID,omitempty"`

	// instanceType of the instance, e.g. t3.large.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	InstanceType string `json:"instanceType"`

	// imageId of the instance's machine image.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	ImageID string `json:"imageId"`

	// sshKeyName of a key pair installed on the instance.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	SSHKeyName string `json:"sshKeyName,omitempty"`

	// subnetId to place the instance in; defaults to a subnet of the machine's failure domain.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	SubnetID string `json:"subnetId,omitempty"`

	// securityGroupIds attached to the instance in addition to the cluster's.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=255
	SecurityGroupIDs []string `json:"securityGroupIds,omitempty"`

	// iamInstanceProfile attached to the instance.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	IAMInstanceProfile string `json:"iamInstanceProfile,omitempty"`

	// rootVolume of the instance.
	// +optional
	RootVolume *Volume `json:"rootVolume,omitempty"`

	// additionalVolumes attached to the instance.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(v, has(v.deviceName) && size(v.deviceName) > 0)",message="every additional volume needs a deviceName"
	// +kubebuilder:validation:XValidation:rule="self.all(a, !has(a.deviceName) || self.filter(b, has(b.deviceName) && b.deviceName == a.deviceName).size() == 1)",message="additional volumes must have distinct deviceNames"
	AdditionalVolumes []Volume `json:"additionalVolumes,omitempty"`

	// userData is used only when the owning Machine provides no bootstrap data; bootstrap data wins.
	// Passed to the module as a sensitive variable.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	UserData string `json:"userData,omitempty"`

	// tags are added to the instance's resources (after the cluster's additionalTags).
	// +optional
	// +kubebuilder:validation:MaxProperties=50
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) > 0 && size(k) <= 128)",message="tag keys must be 1 to 128 characters"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 256)",message="tag values must be at most 256 characters"
	Tags map[string]string `json:"tags,omitempty"`

	TerraformSpec `json:",inline"`
}

// Volume describes a block device.
// +kubebuilder:validation:XValidation:rule="!has(self.iops) || (has(self.type) && self.type in ['io1', 'io2', 'gp3'])",message="iops can only be set for volume types io1, io2 and gp3"
// +kubebuilder:validation:XValidation:rule="!has(self.type) || !(self.type in ['io1', 'io2']) || has(self.iops)",message="volume types io1 and io2 need iops"
type Volume struct {
	// deviceName of the volume (additional volumes), e.g. /dev/sdb.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	DeviceName string `json:"deviceName,omitempty"`

	// size in GiB.
	// +kubebuilder:validation:Minimum=8
	// +kubebuilder:validation:Maximum=16384
	Size int32 `json:"size"`

	// type of the volume.
	// +optional
	// +kubebuilder:validation:Enum=gp2;gp3;io1;io2;st1;sc1;standard
	Type string `json:"type,omitempty"`

	// iops for provisioned-IOPS volume types.
	// +optional
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=256000
	IOPS int32 `json:"iops,omitempty"`

	// encrypted volumes are encrypted at rest.
	// +optional
	Encrypted *bool `json:"encrypted,omitempty"`
}

// CustomMachineStatus is the observed state of a CustomMachine.
type CustomMachineStatus struct {
	// initialization reports the CAPI v1beta2 contract's provisioning status.
	// +optional
	Initialization CustomMachineInitializationStatus `json:"initialization,omitempty,omitzero"`

	// conditions: Ready (mirrored by CAPI), Paused, InfrastructureProvisioned, ModuleValid, PlanApproved, InSync.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// instanceId from the module's instance_id output.
	// +optional
	InstanceID string `json:"instanceId,omitempty"`

	// instanceState from the module's instance_state output.
	// +optional
	InstanceState string `json:"instanceState,omitempty"`

	// addresses of the instance.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Addresses []clusterv1.MachineAddress `json:"addresses,omitempty"`

	// failureDomain the instance runs in.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	FailureDomain string `json:"failureDomain,omitempty"`

	// terraform reports this object's terraform runs.
	// +optional
	Terraform *TerraformStatus `json:"terraform,omitempty"`

	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// lastHandledReconcileAt is the last reconcile.fluxcd.io/requestedAt value handled (as Flux's
	// objects report it): a new value runs a fresh plan at once, past any backoff.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// CustomMachineInitializationStatus is the contract's initialization block.
type CustomMachineInitializationStatus struct {
	// provisioned is true once the instance exists and providerID is set.
	// +optional
	Provisioned *bool `json:"provisioned,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=custommachines,scope=Namespaced,categories=cluster-api,shortName=cm
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1beta1"
// +kubebuilder:printcolumn:name="Cluster",type="string",JSONPath=".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",description="Owning Cluster"
// +kubebuilder:printcolumn:name="Provisioned",type="boolean",JSONPath=".status.initialization.provisioned",description="Instance provisioned"
// +kubebuilder:printcolumn:name="ProviderID",type="string",JSONPath=".spec.providerID",description="Provider ID"
// +kubebuilder:printcolumn:name="State",type="string",JSONPath=".status.instanceState",description="Instance state"
// +kubebuilder:printcolumn:name="Plan",type="string",JSONPath=".status.terraform.lastRunResult",description="Last terraform run"
// +kubebuilder:printcolumn:name="Module",type="string",priority=1,JSONPath=".status.terraform.moduleRevision",description="Module revision last applied"
// +kubebuilder:printcolumn:name="Running",type="string",JSONPath=".status.terraform.progress.current",description="Resource terraform works on now (long runs)"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"

// CustomMachine is the infrastructure of a CAPI Machine, provisioned by a Terraform module.
type CustomMachine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CustomMachineSpec   `json:"spec,omitempty"`
	Status CustomMachineStatus `json:"status,omitempty"`
}

// GetConditions returns the conditions.
func (m *CustomMachine) GetConditions() []metav1.Condition { return m.Status.Conditions }

// SetConditions sets the conditions.
func (m *CustomMachine) SetConditions(conds []metav1.Condition) { m.Status.Conditions = conds }

// +kubebuilder:object:root=true

// CustomMachineList contains a list of CustomMachine.
type CustomMachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CustomMachine `json:"items"`
}

func init() {
	SchemeBuilder.Register(&CustomMachine{}, &CustomMachineList{})
}
