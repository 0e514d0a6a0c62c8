/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Command release writes the clusterctl release artifacts of the provider into a directory
// (`make release` runs it with -out out):
//
//	infrastructure-components.yaml  kustomize build config/default, image as ${CAPC_IMAGE:=<image>}
//	metadata.yaml                    copied from the repository root after checking the release series
//	cluster-template*.yaml           copied from templates/
//	clusterclass-*.yaml              copied from templates/
//	kubectl-capc_<tag>_<os>_<arch>.tar.gz, capc.yaml   the kubectl plugin and its krew manifest (-what plugin)
//
// It checks what clusterctl relies on: one Namespace, the provider label on every object, the
// manager container, a release series for the tag, and that every template variable is written
// ${NAME} or ${NAME:=default}.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/yaml"
)

const (
	providerLabel = "cluster.x-k8s.io/provider"
	providerName  = "infrastructure-custom"
	// imageRepo is the image config/default sets (kustomize images:); its line becomes a variable.
	imageRepo   = "ghcr.io/company/cluster-api-provider-custom"
	imageVar    = "CAPC_IMAGE"
	namespace   = "capc-system"
	managerName = "manager"
)

func main() {
	var o options
	flag.StringVar(&o.Tag, "tag", "", "release tag, e.g. v0.1.0 (required)")
	flag.StringVar(&o.Out, "out", "out", "output directory")
	flag.StringVar(&o.Image, "image", "", "default image in the components (default "+imageRepo+":<tag>)")
	flag.StringVar(&o.Root, "root", ".", "repository root")
	flag.StringVar(&o.Kustomize, "kustomize", "", "kustomize binary (default <root>/bin/kustomize)")
	flag.StringVar(&o.What, "what", "all", "manifests (components + metadata), templates, plugin (kubectl-capc archives + krew manifest), or all")
	flag.StringVar(&o.Platforms, "platforms", "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64", "plugin platforms (os/arch, comma-separated)")
	flag.StringVar(&o.DownloadURL, "download-url", "", "where the plugin archives are published (default the GitHub release of -tag)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

type options struct{ Tag, Out, Image, Root, Kustomize, What, Platforms, DownloadURL string }

func run(o options) error {
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(o.Tag) {
		return fmt.Errorf("-tag %q: want a semantic version like v0.1.0", o.Tag)
	}
	if o.Image == "" {
		o.Image = imageRepo + ":" + o.Tag
	}
	if o.Kustomize == "" {
		o.Kustomize = filepath.Join(o.Root, "bin", "kustomize")
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	switch o.What {
	case "manifests":
		return manifests(o)
	case "templates":
		return templates(o)
	case "plugin":
		return plugin(o)
	case "all":
		if err := manifests(o); err != nil {
			return err
		}
		if err := templates(o); err != nil {
			return err
		}
		return plugin(o)
	default:
		return fmt.Errorf("-what %q: want manifests, templates, plugin or all", o.What)
	}
}

// manifests writes infrastructure-components.yaml and metadata.yaml.
func manifests(o options) error {
	cmd := exec.Command(o.Kustomize, "build", filepath.Join(o.Root, "config", "default"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	built, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s build config/default: %w\n%s", o.Kustomize, err, stderr.String())
	}
	components, err := setImage(built, o.Image)
	if err != nil {
		return err
	}
	if err := checkComponents(components); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.Out, "infrastructure-components.yaml"), components, 0o644); err != nil {
		return err
	}

	raw, err := os.ReadFile(filepath.Join(o.Root, "metadata.yaml"))
	if err != nil {
		return err
	}
	if err := checkMetadata(raw, o.Tag); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.Out, "metadata.yaml"), raw, 0o644)
}

// imageLine matches the manager image kustomize wrote (any tag or digest).
var imageLine = regexp.MustCompile(`(?m)^([ \t]*(?:- )?image:[ \t]*)` + regexp.QuoteMeta(imageRepo) + `[:@][^\s]+[ \t]*$`)

// setImage turns the image into the clusterctl variable ${CAPC_IMAGE:=<image>}.
func setImage(in []byte, image string) ([]byte, error) {
	if n := len(imageLine.FindAll(in, -1)); n != 1 {
		return nil, fmt.Errorf("want exactly one image %s:<tag> in config/default, found %d", imageRepo, n)
	}
	return imageLine.ReplaceAll(in, []byte("${1}${"+imageVar+":="+image+"}")), nil
}

// varRef matches clusterctl variables: ${NAME} or ${NAME:=default}.
var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:=[^}]*)?\}`)

func decode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// checkComponents verifies what clusterctl expects of infrastructure-components.yaml.
func checkComponents(data []byte) error {
	if m := varRef.FindAllSubmatch(data, -1); len(m) > 0 {
		for _, v := range m {
			if len(v[2]) == 0 {
				return fmt.Errorf("components: variable ${%s} has no default; every components variable needs one", v[1])
			}
		}
	}
	objs, err := decode(data)
	if err != nil {
		return fmt.Errorf("decoding components: %w", err)
	}
	var namespaces []string
	manager := false
	for _, u := range objs {
		if u.GetLabels()[providerLabel] != providerName {
			return fmt.Errorf("components: %s %s lacks the label %s=%s", u.GetKind(), u.GetName(), providerLabel, providerName)
		}
		switch u.GetKind() {
		case "Namespace":
			namespaces = append(namespaces, u.GetName())
		case "Deployment":
			containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			for _, c := range containers {
				if m, ok := c.(map[string]any); ok && m["name"] == managerName {
					manager = true
				}
			}
		}
	}
	if len(namespaces) != 1 || namespaces[0] != namespace {
		return fmt.Errorf("components: want exactly the Namespace %s, found %v", namespace, namespaces)
	}
	if !manager {
		return fmt.Errorf("components: no Deployment with a container named %q", managerName)
	}
	return nil
}

// checkMetadata verifies metadata.yaml has a release series with contract v1beta2 for the tag.
func checkMetadata(raw []byte, tag string) error {
	md := &clusterctlv1.Metadata{}
	if err := yaml.UnmarshalStrict(raw, md); err != nil {
		return fmt.Errorf("metadata.yaml: %w", err)
	}
	if md.APIVersion != clusterctlv1.GroupVersion.String() || md.Kind != "Metadata" {
		return fmt.Errorf("metadata.yaml: apiVersion/kind %s/%s, want %s/Metadata", md.APIVersion, md.Kind, clusterctlv1.GroupVersion)
	}
	var major, minor, patch int32
	if _, err := fmt.Sscanf(strings.SplitN(tag, "-", 2)[0], "v%d.%d.%d", &major, &minor, &patch); err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	for _, rs := range md.ReleaseSeries {
		if rs.Major == major && rs.Minor == minor {
			if rs.Contract != "v1beta2" {
				return fmt.Errorf("metadata.yaml: release series %d.%d has contract %q, want v1beta2", major, minor, rs.Contract)
			}
			return nil
		}
	}
	return fmt.Errorf("metadata.yaml: no release series for %d.%d (tag %s): add one", major, minor, tag)
}

// templates copies templates/cluster-template*.yaml and templates/clusterclass-*.yaml.
func templates(o options) error {
	var files []string
	for _, pattern := range []string{"cluster-template*.yaml", "clusterclass-*.yaml"} {
		m, err := filepath.Glob(filepath.Join(o.Root, "templates", pattern))
		if err != nil {
			return err
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) == 0 {
		return fmt.Errorf("no templates in %s", filepath.Join(o.Root, "templates"))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if bytes.Contains(varRef.ReplaceAll(raw, nil), []byte("${")) {
			return fmt.Errorf("%s: malformed variable reference (write ${NAME} or ${NAME:=default})", f)
		}
		// The YAML must decode once every variable is replaced (clusterctl substitutes before parsing).
		if _, err := decode(varRef.ReplaceAll(raw, []byte("x"))); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := os.WriteFile(filepath.Join(o.Out, filepath.Base(f)), raw, 0o644); err != nil {
			return err
		}
	}
	return nil
}
