/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

// CustomClusterTemplateSpec defines a CustomCluster template (ClusterClass).
type CustomClusterTemplateSpec struct {
	// template is the CustomCluster stamped out from this template.
	Template CustomClusterTemplateResource `json:"template"`
}

// CustomClusterTemplateResource is the template body.
type CustomClusterTemplateResource struct {
	// metadata applied to created objects.
	// +optional
	ObjectMeta clusterv1.ObjectMeta `json:"metadata,omitempty,omitzero"`
	// spec of created CustomClusters.
	Spec CustomClusterSpec `json:"spec"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=customclustertemplates,scope=Namespaced,categories=cluster-api
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1beta1"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"

// CustomClusterTemplate is a template for CustomClusters.
type CustomClusterTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec CustomClusterTemplateSpec `json:"spec,omitempty"`
}

// +kubebuilder:object:root=true

// CustomClusterTemplateList contains a list of CustomClusterTemplate.
type CustomClusterTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CustomClusterTemplate `json:"items"`
}

// CustomMachineTemplateSpec defines a CustomMachine template.
type CustomMachineTemplateSpec struct {
	// template is the CustomMachine stamped out from this template.
	Template CustomMachineTemplateResource `json:"template"`
}

// CustomMachineTemplateResource is the template body.
type CustomMachineTemplateResource struct {
	// metadata applied to created objects.
	// +optional
	ObjectMeta clusterv1.ObjectMeta `json:"metadata,omitempty,omitzero"`
	// spec of created CustomMachines.
	Spec CustomMachineSpec `json:"spec"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=custommachinetemplates,scope=Namespaced,categories=cluster-api
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1beta1"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"

// CustomMachineTemplate is a template for CustomMachines.
type CustomMachineTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec CustomMachineTemplateSpec `json:"spec,omitempty"`
}

// +kubebuilder:object:root=true

// CustomMachineTemplateList contains a list of CustomMachineTemplate.
type CustomMachineTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CustomMachineTemplate `json:"items"`
}

func init() {
	SchemeBuilder.Register(&CustomClusterTemplate{}, &CustomClusterTemplateList{},
		&CustomMachineTemplate{}, &CustomMachineTemplateList{})
}
