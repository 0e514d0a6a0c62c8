/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package modulesrc

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// entry is one tar entry of a test archive.
type entry struct {
	name, body, link string
	typ              byte
	size             int64 // when the header lies about the body
}

func tarGz(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: e.typ, Linkname: e.link, Size: int64(len(e.body))}
		if e.typ == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUnpackSafeArchive(t *testing.T) {
	dst := t.TempDir()
	arc := tarGz(t, entry{name: "./", typ: tar.TypeDir}, entry{name: "cluster/main.tf", body: "# root"},
		entry{name: "modules/label/main.tf", body: "# label"}, entry{name: "cluster/label.tf", typ: tar.TypeSymlink, link: "../modules/label/main.tf"})
	if err := Unpack(bytes.NewReader(arc), dst, DefaultLimits); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"cluster/main.tf": "# root", "modules/label/main.tf": "# label", "cluster/label.tf": "# label"} {
		if b, err := os.ReadFile(filepath.Join(dst, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v", p, b, err)
		}
	}
}

func TestUnpackRefusesUnsafeArchives(t *testing.T) {
	big := strings.Repeat("x", 2048)
	tests := []struct {
		name    string
		entries []entry
		raw     []byte
		lim     Limits
		want    string
	}{
		{name: "dot-dot path", entries: []entry{{name: "a/../../etc/passwd", body: "x"}}, want: `"a/../../etc/passwd" has a '..' path component`},
		{name: "absolute path", entries: []entry{{name: "/etc/passwd", body: "x"}}, want: "absolute"},
		{name: "absolute symlink", entries: []entry{{name: "l", typ: tar.TypeSymlink, link: "/etc"}}, want: "symlink to an absolute path"},
		{name: "symlink leaving", entries: []entry{{name: "a/l", typ: tar.TypeSymlink, link: "../../x"}}, want: "symlink leaving the tree"},
		// Each link looks confined, but "y" resolves through "l" (the top) to its parent.
		{name: "write through a chained symlink", entries: []entry{
			{name: "l", typ: tar.TypeSymlink, link: "."}, {name: "y", typ: tar.TypeSymlink, link: "l/../capc-escape"},
			{name: "y/owned", body: "x"}}, want: "leaving the tree"},
		{name: "hard link", entries: []entry{{name: "a", body: "x"}, {name: "b", typ: tar.TypeLink, link: "a"}}, want: "hard link"},
		{name: "device", entries: []entry{{name: "dev", typ: tar.TypeChar}}, want: "device"},
		{name: "fifo", entries: []entry{{name: "fifo", typ: tar.TypeFifo}}, want: "FIFO"},
		{name: "size bomb", entries: []entry{{name: "a", body: big}, {name: "b", body: big}}, lim: Limits{MaxFiles: 10, MaxBytes: 3000}, want: "more than the size limit"},
		{name: "file-count bomb", entries: []entry{{name: "a"}, {name: "b"}, {name: "c"}}, lim: Limits{MaxFiles: 2, MaxBytes: 1 << 20}, want: "more than 2 entries"},
		{name: "not gzip", raw: []byte("PK\x03\x04 a zip"), want: "is not gzip"},
		{name: "truncated", raw: tarGzTruncated(t), want: "is not a valid tar.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "dst")
			if err := os.Mkdir(dst, 0o700); err != nil {
				t.Fatal(err)
			}
			arc := tt.raw
			if arc == nil {
				arc = tarGz(t, tt.entries...)
			}
			lim := tt.lim
			if lim == (Limits{}) {
				lim = DefaultLimits
			}
			err := Unpack(bytes.NewReader(arc), dst, lim)
			var ae *ArchiveError
			if !errors.As(err, &ae) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want an ArchiveError containing %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(parent, "capc-escape")); err == nil {
				t.Fatal("the archive wrote outside its directory")
			}
		})
	}
}

func tarGzTruncated(t *testing.T) []byte {
	b := tarGz(t, entry{name: "a", body: strings.Repeat("y", 4096)})
	return b[:len(b)/2]
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// An artifact is downloaded once per digest (concurrent users wait for the first), verified,
// unpacked, and its trees are selected once.
func TestStoreArtifact(t *testing.T) {
	good := tarGz(t, entry{name: "cluster/main.tf", body: "module \"l\" {\n  source = \"../label\"\n}\n"}, entry{name: "label/main.tf", body: "#"})
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		switch r.URL.Path {
		case "/good.tar.gz":
			_, _ = w.Write(good)
		case "/big.tar.gz":
			_, _ = w.Write(bytes.Repeat([]byte("z"), 4096))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	s, err := NewStore(t.TempDir(), StoreOptions{MaxArchiveBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	dirs := make([]string, 8)
	errs := make([]error, 8)
	for i := range dirs {
		wg.Go(func() { dirs[i], errs[i] = s.Artifact(ctx, srv.URL+"/good.tar.gz", sha(good)) })
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Fatalf("artifact %d: %s, %v", i, dirs[i], errs[i])
		}
	}
	if n := gets.Load(); n != 1 {
		t.Errorf("%d downloads of one digest, want 1", n)
	}
	tr, err := s.Tree(dirs[0], "", "cluster")
	if err != nil || tr.Root != "cluster" {
		t.Fatalf("tree: %+v, %v", tr, err)
	}
	if again, _ := s.Tree(dirs[0], "", "cluster"); again.FS != tr.FS {
		t.Error("the tree of an unpacked artifact was selected twice")
	}

	_, err = s.Artifact(ctx, srv.URL+"/good.tar.gz", sha([]byte("something else")))
	var de *DigestError
	if !errors.As(err, &de) {
		t.Errorf("a digest mismatch: %v", err)
	}
	if _, err := s.Artifact(ctx, srv.URL+"/big.tar.gz", sha(bytes.Repeat([]byte("z"), 4096))); err == nil || !strings.Contains(err.Error(), "larger than 2048 bytes") {
		t.Errorf("an oversized artifact: %v", err)
	}
	if _, err := s.Artifact(ctx, srv.URL+"/gone.tar.gz", sha(good)+"0"); err == nil {
		t.Error("a bad digest was accepted")
	}
	if _, err := s.Artifact(ctx, srv.URL+"/gone.tar.gz", "md5:abcd"); err == nil || !strings.Contains(err.Error(), "unsupported algorithm") {
		t.Errorf("md5: %v", err)
	}
}

// The store keeps its most recently used entries only.
func TestStoreKeepsRecentEntries(t *testing.T) {
	dir := t.TempDir()
	s, err := NewStore(dir, StoreOptions{Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"a", "b", "c"} {
		if _, err := s.Archive("", tarGz(t, entry{name: "main.tf", body: body})); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("%d entries kept, want 2", len(entries))
	}
}

// An archive's version (a ConfigMap's UID and resourceVersion) stands for its content: the same
// version is not hashed again; another version is.
func TestStoreArchiveVersion(t *testing.T) {
	s, err := NewStore(t.TempDir(), StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, b := tarGz(t, entry{name: "main.tf", body: "a"}), tarGz(t, entry{name: "main.tf", body: "b"})
	first, err := s.Archive("uid/1", a)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Archive("uid/1", b); again != first {
		t.Errorf("the same version was hashed again: %s, %s", first, again)
	}
	if next, _ := s.Archive("uid/2", b); next == first {
		t.Error("a new version reused the old content")
	}
}
