/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// RenderVariables renders vars as terraform.tfvars content, sorted by name so the bytes (and so
// the inputs hash) are stable. hclwrite's TokensForValue escapes "${" and "%{" as "$${" and "%%{",
// so user strings are never evaluated as templates.
func RenderVariables(vars map[string]cty.Value) ([]byte, error) {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	sort.Strings(names)
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	for _, n := range names {
		if !hclsyntax.ValidIdentifier(n) {
			return nil, fmt.Errorf("variable name %q is not a valid identifier", n)
		}
		v, _ := vars[n].UnmarkDeep()
		if err := checkRenderable(v); err != nil {
			return nil, fmt.Errorf("variable %q: %w", n, err)
		}
		body.SetAttributeValue(n, v)
	}
	return f.Bytes(), nil
}

func checkRenderable(v cty.Value) error {
	if v == cty.NilVal {
		return fmt.Errorf("nil value")
	}
	if !v.IsWhollyKnown() {
		return fmt.Errorf("value is not known")
	}
	var bad error
	_ = cty.Walk(v, func(_ cty.Path, e cty.Value) (bool, error) {
		if e.Type().IsCapsuleType() {
			bad = fmt.Errorf("capsule values cannot be rendered")
			return false, nil
		}
		return true, nil
	})
	return bad
}

// InputsHash is sha256(rendered variables, module digest, terraform version): when it equals the
// hash recorded at the last successful apply, terraform has nothing new to do.
func InputsHash(rendered []byte, moduleDigest, tfVersion string) string {
	h := sha256.New()
	h.Write(rendered)
	h.Write([]byte{0})
	h.Write([]byte(moduleDigest))
	h.Write([]byte{0})
	h.Write([]byte(tfVersion))
	return hex.EncodeToString(h.Sum(nil))
}
