//go:build tools

/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package tools pins OpenTofu.
package tools

import _ "github.com/opentofu/opentofu/cmd/tofu"
