/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
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

// Engines the runner drives: both speak the same CLI, plan/state formats and local backend.
const (
	EngineTerraform = "terraform"
	EngineTofu      = "tofu"
)

// SupportedTofuVersions is the OpenTofu range the runner is tested with.
const SupportedTofuVersions = ">= 1.6.0, < 2.0.0"

// Binary is a resolved terraform (or OpenTofu) executable.
type Binary struct {
	Path    string
	Version *version.Version
	Engine  string // EngineTerraform or EngineTofu
}

// ID names the engine and version, e.g. "1.5.7" or "tofu 1.10.6"; it is part of the inputs hash,
// so switching engines or versions plans again.
func (b *Binary) ID() string {
	if b.Engine == EngineTofu {
		return EngineTofu + " " + b.Version.String()
	}
	return b.Version.String()
}

// BinaryOptions says where terraform comes from: Path (explicit) > PATH lookup within the
// supported range (and Version if set) > install of Version from releases (BaseURL for mirrors).
type BinaryOptions struct {
	Engine     string // EngineTerraform (default) or EngineTofu
	Path       string
	Version    string
	InstallDir string
	BaseURL    string
}

// ResolveBinary finds or installs terraform and checks its version is supported.
func ResolveBinary(ctx context.Context, o BinaryOptions) (*Binary, error) {
	switch o.Engine {
	case "", EngineTerraform:
	case EngineTofu:
		return resolveTofu(ctx, o)
	default:
		return nil, fmt.Errorf("engine %q: must be %s or %s", o.Engine, EngineTerraform, EngineTofu)
	}
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
	return &Binary{Path: path, Version: v, Engine: EngineTerraform}, nil
}

// resolveTofu finds OpenTofu: Path (explicit) > `tofu` on PATH. There is no release install:
// hc-install only knows HashiCorp products.
func resolveTofu(ctx context.Context, o BinaryOptions) (*Binary, error) {
	p := o.Path
	if p == "" {
		var err error
		if p, err = exec.LookPath(EngineTofu); err != nil {
			return nil, fmt.Errorf("OpenTofu: no --terraform-path given and no tofu on PATH: %w", err)
		}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("tofu binary %s: %w", p, err)
	}
	out, err := exec.CommandContext(ctx, abs, "version", "-json").Output()
	if err != nil {
		return nil, fmt.Errorf("tofu binary %s: reading version: %w", abs, err)
	}
	var info struct {
		Version string `json:"terraform_version"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return nil, fmt.Errorf("tofu binary %s: reading version: %w", abs, err)
	}
	v, err := version.NewVersion(info.Version)
	if err != nil {
		return nil, fmt.Errorf("tofu binary %s: version %q: %w", abs, info.Version, err)
	}
	if o.Version != "" && v.Core().String() != o.Version {
		return nil, fmt.Errorf("tofu binary %s is version %s, want %s", abs, v, o.Version)
	}
	if !version.MustConstraints(version.NewConstraint(SupportedTofuVersions)).Check(v.Core()) {
		return nil, fmt.Errorf("tofu binary %s is version %s, outside the supported range %s", abs, v, SupportedTofuVersions)
	}
	return &Binary{Path: abs, Version: v, Engine: EngineTofu}, nil
}
