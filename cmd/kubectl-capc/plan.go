/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/planpolicy"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

func labelsSelector(s string) (labels.Selector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("bad label selector %q: %w", s, err)
	}
	return sel, nil
}

// planView is `plan show`'s -o json|yaml document.
type planView struct {
	Object   string               `json:"object"`
	Pending  bool                 `json:"pendingApproval"`
	Digest   string               `json:"digest"`
	Preview  string               `json:"previewToken,omitempty"`
	Summary  tfrunner.PlanSummary `json:"summary"`
	Text     string               `json:"text"`
	Approval string               `json:"approveWith,omitempty"`
	// Policy is the plan policies' verdict (CustomPolicy planPolicies), when any judged it.
	Policy *planpolicy.Verdict `json:"policy,omitempty"`
}

func (a *app) planCommand() *cobra.Command {
	c := &cobra.Command{Use: "plan", Short: "Show the saved plan of an object, or request a fresh preview"}
	var output string
	show := &cobra.Command{
		Use:   "show KIND/NAME",
		Short: "The saved plan's redacted text and summary",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := a.get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			v, err := a.planView(cmd.Context(), t)
			if err != nil {
				return err
			}
			if ok, err := printStructured(cmd.OutOrStdout(), output, v); ok {
				return err
			}
			return printPlan(cmd.OutOrStdout(), v)
		},
	}
	show.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: text)")
	c.AddCommand(show, a.previewCommand())
	return c
}

// planView reads the plan Secret; no Secret is an error that says why there is none.
func (a *app) planView(ctx context.Context, t target) (planView, error) {
	p, err := tfrunner.ReadPlan(ctx, a.kube, t.ref())
	if err != nil {
		return planView{}, err
	}
	if p == nil {
		last := "no run yet"
		if t.tf != nil {
			last = "last run " + string(t.tf.LastRunResult)
		}
		return planView{}, fmt.Errorf("%s has no saved plan (%s): plans are saved while they wait for approval or after a preview; request one with `kubectl capc plan preview %s`", t, last, t)
	}
	v := planView{Object: t.String(), Digest: p.Digest, Preview: p.Preview, Summary: p.Summary, Text: p.Text, Policy: p.Policy}
	if pp := t.pendingPlan(); pp != nil && pp.Digest == p.Digest && !p.Policy.Denied() {
		v.Pending = true
		v.Approval = "kubectl capc approve " + t.String() + " -n " + t.obj.GetNamespace()
	}
	return v, nil
}

func printPlan(w io.Writer, v planView) error {
	s := v.Summary
	state := "saved, not pending approval (applied, superseded, or a preview with nothing to approve)"
	switch {
	case v.Policy.Denied():
		state = "DENIED BY PLAN POLICY (never applied, not even approved: change the spec or the policy)"
	case v.Pending:
		state = "PENDING APPROVAL"
	}
	fmt.Fprintf(w, "Object:  %s\nDigest:  %s\nState:   %s\n", v.Object, v.Digest, state)
	if v.Preview != "" {
		fmt.Fprintf(w, "Preview: %s\n", v.Preview)
	}
	fmt.Fprintf(w, "Summary: %d to add, %d to change, %d to destroy, %d to replace\n", s.Add, s.Change, s.Destroy, s.Replace)
	for _, rc := range s.Resources {
		fmt.Fprintf(w, "  %-8s %s\n", rc.Action, rc.Address)
	}
	if v.Policy != nil {
		v.Policy.Write(w)
	}
	fmt.Fprintf(w, "\n%s\n", strings.TrimRight(v.Text, "\n"))
	if v.Approval != "" {
		fmt.Fprintf(w, "\nApprove exactly this plan with: %s\n", v.Approval)
	}
	return nil
}

func (a *app) previewCommand() *cobra.Command {
	var waitFor bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "preview KIND/NAME",
		Short: "Request a fresh refresh plan now (the plan-preview annotation); --wait prints it when made",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			t, err := a.get(ctx, args[0])
			if err != nil {
				return err
			}
			token := previewToken(a.now())
			if err := a.annotate(ctx, t, infrav1.PlanPreviewAnnotation, token, ""); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "preview %s requested for %s\n", token, t)
			if !waitFor {
				return nil
			}
			t, err = a.waitPreview(ctx, t, token, timeout)
			if err != nil {
				return err
			}
			if t.pendingPlan() == nil { // nothing to approve: the status has all there is
				return printPreview(cmd.OutOrStdout(), t)
			}
			v, err := a.planView(ctx, t)
			if err != nil {
				return err
			}
			return printPlan(cmd.OutOrStdout(), v)
		},
	}
	c.Flags().BoolVar(&waitFor, "wait", false, "wait for the plan and print it")
	c.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long --wait waits")
	return c
}

// printPreview reports a preview that left nothing to approve: no changes, or changes the
// approval policy applied at once.
func printPreview(w io.Writer, t target) error {
	p := t.tf.Plan
	outcome := "no changes: the infrastructure matches the spec"
	if p.Add+p.Change+p.Destroy+p.Replace > 0 {
		outcome = "changes found and applied under the object's approval policy (auto)"
	}
	fmt.Fprintf(w, "Object:  %s\nResult:  %s, %s\n", t, t.tf.LastRunResult, outcome)
	fmt.Fprintf(w, "Summary: %d to add, %d to change, %d to destroy, %d to replace\n", p.Add, p.Change, p.Destroy, p.Replace)
	for _, rc := range p.Resources {
		fmt.Fprintf(w, "  %-8s %s\n", rc.Action, rc.Address)
	}
	return nil
}

// previewToken is unique per request: the controller plans again only for a token it has not answered.
func previewToken(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("kubectl-capc-%d-%s", now.Unix(), hex.EncodeToString(b))
}

// waitPreview polls until the object's status echoes token, or its run fails after the request.
func (a *app) waitPreview(ctx context.Context, t target, token string, timeout time.Duration) (target, error) {
	requested := a.now().Add(-time.Second) // status times have second precision
	var last target
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		cur, err := a.get(ctx, t.String())
		if err != nil {
			return false, err
		}
		last = cur
		if cur.tf != nil && cur.tf.Plan != nil && cur.tf.Plan.PreviewToken == token {
			return true, nil
		}
		if cur.tf != nil && cur.tf.LastRunResult == infrav1.RunFailed && cur.tf.LastRunTime != nil && !cur.tf.LastRunTime.Time.Before(requested) {
			return false, fmt.Errorf("the preview run failed: %s", row(cur, nil, a.now()).Error)
		}
		return false, nil
	})
	if wait.Interrupted(err) {
		why := "no error reported"
		if r := row(last, nil, a.now()); r.Error != "" {
			why = r.Error
		}
		return last, fmt.Errorf("no plan for preview %s after %s (%s); `kubectl capc status` shows what runs", token, timeout, why)
	}
	return last, err
}

// annotate sets one annotation with a merge patch. With rv set, the patch carries it, so the
// server refuses it (409) when the object changed since it was read.
func (a *app) annotate(ctx context.Context, t target, key, value, rv string) error {
	md := map[string]any{"annotations": map[string]string{key: value}}
	if rv != "" {
		md["resourceVersion"] = rv
	}
	body, _ := json.Marshal(map[string]any{"metadata": md})
	obj := t.obj.DeepCopyObject().(client.Object)
	if err := a.client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("annotating %s: %w", t, err)
	}
	return nil
}

func (a *app) approveCommand() *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "approve KIND/NAME",
		Short: "Show the pending plan and, once confirmed, approve exactly its digest",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.approve(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), args[0], yes)
		},
	}
	c.Flags().BoolVarP(&yes, "yes", "y", false, "approve without asking")
	return c
}

var errNotApproved = errors.New("not approved")

func (a *app) approve(ctx context.Context, in io.Reader, out io.Writer, arg string, yes bool) error {
	t, err := a.get(ctx, arg)
	if err != nil {
		return err
	}
	v, err := a.pendingView(ctx, t)
	if err != nil {
		return err
	}
	v.Approval = ""
	if err := printPlan(out, v); err != nil {
		return err
	}
	if !yes {
		fmt.Fprintf(out, "\nApprove plan %s for %s? Only yes or y approves: ", short(v.Digest), t)
		answer, _ := bufio.NewReader(in).ReadString('\n')
		fmt.Fprintln(out)
		if a := strings.TrimSpace(strings.ToLower(answer)); a != "yes" && a != "y" {
			return errNotApproved
		}
	}
	// The annotation carries the resourceVersion read with the plan. A conflict means the object
	// changed meanwhile: approve only if its pending plan is still the one shown.
	for try := 0; ; try++ {
		err = a.annotate(ctx, t, infrav1.ApprovePlanAnnotation, v.Digest, t.obj.GetResourceVersion())
		if !apierrors.IsConflict(err) || try == 5 {
			break
		}
		gen := t.obj.GetGeneration()
		if t, err = a.get(ctx, arg); err != nil {
			return err
		}
		if t.obj.GetGeneration() != gen {
			return fmt.Errorf("the spec of %s changed while you reviewed its plan: nothing approved; its next plan replaces this one", t)
		}
		if p := t.pendingPlan(); p == nil || p.Digest != v.Digest {
			return fmt.Errorf("the pending plan of %s changed while you reviewed it (%s now): nothing approved; review it again", t, describePending(t))
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "approved plan %s for %s; the provider applies it on its next reconcile\n", v.Digest, t)
	return nil
}

// pendingView is the pending plan, refused when there is none or the plan Secret disagrees with status.
func (a *app) pendingView(ctx context.Context, t target) (planView, error) {
	p := t.pendingPlan()
	if p == nil {
		return planView{}, fmt.Errorf("%s has no plan pending approval (%s)", t, describePending(t))
	}
	v, err := a.planView(ctx, t)
	if err != nil {
		return planView{}, err
	}
	if !v.Pending {
		return planView{}, fmt.Errorf("the pending plan of %s changed (status says %s, the plan Secret holds %s): nothing approved; look again", t, short(p.Digest), short(v.Digest))
	}
	return v, nil
}

func describePending(t target) string {
	switch {
	case t.tf == nil || t.tf.LastRunResult == "":
		return "no run yet"
	case t.pendingPlan() != nil:
		return "pending " + short(t.tf.Plan.Digest)
	}
	return "last run " + string(t.tf.LastRunResult)
}
