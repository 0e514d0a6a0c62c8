package controllers

import (
	"fmt"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// ClusterWorkspace is the module and variables the provider runs for a CustomCluster; the plan
// command uses it to show a plan without a management cluster.
func ClusterWorkspace(cc *infrav1.CustomCluster, clusterName, moduleRoot string) (tfrunner.Workspace, error) {
	mod, err := resolveModule(cc.Spec.Module, contract.KindCluster, moduleRoot)
	if err != nil {
		return tfrunner.Workspace{}, fmt.Errorf("module of CustomCluster %s: %w", cc.Name, err)
	}
	vars, err := clusterVariables(clusterName, cc)
	if err != nil {
		return tfrunner.Workspace{}, fmt.Errorf("variables of CustomCluster %s: %w", cc.Name, err)
	}
	return tfrunner.Workspace{Object: objectRef(cc, "CustomCluster", clusterName), Module: mod.FS, ModuleDir: mod.Root, Variables: vars}, nil
}

// MachineWorkspace is the module and variables the provider runs for a CustomMachine of the
// given CustomCluster (whose status supplies the cluster's outputs).
func MachineWorkspace(cm *infrav1.CustomMachine, cc *infrav1.CustomCluster, clusterName, moduleRoot, userData string, controlPlane bool) (tfrunner.Workspace, error) {
	mod, err := resolveModule(cm.Spec.Module, contract.KindMachine, moduleRoot)
	if err != nil {
		return tfrunner.Workspace{}, fmt.Errorf("module of CustomMachine %s: %w", cm.Name, err)
	}
	vars, err := machineVariables(machineInput{ClusterName: clusterName, Machine: cm, Cluster: cc, UserData: userData, ControlPlane: controlPlane})
	if err != nil {
		return tfrunner.Workspace{}, fmt.Errorf("variables of CustomMachine %s: %w", cm.Name, err)
	}
	return tfrunner.Workspace{Object: objectRef(cm, "CustomMachine", clusterName), Module: mod.FS, ModuleDir: mod.Root, Variables: vars,
		Sensitive: sensitiveMachineVariables}, nil
}
