/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/company/cluster-api-provider-custom/tfrunner/shim"
)

// SandboxMode says whether terraform processes must run inside a Landlock sandbox (see
// docs/security.md): each process may then touch only its own workspace (or init dir), its
// private temp dir, the init cache entry and provider plugins it uses, the terraform binary and
// system files (CA bundles, resolver, shared libraries); not other workspaces, the service
// account token or the manager's files, and it cannot read other processes' memory or
// environment or signal them.
type SandboxMode string

const (
	// SandboxRequired refuses to run terraform where the sandbox cannot be set up.
	SandboxRequired SandboxMode = "required"
	// SandboxBestEffort (the default) sandboxes every run where the kernel has Landlock and
	// runs unsandboxed elsewhere, saying so at start, per run and in the objects' conditions.
	SandboxBestEffort SandboxMode = "best-effort"
	// SandboxOff never sandboxes (single-tenant management clusters, debugging).
	SandboxOff SandboxMode = "off"
)

// ParseSandboxMode parses a --sandbox flag value.
func ParseSandboxMode(s string) (SandboxMode, error) {
	switch m := SandboxMode(s); m {
	case SandboxRequired, SandboxBestEffort, SandboxOff:
		return m, nil
	}
	return "", fmt.Errorf("sandbox mode %q: want required, best-effort or off", s)
}

// SandboxStatus is whether this runner sandboxes terraform, and why not when it does not.
type SandboxStatus struct {
	Mode    SandboxMode
	ABI     int    // Landlock ABI of the kernel (0: none)
	Enabled bool   // every terraform process runs sandboxed
	Reason  string // why runs are not sandboxed
}

func (s SandboxStatus) String() string {
	if s.Enabled {
		return fmt.Sprintf("terraform runs are sandboxed (Landlock ABI %d)", s.ABI)
	}
	return "terraform runs are not sandboxed: " + s.Reason
}

// SandboxError refuses a run: --sandbox=required where no sandbox can be set up.
type SandboxError struct{ Status SandboxStatus }

func (e *SandboxError) Error() string {
	return "refusing to run terraform: --sandbox=required, but " + e.Status.Reason
}

func probeSandbox(cfg Config) SandboxStatus {
	st := SandboxStatus{Mode: cfg.Sandbox, ABI: shim.ABI()}
	switch {
	case cfg.Sandbox == SandboxOff:
		st.Reason = "the sandbox is off (--sandbox=off)"
	case cfg.Shim == "":
		st.Reason = "terraform runs without the capc-tfshim, which sets the sandbox up (Linux only)"
	case st.ABI == 0:
		st.Reason = "Landlock is not available (it needs Linux 5.13 or later with landlock in the LSM list, and a seccomp profile that allows its system calls)"
	default:
		st.Enabled = true
	}
	return st
}

// Sandbox reports whether this runner sandboxes terraform.
func (r *Runner) Sandbox() SandboxStatus { return r.sandbox }

// procFS is what one terraform process may touch besides its working dir and temp dir.
type procFS struct {
	writable []string // init: the plugin cache it installs into
	readable []string // runs: the init cache entry and the plugin cache
}

// tmpDir is the private temp dir of the process working in dir (TMPDIR; go-plugin puts its
// unix sockets there, so the path stays short).
func (r *Runner) tmpDir(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(r.cfg.WorkDir, "tmp", hex.EncodeToString(sum[:6]))
}

// System files a terraform process and its providers read: shared libraries (terraform builds
// are often dynamically linked), CA bundles, the resolver and time zones. None is a secret.
var (
	systemDirs  = []string{"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/etc/ssl", "/etc/pki", "/etc/ca-certificates", "/usr/share/ca-certificates", "/usr/share/zoneinfo"}
	systemFiles = []string{"/etc/ld.so.cache", "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/localtime", "/etc/services", "/etc/protocols", "/etc/gitconfig", "/dev/urandom", "/dev/random"}
)

// sandboxFor is the Landlock policy of a terraform process working in dir (nil: unsandboxed).
func (r *Runner) sandboxFor(dir string, fs procFS) *shim.Sandbox {
	if !r.sandbox.Enabled {
		return nil
	}
	ro := append(append(append([]string{}, fs.readable...), r.cfg.ProviderMirrors...), r.cfg.SandboxReadPaths...)
	return &shim.Sandbox{
		ReadWrite: append([]string{dir, r.tmpDir(dir)}, fs.writable...),
		ReadOnly:  ro,
		Files:     []string{r.cfg.Binary.Path, r.cliConfig},
		RWFiles:   []string{os.DevNull},
		Optional:  systemDirs,
		OptFiles:  systemFiles,
	}
}
