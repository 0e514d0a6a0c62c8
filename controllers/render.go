/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"fmt"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// ClusterWorkspace is the module and variables the provider runs for a CustomCluster, checked
// as the manager checks them (rules, contract, spec.variables); the plan command uses it to show
// a plan without a management cluster.
func ClusterWorkspace(cc *infrav1.CustomCluster, clusterName, moduleRoot string, rules ModuleRules) (tfrunner.Workspace, error) {
	vars, err := clusterVariables(clusterName, cc)
	if err != nil {
		return tfrunner.Workspace{}, fmt.Errorf("variables of CustomCluster %s: %w", cc.Name, err)
	}
	ref := objectRef(cc, "CustomCluster", clusterName)
	return offlineWorkspace(ref, cc.Spec.TerraformSpec, contract.KindCluster, moduleRoot, vars, rules)
}

// MachineWorkspace is the module and variables the provider runs for a CustomMachine of the
// given CustomCluster (whose status supplies the cluster's outputs).
func MachineWorkspace(cm *infrav1.CustomMachine, cc *infrav1.CustomCluster, clusterName, moduleRoot, userData string, controlPlane bool, rules ModuleRules) (tfrunner.Workspace, error) {
	vars, err := machineVariables(machineInput{ClusterName: clusterName, Machine: cm, Cluster: cc, UserData: userData, ControlPlane: controlPlane})
	if err != nil {
		return tfrunner.Workspace{}, fmt.Errorf("variables of CustomMachine %s: %w", cm.Name, err)
	}
	ws, err := offlineWorkspace(objectRef(cm, "CustomMachine", clusterName), cm.Spec.TerraformSpec, contract.KindMachine, moduleRoot, vars, rules)
	ws.Sensitive = sensitiveMachineVariables
	return ws, err
}

// offlineWorkspace resolves a module without the manager (bundled or under moduleRoot) and
// checks it on the manager's path (checkModule).
func offlineWorkspace(ref tfstate.ObjectRef, spec infrav1.TerraformSpec, kind, moduleRoot string, vars variables, rules ModuleRules) (tfrunner.Workspace, error) {
	tree, err := resolveModule(spec.Module, kind, moduleRoot)
	if err != nil {
		return tfrunner.Workspace{}, fmt.Errorf("module of %s %s: %w", ref.Kind, ref.Name, err)
	}
	mod, err := checkModule(resolvedModule{tree: tree, shipped: bundled(spec.Module)}, vars, kind, rules)
	if err != nil {
		return tfrunner.Workspace{}, fmt.Errorf("module of %s %s: %w", ref.Kind, ref.Name, err)
	}
	return tfrunner.Workspace{Object: ref, Module: mod.tree.FS, ModuleDir: mod.tree.Root, Variables: mod.vars,
		CheckInstalled: mod.checkInstalled}, nil
}
