package tfrunner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hc-install/fs"
	"github.com/hashicorp/hc-install/product"
	"github.com/hashicorp/hc-install/releases"
)

// SupportedVersions is the terraform range the runner is tested with (local backend semantics,
// terraform_data, plan JSON format 1.x).
const SupportedVersions = ">= 1.5.0, < 2.0.0"

// DefaultVersion is installed when no binary is given or found.
const DefaultVersion = "1.5.7"

// Binary is a resolved terraform executable.
type Binary struct {
	Path    string
	Version *version.Version
}

// BinaryOptions says where terraform comes from: Path (explicit) > PATH lookup within the
// supported range (and Version if set) > install of Version from releases (BaseURL for mirrors).
type BinaryOptions struct {
	Path       string
	Version    string
	InstallDir string
	BaseURL    string
}

// ResolveBinary finds or installs terraform and checks its version is supported.
func ResolveBinary(ctx context.Context, o BinaryOptions) (*Binary, error) {
	supported := version.MustConstraints(version.NewConstraint(SupportedVersions))
	if o.Path != "" {
		// terraform runs inside per-object workspaces, so a relative path would not resolve there.
		abs, err := filepath.Abs(o.Path)
		if err != nil {
			return nil, fmt.Errorf("terraform binary %s: %w", o.Path, err)
		}
		o.Path = abs
		if _, err := os.Stat(o.Path); err != nil {
			return nil, fmt.Errorf("terraform binary %s: %w", o.Path, err)
		}
		return checkBinary(ctx, o.Path, supported)
	}
	constraints := supported
	if o.Version != "" {
		exact, err := version.NewConstraint("= " + o.Version)
		if err != nil {
			return nil, fmt.Errorf("terraform version %q: %w", o.Version, err)
		}
		constraints = append(constraints, exact...)
	}
	found := &fs.Version{Product: product.Terraform, Constraints: constraints}
	if p, err := found.Find(ctx); err == nil {
		return checkBinary(ctx, p, supported)
	}
	want := o.Version
	if want == "" {
		want = DefaultVersion
	}
	v, err := version.NewVersion(want)
	if err != nil {
		return nil, fmt.Errorf("terraform version %q: %w", want, err)
	}
	if !supported.Check(v) {
		return nil, fmt.Errorf("terraform %s is outside the supported range %s", v, SupportedVersions)
	}
	if o.InstallDir != "" {
		if err := os.MkdirAll(o.InstallDir, 0o755); err != nil {
			return nil, fmt.Errorf("creating terraform install dir: %w", err)
		}
	}
	inst := &releases.ExactVersion{Product: product.Terraform, Version: v, InstallDir: o.InstallDir, ApiBaseURL: o.BaseURL}
	p, err := inst.Install(ctx)
	if err != nil {
		return nil, fmt.Errorf("installing terraform %s (not found in PATH): %w", v, err)
	}
	return checkBinary(ctx, p, supported)
}

func checkBinary(ctx context.Context, path string, supported version.Constraints) (*Binary, error) {
	v, err := product.Terraform.GetVersion(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("terraform binary %s: reading version: %w", path, err)
	}
	if !supported.Check(v.Core()) {
		return nil, fmt.Errorf("terraform binary %s is version %s, outside the supported range %s", path, v, SupportedVersions)
	}
	return &Binary{Path: path, Version: v}, nil
}
