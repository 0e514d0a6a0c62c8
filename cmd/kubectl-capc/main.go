/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Command kubectl-capc is a kubectl plugin (`kubectl capc ...`) that answers "what is Terraform
// doing to my clusters, and why" from what the provider already keeps: object status and
// conditions, the plan and state Secrets and the lock Leases. It reads with the user's own
// kubeconfig and RBAC, and writes only what a user could write with kubectl: the approve-plan and
// plan-preview annotations, a lock's renew time, and an event.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// version is set by the release build (-ldflags -X main.version=<tag>).
var version = "dev"

// app holds what every command needs: kubectl's connection flags and the clients made from them.
type app struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	now     func() time.Time

	client client.Client        // typed Custom* objects
	kube   kubernetes.Interface // Secrets, Leases, events
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	a := newApp(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	if err := a.command().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newApp(streams genericiooptions.IOStreams) *app {
	return &app{flags: genericclioptions.NewConfigFlags(true), streams: streams, now: time.Now}
}

func (a *app) command() *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-capc",
		Short: "Inspect and steer cluster-api-provider-custom's Terraform runs",
		Long: `kubectl capc shows what Terraform is doing to CustomClusters and CustomMachines (status,
running locks and progress, pending plans, drift, errors) and steers it: plan previews, approvals of
an exact plan digest, read-only state inspection and releasing a dead run's lock.

Objects are named KIND/NAME, KIND one of customcluster (cc) or custommachine (cm).`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(*cobra.Command, []string) error { return a.connect() },
	}
	root.SetIn(a.streams.In)
	root.SetOut(a.streams.Out)
	root.SetErr(a.streams.ErrOut)
	a.flags.AddFlags(root.PersistentFlags())
	root.Version = version
	root.AddCommand(a.statusCommand(), a.planCommand(), a.approveCommand(), a.stateCommand(), a.unlockCommand(), a.reconcileCommand())
	return root
}

// connect builds the clients from kubectl's flags (--kubeconfig, --context, -n, ...).
func (a *app) connect() error {
	if a.client != nil {
		return nil
	}
	cfg, err := a.flags.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := infrav1.AddToScheme(scheme); err != nil {
		return err
	}
	if a.client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("connecting to the API server: %w", err)
	}
	if a.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return fmt.Errorf("connecting to the API server: %w", err)
	}
	return nil
}

// namespace is -n, else the kubeconfig context's namespace, else default.
func (a *app) namespace() (string, error) {
	ns, _, err := a.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the namespace from kubeconfig: %w", err)
	}
	return ns, nil
}
