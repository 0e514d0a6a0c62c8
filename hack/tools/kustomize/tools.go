//go:build tools

/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package tools pins kustomize.
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
