/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/company/cluster-api-provider-custom/bench"
	"github.com/company/cluster-api-provider-custom/contract"
	"github.com/company/cluster-api-provider-custom/modules"
	"github.com/company/cluster-api-provider-custom/modulesrc"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// p7 measures module trees: fetching, verifying and unpacking a 1 MiB tree from an artifact
// server (as from Flux's source-controller), and what resolving a tree adds to a no-op
// reconcile (P1) for a directory under --module-root and for an unpacked artifact.
func (b *benchmark) p7(ctx context.Context) error {
	dir := filepath.Join(b.work, "p7")
	repo := filepath.Join(dir, "repo")
	if err := writeBenchRepo(repo, 1<<20); err != nil {
		return err
	}
	small := filepath.Join(dir, "small")
	if err := writeBenchRepo(small, 0); err != nil {
		return err
	}
	arc, err := bench.TarGz(repo)
	if err != nil {
		return err
	}
	f, last, unpacked, err := p7Fetch(ctx, dir, arc)
	if err != nil {
		return err
	}
	cached, err := timeN(2000, func() error {
		t, err := last.Tree(unpacked, "teams/a", contract.KindMachine)
		if err == nil {
			_, err = tfrunner.TreeDigest(t.FS, t.Root)
		}
		return err
	})
	if err != nil {
		return err
	}
	// As the controllers resolve spec.module.path: Store.Dir stats the tree's files and
	// directories and reuses the tree while none changed.
	pathCost := func(root string) (bench.Stats, error) {
		return timeN(1000, func() error {
			t, err := last.Dir(root, "teams/a", contract.KindMachine)
			if err == nil {
				_, err = tfrunner.TreeDigest(t.FS, t.Root)
			}
			return err
		})
	}
	pathSmall, err := pathCost(small)
	if err != nil {
		return err
	}
	pathBig, err := pathCost(repo)
	if err != nil {
		return err
	}
	ratio := func(extra time.Duration) float64 {
		if b.p1Plan == 0 {
			return 0
		}
		return float64(b.p1Plan) / float64(b.p1Mean+extra)
	}
	b.add(row{ID: "P7", What: "module tree from an artifact server: download, digest verification, unpack and tree selection of a 1 MiB tree (200 files)",
		Ours:     fmt.Sprintf("%s median, %s p90 (n=%d, %.2f MiB archive)", bench.Ms(f.Median), bench.Ms(f.P90), f.N, float64(len(arc))/(1<<20)),
		Baseline: "—", Ratio: bench.Ms(f.Median), Goal: "(figure asked for)", Info: true})
	ok := ratio(pathSmall.Mean) >= 50 && ratio(cached.Mean) >= 50
	b.add(row{ID: "P7n", What: "what resolving a module tree adds to a no-op reconcile (P1): an unpacked artifact or archive (tree and digest memoized), a --module-root directory (a stat per file and directory; read again only when one changed)",
		Ours:     fmt.Sprintf("artifact %s mean; path, 7-file tree %s mean; path, the 1 MiB tree %s mean (n=%d)", bench.Ms(cached.Mean), bench.Ms(pathSmall.Mean), bench.Ms(pathBig.Mean), pathSmall.N),
		Baseline: fmt.Sprintf("`terraform plan` %s (P1)", bench.Ms(b.p1Plan)),
		Ratio:    fmt.Sprintf("P1 with artifact %.0f×, with a path tree %.0f× (1 MiB path tree %.0f×)", ratio(cached.Mean), ratio(pathSmall.Mean), ratio(pathBig.Mean)),
		Goal:     "P1 stays ≥ 50×", Met: ok})
	return nil
}

// p7Fetch serves arc as a source artifact and times five cold fetches (download, digest check,
// unpack, tree selection), each into a new store; it returns the last store and its unpacked dir.
func p7Fetch(ctx context.Context, dir string, arc []byte) (bench.Stats, *modulesrc.Store, string, error) {
	sum := sha256.Sum256(arc)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(arc) }))
	defer srv.Close()
	var fetch []time.Duration
	var last *modulesrc.Store
	var unpacked string
	for i := range 5 {
		s, err := modulesrc.NewStore(filepath.Join(dir, fmt.Sprintf("store-%d", i)), modulesrc.StoreOptions{})
		if err != nil {
			return bench.Stats{}, nil, "", err
		}
		t0 := time.Now()
		if unpacked, err = s.Artifact(ctx, srv.URL+"/a.tar.gz", digest); err != nil {
			return bench.Stats{}, nil, "", err
		}
		if _, err := s.Tree(unpacked, "teams/a", contract.KindMachine); err != nil {
			return bench.Stats{}, nil, "", err
		}
		fetch = append(fetch, time.Since(t0))
		last = s
	}
	return bench.Summarize(fetch), last, unpacked, nil
}

func timeN(n int, fn func() error) (bench.Stats, error) {
	ds := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if err := fn(); err != nil {
			return bench.Stats{}, err
		}
		ds = append(ds, time.Since(t0))
	}
	return bench.Summarize(ds), nil
}

// writeBenchRepo writes a module repository: the simulated machine module calling a shared
// module that carries pad bytes of templates (200 files).
func writeBenchRepo(dir string, pad int) error {
	m, err := modules.Get("simulated", contract.KindMachine)
	if err != nil {
		return err
	}
	files := map[string]string{
		"teams/a/machine/label.tf": "module \"label\" {\n  source = \"../../../shared/label\"\n}\n",
		"shared/label/main.tf":     "output \"id\" {\n  value = \"label\"\n}\n",
	}
	err = fs.WalkDir(m, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(m, p)
		files["teams/a/machine/"+p] = string(b)
		return err
	})
	if err != nil {
		return err
	}
	if pad > 0 { // hex of a hash chain: compresses about as well as real templates (2:1)
		h := sha256.Sum256([]byte("seed"))
		for i := range 200 {
			var b strings.Builder
			for b.Len() < pad/200 {
				h = sha256.Sum256(h[:])
				b.WriteString(hex.EncodeToString(h[:]) + "\n")
			}
			files[fmt.Sprintf("shared/label/templates/t%03d.tpl", i)] = b.String()
		}
	}
	for p, c := range files {
		f := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			return err
		}
	}
	return nil
}
