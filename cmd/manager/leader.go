/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/util/uuid"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// shimPath is what terraform runs under (tfrunner Config.Shim): capc-tfshim beside the manager
// binary, else the manager binary itself (it calls tfrunner.ShimMain first; ~20 ms more per
// terraform process, all package initialisation).
func shimPath() (string, error) {
	if !tfrunner.ShimSupported {
		return "", nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locating the manager binary to run terraform under: %w", err)
	}
	if small := filepath.Join(filepath.Dir(self), "capc-tfshim"); isExecutable(small) {
		return small, nil
	}
	return self, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// policyNamespace is --policy-namespace, else the pod's namespace, else the provider's default.
func policyNamespace(flag string) string {
	if flag != "" {
		return flag
	}
	if b, err := os.ReadFile(inClusterNamespaceFile); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	return "capc-system"
}

// leaderLock is controller-runtime's leader-election Lease lock with one difference: the
// candidate identity is "<lock holder identity>_<uuid>" (controller-runtime uses the host name,
// which two managers on one host share), so the terraform runner can tell from the election
// Lease whether the holder of a run lock still leads. It returns the lock and "namespace/name".
func leaderLock(cfg *rest.Config, ns, id, holder string) (resourcelock.Interface, string, error) {
	if ns == "" {
		b, err := os.ReadFile(inClusterNamespaceFile)
		if err != nil {
			return nil, "", fmt.Errorf("leader election needs --leader-election-namespace outside a cluster: %w", err)
		}
		ns = strings.TrimSpace(string(b))
	}
	cfg = rest.AddUserAgent(cfg, "leader-election")
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, "", err
	}
	coord, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, "", err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, ns, id, core, coord,
		resourcelock.ResourceLockConfig{Identity: holder + "_" + string(uuid.NewUUID())})
	if err != nil {
		return nil, "", fmt.Errorf("leader election lock: %w", err)
	}
	return lock, ns + "/" + id, nil
}
