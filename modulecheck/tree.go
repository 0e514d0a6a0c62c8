package modulecheck

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
)

var moduleCallSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "module", LabelNames: []string{"name"}}}}

var moduleSourceSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "source"}}}

// IsLocalSource reports whether a module source is a local path, which terraform reads from
// the directory tree instead of downloading: it starts with ./ or ../ (terraform's rule).
func IsLocalSource(src string) bool {
	return strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") || src == "." || src == ".."
}

// EscapesRoot reports whether err is an os.Root refusing a path that leaves its directory (a
// symlink out of the module tree); Go does not export that error, only its text.
func EscapesRoot(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

// LocalModules returns the directory of the root module (root, a slash path in fsys) and of
// every module it calls through a local source, transitively, sorted; remote lists the calls
// of a remote source (downloaded by terraform init), as problems would name them. A local source that
// leaves fsys, that is not a literal string or that names no directory is a problem naming
// the module call, its file and line: nothing may run, because terraform would read a
// directory the provider did not check and hash.
func LocalModules(fsys fs.FS, root string) (dirs []string, remote, problems []Problem) {
	root = path.Clean(root)
	seen := map[string]bool{root: true}
	queue := []string{root}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		calls, ps := moduleCalls(fsys, dir)
		problems = append(problems, ps...)
		for _, c := range calls {
			target, p := c.resolve(fsys, dir)
			if p != nil {
				problems = append(problems, *p)
				continue
			}
			if target == "" {
				remote = append(remote, Problem{Item: fmt.Sprintf("module %q (%s)", c.name, c.at), Message: fmt.Sprintf("source %q is remote", c.source)})
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

// moduleCall is one `module` block and its source.
type moduleCall struct {
	name, source, at string
	literal          bool
}

// resolve returns the directory a local call reads ("" for a remote source).
func (c moduleCall) resolve(fsys fs.FS, dir string) (string, *Problem) {
	item := fmt.Sprintf("module %q (%s)", c.name, c.at)
	if !c.literal {
		return "", &Problem{Item: item, Message: "source must be a literal string"}
	}
	if !IsLocalSource(c.source) {
		return "", nil // downloaded by terraform init; the policy checks it once installed
	}
	target := path.Join(dir, c.source)
	if target == ".." || strings.HasPrefix(target, "../") {
		return "", &Problem{Item: item, Message: fmt.Sprintf("source %q leaves the module tree: local modules must stay inside it (--module-root, the archive or the source artifact)", c.source)}
	}
	if fi, err := fs.Stat(fsys, target); err != nil || !fi.IsDir() {
		return "", &Problem{Item: item, Message: fmt.Sprintf("source %q: no directory %s in the module tree", c.source, target)}
	}
	return target, nil
}

// moduleCalls lists the module blocks of dir's .tf and .tf.json files.
func moduleCalls(fsys fs.FS, dir string) ([]moduleCall, []Problem) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, []Problem{{Item: fmt.Sprintf("module %s", dir), Message: fmt.Sprintf("cannot be read: %v", err)}}
	}
	p := hclparse.NewParser()
	var calls []moduleCall
	for _, e := range entries {
		if e.IsDir() || !isModuleFile(e.Name()) {
			continue
		}
		name := path.Join(dir, e.Name())
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			msg := fmt.Sprintf("cannot be read: %v", err)
			if EscapesRoot(err) {
				msg = "is a symlink that leaves the module tree"
			}
			return nil, []Problem{{Item: fmt.Sprintf("file %q", name), Message: msg}}
		}
		f, diags := parseSource(p, name, src)
		if diags.HasErrors() {
			continue // the contract check (root) or terraform (called modules) reports syntax
		}
		content, _, _ := f.Body.PartialContent(moduleCallSchema)
		for _, b := range content.Blocks {
			c := moduleCall{name: b.Labels[0], at: fmt.Sprintf("%s:%d", name, b.DefRange.Start.Line)}
			attrs, _, _ := b.Body.PartialContent(moduleSourceSchema)
			if a, ok := attrs.Attributes["source"]; ok {
				v, diags := a.Expr.Value(nil)
				if !diags.HasErrors() && v.IsKnown() && !v.IsNull() && v.Type() == cty.String {
					c.source, c.literal = v.AsString(), true
				}
			}
			calls = append(calls, c)
		}
	}
	return calls, nil
}
