/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Command demo is `make demo`: a local API server, CAPI's core Cluster and Machine controllers and
// this provider, all in one process, provisioning config/samples with the embedded simulated
// module, approving a plan preview, then deleting everything. It exits non-zero on any failure.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

const (
	namespace   = "default"
	clusterName = "demo"
	stepTimeout = 2 * time.Minute
)

func main() {
	start := time.Now()
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "\nDEMO FAILED after %s: %v\n", time.Since(start).Round(time.Second), err)
		os.Exit(1)
	}
	fmt.Printf("\nDemo finished in %s.\n", time.Since(start).Round(time.Second))
}

func run() error {
	// Controller logs go to a file so the demo's own output stays readable.
	logPath := filepath.Join(os.TempDir(), "capc-demo.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile)))
	// klog (used by client-go and CAPI) would otherwise print to stderr past the threshold.
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Parse([]string{"-logtostderr=false", "-alsologtostderr=false", "-stderrthreshold=FATAL"})
	klog.SetOutput(logFile)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	step("Starting a local API server (kube-apiserver + etcd), CAPI core controllers and the provider")
	work, err := os.MkdirTemp("", "capc-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	// terraform runs under bin/capc-tfshim (make build), sandboxed where the kernel has Landlock,
	// as in the manager.
	st, err := envtestutil.StartStack(ctx, envtestutil.StackOptions{WorkDir: work, Runner: func(c *tfrunner.Config) {
		c.Shim = filepath.Join(envtestutil.RepoRoot(), "bin", "capc-tfshim")
		c.Sandbox = tfrunner.SandboxBestEffort
	}})
	if err != nil {
		return err
	}
	defer func() { _ = st.Stop() }()
	fmt.Printf("   controller logs: %s\n   %s\n", logPath, st.Runner.Sandbox())
	d := &demo{c: st.Client}

	step("Applying config/samples (Cluster + CustomCluster, bootstrap Secret, two Machines + CustomMachines, templates)")
	if err := d.applySamples(ctx); err != nil {
		return err
	}
	step("Waiting for the cluster and machines to be provisioned")
	provStart := time.Now()
	if err := d.waitProvisioned(ctx); err != nil {
		return err
	}
	fmt.Printf("   provisioned in %s\n", time.Since(provStart).Round(100*time.Millisecond))
	if err := d.printTable(ctx); err != nil {
		return err
	}
	if err := d.planPreview(ctx); err != nil {
		return err
	}
	fmt.Printf("   terraform processes started so far: %d\n", st.Runner.Processes())
	step("Deleting the Cluster: machines are destroyed first, then the cluster infrastructure")
	return d.deleteAll(ctx)
}

func step(msg string) { fmt.Printf("\n==> %s\n", msg) }

type demo struct{ c client.Client }

func (d *demo) applySamples(ctx context.Context) error {
	dir := filepath.Join(envtestutil.RepoRoot(), "config", "samples")
	for _, f := range []string{"bootstrap-secret.yaml", "cluster.yaml", "machines.yaml", "templates.yaml"} {
		objs, err := envtestutil.ReadObjects(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		for _, o := range objs {
			o.SetNamespace(namespace)
			if err := d.c.Create(ctx, o); err != nil {
				return fmt.Errorf("creating %s %s from %s: %w", o.GetKind(), o.GetName(), f, err)
			}
			fmt.Printf("   created %s/%s\n", strings.ToLower(o.GetKind()), o.GetName())
		}
	}
	return nil
}

// poll calls cond every second, printing its progress line when it changes, until it is done.
func poll(ctx context.Context, what string, cond func() (string, bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	last := ""
	for {
		line, done, err := cond()
		if err != nil {
			return err
		}
		if line != last {
			fmt.Printf("   %s\n", line)
			last = line
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s (last: %s)", what, last)
		case <-time.After(time.Second):
		}
	}
}

func (d *demo) machines(ctx context.Context) ([]infrav1.CustomMachine, error) {
	list := &infrav1.CustomMachineList{}
	err := d.c.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{clusterv1.ClusterNameLabel: clusterName})
	return list.Items, err
}

func (d *demo) waitProvisioned(ctx context.Context) error {
	return poll(ctx, "provisioning", func() (string, bool, error) {
		cluster := &clusterv1.Cluster{}
		if err := d.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: clusterName}, cluster); err != nil {
			return "", false, err
		}
		ms, err := d.machines(ctx)
		if err != nil {
			return "", false, err
		}
		ready := 0
		for _, m := range ms {
			if m.Spec.ProviderID != "" && ptrTrue(m.Status.Initialization.Provisioned) {
				ready++
			}
		}
		infra := ptrTrue(cluster.Status.Initialization.InfrastructureProvisioned)
		line := fmt.Sprintf("Cluster phase=%s infrastructureProvisioned=%t, machines provisioned %d/%d", cluster.Status.Phase, infra, ready, len(ms))
		return line, infra && len(ms) > 0 && ready == len(ms), nil
	})
}

func (d *demo) printTable(ctx context.Context) error {
	cc := &infrav1.CustomCluster{}
	if err := d.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: clusterName}, cc); err != nil {
		return err
	}
	ms, err := d.machines(ctx)
	if err != nil {
		return err
	}
	step("Result")
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "   OBJECT\tPROVIDER ID / ENDPOINT\tADDRESSES\tFAILURE DOMAIN\n")
	fmt.Fprintf(w, "   customcluster/%s\t%s:%d\t-\t%d failure domains\n", cc.Name, cc.Spec.ControlPlaneEndpoint.Host, cc.Spec.ControlPlaneEndpoint.Port, len(cc.Status.FailureDomains))
	for _, m := range ms {
		addrs := make([]string, 0, len(m.Status.Addresses))
		for _, a := range m.Status.Addresses {
			addrs = append(addrs, fmt.Sprintf("%s=%s", a.Type, a.Address))
		}
		fmt.Fprintf(w, "   custommachine/%s\t%s\t%s\t%s\n", m.Name, m.Spec.ProviderID, strings.Join(addrs, ","), m.Status.FailureDomain)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	secrets, err := d.stateSecrets(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("\n   state Secrets (%d):\n", len(secrets))
	for _, s := range secrets {
		fmt.Printf("     %s (type %s, %d bytes)\n", s.Name, s.Type, secretSize(s))
	}
	return nil
}

func secretSize(s corev1.Secret) int {
	n := 0
	for _, v := range s.Data {
		n += len(v)
	}
	return n
}

func (d *demo) stateSecrets(ctx context.Context) ([]corev1.Secret, error) {
	list := &corev1.SecretList{}
	err := d.c.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{clusterv1.ClusterNameLabel: clusterName},
		client.HasLabels{infrav1.AnnotationPrefix + "kind"})
	return list.Items, err
}

func (d *demo) deleteAll(ctx context.Context) error {
	cluster := &clusterv1.Cluster{}
	cluster.Namespace, cluster.Name = namespace, clusterName
	if err := d.c.Delete(ctx, cluster); err != nil {
		return err
	}
	err := poll(ctx, "deletion", func() (string, bool, error) {
		ms, err := d.machines(ctx)
		if err != nil {
			return "", false, err
		}
		cc := &infrav1.CustomCluster{}
		ccErr := d.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: clusterName}, cc)
		clErr := d.c.Get(ctx, client.ObjectKeyFromObject(cluster), &clusterv1.Cluster{})
		secrets, err := d.stateSecrets(ctx)
		if err != nil {
			return "", false, err
		}
		gone := apierrors.IsNotFound(ccErr) && apierrors.IsNotFound(clErr)
		line := fmt.Sprintf("custommachines left=%d customcluster gone=%t cluster gone=%t state Secrets=%d", len(ms), apierrors.IsNotFound(ccErr), apierrors.IsNotFound(clErr), len(secrets))
		return line, gone && len(ms) == 0 && len(secrets) == 0, nil
	})
	if err != nil {
		return err
	}
	fmt.Println("   all finalizers cleared, all state Secrets removed")
	return nil
}

func ptrTrue(b *bool) bool { return b != nil && *b }
