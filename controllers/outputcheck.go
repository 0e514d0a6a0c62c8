/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/config/crd"
	"github.com/company/cluster-api-provider-custom/contract"
)

// What a module's outputs may do to CAPI's view of an object is bounded by the API: the CRDs'
// own limits (list sizes, string lengths, address types, ports), checked in the manager before
// any write so that nothing half-written reaches the API server, and one providerID per machine
// across all namespaces (CAPI matches Nodes to Machines by it).

// apiLimits validates objects against the schemas of the provider's CRDs, by kind.
type apiLimits map[string]*validate.SchemaValidator

func loadAPILimits() (apiLimits, error) {
	files, err := fs.Glob(crd.Bases, "bases/*.yaml")
	if err != nil {
		return nil, err
	}
	out := apiLimits{}
	for _, f := range files {
		b, err := fs.ReadFile(crd.Bases, f)
		if err != nil {
			return nil, err
		}
		var def apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(b, &def); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if def.Spec.Names.Kind != "CustomCluster" && def.Spec.Names.Kind != "CustomMachine" {
			continue // templates hold no outputs
		}
		for _, v := range def.Spec.Versions {
			if v.Name != infrav1.GroupVersion.Version || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			// The CRD's schema is OpenAPI v3 JSON: kube-openapi reads it as it is.
			raw, err := json.Marshal(v.Schema.OpenAPIV3Schema)
			if err != nil {
				return nil, err
			}
			s := &spec.Schema{}
			if err := json.Unmarshal(raw, s); err != nil {
				return nil, fmt.Errorf("%s: schema: %w", f, err)
			}
			out[def.Spec.Names.Kind] = validate.NewSchemaValidator(s, nil, "", strfmt.Default)
		}
	}
	return out, nil
}

// check returns an error naming each output of obj (a kind, its module of moduleKind) whose value
// the API would refuse, and the limit; problems elsewhere in the object are not the outputs' doing.
func (l apiLimits) check(kind, moduleKind string, obj runtime.Object) error {
	v := l[kind]
	if v == nil {
		return nil
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return err
	}
	var problems []string
	for _, e := range v.Validate(u).Errors {
		ve, ok := e.(*errors.Validation)
		if !ok {
			continue
		}
		for _, o := range contract.Outputs(moduleKind) {
			if f := o.APIField; f != "" && (ve.Name == f || strings.HasPrefix(ve.Name, f+".") || strings.HasPrefix(ve.Name, f+"[")) {
				problems = append(problems, fmt.Sprintf("output %s: %s", o.Name, ve.Error()))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return &outputsError{msg: "the module's outputs do not fit the " + kind + " API: " + strings.Join(problems, "; ")}
}

// checkOutputs holds next (cur with a run's outputs applied) to the API's limits, unless the
// outputs changed nothing: cur is what the API server accepted, and a no-op reconcile (the common
// one) then validates nothing.
func (b *base) checkOutputs(kind, moduleKind string, cur, next runtime.Object) error {
	if equality.Semantic.DeepEqual(cur, next) {
		return nil
	}
	return b.limits.check(kind, moduleKind, next)
}

// outputsError is outputs the provider refuses to write (InvalidOutputs).
type outputsError struct{ msg string }

func (e *outputsError) Error() string { return e.msg }

// refuseOutputs reports outputs the provider will not write: Ready=False InvalidOutputs and a
// Warning event.
func (b *base) refuseOutputs(obj object, err error) {
	setNotReady(obj, infrav1.InvalidOutputsReason, "%v", err)
	b.Recorder.Eventf(obj, corev1.EventTypeWarning, infrav1.InvalidOutputsReason, "%v", err)
}

// claimTTL is how long a providerID claimed by a reconcile of this process stands without the
// cache showing it written: longer than a status write takes to come back through the watch.
const claimTTL = time.Minute

// providerIDs keeps providerIDs unique across namespaces: the field index answers for what is
// written, the claims for what reconciles of this process are writing now.
type providerIDs struct {
	mu     sync.Mutex
	claims map[string]providerIDClaim
}

type providerIDClaim struct {
	uid  types.UID
	name string
	at   time.Time
}

// holder returns another CustomMachine holding id ("namespace/name", "" for none); when none
// does, cm claims id.
func (b *base) providerIDHolder(ctx context.Context, cm *infrav1.CustomMachine, id string) (string, error) {
	list := &infrav1.CustomMachineList{}
	if err := b.Client.List(ctx, list, client.MatchingFields{providerIDField: id}); err != nil {
		return "", fmt.Errorf("looking up providerID %s: %w", id, err)
	}
	for _, o := range list.Items {
		if o.UID != cm.UID {
			return o.Namespace + "/" + o.Name, nil
		}
	}
	p := b.pids
	p.mu.Lock()
	defer p.mu.Unlock()
	now := b.clock()
	if c, ok := p.claims[id]; ok && c.uid != cm.UID && now.Sub(c.at) < claimTTL {
		return c.name, nil
	}
	for k, c := range p.claims { // by now the index answers for them
		if now.Sub(c.at) >= claimTTL {
			delete(p.claims, k)
		}
	}
	p.claims[id] = providerIDClaim{uid: cm.UID, name: cm.Namespace + "/" + cm.Name, at: now}
	return "", nil
}

// providerIDField indexes CustomMachines by spec.providerID, across namespaces.
const providerIDField = "spec.providerID"

func indexProviderID(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &infrav1.CustomMachine{}, providerIDField, func(o client.Object) []string {
		if id := o.(*infrav1.CustomMachine).Spec.ProviderID; id != "" {
			return []string{id}
		}
		return nil
	})
}

// writeRefused answers a write of the reconcile's outcome that the API server refused as
// invalid or too large: the object says so in a minimal status patch (its conditions as read,
// Ready=False StatusWriteFailed) and a Warning event, and the error goes back to the controller,
// which retries with backoff. Anything else (a conflict, the server away) is returned as it is.
func (b *base) writeRefused(ctx context.Context, p *patcher, obj object, err error) error {
	if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) && !apierrors.IsRequestEntityTooLargeError(err) {
		return err
	}
	b.Recorder.Eventf(obj, corev1.EventTypeWarning, infrav1.StatusWriteFailedReason, "the API server refused the reconcile's write: %v", err)
	p.mu.Lock()
	read, ok := p.before.DeepCopyObject().(object)
	p.mu.Unlock()
	if !ok {
		return err
	}
	setNotReady(read, infrav1.StatusWriteFailedReason, "the API server refused the reconcile's write: %v", err)
	patch, merr := json.Marshal(map[string]any{"status": map[string]any{"conditions": read.GetConditions()}})
	if merr == nil {
		merr = p.writeStatus(ctx, patch)
	}
	if merr != nil {
		ctrl.LoggerFrom(ctx).Error(merr, "writing the StatusWriteFailed condition")
	}
	return err
}
