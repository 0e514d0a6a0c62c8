/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package modulesrc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/company/cluster-api-provider-custom/tfmodule"
)

// Store unpacks archives into <Dir>/<algorithm>-<hex digest>/, once per digest, and remembers
// the module trees selected from them (an unpacked archive never changes, so neither does a
// tree read from it, nor its digest).
type Store struct {
	dir    string
	http   *http.Client
	lim    Limits
	maxArc int64
	keep   int

	mu       sync.Mutex
	inflight map[string]*sync.WaitGroup
	trees    map[string]Tree
	order    []string
	versions map[string]string // archive version -> entry key
}

// StoreOptions configure a Store; zero values take defaults.
type StoreOptions struct {
	// HTTP fetches artifacts (default: a client with a 5-minute timeout).
	HTTP *http.Client
	// Limits bound an unpacked archive (default DefaultLimits).
	Limits Limits
	// MaxArchiveBytes bounds a downloaded archive (default 128 MiB).
	MaxArchiveBytes int64
	// Keep is how many unpacked archives stay on disk (default 32), least recently used first out.
	Keep int
}

// NewStore returns a Store under dir (created if missing).
func NewStore(dir string, o StoreOptions) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating module source cache: %w", err)
	}
	s := &Store{dir: dir, http: o.HTTP, lim: o.Limits, maxArc: o.MaxArchiveBytes, keep: o.Keep,
		inflight: map[string]*sync.WaitGroup{}, trees: map[string]Tree{}, versions: map[string]string{}}
	if s.http == nil {
		s.http = &http.Client{Timeout: 5 * time.Minute}
	}
	if s.lim == (Limits{}) {
		s.lim = DefaultLimits
	}
	if s.maxArc == 0 {
		s.maxArc = 128 << 20
	}
	if s.keep == 0 {
		s.keep = 32
	}
	return s, nil
}

// DigestError is an artifact whose content does not match the digest its source advertised.
type DigestError struct{ URL, Want, Got string }

func (e *DigestError) Error() string {
	return fmt.Sprintf("artifact %s: digest mismatch: the source advertises %s, the download is %s", e.URL, e.Want, e.Got)
}

// Artifact returns the directory holding the unpacked .tar.gz artifact at url whose digest is
// digest ("sha256:<hex>", also sha384 and sha512), downloading and verifying it on first use.
func (s *Store) Artifact(ctx context.Context, url, digest string) (string, error) {
	newHash, want, err := parseDigest(digest)
	if err != nil {
		return "", err
	}
	return s.entry(strings.Replace(digest, ":", "-", 1), func(dst string) error {
		tmp, err := os.CreateTemp(s.dir, "download-")
		if err != nil {
			return fmt.Errorf("creating download file: %w", err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		h := newHash()
		if err := s.download(ctx, url, io.MultiWriter(tmp, h)); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(want) {
			return &DigestError{URL: url, Want: digest, Got: strings.SplitN(digest, ":", 2)[0] + ":" + got}
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("rewinding download: %w", err)
		}
		return Unpack(tmp, dst, s.lim)
	})
}

// Archive returns the directory holding the unpacked .tar.gz data (a ConfigMap's). version
// names that exact data (a ConfigMap's UID and resourceVersion; "" for none): a reconcile of
// an unchanged ConfigMap then skips hashing up to 1 MiB again.
func (s *Store) Archive(version string, data []byte) (string, error) {
	s.mu.Lock()
	key, ok := s.versions[version]
	s.mu.Unlock()
	if !ok || version == "" {
		sum := sha256.Sum256(data)
		key = "sha256-" + hex.EncodeToString(sum[:])
		if version != "" {
			s.mu.Lock()
			if len(s.versions) >= 4*s.keep {
				clear(s.versions)
			}
			s.versions[version] = key
			s.mu.Unlock()
		}
	}
	return s.entry(key, func(dst string) error {
		return Unpack(bytes.NewReader(data), dst, s.lim)
	})
}

// Tree returns the module tree of kind at p (see RootFor) in the unpacked entry dir, selected
// once.
func (s *Store) Tree(dir, p, kind string) (Tree, error) {
	key := dir + "\x00" + p + "\x00" + kind
	s.mu.Lock()
	t, ok := s.trees[key]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return Tree{}, fmt.Errorf("opening unpacked module source: %w", err)
	}
	defer r.Close()
	t, err = Select(r.FS(), RootFor(r.FS(), p, kind), s.lim)
	if err != nil {
		return Tree{}, err
	}
	t.FS = tfmodule.NewImmutable(t.FS)
	s.remember(key, t)
	return t, nil
}

// remember keeps a selected tree (4×Keep of them, oldest out first).
func (s *Store) remember(key string, t Tree) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.trees[key]; !ok {
		s.order = append(s.order, key)
		if len(s.order) > 4*s.keep {
			delete(s.trees, s.order[0])
			s.order = s.order[1:]
		}
	}
	s.trees[key] = t
}

// entry returns <dir>/<key>, filling it once with fill (concurrent callers wait for the first).
func (s *Store) entry(key string, fill func(dst string) error) (string, error) {
	final := filepath.Join(s.dir, key)
	for {
		if fi, err := os.Stat(final); err == nil {
			// Recently used entries are kept by gc; an hourly touch is enough for that, and
			// keeps reconciles from writing to the filesystem.
			if now := time.Now(); now.Sub(fi.ModTime()) > time.Hour {
				_ = os.Chtimes(final, now, now)
			}
			return final, nil
		}
		s.mu.Lock()
		wg, busy := s.inflight[key]
		if !busy {
			wg = &sync.WaitGroup{}
			wg.Add(1)
			s.inflight[key] = wg
		}
		s.mu.Unlock()
		if busy {
			wg.Wait()
			if _, err := os.Stat(final); err != nil {
				return "", fmt.Errorf("module source %s: a concurrent fetch failed", key)
			}
			continue
		}
		err := s.fill(key, final, fill)
		s.mu.Lock()
		delete(s.inflight, key)
		s.mu.Unlock()
		wg.Done()
		if err != nil {
			return "", err
		}
	}
}

func (s *Store) fill(key, final string, fill func(dst string) error) error {
	tmp, err := os.MkdirTemp(s.dir, "unpack-")
	if err != nil {
		return fmt.Errorf("creating unpack dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("installing module source %s: %w", key, err)
	}
	s.gc()
	return nil
}

// gc keeps the s.keep most recently used entries.
func (s *Store) gc() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	type aged struct {
		name string
		at   time.Time
	}
	var all []aged
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && e.IsDir() && strings.Contains(e.Name(), "-") && !strings.HasPrefix(e.Name(), "unpack-") {
			all = append(all, aged{e.Name(), fi.ModTime()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at.After(all[j].at) })
	for i := s.keep; i < len(all); i++ {
		_ = os.RemoveAll(filepath.Join(s.dir, all[i].name))
	}
}

func (s *Store) download(ctx context.Context, url string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("artifact URL %q: %w", url, err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("fetching artifact: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching artifact %s: %s", url, resp.Status)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, s.maxArc+1))
	if err != nil {
		return fmt.Errorf("fetching artifact %s: %w", url, err)
	}
	if n > s.maxArc {
		return &ArchiveError{Reason: fmt.Sprintf("artifact is larger than %d bytes", s.maxArc)}
	}
	return nil
}

// parseDigest splits "<algorithm>:<hex>".
func parseDigest(d string) (func() hash.Hash, string, error) {
	algo, hexDigest, ok := strings.Cut(d, ":")
	if !ok || hexDigest == "" {
		return nil, "", fmt.Errorf("artifact digest %q: want <algorithm>:<hex>", d)
	}
	if _, err := hex.DecodeString(hexDigest); err != nil {
		return nil, "", fmt.Errorf("artifact digest %q: %w", d, err)
	}
	switch algo {
	case "sha256":
		return sha256.New, hexDigest, nil
	case "sha384":
		return sha512.New384, hexDigest, nil
	case "sha512":
		return sha512.New, hexDigest, nil
	}
	return nil, "", errors.New("artifact digest " + d + ": unsupported algorithm " + algo)
}
