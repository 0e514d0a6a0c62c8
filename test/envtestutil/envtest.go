/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package envtestutil starts a real kube-apiserver + etcd (built by `make tools` into bin/) with
// CAPI's and this provider's CRDs installed, for integration tests.
package envtestutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the repository root, found from this file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// CAPICRDDir is where the cluster-api module keeps its core CRDs.
func CAPICRDDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/cluster-api").Output()
	if err != nil {
		return "", fmt.Errorf("locating sigs.k8s.io/cluster-api: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "core", "config", "crd", "bases"), nil
}

// Assets returns KUBEBUILDER_ASSETS, defaulting to the repo's bin/ directory.
func Assets() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "bin")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("envtest binary %s missing in %s: run `make tools`: %w", b, dir, err)
		}
	}
	return dir, nil
}

// Start starts an API server with CAPI's and our CRDs, and those in crdDirs. Call env.Stop()
// when done.
func Start(crdDirs ...string) (*envtest.Environment, *rest.Config, error) {
	return StartEnv(false, crdDirs...)
}

// StartEnv starts the API server; forNode configures it to serve a real node (StartNode): the Node
// authorizer and NodeRestriction for the kubelet, and the ServiceAccount admission plugin
// (envtest turns it off) so that pods get their ServiceAccount's token mounted.
func StartEnv(forNode bool, crdDirs ...string) (*envtest.Environment, *rest.Config, error) {
	assets, err := Assets()
	if err != nil {
		return nil, nil, err
	}
	capi, err := CAPICRDDir()
	if err != nil {
		return nil, nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     append([]string{filepath.Join(RepoRoot(), "config", "crd", "bases"), capi}, crdDirs...),
		ErrorIfCRDPathMissing: true,
	}
	if forNode {
		args := env.ControlPlane.GetAPIServer().Configure()
		args.Set("authorization-mode", "Node,RBAC").Set("enable-admission-plugins", "NodeRestriction")
		args.Disable("disable-admission-plugins").Set("kubelet-preferred-address-types", "InternalIP,Hostname")
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting envtest: %w", err)
	}
	return env, cfg, nil
}

// WriteKubeconfig writes a kubeconfig for the envtest API server's admin user (for tools run
// as processes: clusterctl, source-controller).
func WriteKubeconfig(cfg *rest.Config, path string) error {
	return clientcmd.WriteToFile(*kubeconfig(cfg), path)
}

// Kubeconfig is a kubeconfig for the envtest API server's admin user (a workload cluster's
// kubeconfig Secret, when the management cluster stands in for it).
func Kubeconfig(cfg *rest.Config) ([]byte, error) { return clientcmd.Write(*kubeconfig(cfg)) }

func kubeconfig(cfg *rest.Config) *clientcmdapi.Config {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	return kc
}
