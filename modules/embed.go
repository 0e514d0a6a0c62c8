/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package modules embeds the provider's Terraform root modules. Each family has a "cluster" and a
// "machine" root module that follow the contract written down in README.md.
package modules

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"sync"

	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/tfmodule"
)

//go:embed all:simulated all:aws all:fakecloud
var files embed.FS

// Families lists the embedded module families, sorted.
func Families() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Get returns the root module of family for kind ("cluster" or "machine") as a file tree rooted
// at the module directory.
func Get(family, kind string) (fs.FS, error) {
	if !contract.Known(kind) {
		return nil, fmt.Errorf("module kind %q: must be %q or %q", kind, contract.KindCluster, contract.KindMachine)
	}
	dir := family + "/" + kind
	if _, err := fs.Stat(files, dir+"/main.tf"); err != nil {
		return nil, fmt.Errorf("module family %q kind %q not embedded (families: %v): %w", family, kind, Families(), err)
	}
	if m, ok := bundled.Load(dir); ok {
		return m.(fs.FS), nil
	}
	sub, err := fs.Sub(files, dir)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", dir, err)
	}
	m, _ := bundled.LoadOrStore(dir, tfmodule.NewImmutable(sub))
	return m.(fs.FS), nil
}

// bundled keeps one file tree per embedded module, so its digest is computed once per process.
var bundled sync.Map
