package modulecheck

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

// Variable is a parsed `variable` block.
type Variable struct {
	Name string
	// Type is the declared type constraint (cty.DynamicPseudoType when absent or `any`).
	Type     cty.Type
	Defaults *typeexpr.Defaults
	// HasDefault is true when the block sets `default` (even `default = null`): the variable is optional.
	HasDefault bool
	// Nullable is false only with `nullable = false`.
	Nullable  bool
	Sensitive bool
	Range     hcl.Range
}

// Output is a parsed `output` block.
type Output struct {
	Name      string
	Sensitive bool
	Range     hcl.Range
}

// Module is what the checker reads from a root module: its variables, its outputs and any
// problem found while parsing (syntax errors, bad type expressions, duplicates).
type Module struct {
	Variables map[string]*Variable
	Outputs   map[string]*Output
	Problems  []Problem
}

var fileSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "output", LabelNames: []string{"name"}},
}}

var variableSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "type"}, {Name: "default"}, {Name: "nullable"}, {Name: "sensitive"},
}}

var outputSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "sensitive"}}}

// isModuleFile reports whether terraform reads name as configuration of a root module.
func isModuleFile(name string) bool {
	return strings.HasSuffix(name, ".tf") || strings.HasSuffix(name, ".tf.json")
}

func isOverride(name string) bool {
	base := strings.TrimSuffix(strings.TrimSuffix(name, ".json"), ".tf")
	return base == "override" || strings.HasSuffix(base, "_override")
}

// Parse reads the top-level .tf and .tf.json files of the module in fsys (terraform does not
// read subdirectories of a root module). Override files are applied after the others, as
// terraform does, replacing the attributes they set.
func Parse(fsys fs.FS) *Module {
	m := &Module{Variables: map[string]*Variable{}, Outputs: map[string]*Output{}}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		m.problem("module", "cannot be read: %v", err)
		return m
	}
	var primary, overrides []string
	for _, e := range entries {
		if e.IsDir() || !isModuleFile(e.Name()) {
			continue
		}
		if isOverride(e.Name()) {
			overrides = append(overrides, e.Name())
		} else {
			primary = append(primary, e.Name())
		}
	}
	sort.Strings(primary)
	sort.Strings(overrides)
	if len(primary) == 0 {
		m.problem("module", "has no .tf or .tf.json files")
		return m
	}
	p := hclparse.NewParser()
	for _, name := range primary {
		m.parseFile(p, fsys, name, false)
	}
	for _, name := range overrides {
		m.parseFile(p, fsys, name, true)
	}
	return m
}

func (m *Module) problem(item, format string, args ...any) {
	m.Problems = append(m.Problems, Problem{Item: item, Message: fmt.Sprintf(format, args...)})
}

func (m *Module) parseFile(p *hclparse.Parser, fsys fs.FS, name string, override bool) {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		m.problem(fmt.Sprintf("file %q", name), "cannot be read: %v", err)
		return
	}
	f, diags := parseSource(p, name, src)
	if diags.HasErrors() {
		m.problem(fmt.Sprintf("file %q", name), "does not parse: %s", firstError(diags))
		return
	}
	content, _, diags := f.Body.PartialContent(fileSchema)
	if diags.HasErrors() {
		m.problem(fmt.Sprintf("file %q", name), "%s", firstError(diags))
		return
	}
	for _, b := range content.Blocks {
		switch b.Type {
		case "variable":
			m.parseVariable(b, override)
		case "output":
			m.parseOutput(b, override)
		}
	}
}

func (m *Module) parseVariable(b *hcl.Block, override bool) {
	name := b.Labels[0]
	item := fmt.Sprintf("variable %q", name)
	v, exists := m.Variables[name]
	switch {
	case exists && !override:
		m.problem(item, "declared twice (%s and %s)", v.Range, b.DefRange)
		return
	case !exists && override:
		m.problem(item, "declared only in override file %s", b.DefRange.Filename)
		return
	case !exists:
		v = &Variable{Name: name, Type: cty.DynamicPseudoType, Nullable: true, Range: b.DefRange}
		m.Variables[name] = v
	}
	content, _, diags := b.Body.PartialContent(variableSchema)
	if diags.HasErrors() {
		m.problem(item, "%s", firstError(diags))
		return
	}
	if a, ok := content.Attributes["type"]; ok {
		ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
		if diags.HasErrors() {
			m.problem(item, "invalid type: %s", firstError(diags))
			return
		}
		v.Type, v.Defaults = ty, defaults
	}
	if _, ok := content.Attributes["default"]; ok {
		v.HasDefault = true
	}
	if a, ok := content.Attributes["nullable"]; ok {
		if b, ok := literalBool(a); ok {
			v.Nullable = b
		} else {
			m.problem(item, "nullable must be true or false")
		}
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		if b, ok := literalBool(a); ok {
			v.Sensitive = b
		} else {
			m.problem(item, "sensitive must be true or false")
		}
	}
}

func (m *Module) parseOutput(b *hcl.Block, override bool) {
	name := b.Labels[0]
	item := fmt.Sprintf("output %q", name)
	o, exists := m.Outputs[name]
	switch {
	case exists && !override:
		m.problem(item, "declared twice (%s and %s)", o.Range, b.DefRange)
		return
	case !exists && override:
		m.problem(item, "declared only in override file %s", b.DefRange.Filename)
		return
	case !exists:
		o = &Output{Name: name, Range: b.DefRange}
		m.Outputs[name] = o
	}
	content, _, diags := b.Body.PartialContent(outputSchema)
	if diags.HasErrors() {
		m.problem(item, "%s", firstError(diags))
		return
	}
	if a, ok := content.Attributes["sensitive"]; ok {
		if b, ok := literalBool(a); ok {
			o.Sensitive = b
		} else {
			m.problem(item, "sensitive must be true or false")
		}
	}
}

// literalBool evaluates a constant boolean attribute (terraform allows only literals here).
func literalBool(a *hcl.Attribute) (bool, bool) {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.Bool {
		return false, false
	}
	return v.True(), true
}

func firstError(diags hcl.Diagnostics) string {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			if d.Subject != nil {
				return fmt.Sprintf("%s: %s: %s", d.Subject, d.Summary, d.Detail)
			}
			return fmt.Sprintf("%s: %s", d.Summary, d.Detail)
		}
	}
	return diags.Error()
}

// parseSource parses a .tf or .tf.json file.
func parseSource(p *hclparse.Parser, name string, src []byte) (*hcl.File, hcl.Diagnostics) {
	if path.Ext(name) == ".json" {
		return p.ParseJSON(src, name)
	}
	return p.ParseHCL(src, name)
}
