//go:build tools

// Package tools pins kustomize.
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
