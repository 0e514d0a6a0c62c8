/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package image builds the provider image as `make docker-build` does (buildah, offline, FROM
// scratch, into an OCI archive), unpacks it and checks what it holds: its config (non-root user,
// entrypoint, labels, the pinned terraform) and its files, then runs the unpacked entrypoint
// inside the image's filesystem (chroot) as the image's user.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

type imageConfig struct {
	Config struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Env        []string          `json:"Env"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
}

func TestImage(t *testing.T) {
	if _, err := exec.LookPath("buildah"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the image test needs buildah and root in CI (.ci/run installs buildah)")
		}
		t.Skip("needs buildah (apt-get install buildah) and root: the image is not built here")
	}
	root := envtestutil.RepoRoot()
	dir := t.TempDir()
	archive, err := envtestutil.BuildImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(dir, "oci")
	if err := untar(archive, layout, false); err != nil {
		t.Fatal(err)
	}
	var index struct{ Manifests []descriptor }
	readJSON(t, layout, "index.json", &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("index: %+v", index)
	}
	var manifest struct {
		Config descriptor
		Layers []descriptor
	}
	readJSON(t, layout, blob(index.Manifests[0].Digest), &manifest)
	var cfg imageConfig
	readJSON(t, layout, blob(manifest.Config.Digest), &cfg)

	c := cfg.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root)", c.User)
	}
	if strings.Join(c.Entrypoint, " ") != "/manager --terraform-path=/usr/local/bin/terraform" {
		t.Errorf("entrypoint %q", c.Entrypoint)
	}
	tfVersion := makefileVar(t, root, "TERRAFORM_VERSION")
	if c.Labels["io.github.company.capc.terraform-version"] != tfVersion || c.Labels["org.opencontainers.image.version"] != "v0.1.0" {
		t.Errorf("labels %v, want terraform %s and version v0.1.0", c.Labels, tfVersion)
	}

	rootfs := filepath.Join(dir, "rootfs")
	for _, l := range manifest.Layers {
		if err := untar(filepath.Join(layout, blob(l.Digest)), rootfs, strings.HasSuffix(l.MediaType, "gzip")); err != nil {
			t.Fatal(err)
		}
	}
	var files []string
	_ = filepath.Walk(rootfs, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(rootfs, p)
			files = append(files, "/"+rel)
		}
		return nil
	})
	sort.Strings(files)
	want := []string{"/capc-tfshim", "/etc/group", "/etc/passwd", "/etc/ssl/certs/ca-certificates.crt", "/manager", "/usr/local/bin/terraform"}
	if strings.Join(files, " ") != strings.Join(want, " ") {
		t.Errorf("the image holds %v, want exactly %v", files, want)
	}

	// The entrypoint in the image's own filesystem, as its user.
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env, cmd.Dir = c.Env, "/" // a container starts in / (the image sets no WORKDIR)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs, Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s in the image as 65532: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := run("/manager", "--help"); !strings.Contains(out, "-runner string") {
		t.Errorf("manager --help: %s", out)
	}
	if out := run("/manager", "runner", "--help"); !strings.Contains(out, "-request string") {
		t.Errorf("manager runner --help: %s", out)
	}
	if out := run("/usr/local/bin/terraform", "version"); !strings.Contains(out, "Terraform "+tfVersion) {
		t.Errorf("terraform version: %s, want %s", out, tfVersion)
	}
}

func blob(digest string) string { return filepath.Join("blobs", strings.Replace(digest, ":", "/", 1)) }

func readJSON(t *testing.T, dir, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func makefileVar(t *testing.T, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `\s*\?=\s*(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no %s in the Makefile", name)
	}
	return string(m[1])
}

// untar extracts regular files and directories of a (gzipped) tar into dir.
func untar(path, dir string, gz bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var r io.Reader = bytes.NewReader(b)
	if gz {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, data, os.FileMode(h.Mode)&0o777); err != nil {
				return err
			}
		}
	}
}
