package clusterctl_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// TestImageBuildContext: no engine can build the image here, so check statically that the
// build context (.dockerignore) keeps every package of the manager, and that the Dockerfile pins
// the terraform version the Makefile (and so the tests) use.
func TestImageBuildContext(t *testing.T) {
	root := envtestutil.RepoRoot()
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ignored := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			ignored[strings.TrimSuffix(l, "/")] = true
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", "./cmd/manager")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/manager: %v", err)
	}
	own := 0
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a dependency from the module cache
		}
		own++
		if top := strings.Split(rel, string(filepath.Separator))[0]; ignored[top] {
			t.Errorf("the manager imports %s, but .dockerignore drops %s/ from the image build context", rel, top)
		}
	}
	if own == 0 {
		t.Fatal("found none of the module's own packages among the manager's dependencies")
	}

	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	df := regexp.MustCompile(`(?m)^ARG TERRAFORM_VERSION=(\S+)`).FindSubmatch(dockerfile)
	mk := regexp.MustCompile(`(?m)^TERRAFORM_VERSION\s*\?=\s*(\S+)`).FindSubmatch(makefile)
	if df == nil || mk == nil || string(df[1]) != string(mk[1]) {
		t.Errorf("terraform version: Dockerfile %q, Makefile %q; keep them equal", df, mk)
	}
	for _, want := range []string{"CGO_ENABLED=0", "USER 65532:65532", "gcr.io/distroless/static:nonroot", "--terraform-path=/usr/local/bin/terraform"} {
		if !strings.Contains(string(dockerfile), want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
