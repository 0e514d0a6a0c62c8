/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package modulecheck checks a Terraform root module against the provider's module contract
// (package contract) before any terraform run: it reads the module's `variable` and `output`
// blocks through tfmodule and compares them with the variables the controllers pass and the outputs
// they read; and it holds the module policy (provisioners, providers) and its PolicyError. It
// never imports controllers, tfrunner or controller-runtime, and never runs terraform.
package modulecheck

import (
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/company/cluster-api-provider-custom/contract"
)

// Result is the outcome of a check.
type Result struct {
	// Problems make the module unusable for the object: nothing may run.
	Problems []Problem
	// Warnings do not block a run (a missing optional output, a declared attribute the
	// controllers never pass, a spec.variables key shadowed by a contract variable).
	Warnings []Problem
	// Variables are the spec.variables values converted to the module's declared types (with
	// optional attribute defaults applied); keys shadowed by contract variables are left out.
	Variables map[string]cty.Value
}

// OK reports whether the module passed.
func (r Result) OK() bool { return len(r.Problems) == 0 }

// Error joins the problems, one per item, or returns "" when there are none.
func (r Result) Error() string { return Join(r.Problems) }

// Join joins problems with "; ", one per item.
func Join(problems []Problem) string {
	s := make([]string, len(problems))
	for i, p := range problems {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

// Check parses the module in fsys and checks it against the contract of kind (cluster or
// machine), with extraVars the object's spec.variables (implied types).
func Check(fsys fs.FS, kind string, extraVars map[string]cty.Value) Result {
	return Parse(fsys).Check(kind, extraVars)
}

// Check checks a parsed module against the contract of kind.
func (m *Module) Check(kind string, extraVars map[string]cty.Value) Result {
	r := Result{Problems: append([]Problem(nil), m.Problems...), Variables: map[string]cty.Value{}}
	if !contract.Known(kind) {
		r.problem("module", "unknown kind %q (want %q or %q)", kind, contract.KindCluster, contract.KindMachine)
		return r
	}
	for _, p := range m.Problems {
		if p.Item == "module" || strings.HasPrefix(p.Item, "file ") {
			return r // a file could not be read or parsed: the rest would be guesswork
		}
	}
	m.checkContractVariables(&r, kind)
	m.checkExtraVariables(&r, kind, extraVars)
	m.checkRequired(&r, kind, extraVars)
	m.checkOutputs(&r, kind)
	for _, b := range m.Backends {
		r.warn(fmt.Sprintf("backend %q (%s)", b.Label, b.At), "is ignored: the provider keeps the state in Kubernetes Secrets")
	}
	return r
}

// checkContractVariables: contract variables the module declares must accept what the
// controllers pass.
func (m *Module) checkContractVariables(r *Result, kind string) {
	for _, cv := range contract.Variables(kind) {
		v, ok := m.Variables[cv.Name]
		if !ok {
			continue // terraform ignores values of undeclared variables in terraform.tfvars
		}
		item := fmt.Sprintf("variable %q", cv.Name)
		if !compatible(cv.Type, v.Type) {
			hint := ""
			if miss := requiredUnpassed(cv.Type, v.Type, ""); len(miss) > 0 {
				hint = fmt.Sprintf("; required attributes the controllers never pass: %s", strings.Join(miss, ", "))
			}
			r.problem(item, "type %s is not compatible with %s (what the controllers pass)%s", typeString(v.Type), typeString(cv.Type), hint)
			continue
		}
		if cv.MayBeNull && !v.Nullable && !v.HasDefault {
			r.problem(item, "declared nullable = false without a default, but the controllers pass null when the spec field is empty")
		}
		if cv.Sensitive && !v.Sensitive {
			r.warn(item, "should be declared sensitive = true")
		}
		for _, a := range unpassedAttributes(cv.Type, v.Type, "") {
			r.warn(item, "attribute %s is declared but never passed by the controllers (it always takes its default)", a)
		}
	}
}

// checkExtraVariables: spec.variables may set only declared, non-contract variables, and are
// converted to their declared types.
func (m *Module) checkExtraVariables(r *Result, kind string, extraVars map[string]cty.Value) {
	keys := make([]string, 0, len(extraVars))
	for k := range extraVars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		item := fmt.Sprintf("spec.variables %q", k)
		if _, ok := contract.VariableNamed(kind, k); ok {
			r.warn(item, "ignored: the contract variable %q rendered from the spec takes precedence", k)
			continue
		}
		v, ok := m.Variables[k]
		if !ok {
			r.problem(item, "is not a variable of the module (declared: %s)", strings.Join(m.variableNames(kind), ", "))
			continue
		}
		val, err := convert.Convert(extraVars[k], v.Type)
		if err != nil {
			r.problem(item, "value of type %s cannot be converted to the declared type %s: %v",
				typeString(extraVars[k].Type()), typeString(v.Type), err)
			continue
		}
		if val.IsNull() && !v.Nullable && !v.HasDefault {
			r.problem(item, "is null but the variable is declared nullable = false without a default")
			continue
		}
		if v.Defaults != nil && !val.IsNull() {
			val = v.Defaults.Apply(val)
		}
		r.Variables[k] = val
	}
}

// checkRequired: every variable without a default is given by the contract or spec.variables.
func (m *Module) checkRequired(r *Result, kind string, extraVars map[string]cty.Value) {
	for _, name := range sortedKeys(m.Variables) {
		v := m.Variables[name]
		if v.HasDefault {
			continue
		}
		if _, ok := contract.VariableNamed(kind, name); ok {
			continue
		}
		if _, ok := extraVars[name]; ok {
			continue
		}
		r.problem(fmt.Sprintf("variable %q", name), "is required (no default) but neither the %s contract nor spec.variables provides it", kind)
	}
}

// checkOutputs: the outputs the controllers read are declared and not sensitive.
func (m *Module) checkOutputs(r *Result, kind string) {
	for _, co := range contract.Outputs(kind) {
		item := fmt.Sprintf("output %q", co.Name)
		o, ok := m.Outputs[co.Name]
		switch {
		case !ok && co.Required:
			r.problem(item, "is missing; the %s contract requires it", kind)
		case !ok && co.Extension:
		case !ok:
			r.warn(item, "is missing; the status fields it fills stay empty")
		case o.Sensitive && co.Required:
			r.problem(item, "is sensitive; the controllers never read sensitive outputs, and the %s contract requires it", kind)
		case o.Sensitive:
			r.warn(item, "is sensitive, so the controllers ignore it")
		}
	}
}

func (r *Result) problem(item, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{Item: item, Message: fmt.Sprintf(format, args...)})
}

func (r *Result) warn(item, format string, args ...any) {
	r.Warnings = append(r.Warnings, Problem{Item: item, Message: fmt.Sprintf(format, args...)})
}

// variableNames lists the module's variables that spec.variables may set.
func (m *Module) variableNames(kind string) []string {
	var out []string
	for _, n := range sortedKeys(m.Variables) {
		if _, ok := contract.VariableNamed(kind, n); !ok {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return []string{"none besides the contract's"}
	}
	return out
}

// unpassedAttributes lists object attributes the module declares (as optional: a required one
// already fails conversion) that the controllers' type never carries.
func unpassedAttributes(passed, declared cty.Type, prefix string) []string {
	var out []string
	switch {
	case passed.IsObjectType() && declared.IsObjectType():
		for _, name := range sortedKeys(declared.AttributeTypes()) {
			if !passed.HasAttribute(name) {
				out = append(out, prefix+name)
				continue
			}
			out = append(out, unpassedAttributes(passed.AttributeType(name), declared.AttributeType(name), prefix+name+".")...)
		}
	case (passed.IsListType() || passed.IsSetType() || passed.IsMapType()) && declared.IsCollectionType():
		out = append(out, unpassedAttributes(passed.ElementType(), declared.ElementType(), prefix)...)
	}
	return out
}

// requiredUnpassed lists non-optional object attributes the module declares that the
// controllers' type does not carry.
func requiredUnpassed(passed, declared cty.Type, prefix string) []string {
	var out []string
	switch {
	case passed.IsObjectType() && declared.IsObjectType():
		for _, name := range sortedKeys(declared.AttributeTypes()) {
			if !passed.HasAttribute(name) {
				if !declared.AttributeOptional(name) {
					out = append(out, prefix+name)
				}
				continue
			}
			out = append(out, requiredUnpassed(passed.AttributeType(name), declared.AttributeType(name), prefix+name+".")...)
		}
	case (passed.IsListType() || passed.IsSetType() || passed.IsMapType()) && declared.IsCollectionType():
		out = append(out, requiredUnpassed(passed.ElementType(), declared.ElementType(), prefix)...)
	}
	return out
}

// compatible reports whether terraform can safely convert a value of type passed to declared
// (GetConversion returns nil both for "impossible" and for "identical types").
func compatible(passed, declared cty.Type) bool {
	return passed.Equals(declared) || convert.GetConversion(passed, declared) != nil
}

func typeString(ty cty.Type) string {
	if ty == cty.DynamicPseudoType {
		return "any"
	}
	return typeexpr.TypeString(ty)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Cache keeps parsed modules and policy verdicts by key (a module digest) so a reconcile only
// re-reads a module whose files changed. It is safe for concurrent use; when a map is full, it
// is emptied.
type Cache struct {
	mu       sync.Mutex
	max      int
	modules  map[string]*Module
	policies map[string][]Problem // key + policy -> its problems
}

// NewCache returns a cache of at most max parsed modules (and as many policy verdicts).
func NewCache(max int) *Cache {
	return &Cache{max: max, modules: map[string]*Module{}, policies: map[string][]Problem{}}
}

// Check checks the module in fsys, whose digest is key, against the contract of kind.
func (c *Cache) Check(key string, fsys fs.FS, kind string, extraVars map[string]cty.Value) Result {
	m := remember(c, &c.modules, key, func() *Module { return Parse(fsys) })
	return m.Check(kind, extraVars)
}

// CheckPolicy is pol.Check(fsys) for the module whose digest is key.
func (c *Cache) CheckPolicy(key string, fsys fs.FS, pol Policy) []Problem {
	return remember(c, &c.policies, fmt.Sprintf("%s\x00%v", key, pol), func() []Problem { return pol.Check(fsys) })
}

// remember returns (*m)[key], computing and storing it when absent.
func remember[V any](c *Cache, m *map[string]V, key string, compute func() V) V {
	c.mu.Lock()
	v, ok := (*m)[key]
	c.mu.Unlock()
	if ok {
		return v
	}
	v = compute()
	c.mu.Lock()
	if len(*m) >= c.max {
		*m = map[string]V{}
	}
	(*m)[key] = v
	c.mu.Unlock()
	return v
}
