/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// NewNamespace creates a namespace named prefix-<random> and returns its name.
func NewNamespace(ctx context.Context, c client.Client, prefix string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prefix + "-" + rand.String(6)}}
	if err := c.Create(ctx, ns); err != nil {
		return "", fmt.Errorf("creating namespace: %w", err)
	}
	return ns.Name, nil
}

// StateSecrets lists the Secrets the runner keeps in ns (state, backups, plans), those of one
// cluster's objects when clusterName is set.
func StateSecrets(ctx context.Context, c client.Client, ns, clusterName string) ([]corev1.Secret, error) {
	opts := []client.ListOption{client.InNamespace(ns), client.HasLabels{tfstate.LabelKind}}
	if clusterName != "" {
		opts = append(opts, client.MatchingLabels{clusterv1.ClusterNameLabel: clusterName})
	}
	list := &corev1.SecretList{}
	if err := c.List(ctx, list, opts...); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// WaitFor polls cond every 250 ms until it holds, failing t after timeout; it logs how long
// the wait took.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("%s: %s", what, time.Since(start).Round(100*time.Millisecond)) }()
	if err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ports, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

// FreePorts returns n TCP ports on 127.0.0.1 that were free a moment ago, held open together
// so that they differ.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// NewRunner is tfrunner.New(cfg) after the test's mutations of cfg; a failure ends the test.
func NewRunner(t *testing.T, cfg tfrunner.Config, mut ...func(*tfrunner.Config)) *tfrunner.Runner {
	t.Helper()
	for _, f := range mut {
		f(&cfg)
	}
	r, err := tfrunner.New(cfg)
	if err != nil {
		t.Fatalf("tfrunner.New: %v", err)
	}
	return r
}
