/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package crd holds the provider's CustomResourceDefinitions as generated (bases/, make
// manifests): what the API server validates objects against, embedded so that the manager can
// check outputs against the same schema before it writes them.
package crd

import "embed"

// Bases are the generated CRDs, one YAML file each.
//
//go:embed bases/*.yaml
var Bases embed.FS
