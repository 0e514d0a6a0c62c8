/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package tfmodule is the one reader of Terraform module configuration: what a module
// directory declares (variables, outputs, resources and their provisioners, module calls,
// provider blocks, required providers, backend blocks), read with hcl/v2 from .tf and .tf.json
// files; the rules for module sources and provider addresses; and the marker of a module tree
// that never changes. The checker (modulecheck), the runner's journal (tfrunner) and the module
// sources (modulesrc) all read through it. It never imports another package of this project,
// nor controller-runtime, and never runs terraform.
package tfmodule

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

// Problem is one finding about a module, naming the item it is about, e.g.
// `file "main.tf": does not parse: …` or `variable "region": declared twice (…)`.
type Problem struct {
	// Item names what the problem is about: `variable "x"`, `output "y"`, `file "main.tf"`,
	// `module` (the root) or `module <dir>`.
	Item    string `json:"item"`
	Message string `json:"message"`
}

func (p Problem) String() string { return p.Item + ": " + p.Message }

// Variable is a `variable` block.
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

// Output is an `output` block.
type Output struct {
	Name      string
	Sensitive bool
	Range     hcl.Range
}

// Resource is a `resource` or `data` block.
type Resource struct {
	Mode       string // "resource" or "data"
	Type, Name string
	// Repeated is true with count or for_each: the address takes an instance key.
	Repeated bool
	// Provider is the local name of the provider it uses: its provider meta-argument
	// (`aws.west` → aws), else its type's prefix (`aws_instance` → aws).
	Provider     string
	Provisioners []Block
	At           string // file:line
}

// Block is a labelled block and where it is: a provisioner, a provider, a backend.
type Block struct {
	Label string
	At    string // file:line
}

// ModuleCall is a `module` block.
type ModuleCall struct {
	Name string
	// Source is the source when it is a literal string (Literal); terraform allows nothing else.
	Source   string
	Literal  bool
	Repeated bool // count or for_each
	At       string
}

// Module is what one module directory declares. Override files (override.tf, *_override.tf)
// are read after the others, as terraform does: they replace the attributes of the variables
// and outputs they name.
type Module struct {
	Dir   string   // the directory read (a slash path in the tree; "." for the top)
	Files []string // the .tf and .tf.json files read, primary files first
	// ReadErrors are directories or files that could not be read (a symlink out of the tree).
	ReadErrors []Problem
	// SyntaxErrors are files that do not parse; their blocks are missing below.
	SyntaxErrors []Problem
	// Problems are declarations terraform would refuse (duplicates, bad types, non-literals).
	Problems          []Problem
	Variables         map[string]*Variable
	Outputs           map[string]*Output
	Resources         []Resource
	Calls             []ModuleCall
	Providers         []Block           // provider blocks, by local name
	RequiredProviders map[string]string // local name -> source, from terraform { required_providers }
	Backends          []Block           // terraform { backend "x" } and terraform { cloud }
}

// AllProblems lists every problem: read errors, syntax errors, declarations.
func (m *Module) AllProblems() []Problem {
	return append(append(append([]Problem(nil), m.ReadErrors...), m.SyntaxErrors...), m.Problems...)
}

// IsModuleFile reports whether terraform reads name as configuration of a module.
func IsModuleFile(name string) bool {
	return strings.HasSuffix(name, ".tf") || strings.HasSuffix(name, ".tf.json")
}

func isOverride(name string) bool {
	base := strings.TrimSuffix(strings.TrimSuffix(name, ".json"), ".tf")
	return base == "override" || strings.HasSuffix(base, "_override")
}

// ReadDir reads the .tf and .tf.json files of dir in fsys (not its subdirectories: terraform
// reads a module's own directory only).
func ReadDir(fsys fs.FS, dir string) *Module {
	dir = path.Clean(dir)
	m := &Module{Dir: dir, Variables: map[string]*Variable{}, Outputs: map[string]*Output{},
		RequiredProviders: map[string]string{}}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		item := "module"
		if dir != "." {
			item += " " + dir
		}
		m.ReadErrors = append(m.ReadErrors, Problem{Item: item, Message: fmt.Sprintf("cannot be read: %v", err)})
		return m
	}
	var primary, overrides []string
	for _, e := range entries {
		switch {
		case e.IsDir() || !IsModuleFile(e.Name()):
		case isOverride(e.Name()):
			overrides = append(overrides, path.Join(dir, e.Name()))
		default:
			primary = append(primary, path.Join(dir, e.Name()))
		}
	}
	sort.Strings(primary)
	sort.Strings(overrides)
	p := hclparse.NewParser()
	for _, name := range primary {
		m.readFile(p, fsys, name, false)
	}
	for _, name := range overrides {
		m.readFile(p, fsys, name, true)
	}
	return m
}

var fileSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "output", LabelNames: []string{"name"}},
	{Type: "resource", LabelNames: []string{"type", "name"}},
	{Type: "data", LabelNames: []string{"type", "name"}},
	{Type: "module", LabelNames: []string{"name"}},
	{Type: "provider", LabelNames: []string{"name"}},
	{Type: "terraform"},
}}

func (m *Module) readFile(p *hclparse.Parser, fsys fs.FS, name string, override bool) {
	m.Files = append(m.Files, name)
	item := fmt.Sprintf("file %q", name)
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		msg := fmt.Sprintf("cannot be read: %v", err)
		if EscapesRoot(err) {
			msg = "is a symlink that leaves the module tree"
		}
		m.ReadErrors = append(m.ReadErrors, Problem{Item: item, Message: msg})
		return
	}
	var f *hcl.File
	var diags hcl.Diagnostics
	if path.Ext(name) == ".json" {
		f, diags = p.ParseJSON(src, name)
	} else {
		f, diags = p.ParseHCL(src, name)
	}
	if diags.HasErrors() {
		m.SyntaxErrors = append(m.SyntaxErrors, Problem{Item: item, Message: "does not parse: " + FirstError(diags)})
		return
	}
	content, _, diags := f.Body.PartialContent(fileSchema)
	if diags.HasErrors() {
		m.SyntaxErrors = append(m.SyntaxErrors, Problem{Item: item, Message: FirstError(diags)})
		return
	}
	for _, b := range content.Blocks {
		at := fmt.Sprintf("%s:%d", name, b.DefRange.Start.Line)
		switch b.Type {
		case "variable":
			m.readVariable(b, override)
		case "output":
			m.readOutput(b, override)
		case "resource", "data":
			m.Resources = append(m.Resources, readResource(b, at))
		case "module":
			m.Calls = append(m.Calls, readCall(b, at))
		case "provider":
			m.Providers = append(m.Providers, Block{Label: b.Labels[0], At: at})
		case "terraform":
			m.readTerraform(b.Body)
		}
	}
}

func (m *Module) problem(item, format string, args ...any) {
	m.Problems = append(m.Problems, Problem{Item: item, Message: fmt.Sprintf(format, args...)})
}

// FirstError is the first error of diags, with where it is.
func FirstError(diags hcl.Diagnostics) string {
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
