/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Command pause is the test node's sandbox image (containerd's pinned sandbox): it holds a pod's
// namespaces and waits for SIGTERM, as registry.k8s.io/pause does, built here because no
// registry can be reached.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
