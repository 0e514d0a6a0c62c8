//go:build !linux

package tfrunner

// ShimSupported reports whether this platform can run the shim (Linux only: it relies on
// PR_SET_PDEATHSIG).
const ShimSupported = false

// ShimMain never runs a shim off Linux.
func ShimMain() (code int, ok bool) { return 0, false }

func shimEnvFor(string) map[string]string { return nil }
