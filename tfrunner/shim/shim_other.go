//go:build !linux

/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package shim

import "time"

// Supported reports whether this platform can run the shim (Linux only: it relies on
// PR_SET_PDEATHSIG).
const Supported = false

// Main never runs a shim off Linux.
func Main() (code int, ok bool) { return 0, false }

// Env is empty off Linux.
func Env(string, *Sandbox, time.Duration) (map[string]string, error) { return nil, nil }

// ABI is 0 off Linux: no Landlock.
func ABI() int { return 0 }
