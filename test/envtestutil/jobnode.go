/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/company/cluster-api-provider-custom/tfjob"
)

// RunnerImage is the image name job-mode stacks give their runner Jobs; the node agent maps it
// to the manager binary a JobNode was started with.
const RunnerImage = "capc-test/runner:dev"

// RunnerJobs is the job-mode configuration of a test stack: runner Jobs of RunnerImage, with
// bin/terraform and no sandbox.
func RunnerJobs() *tfjob.Config {
	return &tfjob.Config{Image: RunnerImage, ServiceAccount: "capc-runner", TTL: time.Minute,
		Args: []string{"--terraform-path=" + filepath.Join(RepoRoot(), "bin", "terraform"), "--sandbox=off"}}
}

// JobNode is what job mode needs beside a stack's API server: the real kube-controller-manager
// (its Job, TTL-after-finished and garbage-collector controllers) and a NodeAgent running the
// runner pods as local processes of managerBin, each as its ServiceAccount's API user through
// Proxy (which a test can cut).
type JobNode struct {
	Agent *NodeAgent
	Proxy *CutProxy
	Dir   string
	kcm   *exec.Cmd
	log   *os.File
}

// BuildManager builds the manager and its shim into dir, as the image holds them.
func BuildManager(dir string) (string, error) {
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/manager", "./cmd/capc-tfshim")
	build.Dir = RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/manager: %w\n%s", err, out)
	}
	return filepath.Join(dir, "manager"), nil
}

// StartJobNode starts kube-controller-manager and the node agent for st until ctx ends (Stop
// stops kube-controller-manager).
func StartJobNode(ctx context.Context, st *Stack, dir, managerBin string) (*JobNode, error) {
	n := &JobNode{Dir: dir}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := WriteKubeconfig(st.Env.Config, kubeconfig); err != nil {
		return nil, err
	}
	var err error
	if n.log, err = os.Create(filepath.Join(dir, "kube-controller-manager.log")); err != nil {
		return nil, err
	}
	n.kcm = exec.Command(filepath.Join(RepoRoot(), "bin", "kube-controller-manager"), "--kubeconfig="+kubeconfig,
		"--controllers=job,ttl-after-finished,garbagecollector", "--leader-elect=false", "--secure-port=0",
		"--use-service-account-credentials=false")
	n.kcm.Stdout, n.kcm.Stderr = n.log, n.log
	if err := n.kcm.Start(); err != nil {
		return nil, fmt.Errorf("starting kube-controller-manager (make tools builds it): %w", err)
	}
	apiURL, err := url.Parse(st.Env.Config.Host)
	if err != nil {
		n.Stop()
		return nil, err
	}
	if n.Proxy, err = NewCutProxy(apiURL.Host); err != nil {
		n.Stop()
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(st.Env.Config)
	if err != nil {
		n.Stop()
		return nil, err
	}
	n.Agent = &NodeAgent{Kube: kube, Node: "capc-test-node", Images: map[string]string{RunnerImage: managerBin},
		Env: []string{"PATH=" + os.Getenv("PATH")}, Dir: filepath.Join(dir, "node"),
		Identity: serviceAccounts(st.Env, filepath.Join(dir, "identities"), n.Proxy.Addr())}
	if err := os.MkdirAll(n.Agent.Dir, 0o755); err != nil {
		n.Stop()
		return nil, err
	}
	go func() { _ = n.Agent.Run(ctx) }()
	return n, nil
}

// Stop stops kube-controller-manager and the proxy (the agent stops with its context).
func (n *JobNode) Stop() {
	if n.kcm != nil && n.kcm.Process != nil {
		_ = n.kcm.Process.Kill()
		_ = n.kcm.Wait()
	}
	if n.Proxy != nil {
		n.Proxy.Close()
	}
	if n.log != nil {
		n.log.Close()
	}
}

// serviceAccounts gives each runner pod the kubeconfig of an API server user named as its
// ServiceAccount (system:serviceaccount:<ns>:<name>, in the service account groups), through
// apiAddr: with RBAC on, the runner can do only what config/rbac/runner's Role allows.
func serviceAccounts(te *envtest.Environment, dir, apiAddr string) func(*corev1.Pod) ([]string, error) {
	var mu sync.Mutex
	made := map[string]string{}
	return func(pod *corev1.Pod) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		user := "system:serviceaccount:" + pod.Namespace + ":" + pod.Spec.ServiceAccountName
		if path, ok := made[user]; ok {
			return []string{"KUBECONFIG=" + path}, nil
		}
		u, err := te.AddUser(envtest.User{Name: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + pod.Namespace}}, nil)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, pod.Namespace+"-"+pod.Spec.ServiceAccountName+".kubeconfig")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		cfg := u.Config()
		cfg.Host = "https://" + apiAddr // the API server's certificate names 127.0.0.1, whatever the port
		if err := WriteKubeconfig(cfg, path); err != nil {
			return nil, err
		}
		made[user] = path
		return []string{"KUBECONFIG=" + path}, nil
	}
}

// RunnerNamespace creates ns with the runner's ServiceAccount, Role and RoleBinding from
// config/rbac/runner, as an operator applies them.
func RunnerNamespace(ctx context.Context, c client.Client, ns string) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	for _, f := range []string{"service_account.yaml", "role.yaml", "role_binding.yaml"} {
		objs, err := ReadObjects(filepath.Join(RepoRoot(), "config", "rbac", "runner", f))
		if err != nil {
			return err
		}
		for _, o := range objs {
			o.SetNamespace(ns)
			if err := c.Create(ctx, o); err != nil {
				return fmt.Errorf("creating %s %s in %s: %w", o.GetKind(), o.GetName(), ns, err)
			}
		}
	}
	return nil
}
