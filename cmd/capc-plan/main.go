/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Command capc-plan prints the plan the provider would make for a CustomCluster or CustomMachine
// YAML, against an empty state or an exported terraform state file, without a management
// cluster: for reviews and CI pipelines. It runs the provider's own code path (same variables,
// same module, same runner) with an in-memory stand-in for the Kubernetes API.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/go-logr/logr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/planpolicy"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

type options struct {
	file, clusterFile, state, terraform, moduleRoot, clusterName, output string
	controlPlane                                                         bool
	// The manager's module rules, so that a module it refuses is refused here too.
	allowProvisioners, allowRemoteModules bool
	allowedProviders                      string
	// policies are directories of Rego plan policies (conftest's), judged as the manager judges.
	policies []string
}

func main() {
	var o options
	fs := flag.NewFlagSet("capc-plan", flag.ExitOnError)
	fs.StringVar(&o.file, "f", "", "CustomCluster or CustomMachine YAML (required; - for stdin)")
	fs.StringVar(&o.clusterFile, "cluster", "", "for a CustomMachine: the CustomCluster YAML whose status supplies the cluster outputs")
	fs.StringVar(&o.state, "state", "", "exported terraform state file to plan against (default: empty state)")
	fs.StringVar(&o.terraform, "terraform-path", "", "terraform binary (default: PATH, version-checked)")
	fs.StringVar(&o.moduleRoot, "module-root", "", "root for spec.module.path")
	fs.StringVar(&o.clusterName, "cluster-name", "", "CAPI Cluster name (default: the cluster-name label, else the object's name)")
	fs.BoolVar(&o.controlPlane, "control-plane", false, "for a CustomMachine: plan it as a control-plane machine")
	fs.StringVar(&o.output, "o", "text", "output: text or json")
	fs.BoolVar(&o.allowProvisioners, "allow-provisioners", false, "as the manager's flag: let modules the provider did not ship use provisioners")
	fs.StringVar(&o.allowedProviders, "allowed-providers", "", "as the manager's flag: comma-separated provider patterns modules the provider did not ship may use (empty: any)")
	fs.BoolVar(&o.allowRemoteModules, "allow-remote-modules", false, "as the manager's flag: let module trees call remote module sources")
	fs.Func("policy", "directory of Rego plan policies (conftest's deny, violation and warn rules) to judge the plan with, as a CustomPolicy's planPolicies would; repeatable. A denial exits 1", func(s string) error {
		o.policies = append(o.policies, s)
		return nil
	})
	_ = fs.Parse(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "capc-plan:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.file == "" {
		return errors.New("-f is required")
	}
	ws, err := workspace(o)
	if err != nil {
		return err
	}
	sets, err := policySets(o.policies)
	if err != nil {
		return err
	}
	bin, err := tfrunner.ResolveBinary(ctx, tfrunner.BinaryOptions{Path: o.terraform})
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "capc-plan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	r, err := tfrunner.New(tfrunner.Config{Binary: bin, WorkDir: work, Kube: fake.NewClientset(), Holder: "capc-plan", Logger: logr.Discard()})
	if err != nil {
		return err
	}
	if o.state != "" {
		raw, err := os.ReadFile(o.state)
		if err != nil {
			return err
		}
		if _, err := r.PutState(ctx, ws.Object, raw); err != nil {
			return fmt.Errorf("loading state %s: %w", o.state, err)
		}
	}
	res, err := r.Reconcile(ctx, ws, tfrunner.Policy{Force: true, PlanPolicies: sets}) // plan only: never applies
	var denied *tfrunner.PolicyDeniedError
	if err != nil && !errors.As(err, &denied) {
		return err
	}
	if err := print(out, o.output, ws, res); err != nil {
		return err
	}
	if denied != nil {
		return denied
	}
	return nil
}

// policySets reads and compiles each policy directory: a policy that does not compile fails
// before anything is planned, naming the file and line.
func policySets(dirs []string) ([]planpolicy.Set, error) {
	var sets []planpolicy.Set
	for _, d := range dirs {
		files, err := planpolicy.ReadDir(os.DirFS(d), ".")
		if err != nil {
			return nil, fmt.Errorf("--policy %s: %w", d, err)
		}
		s := planpolicy.Set{Name: d, Files: files}
		if err := planpolicy.Check(s); err != nil {
			return nil, err
		}
		sets = append(sets, s)
	}
	return sets, nil
}

func print(out io.Writer, format string, ws tfrunner.Workspace, res tfrunner.Result) error {
	sum := tfrunner.PlanSummary{}
	if res.Plan != nil {
		sum = *res.Plan
	}
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"object": ws.Object.Kind + "/" + ws.Object.Name, "digest": res.PlanDigest,
			"inputsHash": res.InputsHash, "summary": sum, "policy": res.Policy})
	}
	fmt.Fprintf(out, "%s %s/%s: %d to add, %d to change, %d to destroy, %d to replace\n", ws.Object.Kind,
		ws.Object.Namespace, ws.Object.Name, sum.Add, sum.Change, sum.Destroy, sum.Replace)
	for _, rc := range sum.Resources {
		fmt.Fprintf(out, "  %-8s %s\n", rc.Action, rc.Address)
	}
	if res.PlanText != "" {
		fmt.Fprintf(out, "\n%s\n", res.PlanText)
	}
	if res.Policy != nil {
		fmt.Fprintln(out)
		res.Policy.Write(out)
	}
	return nil
}

// workspace decodes the object and renders it exactly as the reconcilers would.
func workspace(o options) (tfrunner.Workspace, error) {
	raw, kind, err := readObject(o.file)
	if err != nil {
		return tfrunner.Workspace{}, err
	}
	pol, err := modulecheck.NewPolicy(o.allowProvisioners, o.allowedProviders, "registry.terraform.io")
	if err != nil {
		return tfrunner.Workspace{}, err
	}
	rules := controllers.ModuleRules{Policy: pol, AllowRemote: o.allowRemoteModules}
	switch kind {
	case "CustomCluster":
		cc := &infrav1.CustomCluster{}
		if err := yaml.UnmarshalStrict(raw, cc); err != nil {
			return tfrunner.Workspace{}, fmt.Errorf("decoding CustomCluster: %w", err)
		}
		return controllers.ClusterWorkspace(defaults(cc), clusterName(o, cc.Labels, cc.Name), o.moduleRoot, rules)
	case "CustomMachine":
		cm := &infrav1.CustomMachine{}
		if err := yaml.UnmarshalStrict(raw, cm); err != nil {
			return tfrunner.Workspace{}, fmt.Errorf("decoding CustomMachine: %w", err)
		}
		cc := &infrav1.CustomCluster{}
		if o.clusterFile != "" {
			craw, _, err := readObject(o.clusterFile)
			if err != nil {
				return tfrunner.Workspace{}, err
			}
			if err := yaml.UnmarshalStrict(craw, cc); err != nil {
				return tfrunner.Workspace{}, fmt.Errorf("decoding CustomCluster: %w", err)
			}
		}
		return controllers.MachineWorkspace(defaults(cm), cc, clusterName(o, cm.Labels, cc.Name), o.moduleRoot, cm.Spec.UserData, o.controlPlane, rules)
	}
	return tfrunner.Workspace{}, fmt.Errorf("%s holds no CustomCluster or CustomMachine", o.file)
}

// readObject returns the first CustomCluster or CustomMachine document of a (multi-document) file.
func readObject(p string) ([]byte, string, error) {
	var r io.Reader = os.Stdin
	if p != "-" {
		f, err := os.Open(filepath.Clean(p))
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		r = f
	}
	docs := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			return nil, "", fmt.Errorf("%s holds no CustomCluster or CustomMachine", p)
		}
		if err != nil {
			return nil, "", fmt.Errorf("reading %s: %w", p, err)
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, "", fmt.Errorf("decoding %s: %w", p, err)
		}
		if meta.Kind == "CustomCluster" || meta.Kind == "CustomMachine" {
			return doc, meta.Kind, nil
		}
	}
}

// defaults gives a file's object the identity the API server would (namespace, a UID for labels).
func defaults[T interface {
	GetNamespace() string
	SetNamespace(string)
}](obj T) T {
	if obj.GetNamespace() == "" {
		obj.SetNamespace("default")
	}
	return obj
}

func clusterName(o options, labels map[string]string, fallback string) string {
	switch {
	case o.clusterName != "":
		return o.clusterName
	case labels["cluster.x-k8s.io/cluster-name"] != "":
		return labels["cluster.x-k8s.io/cluster-name"]
	}
	return fallback
}
