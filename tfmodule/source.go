/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfmodule

import (
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"sync"
)

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

// BuiltinProvider is the address of terraform's built-in provider (terraform_data,
// terraform_remote_state), which is never installed.
const BuiltinProvider = "terraform.io/builtin/terraform"

// ProviderPattern is a provider source pattern as terraform's provider_installation `include`
// takes it: [host/]namespace/type, where type, namespace and type, or all three may be `*`.
type ProviderPattern struct{ Host, Namespace, Type string }

func (p ProviderPattern) String() string { return p.Host + "/" + p.Namespace + "/" + p.Type }

// ParseProviderPattern parses one allow-list entry (a short pattern gets defaultHost).
func ParseProviderPattern(s, defaultHost string) (ProviderPattern, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), "/")
	if len(parts) == 2 {
		parts = append([]string{defaultHost}, parts...)
	}
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return ProviderPattern{}, fmt.Errorf("provider pattern %q: want [host/]namespace/type", s)
	}
	p := ProviderPattern{Host: parts[0], Namespace: parts[1], Type: parts[2]}
	if (p.Host == "*" && p.Namespace != "*") || (p.Namespace == "*" && p.Type != "*") {
		return ProviderPattern{}, fmt.Errorf("provider pattern %q: a wildcard host needs wildcard namespace and type, a wildcard namespace a wildcard type", s)
	}
	return p, nil
}

// Matches reports whether the provider source addr (host/namespace/type) matches p.
func (p ProviderPattern) Matches(addr string) bool {
	parts := strings.Split(addr, "/")
	if len(parts) != 3 {
		return false
	}
	return (p.Host == "*" || p.Host == parts[0]) && (p.Namespace == "*" || p.Namespace == parts[1]) &&
		(p.Type == "*" || p.Type == parts[2])
}

// Allows reports whether an allow-list permits the provider at addr: an empty list allows
// every provider, and the built-in provider is always allowed.
func Allows(allowed []ProviderPattern, addr string) bool {
	if len(allowed) == 0 || addr == BuiltinProvider {
		return true
	}
	for _, p := range allowed {
		if p.Matches(addr) {
			return true
		}
	}
	return false
}

// ProviderAddr is the full source address (host/namespace/type) of the provider a module names
// local with source in required_providers ("" when it is implied: hashicorp/<local>, or the
// built-in terraform provider); a short source gets defaultHost.
func ProviderAddr(local, source, defaultHost string) string {
	if source == "" {
		if local == "terraform" {
			return BuiltinProvider
		}
		source = "hashicorp/" + local
	}
	parts := strings.Split(strings.ToLower(source), "/")
	if len(parts) == 2 {
		parts = append([]string{defaultHost}, parts...)
	}
	return strings.Join(parts, "/")
}

// Immutable marks a module tree that never changes (an embedded module, an unpacked
// content-addressed artifact), so what is derived from its content is derived once.
type Immutable struct {
	fs.FS
	once   sync.Once
	digest string
	err    error
}

// NewImmutable marks m.
func NewImmutable(m fs.FS) *Immutable { return &Immutable{FS: m} }

// Digest returns compute's answer for the tree, computing it on the first call only.
func (m *Immutable) Digest(compute func(fs.FS) (string, error)) (string, error) {
	m.once.Do(func() { m.digest, m.err = compute(m.FS) })
	return m.digest, m.err
}

// SourceHost is the host a remote module source downloads from: the URL's host for a URL or a
// forced getter (git::https://…, s3::https://…), the server of an scp-like git address
// (git@host:org/repo), the first element of a source that starts with a host name
// (github.com/org/repo, app.terraform.io/org/name/provider), and registryHost for a registry
// address without one (namespace/name/provider).
func SourceHost(src, registryHost string) string {
	s := strings.TrimSpace(src)
	if i := strings.Index(s, "::"); i >= 0 {
		s = s[i+2:]
	}
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return strings.ToLower(u.Hostname())
	}
	if at := strings.Index(s, "@"); at >= 0 && !strings.Contains(s[:at], "/") {
		if h, _, ok := strings.Cut(s[at+1:], ":"); ok && h != "" {
			return strings.ToLower(h)
		}
	}
	if first, _, _ := strings.Cut(s, "/"); strings.Contains(first, ".") {
		return strings.ToLower(first)
	}
	return registryHost
}
