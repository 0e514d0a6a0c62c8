package controllers

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/modules"
)

// defaultFamily is the bundled module family used when spec.module is empty.
const defaultFamily = "simulated"

// resolveModule returns the root module file tree for kind ("cluster" or "machine").
func resolveModule(src *infrav1.ModuleSource, kind, moduleRoot string) (fs.FS, error) {
	switch {
	case src == nil || (src.Name == "" && src.Path == "" && src.ConfigMapRef == nil && src.Source == ""):
		return modules.Get(defaultFamily, kind)
	case src.Name != "":
		return modules.Get(src.Name, kind)
	case src.Path != "":
		dir, err := confinedPath(moduleRoot, src.Path)
		if err != nil {
			return nil, err
		}
		return os.DirFS(filepath.Join(dir, kind)), nil
	default:
		return nil, fmt.Errorf("spec.module.configMapRef and spec.module.source are not supported by this provider version; use name or path")
	}
}

// confinedPath resolves p under root, refusing `..` and symlinks that escape root.
func confinedPath(root, p string) (string, error) {
	if root == "" {
		return "", fmt.Errorf("spec.module.path needs the manager's --module-root")
	}
	if filepath.IsAbs(p) || strings.Contains(filepath.ToSlash(p), "..") {
		return "", fmt.Errorf("spec.module.path %q must be relative to --module-root and must not contain '..'", p)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("module root %q: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(realRoot, p))
	if err != nil {
		return "", fmt.Errorf("spec.module.path %q: %w", p, err)
	}
	if real != realRoot && !strings.HasPrefix(real, realRoot+string(filepath.Separator)) {
		return "", fmt.Errorf("spec.module.path %q escapes --module-root", p)
	}
	return real, nil
}

// credentialsEnv reads the credentials Secret; its keys become the terraform environment.
func credentialsEnv(ctx context.Context, c client.Reader, namespace string, ref *infrav1.LocalObjectReference) (map[string]string, error) {
	if ref == nil {
		return nil, nil
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, s); err != nil {
		return nil, fmt.Errorf("reading credentials Secret %s/%s: %w", namespace, ref.Name, err)
	}
	env := make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		env[k] = string(v)
	}
	return env, nil
}
