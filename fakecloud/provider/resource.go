/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package provider

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/company/cluster-api-provider-custom/fakecloud/client"
)

// genericResource implements every fakecloud_* resource from its resourceDef: values move
// between Terraform and the API as tftypes values <-> JSON, attribute by attribute.
type genericResource struct {
	def    resourceDef
	client *client.Client
}

var (
	_ resource.ResourceWithConfigure   = (*genericResource)(nil)
	_ resource.ResourceWithImportState = (*genericResource)(nil)
)

func (r *genericResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + r.def.Type
}

func (r *genericResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	if req.ProviderData == nil {
		return
	}
	c, ok := req.ProviderData.(*client.Client)
	if !ok {
		resp.Diagnostics.AddError("unexpected provider data", fmt.Sprintf("want *client.Client, got %T", req.ProviderData))
		return
	}
	r.client = c
}

var ruleAttrs = map[string]schema.Attribute{
	"description": schema.StringAttribute{Optional: true},
	"protocol":    schema.StringAttribute{Required: true, Description: "tcp, udp, icmp or -1 (all)."},
	"from_port":   schema.Int64Attribute{Required: true},
	"to_port":     schema.Int64Attribute{Required: true},
	"cidr_blocks": schema.ListAttribute{Optional: true, ElementType: types.StringType},
}

func (r *genericResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	attrs := map[string]schema.Attribute{}
	for _, a := range r.def.Attrs {
		desc := a.Desc
		if a.Replace {
			desc += " Changing it replaces the resource."
		}
		switch a.Kind {
		case aString:
			var pm []planmodifier.String
			if a.Replace {
				pm = append(pm, stringplanmodifier.RequiresReplace())
			}
			if a.Stable {
				pm = append(pm, stringplanmodifier.UseStateForUnknown())
			}
			sa := schema.StringAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Sensitive: a.Sensitive, Description: desc, PlanModifiers: pm}
			if a.Default != "" {
				sa.Default = stringdefault.StaticString(a.Default)
			}
			attrs[a.Name] = sa
		case aBool:
			var pm []planmodifier.Bool
			if a.Replace {
				pm = append(pm, boolplanmodifier.RequiresReplace())
			}
			attrs[a.Name] = schema.BoolAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Description: desc, PlanModifiers: pm}
		case aInt:
			var pm []planmodifier.Int64
			if a.Replace {
				pm = append(pm, int64planmodifier.RequiresReplace())
			}
			attrs[a.Name] = schema.Int64Attribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Description: desc, PlanModifiers: pm}
		case aStringList, aIntList:
			var pm []planmodifier.List
			if a.Replace {
				pm = append(pm, listplanmodifier.RequiresReplace())
			}
			var et attr.Type = types.StringType
			if a.Kind == aIntList {
				et = types.Int64Type
			}
			attrs[a.Name] = schema.ListAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, ElementType: et, Description: desc, PlanModifiers: pm}
		case aStringMap:
			var pm []planmodifier.Map
			if a.Replace {
				pm = append(pm, mapplanmodifier.RequiresReplace())
			}
			attrs[a.Name] = schema.MapAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, ElementType: types.StringType, Description: desc, PlanModifiers: pm}
		case aRules:
			attrs[a.Name] = schema.ListNestedAttribute{Required: a.Required, Optional: a.Optional, Computed: a.Computed, Description: desc,
				NestedObject: schema.NestedAttributeObject{Attributes: ruleAttrs}}
		}
	}
	resp.Schema = schema.Schema{Description: r.def.Desc, Attributes: attrs}
}

func (r *genericResource) name() string { return "fakecloud_" + r.def.Type }

// errDetail explains an API error with a hint where one helps.
func errDetail(err error) string {
	msg := err.Error()
	var ae *client.APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Code == "QuotaExceeded":
			msg += "\n\nThe fake cloud's quota for this kind is exhausted: delete objects or lift the quota (POST /admin/faults)."
		case ae.Status == http.StatusUnauthorized:
			msg += "\n\nSet the provider's token (or FAKECLOUD_TOKEN) to the server's token."
		case ae.Status >= 500:
			msg += "\n\nThe fake cloud kept failing; the operation is safe to retry."
		}
	}
	return msg
}

func (r *genericResource) needClient(diags *diag.Diagnostics) bool {
	if r.client == nil {
		diags.AddError("fakecloud provider is not configured", "The provider did not receive its configuration (endpoint).")
		return false
	}
	return true
}

// attrsOf splits an object value into its attributes.
func attrsOf(v tftypes.Value) (map[string]tftypes.Value, error) {
	m := map[string]tftypes.Value{}
	if v.IsNull() || !v.IsKnown() {
		return m, nil
	}
	if err := v.As(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// body is the JSON the API gets: the user arguments, or only the mutable ones for updates.
func (r *genericResource) body(vals map[string]tftypes.Value, update bool) (map[string]any, error) {
	out := map[string]any{}
	for _, a := range r.def.Attrs {
		if a.Local || (a.Computed && !a.Optional) || (update && a.Replace) {
			continue
		}
		v, err := toJSON(vals[a.Name])
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", a.Name, err)
		}
		out[a.Name] = v
	}
	return out, nil
}

// merge builds the new state: from the API's answer for attributes it returns (all of them when
// fromAPI, computed ones only otherwise), else the prior value; unknowns become null (or the
// default for local attributes).
func (r *genericResource) merge(ctx context.Context, typ tftypes.Type, prior map[string]tftypes.Value, api map[string]any, fromAPI bool) (tftypes.Value, error) {
	obj, ok := typ.(tftypes.Object)
	if !ok {
		return tftypes.Value{}, fmt.Errorf("schema type is %T, not an object", typ)
	}
	out := map[string]tftypes.Value{}
	for _, a := range r.def.Attrs {
		t := obj.AttributeTypes[a.Name]
		v, has := prior[a.Name]
		if !has {
			v = tftypes.NewValue(t, nil)
		}
		if raw, ok := api[a.Name]; ok && !a.Local && (fromAPI || a.Computed && !a.Optional) {
			nv, err := fromJSON(raw, t)
			if err != nil {
				return tftypes.Value{}, fmt.Errorf("attribute %s: %w", a.Name, err)
			}
			v = nv
		}
		if !v.IsKnown() || (a.Local && v.IsNull() && a.Default != "") {
			if a.Default != "" {
				v = tftypes.NewValue(t, a.Default)
			} else {
				v = tftypes.NewValue(t, nil)
			}
		}
		out[a.Name] = v
	}
	_ = ctx
	return tftypes.NewValue(obj, out), nil
}

func (r *genericResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	if !r.needClient(&resp.Diagnostics) {
		return
	}
	vals, err := attrsOf(req.Plan.Raw)
	if err != nil {
		resp.Diagnostics.AddError("reading plan", err.Error())
		return
	}
	body, err := r.body(vals, false)
	if err != nil {
		resp.Diagnostics.AddError("building request for "+r.name(), err.Error())
		return
	}
	out, err := r.client.Do(ctx, http.MethodPost, r.def.Path, body)
	if err != nil {
		resp.Diagnostics.AddError("Creating "+r.name()+" failed", errDetail(err))
		return
	}
	typ := req.Plan.Raw.Type()
	var waitErr error
	if r.def.WaitRunning {
		out, waitErr = r.waitRunning(ctx, vals, out)
	}
	st, err := r.merge(ctx, typ, vals, out, false)
	if err != nil {
		resp.Diagnostics.AddError("building state for "+r.name(), err.Error())
		return
	}
	// The object exists: record it even when waiting failed (terraform then taints it).
	resp.State.Raw = st
	if waitErr != nil {
		resp.Diagnostics.AddError(r.name()+" did not become running", waitErr.Error())
	}
}

// waitRunning polls the instance until its state is "running" or wait_timeout passes. 404s are
// tolerated: a just-created object may not be visible yet (eventual consistency).
func (r *genericResource) waitRunning(ctx context.Context, vals map[string]tftypes.Value, created map[string]any) (map[string]any, error) {
	timeout := 10 * time.Minute
	var s string
	if v, ok := vals["wait_timeout"]; ok && v.IsKnown() && !v.IsNull() && v.As(&s) == nil && s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return created, fmt.Errorf("wait_timeout %q is not a Go duration: %v", s, err)
		}
		timeout = d
	}
	id, _ := created["id"].(string)
	last := created
	deadline := time.Now().Add(timeout)
	for {
		if st, _ := last["state"].(string); st == "running" {
			return last, nil
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("instance %s is still %q after %s (wait_timeout); the next apply replaces it", id, last["state"], timeout)
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("waiting for instance %s to run: %w", id, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
		got, err := r.client.Do(ctx, http.MethodGet, r.def.Path+"/"+id, nil)
		switch {
		case err == nil:
			last = got
		case client.IsNotFound(err):
			// not visible yet
		default:
			return last, fmt.Errorf("waiting for instance %s to run: %s", id, errDetail(err))
		}
	}
}

func (r *genericResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	if !r.needClient(&resp.Diagnostics) {
		return
	}
	vals, err := attrsOf(req.State.Raw)
	if err != nil {
		resp.Diagnostics.AddError("reading state", err.Error())
		return
	}
	var id string
	if v, ok := vals["id"]; !ok || v.IsNull() || v.As(&id) != nil || id == "" {
		resp.Diagnostics.AddError("Reading "+r.name()+" failed", "the state has no id")
		return
	}
	out, err := r.client.Do(ctx, http.MethodGet, r.def.Path+"/"+id, nil)
	if client.IsNotFound(err) {
		// Deleted outside Terraform: drop it so the plan shows it to be created again.
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Reading "+r.name()+" "+id+" failed", errDetail(err))
		return
	}
	st, err := r.merge(ctx, req.State.Raw.Type(), vals, out, true)
	if err != nil {
		resp.Diagnostics.AddError("building state for "+r.name(), err.Error())
		return
	}
	resp.State.Raw = st
}

func (r *genericResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	if !r.needClient(&resp.Diagnostics) {
		return
	}
	vals, err := attrsOf(req.Plan.Raw)
	if err != nil {
		resp.Diagnostics.AddError("reading plan", err.Error())
		return
	}
	prior, err := attrsOf(req.State.Raw)
	if err != nil {
		resp.Diagnostics.AddError("reading state", err.Error())
		return
	}
	var id string
	if err := prior["id"].As(&id); err != nil || id == "" {
		resp.Diagnostics.AddError("Updating "+r.name()+" failed", "the state has no id")
		return
	}
	body, err := r.body(vals, true)
	if err != nil {
		resp.Diagnostics.AddError("building request for "+r.name(), err.Error())
		return
	}
	out, err := r.client.Do(ctx, http.MethodPatch, r.def.Path+"/"+id, body)
	if err != nil {
		resp.Diagnostics.AddError("Updating "+r.name()+" "+id+" failed", errDetail(err))
		return
	}
	st, err := r.merge(ctx, req.Plan.Raw.Type(), vals, out, false)
	if err != nil {
		resp.Diagnostics.AddError("building state for "+r.name(), err.Error())
		return
	}
	resp.State.Raw = st
}

func (r *genericResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	if !r.needClient(&resp.Diagnostics) {
		return
	}
	vals, err := attrsOf(req.State.Raw)
	if err != nil {
		resp.Diagnostics.AddError("reading state", err.Error())
		return
	}
	var id string
	if err := vals["id"].As(&id); err != nil || id == "" {
		return
	}
	if _, err := r.client.Do(ctx, http.MethodDelete, r.def.Path+"/"+id, nil); err != nil && !client.IsNotFound(err) {
		resp.Diagnostics.AddError("Deleting "+r.name()+" "+id+" failed", errDetail(err))
	}
}

func (r *genericResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

// toJSON converts a known tftypes value to its JSON form (null → nil).
func toJSON(v tftypes.Value) (any, error) {
	if !v.IsKnown() {
		return nil, errors.New("value is unknown")
	}
	if v.IsNull() {
		return nil, nil
	}
	t := v.Type()
	switch {
	case t.Is(tftypes.String):
		var s string
		err := v.As(&s)
		return s, err
	case t.Is(tftypes.Bool):
		var b bool
		err := v.As(&b)
		return b, err
	case t.Is(tftypes.Number):
		var f big.Float
		if err := v.As(&f); err != nil {
			return nil, err
		}
		x, _ := f.Float64()
		return x, nil
	case t.Is(tftypes.List{}), t.Is(tftypes.Set{}), t.Is(tftypes.Tuple{}):
		var l []tftypes.Value
		if err := v.As(&l); err != nil {
			return nil, err
		}
		out := make([]any, 0, len(l))
		for _, e := range l {
			j, err := toJSON(e)
			if err != nil {
				return nil, err
			}
			out = append(out, j)
		}
		return out, nil
	case t.Is(tftypes.Map{}), t.Is(tftypes.Object{}):
		var m map[string]tftypes.Value
		if err := v.As(&m); err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		for k, e := range m {
			j, err := toJSON(e)
			if err != nil {
				return nil, err
			}
			out[k] = j
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported type %s", t)
}

// fromJSON converts decoded JSON to a value of type t.
func fromJSON(x any, t tftypes.Type) (tftypes.Value, error) {
	if x == nil {
		return tftypes.NewValue(t, nil), nil
	}
	bad := func() (tftypes.Value, error) {
		return tftypes.Value{}, fmt.Errorf("the API answered %T where %s was expected", x, t)
	}
	switch tt := t.(type) {
	case tftypes.List:
		l, ok := x.([]any)
		if !ok {
			return bad()
		}
		out := make([]tftypes.Value, 0, len(l))
		for _, e := range l {
			v, err := fromJSON(e, tt.ElementType)
			if err != nil {
				return tftypes.Value{}, err
			}
			out = append(out, v)
		}
		return tftypes.NewValue(t, out), nil
	case tftypes.Map:
		m, ok := x.(map[string]any)
		if !ok {
			return bad()
		}
		out := make(map[string]tftypes.Value, len(m))
		for k, e := range m {
			v, err := fromJSON(e, tt.ElementType)
			if err != nil {
				return tftypes.Value{}, err
			}
			out[k] = v
		}
		return tftypes.NewValue(t, out), nil
	case tftypes.Object:
		m, ok := x.(map[string]any)
		if !ok {
			return bad()
		}
		names := make([]string, 0, len(tt.AttributeTypes))
		for k := range tt.AttributeTypes {
			names = append(names, k)
		}
		sort.Strings(names)
		out := make(map[string]tftypes.Value, len(names))
		for _, k := range names {
			v, err := fromJSON(m[k], tt.AttributeTypes[k])
			if err != nil {
				return tftypes.Value{}, err
			}
			out[k] = v
		}
		return tftypes.NewValue(t, out), nil
	}
	switch {
	case t.Is(tftypes.String):
		if s, ok := x.(string); ok {
			return tftypes.NewValue(t, s), nil
		}
	case t.Is(tftypes.Bool):
		if b, ok := x.(bool); ok {
			return tftypes.NewValue(t, b), nil
		}
	case t.Is(tftypes.Number):
		if f, ok := x.(float64); ok {
			return tftypes.NewValue(t, new(big.Float).SetFloat64(f)), nil
		}
	}
	return bad()
}
