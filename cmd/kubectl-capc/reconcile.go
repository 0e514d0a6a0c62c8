/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

func (a *app) reconcileCommand() *cobra.Command {
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "reconcile KIND/NAME",
		Short: "Reconcile an object now, past a failed run's backoff, with a fresh plan; wait for it",
		Long: `reconcile sets the Flux convention annotation reconcile.fluxcd.io/requestedAt to the current
time. The provider reconciles the object at once (a failed run's backoff does not hold it), plans
afresh as a drift check does (applied or saved as the object's approval policy says), and echoes
the value in status.lastHandledReconcileAt. The command waits for that echo and prints the
object's Ready condition; it fails when the object is not Ready.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.reconcileNow(cmd.Context(), cmd.OutOrStdout(), args[0], timeout)
		},
	}
	c.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for the reconcile")
	return c
}

func (a *app) reconcileNow(ctx context.Context, out io.Writer, arg string, timeout time.Duration) error {
	t, err := a.get(ctx, arg)
	if err != nil {
		return err
	}
	at, err := a.requestReconcile(ctx, t)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "reconcile of %s requested at %s\n", t, at)
	var last target
	err = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		cur, err := a.get(ctx, arg)
		last = cur
		return err == nil && cur.handledAt() == at, err
	})
	ready := last.condition(infrav1.ReadyCondition)
	if wait.Interrupted(err) {
		return fmt.Errorf("%s did not handle the request within %s (it reconciles only once what it waits for is there): %s", t, timeout, condText(ready))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s reconciled: %s\n", t, condText(ready))
	if ready == nil || ready.Status != metav1.ConditionTrue {
		return fmt.Errorf("%s is not Ready", t)
	}
	return nil
}

// requestReconcile sets reconcile.fluxcd.io/requestedAt on t to now, the value it returns.
func (a *app) requestReconcile(ctx context.Context, t target) (string, error) {
	at := a.now().UTC().Format(time.RFC3339Nano)
	return at, a.annotate(ctx, t, infrav1.ReconcileRequestAnnotation, at, "")
}

// condText is "Ready=True Provisioned: message".
func condText(c *metav1.Condition) string {
	if c == nil {
		return "no Ready condition yet"
	}
	s := fmt.Sprintf("%s=%s %s", c.Type, c.Status, c.Reason)
	if c.Message != "" {
		s += ": " + c.Message
	}
	return s
}
