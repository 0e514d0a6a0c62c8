package main

import (
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/util/uuid"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

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
