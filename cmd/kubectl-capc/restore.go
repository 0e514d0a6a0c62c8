/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/company/cluster-api-provider-custom/tfstate"
)

func (a *app) backupsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "backups KIND/NAME",
		Short: "The kept backups of the object's state: serial, when it was replaced, size, resources",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := a.get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			list, err := tfstate.Backups(cmd.Context(), a.kube, t.ref())
			if err != nil {
				return err
			}
			if len(list) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "%s has no state backups\n", t)
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SERIAL\tREPLACED\tSIZE\tRESOURCES")
			for _, b := range list {
				fmt.Fprintf(w, "%d\t%s ago\t%d\t%d\n", b.Serial, age(b.Time, a.now()), b.Size, b.Resources)
			}
			return w.Flush()
		},
	}
}

func (a *app) restoreCommand() *cobra.Command {
	var serial int64
	c := &cobra.Command{
		Use:   "restore KIND/NAME --serial N",
		Short: "Put a state backup back as the object's current state, then reconcile it",
		Long: `restore writes the backup of serial N (see 'state backups') back as the object's current state,
as a new serial of the same lineage, under the object's lock and through the same compare-and-swap
as every state write: the state it replaces is kept as a backup in turn. It is refused while a run
holds the object's lock. It then requests a reconcile (reconcile.fluxcd.io/requestedAt): the next
run plans against the restored state; in auto mode a destructive plan still waits for approval.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.restore(cmd.Context(), cmd.OutOrStdout(), args[0], serial)
		},
	}
	c.Flags().Int64Var(&serial, "serial", 0, "the backup's serial (required)")
	_ = c.MarkFlagRequired("serial")
	return c
}

func (a *app) restore(ctx context.Context, out io.Writer, arg string, serial int64) error {
	t, err := a.get(ctx, arg)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	s, err := tfstate.New(tfstate.Config{Kube: a.kube, Holder: "kubectl-capc@" + host})
	if err != nil {
		return err
	}
	next, err := s.Restore(ctx, t.ref(), serial)
	if err != nil {
		return fmt.Errorf("restoring %s: %w", t, err)
	}
	fmt.Fprintf(out, "restored %s's backup of serial %d as serial %d (the state it replaced is kept as a backup)\n", t, serial, next)
	if _, err := a.requestReconcile(ctx, t); err != nil {
		return err
	}
	fmt.Fprintf(out, "reconcile requested: the next run plans against it (`kubectl capc plan show %s`)\n", t)
	return nil
}
