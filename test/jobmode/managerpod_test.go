/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package jobmode

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// The manager as users run it: the release's components (config/ through `make
// release-manifests`, variables substituted by `clusterctl generate yaml`) applied to the API
// server, the Deployment's pod running the provider image on the real node with leader election,
// its health probes answered to the kubelet and its metrics scraped with curl from the host
// network. It provisions a cluster with machines in local mode (the simulated module), terraform
// sandboxed by Landlock under the runtime's seccomp profile, and when its pod is deleted the
// ReplicaSet's new pod takes the leader lease over and provisions the next machine. Two changes to
// the Deployment, both for this node: the host network (there is no kube-proxy, so the pod reaches
// the API server through KUBERNETES_SERVICE_HOST/PORT) and free ports for metrics and health.
func TestManagerPodOnTheNode(t *testing.T) {
	if image == "" {
		t.Skip("a real node needs root")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	te, cfg, err := envtestutil.StartEnv(true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = te.Stop() }()
	stopCAPI, err := envtestutil.StartCAPIManager(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stopCAPI() }()
	node, err := envtestutil.StartNode(ctx, te, filepath.Join(t.TempDir(), "node"))
	if err != nil {
		t.Fatal(err)
	}
	defer node.Stop()
	if err := node.ImportImage(image); err != nil {
		t.Fatal(err)
	}
	scheme, err := envtestutil.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ports, err := envtestutil.FreePorts(2) // metrics, health: two different ports
	if err != nil {
		t.Fatal(err)
	}
	installComponents(t, c, cfg.Host, [2]int(ports))
	defer func() {
		if t.Failed() {
			t.Logf("=== kubelet\n%s", node.LogTail("kubelet"))
			dumpPodLogs(t, node)
		}
	}()
	first := readyManagerPod(t, node.Kube, "")
	checkManagerPod(t, node, first, ports[0])
	provision(t, c, "on-pod", "a", "a-0", "a-1")

	deleted := time.Now()
	if err := node.Kube.CoreV1().Pods(managerNS).Delete(ctx, first, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	second := readyManagerPod(t, node.Kube, first)
	envtestutil.WaitFor(t, 2*time.Minute, "the new pod to hold the leader lease", func(ctx context.Context) (bool, error) {
		return leaderIs(ctx, node.Kube, second)
	})
	leader := time.Since(deleted)
	provision(t, c, "on-pod", "", "a-2")
	t.Logf("pod %s deleted; %s led %s later and provisioned a-2", first, second, leader.Round(100*time.Millisecond))
}

const managerNS = "capc-system"

// installComponents applies the release's components but its CRDs (envtest installed them), the
// Deployment on the host network with the API server at apiURL and metrics and health on ports.
func installComponents(t *testing.T, c client.Client, apiURL string, ports [2]int) {
	t.Helper()
	objs, err := envtestutil.ReleaseComponents(t.TempDir(), "v0.1.0", "CAPC_DRIFT_CHECK_INTERVAL=1h")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(apiURL, "https://"), ":")
	for _, o := range objs {
		switch o.GetKind() {
		case "CustomResourceDefinition":
			continue
		case "Deployment":
			o = onTheNode(t, o, host, port, ports)
		}
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// onTheNode puts the manager Deployment on the host network with the API server at host:port
// and its metrics and health endpoints on ports.
func onTheNode(t *testing.T, o *unstructured.Unstructured, host, port string, ports [2]int) *unstructured.Unstructured {
	t.Helper()
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
		t.Fatal(err)
	}
	spec := &d.Spec.Template.Spec
	spec.HostNetwork, spec.DNSPolicy = true, corev1.DNSClusterFirstWithHostNet
	m := &spec.Containers[0]
	m.Env = append(m.Env, corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: host}, corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: port})
	for i, a := range m.Args {
		switch {
		case strings.HasPrefix(a, "--metrics-bind-address="):
			m.Args[i] = fmt.Sprintf("--metrics-bind-address=:%d", ports[0])
		case strings.HasPrefix(a, "--health-probe-bind-address="):
			m.Args[i] = fmt.Sprintf("--health-probe-bind-address=:%d", ports[1])
		}
	}
	for i := range m.Ports {
		m.Ports[i].ContainerPort = int32(ports[i])
	}
	m.LivenessProbe.InitialDelaySeconds, m.ReadinessProbe.InitialDelaySeconds = 1, 1
	m.ReadinessProbe.PeriodSeconds = 1
	if m.ReadinessProbe.HTTPGet.Port != intstr.FromString("healthz") {
		t.Fatalf("the readiness probe's port is %v, want the healthz port", m.ReadinessProbe.HTTPGet.Port)
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&d)
	if err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: u}
}

// readyManagerPod waits for a Ready manager pod other than not and returns its name.
func readyManagerPod(t *testing.T, kube kubernetes.Interface, not string) string {
	t.Helper()
	var name string
	envtestutil.WaitFor(t, 3*time.Minute, "a Ready manager pod", func(ctx context.Context) (bool, error) {
		pods, err := kube.CoreV1().Pods(managerNS).List(ctx, metav1.ListOptions{LabelSelector: "control-plane=controller-manager"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			for _, cond := range p.Status.Conditions {
				if p.Name != not && p.DeletionTimestamp == nil && cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					name = p.Name
					return true, nil
				}
			}
		}
		return false, nil
	})
	return name
}

// checkManagerPod checks the pod holds the leader lease, its metrics answer curl from the host
// network, and it sandboxes terraform (its log says so, with the Landlock ABI).
func checkManagerPod(t *testing.T, node *envtestutil.Node, pod string, metricsPort int) {
	t.Helper()
	envtestutil.WaitFor(t, time.Minute, "the pod to hold the leader lease", func(ctx context.Context) (bool, error) {
		return leaderIs(ctx, node.Kube, pod)
	})
	out, err := exec.Command("curl", "-sSf", fmt.Sprintf("http://%s:%d/metrics", node.IP, metricsPort)).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "controller_runtime_reconcile_total") || !strings.Contains(string(out), "capc_") {
		t.Fatalf("curl the metrics: %v\n%.2000s", err, out)
	}
	var log []byte
	for _, l := range node.ContainerLogs(managerNS, pod, "manager") {
		b, _ := os.ReadFile(l)
		log = append(log, b...)
	}
	i := bytes.Index(log, []byte("terraform runs are sandboxed"))
	if i < 0 || !bytes.Contains(log[i:], []byte(`"landlockABI"`)) {
		t.Fatalf("the manager's log does not say terraform is sandboxed:\n%.3000s", log)
	}
	line, _, _ := bytes.Cut(log[i:], []byte("\n"))
	t.Logf("manager pod %s: %d bytes of metrics; %s", pod, len(out), line)
}

// leaderIs reports whether pod holds the manager's leader lease.
func leaderIs(ctx context.Context, kube kubernetes.Interface, pod string) (bool, error) {
	l, err := kube.CoordinationV1().Leases(managerNS).Get(ctx, "capc-manager.infrastructure.cluster.x-k8s.io", metav1.GetOptions{})
	if err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return l.Spec.HolderIdentity != nil && strings.HasPrefix(*l.Spec.HolderIdentity, pod), nil
}

// provision creates, in ns, cluster (unless empty: it exists) and machines of cluster a on the
// simulated module, and waits for the machines to be provisioned with a providerID.
func provision(t *testing.T, c client.Client, ns, cluster string, machines ...string) {
	t.Helper()
	ctx := context.Background()
	var objs []client.Object
	if cluster != "" {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			envtestutil.NewCluster(ns, cluster, false), envtestutil.NewCustomCluster(ns, cluster))
	}
	for _, m := range machines {
		secret, machine, cm := envtestutil.NewMachine(ns, "a", m, m == "a-0")
		objs = append(objs, secret, machine, cm)
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range machines {
		envtestutil.WaitFor(t, 3*time.Minute, m+" provisioned by the manager pod", func(ctx context.Context) (bool, error) {
			cm := &infrav1.CustomMachine{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: m}, cm); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			return cm.Spec.ProviderID != "" && len(cm.Status.Addresses) > 0, nil
		})
	}
}
