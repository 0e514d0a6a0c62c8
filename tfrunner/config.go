package tfrunner

import (
	"encoding/json"
	"fmt"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// A one-process apply has no plan to journal, so the run journals what its configuration may
// create: every managed resource of the root module and of the modules it calls, as address
// patterns in which "[*]" stands for any instance key (count, for_each), e.g.
// module.vpc[*].aws_subnet.this[*]. The successor of a killed run resolves the patterns against
// what its own plan or apply creates (see journal.go).

const anyKey = "[*]"

var configSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "resource", LabelNames: []string{"type", "name"}},
	{Type: "module", LabelNames: []string{"name"}},
}}

var repeatSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "count"}, {Name: "for_each"}, {Name: "source"},
}}

// configModule is what one module directory declares.
type configModule struct {
	resources []string // type.name, with [*] when repeated
	calls     []moduleCall
}

type moduleCall struct {
	name, source string
	repeated     bool
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
			p := prefix + "module." + c.name
			if c.repeated {
				p += anyKey
			}
			ckey := c.name
			if key != "" {
				ckey = key + "." + c.name
			}
			cdir, ok := dirs[ckey]
			if !ok && modulecheck.IsLocalSource(c.source) {
				cdir, ok = path.Join(modDir, c.source), true
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

// parseConfigDir reads the resource and module blocks of the .tf and .tf.json files in dir.
func parseConfigDir(dir string) (*configModule, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading module directory: %w", err)
	}
	p := hclparse.NewParser()
	m := &configModule{}
	seen := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		var f *hcl.File
		var diags hcl.Diagnostics
		switch {
		case e.IsDir():
			continue
		case strings.HasSuffix(name, ".tf"):
			f, diags = p.ParseHCLFile(filepath.Join(dir, name))
		case strings.HasSuffix(name, ".tf.json"):
			f, diags = p.ParseJSONFile(filepath.Join(dir, name))
		default:
			continue
		}
		if diags.HasErrors() {
			return nil, fmt.Errorf("parsing %s: %s", name, diags.Error())
		}
		content, _, _ := f.Body.PartialContent(configSchema)
		for _, b := range content.Blocks {
			attrs, _, _ := b.Body.PartialContent(repeatSchema)
			_, count := attrs.Attributes["count"]
			_, each := attrs.Attributes["for_each"]
			switch b.Type {
			case "resource":
				addr := b.Labels[0] + "." + b.Labels[1]
				if count || each {
					addr += anyKey
				}
				if !seen[addr] {
					seen[addr] = true
					m.resources = append(m.resources, addr)
				}
			case "module":
				c := moduleCall{name: b.Labels[0], repeated: count || each}
				if a, ok := attrs.Attributes["source"]; ok {
					v, _ := a.Expr.Value(nil)
					if v.IsKnown() && !v.IsNull() && v.Type().FriendlyName() == "string" {
						c.source = v.AsString()
					}
				}
				m.calls = append(m.calls, c)
			}
		}
	}
	return m, nil
}

// indexKey matches one instance key of a resource or module address: a number or a quoted string.
const indexKey = `\[(?:[0-9]+|"(?:[^"\\]|\\.)*")\]`

// addressMatcher compiles a journal entry (a concrete address or a pattern) into a matcher of
// concrete addresses.
func addressMatcher(entry string) *regexp.Regexp {
	q := regexp.QuoteMeta(entry)
	q = strings.ReplaceAll(q, regexp.QuoteMeta(anyKey), indexKey)
	if strings.HasSuffix(entry, ".*") {
		q = strings.TrimSuffix(q, `\.\*`) + `\..+`
	}
	return regexp.MustCompile("^" + q + "$")
}

// isPattern reports whether a journal entry stands for any number of addresses.
func isPattern(entry string) bool {
	return strings.Contains(entry, anyKey) || strings.HasSuffix(entry, ".*")
}
