/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// ReadObjects decodes every object of a multi-document YAML file.
func ReadObjects(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	objs, err := DecodeObjects(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return objs, nil
}

// DecodeObjects decodes every object of a multi-document YAML (or JSON) stream; empty documents
// are skipped.
func DecodeObjects(r io.Reader) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("decoding: %w", err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// ReleaseComponents builds the release for tag into dir (`make release-manifests`) and returns
// the objects of its infrastructure-components.yaml as clusterctl applies them: variables
// substituted by `clusterctl generate yaml` (bin/clusterctl), from env (NAME=value) or their
// defaults.
func ReleaseComponents(dir, tag string, env ...string) ([]*unstructured.Unstructured, error) {
	rel := exec.Command("make", "-C", RepoRoot(), "release-manifests", "RELEASE_TAG="+tag, "RELEASE_DIR="+dir)
	if out, err := rel.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("make release-manifests: %w\n%s", err, out)
	}
	gen := exec.Command(filepath.Join(RepoRoot(), "bin", "clusterctl"), "generate", "yaml",
		"--from", filepath.Join(dir, "infrastructure-components.yaml"))
	gen.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	gen.Stderr = &stderr
	out, err := gen.Output()
	if err != nil {
		return nil, fmt.Errorf("clusterctl generate yaml: %w\n%s", err, stderr.Bytes())
	}
	return DecodeObjects(bytes.NewReader(out))
}
