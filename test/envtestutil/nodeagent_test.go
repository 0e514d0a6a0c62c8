/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"strings"
	"testing"
)

// A mount path is rewritten once: the directory it becomes may itself start with another mount
// path (the bench's work dir /tmp/capc-bench-… and the runner's work mount /tmp/capc).
func TestRewriteMounts(t *testing.T) {
	mounts := [][2]string{
		{"/var/run/capc/request", "/tmp/capc-bench-1/node/u/volumes/request"},
		{"/tmp/capc", "/tmp/capc-bench-1/node/u/volumes/work"},
	}
	got := rewriteMounts([]string{"runner", "--request=/var/run/capc/request/request.json", "--work-dir=/tmp/capc"}, mounts)
	want := "runner --request=/tmp/capc-bench-1/node/u/volumes/request/request.json --work-dir=/tmp/capc-bench-1/node/u/volumes/work"
	if strings.Join(got, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
}
