/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfmodule

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/zclconf/go-cty/cty"
)

var variableSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "type"}, {Name: "default"}, {Name: "nullable"}, {Name: "sensitive"},
}}

var outputSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "sensitive"}}}

var resourceSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "provider"}, {Name: "count"}, {Name: "for_each"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "provisioner", LabelNames: []string{"type"}}},
}

var callSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "source"}, {Name: "count"}, {Name: "for_each"}}}

var terraformSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "required_providers"}, {Type: "backend", LabelNames: []string{"type"}}, {Type: "cloud"},
}}

// declare returns the declaration a variable or output block b adds to or, from an override
// file, changes in decls; ok is false (and a problem recorded) when terraform would refuse it:
// a second declaration outside override files, or one only in an override file.
func declare[T any](m *Module, decls map[string]*T, b *hcl.Block, override bool, item string,
	rangeOf func(*T) hcl.Range, create func() *T) (d *T, ok bool) {
	d, exists := decls[b.Labels[0]]
	switch {
	case exists && !override:
		m.problem(item, "declared twice (%s and %s)", rangeOf(d), b.DefRange)
		return nil, false
	case !exists && override:
		m.problem(item, "declared only in override file %s", b.DefRange.Filename)
		return nil, false
	case !exists:
		d = create()
		decls[b.Labels[0]] = d
	}
	return d, true
}

func (m *Module) readVariable(b *hcl.Block, override bool) {
	name := b.Labels[0]
	item := fmt.Sprintf("variable %q", name)
	v, ok := declare(m, m.Variables, b, override, item, func(v *Variable) hcl.Range { return v.Range },
		func() *Variable {
			return &Variable{Name: name, Type: cty.DynamicPseudoType, Nullable: true, Range: b.DefRange}
		})
	if !ok {
		return
	}
	content, _, diags := b.Body.PartialContent(variableSchema)
	if diags.HasErrors() {
		m.problem(item, "%s", FirstError(diags))
		return
	}
	if a, ok := content.Attributes["type"]; ok {
		ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
		if diags.HasErrors() {
			m.problem(item, "invalid type: %s", FirstError(diags))
			return
		}
		v.Type, v.Defaults = ty, defaults
	}
	if _, ok := content.Attributes["default"]; ok {
		v.HasDefault = true
	}
	m.literalBool(item, content.Attributes["nullable"], &v.Nullable)
	m.literalBool(item, content.Attributes["sensitive"], &v.Sensitive)
}

func (m *Module) readOutput(b *hcl.Block, override bool) {
	name := b.Labels[0]
	item := fmt.Sprintf("output %q", name)
	o, ok := declare(m, m.Outputs, b, override, item, func(o *Output) hcl.Range { return o.Range },
		func() *Output { return &Output{Name: name, Range: b.DefRange} })
	if !ok {
		return
	}
	content, _, diags := b.Body.PartialContent(outputSchema)
	if diags.HasErrors() {
		m.problem(item, "%s", FirstError(diags))
		return
	}
	m.literalBool(item, content.Attributes["sensitive"], &o.Sensitive)
}

// literalBool sets *dst from a constant boolean attribute (terraform allows only literals
// here); a is nil when the attribute is absent.
func (m *Module) literalBool(item string, a *hcl.Attribute, dst *bool) {
	if a == nil {
		return
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.Bool {
		m.problem(item, "%s must be true or false", a.Name)
		return
	}
	*dst = v.True()
}

// literalString is a constant string expression's value.
func literalString(expr hcl.Expression) (string, bool) {
	v, diags := expr.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

func readResource(b *hcl.Block, at string) Resource {
	r := Resource{Mode: b.Type, Type: b.Labels[0], Name: b.Labels[1], At: at}
	content, _, _ := b.Body.PartialContent(resourceSchema)
	r.Repeated = content.Attributes["count"] != nil || content.Attributes["for_each"] != nil
	r.Provider, _, _ = strings.Cut(r.Type, "_")
	if a := content.Attributes["provider"]; a != nil {
		if tr, diags := hcl.AbsTraversalForExpr(a.Expr); !diags.HasErrors() && len(tr) > 0 {
			r.Provider = tr.RootName()
		}
	}
	for _, pb := range content.Blocks {
		r.Provisioners = append(r.Provisioners, Block{Label: pb.Labels[0],
			At: fmt.Sprintf("%s:%d", pb.DefRange.Filename, pb.DefRange.Start.Line)})
	}
	return r
}

func readCall(b *hcl.Block, at string) ModuleCall {
	c := ModuleCall{Name: b.Labels[0], At: at}
	content, _, _ := b.Body.PartialContent(callSchema)
	c.Repeated = content.Attributes["count"] != nil || content.Attributes["for_each"] != nil
	if a := content.Attributes["source"]; a != nil {
		c.Source, c.Literal = literalString(a.Expr)
	}
	return c
}

// readTerraform reads terraform { required_providers { name = { source = "..." } } } and the
// backend or cloud blocks.
func (m *Module) readTerraform(body hcl.Body) {
	content, _, _ := body.PartialContent(terraformSchema)
	for _, b := range content.Blocks {
		at := fmt.Sprintf("%s:%d", b.DefRange.Filename, b.DefRange.Start.Line)
		switch b.Type {
		case "backend":
			m.Backends = append(m.Backends, Block{Label: b.Labels[0], At: at})
		case "cloud":
			m.Backends = append(m.Backends, Block{Label: "cloud", At: at})
		case "required_providers":
			attrs, _ := b.Body.JustAttributes()
			for name, a := range attrs {
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() || v.IsNull() || !v.Type().IsObjectType() || !v.Type().HasAttribute("source") {
					continue // a bare version constraint: the source is implied
				}
				if s := v.GetAttr("source"); s.Type() == cty.String && s.IsKnown() && !s.IsNull() {
					m.RequiredProviders[name] = s.AsString()
				}
			}
		}
	}
}
