/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package modulecheck

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/company/cluster-api-provider-custom/tfmodule"
)

// RemoteCall is a module call of a remote source: terraform init downloads it.
type RemoteCall struct {
	// Item names the call with its file and line.
	Item   string
	Source string
}

// Refused is the problem of a remote call that may not be downloaded, and why.
func (c RemoteCall) Refused(why string) Problem {
	return Problem{Item: c.Item, Message: fmt.Sprintf("source %q is remote: %s", c.Source, why)}
}

// LocalModules returns the directory of the root module (root, a slash path in fsys) and of
// every module it calls through a local source, transitively, sorted; remote lists the calls
// of a remote source (downloaded by terraform init), as problems would name them. A local source that
// leaves fsys, that is not a literal string or that names no directory is a problem naming
// the module call, its file and line: nothing may run, because terraform would read a
// directory the provider did not check and hash.
func LocalModules(fsys fs.FS, root string) (dirs []string, remote []RemoteCall, problems []Problem) {
	root = path.Clean(root)
	seen := map[string]bool{root: true}
	queue := []string{root}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		// Syntax errors are left to the contract check (root) or terraform (called modules).
		m := tfmodule.ReadDir(fsys, dir)
		problems = append(problems, m.ReadErrors...)
		for _, c := range m.Calls {
			target, p := resolve(c, fsys, dir)
			if p != nil {
				problems = append(problems, *p)
				continue
			}
			if target == "" {
				remote = append(remote, RemoteCall{Item: fmt.Sprintf("module %q (%s)", c.Name, c.At), Source: c.Source})
			}
			if target != "" && !seen[target] {
				seen[target] = true
				queue = append(queue, target)
			}
		}
	}
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return dirs, remote, problems
}

// resolve returns the directory a local call reads ("" for a remote source).
func resolve(c tfmodule.ModuleCall, fsys fs.FS, dir string) (string, *Problem) {
	item := fmt.Sprintf("module %q (%s)", c.Name, c.At)
	if !c.Literal {
		return "", &Problem{Item: item, Message: "source must be a literal string"}
	}
	if !tfmodule.IsLocalSource(c.Source) {
		return "", nil // downloaded by terraform init; the policy checks it once installed
	}
	target := path.Join(dir, c.Source)
	if target == ".." || strings.HasPrefix(target, "../") {
		return "", &Problem{Item: item, Message: fmt.Sprintf("source %q leaves the module tree: local modules must stay inside it (--module-root, the archive or the source artifact)", c.Source)}
	}
	if fi, err := fs.Stat(fsys, target); err != nil || !fi.IsDir() {
		return "", &Problem{Item: item, Message: fmt.Sprintf("source %q: no directory %s in the module tree", c.Source, target)}
	}
	return target, nil
}
