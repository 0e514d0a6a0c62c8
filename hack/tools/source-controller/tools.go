//go:build tools

// Package tools pins Flux's source-controller, run by test/sources against envtest.
package tools

import _ "github.com/fluxcd/source-controller"
