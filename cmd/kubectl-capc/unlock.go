/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/company/cluster-api-provider-custom/tfstate"
)

func (a *app) unlockCommand() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "unlock KIND/NAME",
		Short: "Show who holds the object's terraform lock; release it when expired, or live with --force",
		Long: `unlock shows the run holding the object's lock and releases the lock when it has expired
(its holder stopped renewing it). A live lock is released only with --force: its holder fails its
next renewal and interrupts terraform, within a third of the lock's TTL. The lock's journal is
kept, so the next run reports what the interrupted run may have created (SuspectedOrphan events).
Use --force only for a holder known to be gone or hung.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.unlock(cmd.Context(), cmd.OutOrStdout(), args[0], force)
		},
	}
	c.Flags().BoolVar(&force, "force", false, "release a lock that has not expired")
	return c
}

func (a *app) unlock(ctx context.Context, out io.Writer, arg string, force bool) error {
	t, err := a.get(ctx, arg)
	if err != nil {
		return err
	}
	now := a.now()
	li, err := tfstate.ReleaseLock(ctx, a.kube, t.ref(), force, now)
	if errors.Is(err, tfstate.ErrNotLocked) {
		fmt.Fprintf(out, "%s is not locked: no terraform run holds it\n", t)
		return nil
	}
	if li != nil {
		fmt.Fprintf(out, "lock of %s: held by %s since %s ago (run %s), renewed %s ago, %s\n",
			t, li.Holder, age(li.Since, now), li.RunID, age(li.Renewed, now), expiresIn(li, now))
		if len(li.Journal) > 0 {
			fmt.Fprintf(out, "the run may be creating: %s\n", strings.Join(li.Journal, ", "))
		}
	}
	var locked *tfstate.LockedError
	if errors.As(err, &locked) {
		return fmt.Errorf("the lock is live (it expires at %s): wait for it, or pass --force if its holder is gone or hung", locked.Expires.UTC().Format("15:04:05Z"))
	}
	if err != nil {
		return err
	}
	how := "expired"
	if !li.Expired(now) {
		how = "live, --force"
	}
	msg := fmt.Sprintf("Lock of run %s held by %s since %s released (%s) by kubectl capc unlock", li.RunID, li.Holder,
		li.Since.UTC().Format("2006-01-02T15:04:05Z"), how)
	if err := a.event(ctx, t, "LockReleased", msg); err != nil {
		fmt.Fprintf(out, "warning: the lock was released but the event was not recorded: %v\n", err)
	}
	fmt.Fprintf(out, "released: the next run takes the lock over and reports what the last run may have left\n")
	return nil
}

func expiresIn(li *tfstate.LockInfo, now time.Time) string {
	if li.Expired(now) {
		return "expired " + age(li.Expires, now) + " ago"
	}
	return "expires in " + age(now, li.Expires)
}

// event records an event on the object, as the manager's recorder would, from kubectl-capc.
func (a *app) event(ctx context.Context, t target, reason, msg string) error {
	now := metav1.NewTime(a.now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: t.obj.GetName() + ".", Namespace: t.obj.GetNamespace()},
		InvolvedObject: corev1.ObjectReference{APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1", Kind: t.Kind,
			Name: t.obj.GetName(), Namespace: t.obj.GetNamespace(), UID: t.obj.GetUID(), ResourceVersion: t.obj.GetResourceVersion()},
		Reason: reason, Message: msg, Type: corev1.EventTypeNormal, Count: 1,
		FirstTimestamp: now, LastTimestamp: now, Source: corev1.EventSource{Component: "kubectl-capc"},
		ReportingController: "kubectl-capc",
	}
	_, err := a.kube.CoreV1().Events(t.obj.GetNamespace()).Create(ctx, ev, metav1.CreateOptions{})
	return err
}
