/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// Every output of an object's module, not only the contract's, is where Kubernetes can read it:
// a Secret owned by the object (sensitive outputs only there), and the small non-sensitive ones
// in status.terraform.outputs as well (but for the contract's, which fill fields of their own).

// Bounds of status.terraform.outputs: an output larger than maxStatusOutput, or past
// maxStatusOutputs bytes or maxStatusOutputCount entries in all, is named in outputsOmitted.
const (
	maxStatusOutput      = 1 << 10
	maxStatusOutputs     = 8 << 10
	maxStatusOutputCount = 64
)

// publishOutputs writes outs into the object's outputs Secret when they changed since the last
// write (a no-op reconcile writes nothing) and into status.
func (b *base) publishOutputs(ctx context.Context, in runInput, outs map[string]tfrunner.Output) error {
	ts := *in.status
	if ts == nil {
		return nil
	}
	name := tfstate.BaseName(in.ref) + "-outputs"
	digest := outputsDigest(outs)
	if ts.OutputsSecret == name && ts.OutputsDigest == digest {
		return nil // status holds them already: they are a function of the outputs alone
	}
	if err := b.writeOutputsSecret(ctx, in, name, outs); err != nil {
		return fmt.Errorf("publishing the module's outputs in Secret %s: %w", name, err)
	}
	ts.Outputs, ts.OutputsOmitted = statusOutputs(in.kind, outs)
	ts.OutputsSecret, ts.OutputsDigest = name, digest
	return nil
}

func (b *base) writeOutputsSecret(ctx context.Context, in runInput, name string, outs map[string]tfrunner.Output) error {
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: in.ref.Namespace, Name: name, Labels: tfstate.Labels(in.ref, "outputs")},
		Type:       tfstate.SecretTypeOutputs, Data: make(map[string][]byte, len(outs)),
	}
	size := 0
	for k, o := range outs {
		sec.Data[k] = o.Value
		size += len(k) + len(o.Value)
	}
	if size > tfrunner.SecretBudget {
		return &outputsError{msg: fmt.Sprintf("the module's outputs take %d bytes, more than one Secret holds (%d)", size, tfrunner.SecretBudget)}
	}
	if err := controllerutil.SetControllerReference(in.obj, sec, b.Client.Scheme()); err != nil {
		return err
	}
	err := b.Client.Create(ctx, sec)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur := &corev1.Secret{}
	if err := b.APIReader.Get(ctx, client.ObjectKeyFromObject(sec), cur); err != nil {
		return err
	}
	if cur.Type != tfstate.SecretTypeOutputs || !metav1.IsControlledBy(cur, in.obj) {
		return &outputsError{msg: fmt.Sprintf("a Secret %s that is not this object's outputs Secret is in the way: rename it", name)}
	}
	sec.ResourceVersion = cur.ResourceVersion
	return b.Client.Update(ctx, sec)
}

// statusOutputs are the non-sensitive outputs that fit status, and the names of those that do not.
// Contract outputs that fill a field of their own (provider_id, addresses, ...) are there already.
func statusOutputs(kind string, outs map[string]tfrunner.Output) (map[string]apiextensionsv1.JSON, []string) {
	mapped := map[string]bool{}
	for _, o := range contract.Outputs(kind) {
		mapped[o.Name] = o.APIField != ""
	}
	var kept map[string]apiextensionsv1.JSON
	var omitted []string
	total := 0
	for _, k := range slices.Sorted(maps.Keys(outs)) {
		o := outs[k]
		switch {
		case o.Sensitive || mapped[k]:
		case len(o.Value) > maxStatusOutput || total+len(o.Value) > maxStatusOutputs || len(kept) == maxStatusOutputCount:
			omitted = append(omitted, k)
		default:
			if kept == nil {
				kept = map[string]apiextensionsv1.JSON{}
			}
			kept[k] = apiextensionsv1.JSON{Raw: o.Value}
			total += len(o.Value)
		}
	}
	return kept, omitted
}

// outputsDigest identifies a set of outputs (names, values, sensitivity).
func outputsDigest(outs map[string]tfrunner.Output) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(outs)) {
		fmt.Fprintf(h, "%q %t %d:", k, outs[k].Sensitive, len(outs[k].Value))
		h.Write(outs[k].Value)
	}
	return hex.EncodeToString(h.Sum(nil))
}
