/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package integration runs the provider end to end: a real kube-apiserver + etcd (envtest), the
// real CAPI core Cluster and Machine reconcilers in-process, this provider's reconcilers and the
// real terraform binary against the embedded simulated modules.
package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

var (
	stack  *envtestutil.Stack
	k8s    client.Client
	runner *tfrunner.Runner
	ctx    context.Context
	cancel context.CancelFunc
)

func TestIntegration(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Provider integration suite")
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())
	moduleRoot, err := filepath.Abs("../testdata/modules")
	Expect(err).NotTo(HaveOccurred())
	stack, err = envtestutil.StartStack(ctx, envtestutil.StackOptions{
		WorkDir:    filepath.Join(GinkgoT().TempDir(), "work"),
		ModuleRoot: moduleRoot,
		// The suite's path modules sleep, refuse or hash in local-exec provisioners.
		Controller: controllers.Options{ClusterConcurrency: 2, MachineConcurrency: 4, ApprovalMode: "auto",
			ModulePolicy: modulecheck.Policy{AllowProvisioners: true}},
	})
	Expect(err).NotTo(HaveOccurred())
	k8s, runner = stack.Client, stack.Runner
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(200 * time.Millisecond)
})

var _ = AfterSuite(func() {
	if stack != nil {
		Expect(stack.Stop()).To(Succeed())
	}
	cancel()
})
