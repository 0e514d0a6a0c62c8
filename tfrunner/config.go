/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/company/cluster-api-provider-custom/tfmodule"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// A one-process apply has no plan to journal, so the run journals what its configuration may
// create: every managed resource of the root module and of the modules it calls, as address
// patterns in which "[*]" stands for any instance key (count, for_each), e.g.
// module.vpc[*].aws_subnet.this[*]. The successor of a killed run resolves the patterns against
// what its own plan or apply creates (see tfstate's journal.go).

// configModule is what one module directory declares.
type configModule struct {
	resources []string // type.name, with [*] when repeated
	calls     []tfmodule.ModuleCall
}

// configResources lists the journal patterns of every managed resource the configuration in dir
// (an initialized workspace) may create. A called module whose directory cannot be found is
// recorded as module.<name>.* (anything in it).
func configResources(dir string) ([]string, error) {
	dirs := installedModules(dir)
	var out []string
	var walk func(key, modDir, prefix string, depth int) error
	walk = func(key, modDir, prefix string, depth int) error {
		if depth > 32 {
			return fmt.Errorf("module calls nest deeper than 32 levels at %s", prefix)
		}
		m, err := parseConfigDir(filepath.Join(dir, modDir))
		if err != nil {
			return err
		}
		for _, r := range m.resources {
			out = append(out, prefix+r)
		}
		for _, c := range m.calls {
			p := prefix + "module." + c.Name
			if c.Repeated {
				p += tfstate.AnyKey
			}
			ckey := c.Name
			if key != "" {
				ckey = key + "." + c.Name
			}
			cdir, ok := dirs[ckey]
			if !ok && tfmodule.IsLocalSource(c.Source) {
				cdir, ok = path.Join(modDir, c.Source), true
			}
			if !ok {
				out = append(out, p+".*")
				continue
			}
			if err := walk(ckey, cdir, p+".", depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk("", ".", "", 0); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// installedModules reads terraform init's module manifest: module key -> directory relative to
// the working directory.
func installedModules(dir string) map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(filepath.Join(dir, dotTerraform, "modules", "modules.json"))
	if err != nil {
		return out
	}
	var mf struct{ Modules []struct{ Key, Dir string } }
	if json.Unmarshal(b, &mf) == nil {
		for _, m := range mf.Modules {
			if m.Key != "" {
				out[m.Key] = filepath.ToSlash(m.Dir)
			}
		}
	}
	return out
}

// parseConfigDir reads the managed resources and module calls of the module in dir.
func parseConfigDir(dir string) (*configModule, error) {
	m := tfmodule.ReadDir(os.DirFS(dir), ".")
	if ps := append(m.ReadErrors, m.SyntaxErrors...); len(ps) > 0 {
		return nil, fmt.Errorf("reading the module in %s: %s", dir, ps[0])
	}
	out := &configModule{calls: m.Calls}
	seen := map[string]bool{}
	for _, r := range m.Resources {
		addr := r.Type + "." + r.Name
		if r.Repeated {
			addr += tfstate.AnyKey
		}
		if r.Mode == "resource" && !seen[addr] {
			seen[addr] = true
			out.resources = append(out.resources, addr)
		}
	}
	return out, nil
}
