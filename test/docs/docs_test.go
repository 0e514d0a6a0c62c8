/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package docs checks the documentation (README.md, docs/*.md, modules/README.md) against the
// code: every relative link and anchor resolves; every make target, `kubectl capc` and `capc-plan`
// command line written in it (code blocks and inline code) is accepted by the real Makefile and
// binaries, with its subcommands and flags; every annotation and kustomize directory it names
// exists and builds. Commands that need a management cluster are run end to end elsewhere (the
// walkthrough in test/sources, the plugin in cmd/kubectl-capc, `make demo`); here each is checked
// to be a command the shipped tools take.
package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// pages are the documentation files, by path relative to the repository root.
func pages(t *testing.T) map[string]string {
	t.Helper()
	root := envtestutil.RepoRoot()
	names := []string{"README.md", "modules/README.md"}
	more, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(more) < 5 {
		t.Fatalf("docs/*.md: %v %v", more, err)
	}
	for _, m := range more {
		names = append(names, filepath.Join("docs", filepath.Base(m)))
	}
	out := map[string]string{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(root, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = string(b)
	}
	return out
}

var (
	link      = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)\)`)
	heading   = regexp.MustCompile(`(?m)^#{1,6} (.*)$`)
	codeBlock = regexp.MustCompile("(?ms)^```sh[^\n]*\n(.*?)^```")
	inline    = regexp.MustCompile("`([^`\n]+)`")
	anyBlock  = regexp.MustCompile("(?ms)^```.*?^```")
	notSlug   = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
	scheme    = regexp.MustCompile(`^[a-z]+:`)
	setAnn    = regexp.MustCompile(regexp.QuoteMeta(infrav1.AnnotationPrefix) + `([a-z-]+)=`)
)

// anchors are the GitHub anchors of a page's headings (outside code blocks).
func anchors(text string) map[string]bool {
	text = anyBlock.ReplaceAllString(text, "")
	out := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(text, -1) {
		s := strings.ToLower(strings.TrimSpace(m[1]))
		s = notSlug.ReplaceAllString(s, "")
		out[strings.ReplaceAll(s, " ", "-")] = true
	}
	return out
}

func TestLinksResolve(t *testing.T) {
	all := pages(t)
	root := envtestutil.RepoRoot()
	checked := 0
	anchorsOf := map[string]map[string]bool{} // by page, each read once
	for name, text := range all {
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if scheme.MatchString(target) {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			resolved := name
			if path != "" {
				resolved = filepath.Clean(filepath.Join(filepath.Dir(name), path))
			}
			checked++
			if _, err := os.Stat(filepath.Join(root, resolved)); err != nil {
				t.Errorf("%s: link %s: %v", name, target, err)
				continue
			}
			if frag == "" {
				continue
			}
			if anchorsOf[resolved] == nil {
				page, ok := all[resolved]
				if !ok {
					b, err := os.ReadFile(filepath.Join(root, resolved))
					if err != nil {
						t.Errorf("%s: link %s: %v", name, target, err)
						continue
					}
					page = string(b)
				}
				anchorsOf[resolved] = anchors(page)
			}
			if !anchorsOf[resolved][frag] {
				t.Errorf("%s: link %s: %s has no heading #%s", name, target, resolved, frag)
			}
		}
	}
	t.Logf("%d relative links checked", checked)
}

// commands are the command lines the pages write: each line of a sh code block (continuations
// joined, comments dropped, split at && ; |), and inline code that starts with a command.
func commands(all map[string]string) []string {
	var out []string
	split := regexp.MustCompile(`\s(&&|;|\|)\s`)
	for _, text := range all {
		for _, b := range codeBlock.FindAllStringSubmatch(text, -1) {
			body := strings.ReplaceAll(b[1], "\\\n", " ")
			for _, l := range strings.Split(body, "\n") {
				if i := strings.Index(l, " #"); i >= 0 {
					l = l[:i]
				}
				out = append(out, split.Split(strings.TrimSpace(l), -1)...)
			}
		}
		for _, m := range inline.FindAllStringSubmatch(text, -1) {
			out = append(out, m[1])
		}
	}
	for i, c := range out {
		out[i] = strings.Join(strings.Fields(c), " ")
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestMakeTargets(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^([a-zA-Z0-9_.-]+):`).FindAllStringSubmatch(string(mk), -1) {
		targets[m[1]] = true
	}
	n := 0
	for _, c := range commands(pages(t)) {
		f := strings.Fields(c)
		if len(f) == 0 || f[0] != "make" {
			continue
		}
		for _, arg := range f[1:] {
			if strings.Contains(arg, "=") || strings.HasPrefix(arg, "-") {
				continue
			}
			n++
			if !targets[arg] {
				t.Errorf("%q: the Makefile has no target %s", c, arg)
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d make targets found in the docs", n)
	}
}

// placeholders stand for what the docs leave to the reader.
var placeholders = map[string]string{"KIND/NAME": "customcluster/demo", "NAME": "demo", "ADDRESS": "terraform_data.x",
	"N": "1", "DIR": ".", "sel": "a=b", "json|yaml": "json"}

// variants expands a documented command line: optional [parts] in and out, a|b alternatives each.
func variants(c string) [][]string {
	c = strings.ReplaceAll(c, `\|`, "|")
	opt := regexp.MustCompile(`\[([^\]]*)\]`)
	full := strings.Fields(opt.ReplaceAllString(c, "$1"))
	bare := strings.Fields(opt.ReplaceAllString(c, ""))
	var out [][]string
	for _, fields := range [][]string{full, bare} {
		expanded := [][]string{nil}
		for _, f := range fields {
			if p, ok := placeholders[f]; ok {
				f = p
			}
			alts := []string{f}
			if strings.Contains(f, "|") && !strings.HasPrefix(f, "-") {
				alts = strings.Split(f, "|")
			}
			var next [][]string
			for _, e := range expanded {
				for _, a := range alts {
					next = append(next, append(slices.Clone(e), a))
				}
			}
			expanded = next
		}
		out = append(out, expanded...)
	}
	return out
}

// build builds a command of the repository into dir.
func build(t *testing.T, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = envtestutil.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Every `kubectl capc` command line in the docs names subcommands the plugin has and flags they take.
func TestPluginCommandLines(t *testing.T) {
	bin := build(t, t.TempDir(), "./cmd/kubectl-capc")
	n := 0
	for _, c := range commands(pages(t)) {
		rest, ok := strings.CutPrefix(c, "kubectl capc ")
		if !ok || strings.Contains(rest, "...") {
			continue
		}
		for _, args := range variants(rest) {
			n++
			var path []string
			for _, a := range args {
				if strings.HasPrefix(a, "-") || strings.ContainsAny(a, "/.=") || a == "demo" {
					break
				}
				path = append(path, a)
			}
			out, err := exec.Command(bin, append(args, "--help")...).CombinedOutput()
			if err != nil {
				t.Errorf("kubectl capc %s: %v\n%s", strings.Join(args, " "), err, out)
				continue
			}
			if usage := "capc " + strings.Join(path, " "); !strings.Contains(string(out), usage) {
				t.Errorf("kubectl capc %s: the plugin has no command %q:\n%s", strings.Join(args, " "), usage, out)
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d kubectl capc command lines found in the docs", n)
	}
}

// Every capc-plan command line in the docs is accepted by capc-plan's flags.
func TestCapcPlanCommandLines(t *testing.T) {
	bin := build(t, t.TempDir(), "./cmd/capc-plan")
	n := 0
	for _, c := range commands(pages(t)) {
		rest, ok := strings.CutPrefix(c, "go run ./cmd/capc-plan ")
		if !ok {
			rest, ok = strings.CutPrefix(c, "capc-plan ")
		}
		if !ok {
			continue
		}
		for _, args := range variants(rest) {
			n++
			cmd := exec.Command(bin, append(args, "-h")...)
			cmd.Dir = envtestutil.RepoRoot()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("capc-plan %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
	if n < 2 {
		t.Errorf("only %d capc-plan command lines found in the docs", n)
	}
}

// Every annotation (or label) of the provider's prefix the docs set (name=value, as kubectl
// annotate and a label selector take it) is one the provider reads or writes, and every kustomize directory they apply builds.
func TestAnnotationsAndKustomizations(t *testing.T) {
	known := map[string]bool{}
	for _, a := range []string{infrav1.ApprovalAnnotation, infrav1.ApprovePlanAnnotation, infrav1.PlanPreviewAnnotation,
		infrav1.AllowDestroyAnnotation, infrav1.OrphanOnDeleteAnnotation,
		tfstate.LabelKind, tfstate.LabelName, tfstate.LabelRole} { // and the labels on what the provider creates
		known[a] = true
	}
	root := envtestutil.RepoRoot()
	for name, text := range pages(t) {
		for _, m := range setAnn.FindAllStringSubmatch(text, -1) {
			if !known[infrav1.AnnotationPrefix+m[1]] {
				t.Errorf("%s: annotation %s%s is not one the provider reads", name, infrav1.AnnotationPrefix, m[1])
			}
		}
	}
	kustomize := filepath.Join(root, "bin", "kustomize")
	n := 0
	for _, c := range commands(pages(t)) {
		f := strings.Fields(c)
		for i := 0; i+1 < len(f); i++ {
			if f[i] != "-k" && !(f[i] == "build" && i > 0 && strings.HasSuffix(f[i-1], "kustomize")) {
				continue
			}
			n++
			cmd := exec.Command(kustomize, "build", f[i+1])
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%q: kustomize build %s: %v\n%s", c, f[i+1], err, out)
			}
		}
	}
	if n < 2 {
		t.Errorf("only %d kustomize directories found in the docs", n)
	}
}

// Every Go file carries the license header (hack/boilerplate.go.txt, the one controller-gen writes
// on generated code), as Cluster API's files carry theirs; a build constraint line may come first.
func TestLicenseHeaders(t *testing.T) {
	root := envtestutil.RepoRoot()
	header, err := os.ReadFile(filepath.Join(root, "hack", "boilerplate.go.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "*.go").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files := strings.Fields(string(out))
	if len(files) < 100 {
		t.Fatalf("only %d Go files", len(files))
	}
	want := strings.TrimSpace(string(header))
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if strings.HasPrefix(s, "//go:build") {
			_, s, _ = strings.Cut(s, "\n")
		}
		if !strings.HasPrefix(strings.TrimLeft(s, "\n"), want) {
			t.Errorf("%s: no license header (hack/boilerplate.go.txt)", f)
		}
	}
}
