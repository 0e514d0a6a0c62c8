/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package health

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// An instance deleted out of band is reported (Ready=False InstanceTerminated, a Warning event)
// and never created again under the same Machine, in auto and in manual mode; its state stays
// for the delete, which then removes what remains.
func TestInstanceDeleted(t *testing.T) {
	eachMode(t, "deleted", func(t *testing.T, g Gomega, ns, name, mode string, cm *infrav1.CustomMachine) {
		providerID, id := cm.Spec.ProviderID, cm.Status.InstanceID
		instanceAction(g, http.MethodDelete, "/v1/instances/"+id)

		waitNotReady(g, cm, infrav1.InstanceTerminatedReason, "fakecloud_instance.this")
		waitWarning(g, ns, name, infrav1.InstanceTerminatedReason)

		// Several drift checks later: still reported, nothing created, providerID and state kept.
		g.Consistently(func(g Gomega) {
			g.Expect(readyReason(g, cm).Reason).To(Equal(infrav1.InstanceTerminatedReason))
			g.Expect(instances(g, name)).To(BeEmpty())
			g.Expect(cm.Spec.ProviderID).To(Equal(providerID))
			g.Expect(stateSecrets(g, ns, name)).NotTo(BeEmpty())
			g.Expect(conditions.GetReason(cm, infrav1.PlanApprovedCondition)).NotTo(Equal(infrav1.AwaitingApprovalReason))
		}, 3*driftInterval, 500*time.Millisecond).Should(Succeed())
		g.Expect(warnings(g, ns, name, infrav1.InstanceTerminatedReason)).To(Equal(1), "one event per transition, not per check")

		// CAPI mirrors Ready onto the Machine, where a MachineHealthCheck reads it.
		m := &clusterv1.Machine{}
		g.Expect(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, m)).To(Succeed())
		g.Expect(conditions.GetReason(m, clusterv1.MachineInfrastructureReadyCondition)).To(Equal(infrav1.InstanceTerminatedReason))

		deleteMachine(t, ns, name)
	})
}

// A stopped instance is reported through the module's health output (Ready=False
// InstanceUnhealthy), is neither replaced nor started, and in auto mode a started one is Ready
// again at the next drift check. In manual mode the refresh's output-only plan waits for approval
// while the machine is reported unhealthy from it.
func TestInstanceStopped(t *testing.T) {
	eachMode(t, "stopped", func(t *testing.T, g Gomega, ns, name, mode string, cm *infrav1.CustomMachine) {
		providerID, id := cm.Spec.ProviderID, cm.Status.InstanceID
		instanceAction(g, http.MethodPost, "/v1/instances/"+id+"/stop")

		waitNotReady(g, cm, infrav1.InstanceUnhealthyReason, "instance "+id+" is stopped")
		waitWarning(g, ns, name, infrav1.InstanceUnhealthyReason)
		g.Consistently(func(g Gomega) {
			g.Expect(readyReason(g, cm).Reason).To(Equal(infrav1.InstanceUnhealthyReason))
			got := instances(g, name)
			g.Expect(got).To(HaveLen(1))
			g.Expect(got[0]["id"]).To(Equal(id))
			g.Expect(got[0]["state"]).To(Equal("stopped"))
			g.Expect(cm.Spec.ProviderID).To(Equal(providerID))
		}, 2*driftInterval, 500*time.Millisecond).Should(Succeed())

		if mode == "manual" {
			g.Expect(conditions.GetReason(cm, infrav1.PlanApprovedCondition)).To(Equal(infrav1.AwaitingApprovalReason))
			g.Expect(cm.Status.Terraform.Plan.Add+cm.Status.Terraform.Plan.Change+cm.Status.Terraform.Plan.Destroy+
				cm.Status.Terraform.Plan.Replace).To(BeZero(), "an output-only plan")
		} else {
			g.Expect(cm.Status.InstanceState).To(Equal("stopped"))
			instanceAction(g, http.MethodPost, "/v1/instances/"+id+"/start")
			g.Eventually(func(g Gomega) {
				g.Expect(readyReason(g, cm).Status).To(Equal(metav1.ConditionTrue))
				g.Expect(cm.Status.InstanceState).To(Equal("running"))
			}, time.Minute, 250*time.Millisecond).Should(Succeed())
		}
		deleteMachine(t, ns, name)
	})
}
