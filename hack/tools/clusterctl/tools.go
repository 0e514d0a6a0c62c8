//go:build tools

// Package tools pins clusterctl.
package tools

import _ "sigs.k8s.io/cluster-api/cmd/clusterctl"
