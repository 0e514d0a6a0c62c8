/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package modulecheck

import (
	"io/fs"

	"github.com/company/cluster-api-provider-custom/tfmodule"
)

// Problem is one finding, naming the item it is about, e.g.
// `variable "region": type list(string) is not compatible with string`.
type Problem = tfmodule.Problem

// Module is what the checker reads from a root module: its variables, its outputs and any
// problem found while reading it (unreadable or unparsable files, bad declarations).
type Module struct {
	*tfmodule.Module
	Problems []Problem
}

// Parse reads the root module at the top of fsys (terraform does not read subdirectories of a
// root module).
func Parse(fsys fs.FS) *Module {
	m := tfmodule.ReadDir(fsys, ".")
	problems := m.AllProblems()
	if len(m.Files) == 0 && len(m.ReadErrors) == 0 {
		problems = append(problems, Problem{Item: "module", Message: "has no .tf or .tf.json files"})
	}
	return &Module{Module: m, Problems: problems}
}
