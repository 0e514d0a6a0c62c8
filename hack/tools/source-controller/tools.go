//go:build tools

/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package tools pins Flux's source-controller, run by test/sources against envtest.
package tools

import _ "github.com/fluxcd/source-controller"
