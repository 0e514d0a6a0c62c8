/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	tfjson "github.com/hashicorp/terraform-json"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/company/cluster-api-provider-custom/planpolicy"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// Summarize classifies a plan's resource changes (addresses and actions only, never values).
// Output-only changes set OutputsChanged.
func Summarize(p *tfjson.Plan) PlanSummary {
	var s PlanSummary
	if p == nil {
		return s
	}
	for _, rc := range p.ResourceChanges {
		if rc == nil || rc.Change == nil {
			continue
		}
		a := rc.Change.Actions
		var act Action
		switch {
		case a.Replace():
			act = ActionReplace
			s.Replace++
			if rc.ActionReason == tfjson.ActionReasonReplaceBecauseTainted {
				s.ReplaceTainted++
			}
		case a.Create():
			act = ActionCreate
			s.Add++
		case a.Update():
			act = ActionUpdate
			s.Change++
		case a.Delete():
			act = ActionDelete
			s.Destroy++
		default: // no-op and read
			continue
		}
		s.Resources = append(s.Resources, ResourceChange{Address: rc.Address, Action: act})
	}
	for _, oc := range p.OutputChanges {
		if oc != nil && !oc.Actions.NoOp() {
			s.OutputsChanged = true
		}
	}
	s.Gone = gone(p)
	sort.Slice(s.Resources, func(i, j int) bool { return s.Resources[i].Address < s.Resources[j].Address })
	return s
}

// gone lists the resources the plan's refresh found deleted outside Terraform and the plan would
// create again (a create, or the create half of a replace), sorted.
func gone(p *tfjson.Plan) []string {
	deleted := map[string]bool{}
	for _, rc := range p.ResourceDrift {
		if rc != nil && rc.Change != nil && rc.Change.Actions.Delete() {
			deleted[rc.Address] = true
		}
	}
	var out []string
	for _, rc := range p.ResourceChanges {
		if rc != nil && rc.Change != nil && deleted[rc.Address] && (rc.Change.Actions.Create() || rc.Change.Actions.Replace()) {
			out = append(out, rc.Address)
		}
	}
	sort.Strings(out)
	return out
}

// plannedOutputs are the root module's outputs as the plan leaves them: what the refresh found,
// with the plan's changes. Outputs known only after apply (or null) are absent.
func plannedOutputs(p *tfjson.Plan) map[string]Output {
	if p == nil || p.PlannedValues == nil {
		return nil
	}
	out := make(map[string]Output, len(p.PlannedValues.Outputs))
	for name, o := range p.PlannedValues.Outputs {
		if o == nil || o.Value == nil {
			continue
		}
		v, err := json.Marshal(o.Value)
		if err != nil {
			continue
		}
		out[name] = Output{Value: v, Sensitive: o.Sensitive}
	}
	return out
}

func planSecretName(obj tfstate.ObjectRef) string { return tfstate.BaseName(obj) + "-plan" }

// savedPlan is a plan awaiting approval.
type savedPlan struct {
	Digest     string
	InputsHash string
	Serial     string // state serial the plan was made against ("" when there was no state)
	Lineage    string
	Planfile   []byte
	Summary    PlanSummary
	Text       string            // `terraform show` output, redacted
	Preview    string            // the plan-preview token this plan answered, if any
	Outputs    map[string]Output // the outputs as planned (see Result.PlannedOutputs)
	Verdict    *planpolicy.Verdict
	chunks     int // Secrets the gzipped planfile spans (the plan Secret included)
}

// policies is the digest of the plan policies that judged the plan ("" for none).
func (p *savedPlan) policies() string {
	if p.Verdict == nil {
		return ""
	}
	return p.Verdict.Digest
}

// maxPlanText keeps the plan Secret under the object size limit next to the planfile.
const maxPlanText = 256 << 10

// maxPlannedOutputs bounds the planned outputs kept with a saved plan (they are a module's
// outputs, usually a few hundred bytes).
const maxPlannedOutputs = 64 << 10

func stateRef(st *tfstate.StoredState) (serial, lineage string) {
	if st == nil {
		return "", ""
	}
	return strconv.FormatInt(st.Serial, 10), st.Lineage
}

func planChunkName(obj tfstate.ObjectRef, digest string, i int) string {
	return fmt.Sprintf("%s-plan-%s-%d", tfstate.BaseName(obj), digest[:12], i)
}

// SecretBudget bounds the data of one Secret the runner writes (a plan, a run request), under the 1 MiB object limit with room for metadata.
const SecretBudget = 900 << 10

// maxSummaryResources bounds the addresses kept in the plan Secret's summary.json (the counts and
// plan.txt stay complete).
const maxSummaryResources = 4000

// savePlan writes the plan Secret. Like the state, a gzipped planfile too big for it is cut into
// tfstate.ChunkSize pieces: what fits stays in the plan Secret, the rest goes to chunk Secrets named after
// the digest, written first, so a plan Secret never points at chunks that are not there yet. The
// chunks of the plan it replaces (prev) are deleted afterwards.
func (r *Runner) savePlan(ctx context.Context, obj tfstate.ObjectRef, p savedPlan, prev *savedPlan) error {
	kept := p.Summary
	if len(kept.Resources) > maxSummaryResources {
		kept.Resources = kept.Resources[:maxSummaryResources]
	}
	sum, err := json.Marshal(kept)
	if err != nil {
		return fmt.Errorf("encoding plan summary: %w", err)
	}
	outs, err := json.Marshal(p.Outputs)
	if err != nil || len(outs) > maxPlannedOutputs {
		outs = nil // a pending plan then reports the stored state's outputs
	}
	text := []byte(truncate(p.Text, maxPlanText))
	var verdict []byte
	if p.Verdict != nil {
		if verdict, err = json.Marshal(p.Verdict); err != nil {
			return fmt.Errorf("encoding plan verdict: %w", err)
		}
	}
	gz := tfstate.Gzip(p.Planfile)
	first := gz[:min(len(gz), max(SecretBudget-len(sum)-len(outs)-len(text)-len(verdict), 0))]
	var chunks [][]byte
	if len(gz) > len(first) {
		chunks = tfstate.SplitChunks(gz[len(first):], tfstate.ChunkSize)
	}
	for i, c := range chunks {
		cs := &corev1.Secret{ObjectMeta: r.ObjectMeta(obj, planChunkName(obj, p.Digest, i+1), "tfplan-chunk"),
			Type: tfstate.SecretTypePlan, Data: map[string][]byte{"plan.gz": c}}
		cs.Annotations[tfstate.AnnPlanDigest] = p.Digest
		if err := tfstate.CreateOrReplace(ctx, r.cfg.Kube, cs); err != nil {
			return fmt.Errorf("saving plan chunk %s: %w", cs.Name, err)
		}
	}
	s := &corev1.Secret{ObjectMeta: r.ObjectMeta(obj, planSecretName(obj), "plan"), Type: tfstate.SecretTypePlan,
		Data: map[string][]byte{"plan.gz": first, "summary.json": sum, "plan.txt": text, "outputs.json": outs, "policy.json": verdict}}
	s.Annotations[tfstate.AnnChunks] = strconv.Itoa(len(chunks) + 1)
	s.Annotations[tfstate.AnnPlanDigest] = p.Digest
	s.Annotations[tfstate.AnnPlanInputs] = p.InputsHash
	s.Annotations[tfstate.AnnPlanSerial] = p.Serial
	s.Annotations[tfstate.AnnPlanLineage] = p.Lineage
	s.Annotations[tfstate.AnnPlanPreview] = p.Preview
	if err := tfstate.CreateOrReplace(ctx, r.cfg.Kube, s); err != nil {
		return fmt.Errorf("saving plan secret %s: %w", s.Name, err)
	}
	if prev != nil && prev.Digest != p.Digest {
		return r.deletePlanChunks(ctx, obj, prev)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "\n... (truncated)\n"
}

// loadPlan returns the saved plan, or nil when there is none.
func (r *Runner) loadPlan(ctx context.Context, obj tfstate.ObjectRef) (*savedPlan, error) {
	return readPlan(ctx, r.cfg.Kube, obj)
}

func readPlan(ctx context.Context, kube kubernetes.Interface, obj tfstate.ObjectRef) (*savedPlan, error) {
	c := kube.CoreV1().Secrets(obj.Namespace)
	s, err := c.Get(ctx, planSecretName(obj), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading plan secret: %w", err)
	}
	p := &savedPlan{Digest: s.Annotations[tfstate.AnnPlanDigest], InputsHash: s.Annotations[tfstate.AnnPlanInputs],
		Serial: s.Annotations[tfstate.AnnPlanSerial], Lineage: s.Annotations[tfstate.AnnPlanLineage],
		Text: string(s.Data["plan.txt"]), Preview: s.Annotations[tfstate.AnnPlanPreview], chunks: 1}
	if n, err := strconv.Atoi(s.Annotations[tfstate.AnnChunks]); err == nil && n > 1 && len(p.Digest) >= 12 {
		p.chunks = n
	}
	gz := s.Data["plan.gz"]
	for i := 1; i < p.chunks; i++ {
		cs, err := c.Get(ctx, planChunkName(obj, p.Digest, i), metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading plan chunk %d of %s: %w", i, s.Name, err)
		}
		gz = append(gz, cs.Data["plan.gz"]...)
	}
	if p.Planfile, err = tfstate.Gunzip(gz); err != nil {
		return nil, fmt.Errorf("plan secret %s: %w", s.Name, err)
	}
	_ = json.Unmarshal(s.Data["summary.json"], &p.Summary)
	_ = json.Unmarshal(s.Data["outputs.json"], &p.Outputs)
	if v := s.Data["policy.json"]; len(v) > 0 {
		p.Verdict = &planpolicy.Verdict{}
		if err := json.Unmarshal(v, p.Verdict); err != nil {
			return nil, fmt.Errorf("plan secret %s: reading the policy verdict: %w", s.Name, err)
		}
	}
	if tfstate.SHA256Hex(p.Planfile) != p.Digest {
		return nil, fmt.Errorf("plan secret %s: planfile does not match its digest", s.Name)
	}
	return p, nil
}

// deletePlan deletes the plan Secret and the chunks of saved (the plan read at the start of the
// run, if any).
func (r *Runner) deletePlan(ctx context.Context, obj tfstate.ObjectRef, saved *savedPlan) error {
	err := r.cfg.Kube.CoreV1().Secrets(obj.Namespace).Delete(ctx, planSecretName(obj), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting plan secret: %w", err)
	}
	return r.deletePlanChunks(ctx, obj, saved)
}

func (r *Runner) deletePlanChunks(ctx context.Context, obj tfstate.ObjectRef, p *savedPlan) error {
	if p == nil {
		return nil
	}
	for i := 1; i < p.chunks; i++ {
		err := r.cfg.Kube.CoreV1().Secrets(obj.Namespace).Delete(ctx, planChunkName(obj, p.Digest, i), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting plan chunk: %w", err)
		}
	}
	return nil
}

// staleReason says why a saved plan cannot be applied for approved digest d ("" if it can).
func staleReason(p *savedPlan, d, inputsHash, policies string, st *tfstate.StoredState) string {
	serial, lineage := stateRef(st)
	switch {
	case p == nil:
		return "no saved plan"
	case p.Digest != d:
		return "digest does not match the saved plan"
	case p.InputsHash != inputsHash:
		return "inputs changed since the plan was made"
	case p.Serial != serial || p.Lineage != lineage:
		return "state changed since the plan was made"
	case p.policies() != policies:
		return "plan policies changed since the plan was judged"
	}
	return ""
}
