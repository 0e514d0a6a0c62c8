/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/hashicorp/go-version"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/company/cluster-api-provider-custom/tfstate/tfstatetest"
)

// newFakeRunner returns a runner on the given fake clientset.
func newFakeRunner(t *testing.T, holder string, cs *fake.Clientset, clock *tfstatetest.Clock) *Runner {
	t.Helper()
	r, err := New(Config{Binary: &Binary{Path: "/bin/false", Version: version.Must(version.NewVersion("1.5.7"))},
		WorkDir: t.TempDir(), Kube: cs, Holder: holder, Logger: testr.New(t), LockTTL: time.Minute, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
