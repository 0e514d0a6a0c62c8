/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import "github.com/company/cluster-api-provider-custom/tfrunner/shim"

// ShimSupported reports whether this platform can run terraform under the shim (Config.Shim).
const ShimSupported = shim.Supported

// ShimMain runs the shim when the process was started as one (ok): a binary that may serve as
// Config.Shim calls it first thing in main and exits with code. cmd/capc-tfshim is the small one.
func ShimMain() (code int, ok bool) { return shim.Main() }
