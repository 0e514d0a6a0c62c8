/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

// CustomClusterSpec defines the desired infrastructure of a workload cluster.
type CustomClusterSpec struct {
	// controlPlaneEndpoint is the API server endpoint. Set by the provider from the module's
	// control_plane_endpoint output unless the user sets it.
	// +optional
	ControlPlaneEndpoint clusterv1.APIEndpoint `json:"controlPlaneEndpoint,omitempty,omitzero"`

	// region the cluster's infrastructure lives in.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	Region string `json:"region"`

	// networkSpec describes the VPC, subnets and security groups.
	// +optional
	NetworkSpec NetworkSpec `json:"networkSpec,omitempty,omitzero"`

	// loadBalancerSpec describes the control-plane load balancer.
	// +optional
	LoadBalancerSpec *LoadBalancerSpec `json:"loadBalancerSpec,omitempty"`

	// additionalTags are added to every resource the cluster module creates.
	// +optional
	// +kubebuilder:validation:MaxProperties=50
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) > 0 && size(k) <= 128)",message="tag keys must be 1 to 128 characters"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 256)",message="tag values must be at most 256 characters"
	AdditionalTags map[string]string `json:"additionalTags,omitempty"`

	TerraformSpec `json:",inline"`
}

// NetworkSpec describes the cluster network.
// +kubebuilder:validation:XValidation:rule="!has(self.vpc) || !has(self.vpc.cidrBlock) || !isCIDR(self.vpc.cidrBlock) || !has(self.subnets) || self.subnets.all(s, !has(s.cidrBlock) || !isCIDR(s.cidrBlock) || cidr(self.vpc.cidrBlock).containsCIDR(cidr(s.cidrBlock)))",message="every subnets[].cidrBlock must lie inside vpc.cidrBlock (and be of the same IP family)"
// +kubebuilder:validation:XValidation:rule="!has(self.subnets) || self.subnets.all(a, !has(a.cidrBlock) || !isCIDR(a.cidrBlock) || self.subnets.filter(b, has(b.cidrBlock) && isCIDR(b.cidrBlock) && (cidr(a.cidrBlock).containsCIDR(cidr(b.cidrBlock)) || cidr(b.cidrBlock).containsCIDR(cidr(a.cidrBlock)))).size() == 1)",message="subnets[].cidrBlock ranges must not overlap"
type NetworkSpec struct {
	// vpc to create or reuse.
	// +optional
	VPC VPCSpec `json:"vpc,omitempty,omitzero"`

	// subnets to create or reuse; their availability zones become failure domains.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Subnets []SubnetSpec `json:"subnets,omitempty"`

	// securityGroups to create.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	SecurityGroups []SecurityGroupSpec `json:"securityGroups,omitempty"`
}

// VPCSpec describes a VPC.
type VPCSpec struct {
	// cidrBlock of the VPC, e.g. 10.0.0.0/16.
	// +optional
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="cidrBlock must be a valid CIDR such as 10.0.0.0/16"
	CIDRBlock string `json:"cidrBlock,omitempty"`

	// id of an existing VPC to reuse instead of creating one.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	ID string `json:"id,omitempty"`
}

// SubnetSpec describes a subnet.
type SubnetSpec struct {
	// cidrBlock of the subnet.
	// +optional
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self)",message="cidrBlock must be a valid CIDR such as 10.0.1.0/24"
	CIDRBlock string `json:"cidrBlock,omitempty"`

	// availabilityZone of the subnet; each distinct zone is a failure domain.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	AvailabilityZone string `json:"availabilityZone,omitempty"`

	// isPublic subnets get a route to an internet gateway.
	// +optional
	IsPublic bool `json:"isPublic,omitempty"`

	// id of an existing subnet to reuse.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	ID string `json:"id,omitempty"`
}

// SecurityGroupSpec describes a security group.
type SecurityGroupSpec struct {
	// name of the security group.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=255
	Name string `json:"name"`

	// ingressRules allowed into the group.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	IngressRules []IngressRule `json:"ingressRules,omitempty"`
}

// IngressRule allows traffic into a security group.
// +kubebuilder:validation:XValidation:rule="self.fromPort <= self.toPort",message="fromPort must be <= toPort"
type IngressRule struct {
	// description of the rule.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Description string `json:"description,omitempty"`

	// protocol of the rule.
	// +kubebuilder:validation:Enum=tcp;udp;icmp;all
	Protocol string `json:"protocol"`

	// fromPort is the first port of the range.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	FromPort int32 `json:"fromPort"`

	// toPort is the last port of the range.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	ToPort int32 `json:"toPort"`

	// cidrBlocks allowed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self)",message="cidrBlocks entries must be valid CIDRs"
	CIDRBlocks []string `json:"cidrBlocks,omitempty"`
}

// LoadBalancerSpec describes the control-plane load balancer.
type LoadBalancerSpec struct {
	// scheme of the load balancer.
	// +optional
	// +kubebuilder:default=internet-facing
	// +kubebuilder:validation:Enum=internet-facing;internal
	Scheme string `json:"scheme,omitempty"`

	// type of the load balancer.
	// +optional
	// +kubebuilder:default=network
	// +kubebuilder:validation:Enum=network;application;classic
	Type string `json:"type,omitempty"`

	// port the API server is served on.
	// +optional
	// +kubebuilder:default=6443
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// crossZoneLoadBalancing spreads traffic across zones.
	// +optional
	CrossZoneLoadBalancing bool `json:"crossZoneLoadBalancing,omitempty"`
}

// CustomClusterStatus is the observed state of a CustomCluster.
type CustomClusterStatus struct {
	// initialization reports the CAPI v1beta2 contract's provisioning status.
	// +optional
	Initialization CustomClusterInitializationStatus `json:"initialization,omitempty,omitzero"`

	// conditions: Ready (mirrored by CAPI), Paused, InfrastructureProvisioned, ModuleValid, PlanApproved, InSync.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// failureDomains derived from the module's failure_domains output.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	FailureDomains []clusterv1.FailureDomain `json:"failureDomains,omitempty"`

	// network reports the ids of the network resources.
	// +optional
	Network *NetworkStatus `json:"network,omitempty"`

	// loadBalancer reports the control-plane load balancer.
	// +optional
	LoadBalancer *LoadBalancerStatus `json:"loadBalancer,omitempty"`

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

// CustomClusterInitializationStatus is the contract's initialization block.
type CustomClusterInitializationStatus struct {
	// provisioned is true once the cluster infrastructure is ready.
	// +optional
	Provisioned *bool `json:"provisioned,omitempty"`
}

// NetworkStatus reports network resource ids.
type NetworkStatus struct {
	// vpcId of the VPC.
	// +optional
	VPCID string `json:"vpcId,omitempty"`
	// subnets ids.
	// +optional
	// +listType=atomic
	Subnets []string `json:"subnets,omitempty"`
	// securityGroups ids.
	// +optional
	// +listType=atomic
	SecurityGroups []string `json:"securityGroups,omitempty"`
}

// LoadBalancerStatus reports the load balancer.
type LoadBalancerStatus struct {
	// dnsName of the load balancer.
	// +optional
	DNSName string `json:"dnsName,omitempty"`
	// arn of the load balancer.
	// +optional
	ARN string `json:"arn,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:path=customclusters,scope=Namespaced,categories=cluster-api,shortName=cc
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1beta1"
// +kubebuilder:printcolumn:name="Cluster",type="string",JSONPath=".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",description="Owning Cluster"
// +kubebuilder:printcolumn:name="Provisioned",type="boolean",JSONPath=".status.initialization.provisioned",description="Infrastructure provisioned"
// +kubebuilder:printcolumn:name="Endpoint",type="string",JSONPath=".spec.controlPlaneEndpoint.host",description="Control plane endpoint"
// +kubebuilder:printcolumn:name="Plan",type="string",JSONPath=".status.terraform.lastRunResult",description="Last terraform run"
// +kubebuilder:printcolumn:name="Module",type="string",priority=1,JSONPath=".status.terraform.moduleRevision",description="Module revision last applied"
// +kubebuilder:printcolumn:name="Running",type="string",JSONPath=".status.terraform.progress.current",description="Resource terraform works on now (long runs)"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"

// CustomCluster is the infrastructure of a CAPI Cluster, provisioned by a Terraform module.
type CustomCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CustomClusterSpec   `json:"spec,omitempty"`
	Status CustomClusterStatus `json:"status,omitempty"`
}

// GetConditions returns the conditions (util/conditions setter contract).
func (c *CustomCluster) GetConditions() []metav1.Condition { return c.Status.Conditions }

// SetConditions sets the conditions.
func (c *CustomCluster) SetConditions(conds []metav1.Condition) { c.Status.Conditions = conds }

// +kubebuilder:object:root=true

// CustomClusterList contains a list of CustomCluster.
type CustomClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []CustomCluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&CustomCluster{}, &CustomClusterList{})
}
