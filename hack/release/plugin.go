/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

const (
	pluginName = "kubectl-capc"
	repoURL    = "https://github.com/company/cluster-api-provider-custom"
)

// krewPlugin is krew's index manifest (krew.googlecontainertools.github.com/v1alpha2 Plugin),
// the fields a plugin manifest uses.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string         `json:"version"`
		Homepage         string         `json:"homepage"`
		ShortDescription string         `json:"shortDescription"`
		Description      string         `json:"description"`
		Platforms        []krewPlatform `json:"platforms"`
	} `json:"spec"`
}

type krewPlatform struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	URI    string     `json:"uri"`
	SHA256 string     `json:"sha256"`
	Bin    string     `json:"bin"`
	Files  []krewFile `json:"files"`
}

type krewFile struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// plugin cross-builds kubectl-capc for each platform into a tar.gz and writes the krew manifest
// (capc.yaml) naming each archive with its sha256.
func plugin(o options) error {
	base := o.DownloadURL
	if base == "" {
		base = repoURL + "/releases/download/" + o.Tag
	}
	var m krewPlugin
	m.APIVersion, m.Kind, m.Metadata.Name = "krew.googlecontainertools.github.com/v1alpha2", "Plugin", "capc"
	m.Spec.Version, m.Spec.Homepage = o.Tag, repoURL
	m.Spec.ShortDescription = "Inspect and steer cluster-api-provider-custom's Terraform runs"
	m.Spec.Description = "Shows what Terraform is doing to CustomClusters and CustomMachines (status, running locks and\n" +
		"progress, pending plans, drift, errors), shows and approves exact plan digests, requests plan\n" +
		"previews, reads state (sensitive values redacted) and releases the lock of a dead run.\n"
	for _, p := range strings.Split(o.Platforms, ",") {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(p), "/")
		if !ok {
			return fmt.Errorf("-platforms: %q is not os/arch", p)
		}
		archive := fmt.Sprintf("%s_%s_%s_%s.tar.gz", pluginName, o.Tag, goos, goarch)
		sum, err := buildArchive(o, goos, goarch, filepath.Join(o.Out, archive))
		if err != nil {
			return err
		}
		var kp krewPlatform
		kp.Selector.MatchLabels = map[string]string{"os": goos, "arch": goarch}
		kp.URI, kp.SHA256, kp.Bin = base+"/"+archive, sum, pluginName
		kp.Files = []krewFile{{From: pluginName, To: "."}, {From: "LICENSE", To: "."}}
		m.Spec.Platforms = append(m.Spec.Platforms, kp)
	}
	b, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.Out, "capc.yaml"), b, 0o644)
}

// buildArchive builds the plugin for goos/goarch into a tar.gz with the LICENSE, returning the
// archive's sha256.
func buildArchive(o options, goos, goarch, path string) (string, error) {
	bin := filepath.Join(o.Out, ".build", goos+"_"+goarch, pluginName)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+o.Tag, "-o", bin, "./cmd/kubectl-capc")
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s for %s/%s: %w\n%s", pluginName, goos, goarch, err, out)
	}
	defer os.RemoveAll(filepath.Join(o.Out, ".build"))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name, path string
		mode       int64
	}{{pluginName, bin, 0o755}, {"LICENSE", filepath.Join(o.Root, "LICENSE"), 0o644}} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return "", err
		}
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(data))}); err != nil {
			return "", err
		}
		if _, err := tw.Write(data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), nil
}
