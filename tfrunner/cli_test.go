package tfrunner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLIConfig(t *testing.T) {
	mirror := t.TempDir()
	if err := os.MkdirAll(filepath.Join(mirror, "registry.terraform.io", "company", "fakecloud", "0.1.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mirrors []string
		want    []string
		absent  []string
	}{
		{"no mirrors", nil, []string{`plugin_cache_dir = "/c"`}, []string{"provider_installation"}},
		{"mirror", []string{mirror}, []string{
			`include = ["registry.terraform.io/company/fakecloud"]`,
			`exclude = ["registry.terraform.io/company/fakecloud"]`, "direct {"}, nil},
	}
	for _, tt := range tests {
		got := cliConfig("/c", tt.mirrors)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: missing %q in\n%s", tt.name, w, got)
			}
		}
		for _, a := range tt.absent {
			if strings.Contains(got, a) {
				t.Errorf("%s: unexpected %q in\n%s", tt.name, a, got)
			}
		}
	}
}
