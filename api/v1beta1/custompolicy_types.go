/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ModuleKind is one way spec.module names a module.
// +kubebuilder:validation:Enum=Bundled;Path;ConfigMap;FluxSource;Remote
type ModuleKind string

const (
	ModuleKindBundled    ModuleKind = "Bundled"    // spec.module.name, or no spec.module: embedded in the provider
	ModuleKindPath       ModuleKind = "Path"       // spec.module.path under --module-root
	ModuleKindConfigMap  ModuleKind = "ConfigMap"  // spec.module.configMapRef
	ModuleKindFluxSource ModuleKind = "FluxSource" // spec.module.sourceRef
	ModuleKindRemote     ModuleKind = "Remote"     // spec.module.source (needs --allow-remote-modules)
)

// ModuleRules narrow which modules the governed objects may use. Every list is a restriction
// when set and none when unset; the manager's flags still hold.
type ModuleRules struct {
	// kinds lists the ways spec.module may name a module; unset allows every kind the manager's
	// flags allow.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	Kinds []ModuleKind `json:"kinds,omitempty"`

	// bundled lists the embedded module families that may be used (spec.module.name; the
	// default family is "simulated").
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:items:MaxLength=63
	Bundled []string `json:"bundled,omitempty"`

	// pathPrefixes lists the directories under the manager's --module-root whose modules may be
	// used (spec.module.path must be one of them or below one).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	PathPrefixes []string `json:"pathPrefixes,omitempty"`

	// sourceNamespaces lists the namespaces a Flux source may be in besides the object's own
	// (which needs the manager's --allow-cross-namespace-sources as well).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:items:MaxLength=63
	SourceNamespaces []string `json:"sourceNamespaces,omitempty"`

	// remoteHosts lists the hosts remote module sources may come from (registry.terraform.io
	// for a registry address without a host, github.com, a git server's host name).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:items:MaxLength=253
	RemoteHosts []string `json:"remoteHosts,omitempty"`
}

// PlanPolicySource is where a set of Rego plan policies (written for conftest) is read from.
// Exactly one of configMapRef and sourceRef is set.
// +kubebuilder:validation:XValidation:rule="has(self.configMapRef) != has(self.sourceRef)",message="set exactly one of configMapRef and sourceRef"
type PlanPolicySource struct {
	// configMapRef names a ConfigMap in the provider's namespace whose keys ending in .rego are
	// the policy files.
	// +optional
	ConfigMapRef *LocalObjectReference `json:"configMapRef,omitempty"`

	// sourceRef names a Flux source whose artifact holds the policy files (every .rego file
	// under path); its namespace is required.
	// +optional
	// +kubebuilder:validation:XValidation:rule="has(self.__namespace__) && self.__namespace__ != ''",message="a policy's sourceRef needs a namespace"
	SourceRef *SourceReference `json:"sourceRef,omitempty"`

	// path of the directory in the artifact that holds the policy files (default: its top).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Path string `json:"path,omitempty"`
}

// CustomPolicySpec is what the governed namespaces' CustomClusters and CustomMachines may use.
type CustomPolicySpec struct {
	// namespaceSelector selects the namespaces this policy governs; an empty selector selects
	// every namespace.
	NamespaceSelector metav1.LabelSelector `json:"namespaceSelector"`

	// modules narrows the modules the governed objects may use.
	// +optional
	Modules *ModuleRules `json:"modules,omitempty"`

	// providers lists the provider source patterns modules the provider did not ship may use
	// ([host/]namespace/type, * for type, namespace and type, or all three, as
	// --allowed-providers takes them); a provider must match the manager's list too.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:items:MaxLength=512
	Providers []string `json:"providers,omitempty"`

	// allowProvisioners set to false refuses provisioner blocks even where the manager's
	// --allow-provisioners permits them; true permits nothing the flag does not.
	// +optional
	AllowProvisioners *bool `json:"allowProvisioners,omitempty"`

	// planPolicies judge every plan of the governed objects before it may be applied: a deny or
	// violation blocks it (no approval overrides that), a warn is shown.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	PlanPolicies []PlanPolicySource `json:"planPolicies,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:path=custompolicies,scope=Cluster,categories=cluster-api,shortName=cpol
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1beta1"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"

// CustomPolicy is a platform team's rules for the CustomClusters and CustomMachines of the
// namespaces it selects: the manager's flags are the ceiling, a CustomPolicy can only narrow
// them, and several that select a namespace all hold (their plan policies all judge).
type CustomPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec CustomPolicySpec `json:"spec,omitempty"`
}

// +kubebuilder:object:root=true

// CustomPolicyList contains a list of CustomPolicy.
type CustomPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CustomPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&CustomPolicy{}, &CustomPolicyList{})
}
