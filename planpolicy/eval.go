/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package planpolicy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/util"
)

// refused are the builtins a plan policy may not call: they reach the network or read the
// process's environment (the manager's), and a plan's verdict must depend on the plan alone.
var refused = map[string]bool{"http.send": true, "net.lookup_ip_addr": true, "opa.runtime": true}

// capabilities are OPA's own without the refused builtins: a policy calling one fails to compile,
// naming the call.
var capabilities = sync.OnceValue(func() *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	kept := caps.Builtins[:0]
	for _, b := range caps.Builtins {
		if !refused[b.Name] {
			kept = append(kept, b)
		}
	}
	caps.Builtins = kept
	return caps
})

// rule is one rule conftest reads, prepared for evaluation.
type rule struct {
	name  string // package and rule: main.deny
	block bool   // deny and violation block; warn does not
	query rego.PreparedEvalQuery
}

// compiled is a Set's rules, ready to evaluate.
type compiled struct{ rules []rule }

// compiledSets caches compiled sets by digest: a set compiles once, not once per plan or
// reconcile, and so does one that does not compile (its error depends on its content alone).
var compiledSets = struct {
	sync.Mutex
	m map[string]compileResult
}{m: map[string]compileResult{}}

type compileResult struct {
	c   *compiled
	err error
}

// maxCompiled bounds the cache (sets are few: a platform team's policy sources).
const maxCompiled = 64

// Check compiles the set: a *Error names each file and line that does not parse or compile.
func Check(s Set) error {
	_, err := compile(context.Background(), s)
	return err
}

func compile(ctx context.Context, s Set) (*compiled, error) {
	key := s.Digest()
	compiledSets.Lock()
	r, ok := compiledSets.m[key]
	compiledSets.Unlock()
	if ok {
		return r.c, r.err
	}
	r.c, r.err = build(ctx, s)
	if ctx.Err() != nil {
		return r.c, r.err // cut short: nothing to remember
	}
	compiledSets.Lock()
	if len(compiledSets.m) >= maxCompiled {
		compiledSets.m = map[string]compileResult{}
	}
	compiledSets.m[key] = r
	compiledSets.Unlock()
	return r.c, r.err
}

func build(ctx context.Context, s Set) (*compiled, error) {
	modules := map[string]*ast.Module{}
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(s.Files)) {
		m, err := parse(name, s.Files[name])
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		modules[name] = m
	}
	if len(problems) == 0 && len(modules) == 0 {
		problems = append(problems, "no .rego file")
	}
	if len(problems) > 0 {
		return nil, &Error{Policy: s.Name, Problems: problems}
	}
	comp := ast.NewCompiler().WithCapabilities(capabilities())
	if comp.Compile(modules); comp.Failed() {
		for _, e := range comp.Errors {
			problems = append(problems, e.Error())
		}
		return nil, &Error{Policy: s.Name, Problems: problems}
	}
	c := &compiled{}
	for _, r := range rules(modules) {
		q, err := rego.New(rego.Compiler(comp), rego.Query(r.ref), rego.StrictBuiltinErrors(true)).PrepareForEval(ctx)
		if err != nil {
			return nil, &Error{Policy: s.Name, Problems: []string{fmt.Sprintf("preparing %s: %v", r.name, err)}}
		}
		c.rules = append(c.rules, rule{name: r.name, block: r.block, query: q})
	}
	return c, nil
}

// parse reads a file as Rego v1 (conftest's default since OPA 1.0) or, failing that, as Rego v0,
// so a team's older policies run unchanged; the v1 error is the one reported.
func parse(name, src string) (*ast.Module, error) {
	m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err == nil {
		return m, nil
	}
	if m0, err0 := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV0}); err0 == nil {
		return m0, nil
	}
	return nil, err
}

type ruleRef struct {
	ref, name string
	block     bool
}

// rules lists the rules conftest evaluates in every package of the modules: deny, violation and
// warn, and those names followed by _<anything>, each once.
func rules(modules map[string]*ast.Module) []ruleRef {
	seen := map[string]bool{}
	var out []ruleRef
	for _, m := range modules {
		for _, r := range m.Rules {
			ref := r.Head.Ref()
			if len(ref) != 1 {
				continue
			}
			v, ok := ref[0].Value.(ast.Var)
			if !ok {
				continue
			}
			n := string(v)
			kind := ""
			for _, k := range []string{"deny", "violation", "warn"} {
				if n == k || strings.HasPrefix(n, k+"_") {
					kind = k
				}
			}
			full := m.Package.Path.Append(ast.StringTerm(n))
			if kind == "" || seen[full.String()] {
				continue
			}
			seen[full.String()] = true
			name := strings.TrimPrefix(m.Package.Path.String(), "data.") + "." + n
			out = append(out, ruleRef{ref: full.String(), name: name, block: kind != "warn"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ref < out[j].ref })
	return out
}

// Evaluate judges a plan (the JSON of `terraform show -json PLANFILE`) with every set. A set
// that does not compile or a rule that fails is in Verdict.Errors: the plan is denied. The error
// is for a plan that cannot be read.
func Evaluate(ctx context.Context, sets []Set, plan []byte) (Verdict, error) {
	v := Verdict{Digest: Digest(sets)}
	if len(sets) == 0 {
		return v, nil
	}
	var doc any
	if err := util.UnmarshalJSON(plan, &doc); err != nil {
		return v, fmt.Errorf("reading the plan's JSON: %w", err)
	}
	input, err := ast.InterfaceToValue(doc)
	if err != nil {
		return v, fmt.Errorf("reading the plan's JSON: %w", err)
	}
	for _, s := range sets {
		c, err := compile(ctx, s)
		if err != nil {
			v.Errors = append(v.Errors, err.Error())
			continue
		}
		for _, r := range c.rules {
			rs, err := r.query.Eval(ctx, rego.EvalParsedInput(input))
			if err != nil {
				v.Errors = append(v.Errors, (&Error{Policy: s.Name, Problems: []string{fmt.Sprintf("evaluating %s: %v", r.name, err)}}).Error())
				continue
			}
			for _, msg := range messages(rs, r.name) {
				f := Finding{Policy: s.Name, Rule: r.name, Message: msg}
				if r.block {
					v.Denials = append(v.Denials, f)
				} else {
					v.Warnings = append(v.Warnings, f)
				}
			}
		}
	}
	return v, nil
}

// messages reads a rule's value as conftest does: a set of strings or of objects with a msg
// field, a string, or true (a rule without a message).
func messages(rs rego.ResultSet, rule string) []string {
	var out []string
	for _, r := range rs {
		for _, e := range r.Expressions {
			switch val := e.Value.(type) {
			case []any:
				for _, item := range val {
					out = append(out, message(item))
				}
			case bool:
				if val {
					out = append(out, rule+" is true")
				}
			default:
				out = append(out, message(val))
			}
		}
	}
	sort.Strings(out)
	return out
}

func message(v any) string {
	switch m := v.(type) {
	case string:
		return m
	case map[string]any:
		if s, ok := m["msg"].(string); ok {
			return s
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}
