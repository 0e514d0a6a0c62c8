/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTerraform writes a script that reports version v the way terraform does.
func fakeTerraform(t *testing.T, v string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "terraform")
	script := "#!/bin/sh\necho 'Terraform v" + v + "'\necho 'on linux_amd64'\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveBinaryExplicitPath(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		version string
		wantErr string
	}{
		{"1.5.7", ""},
		{"1.9.8", ""},
		{"1.4.6", "outside the supported range"},
		{"2.0.0", "outside the supported range"},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			b, err := ResolveBinary(ctx, BinaryOptions{Path: fakeTerraform(t, tt.version)})
			if tt.wantErr == "" {
				if err != nil || b.Version.String() != tt.version {
					t.Fatalf("got %v, %v", b, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("want %q, got %v", tt.wantErr, err)
			}
		})
	}
	if _, err := ResolveBinary(ctx, BinaryOptions{Path: "/does/not/exist"}); err == nil {
		t.Fatal("missing binary accepted")
	}
}

func TestResolveBinaryFromPATH(t *testing.T) {
	p := fakeTerraform(t, "1.5.7")
	t.Setenv("PATH", filepath.Dir(p))
	b, err := ResolveBinary(context.Background(), BinaryOptions{Version: "1.5.7"})
	if err != nil || b.Path != p {
		t.Fatalf("got %v, %v", b, err)
	}
	if _, err := ResolveBinary(context.Background(), BinaryOptions{Version: "1.4.0"}); err == nil ||
		!strings.Contains(err.Error(), "outside the supported range") {
		t.Fatalf("unsupported install version accepted: %v", err)
	}
}
