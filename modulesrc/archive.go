/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package modulesrc

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/tfmodule"
)

// ArchiveError says why an archive was refused: nothing of it is used.
type ArchiveError struct {
	Entry, Reason string
}

func (e *ArchiveError) Error() string {
	if e.Entry == "" {
		return "unsafe or invalid archive: " + e.Reason
	}
	return fmt.Sprintf("unsafe or invalid archive: entry %q %s", e.Entry, e.Reason)
}

// Problems presents the refusal like a module check's.
func (e *ArchiveError) Problems() []modulecheck.Problem {
	item := "archive"
	if e.Entry != "" {
		item = fmt.Sprintf("archive entry %q", e.Entry)
	}
	return []modulecheck.Problem{{Item: item, Message: e.Reason}}
}

// Unpack extracts a .tar.gz stream into dst (which must exist and be empty). It refuses
// absolute names, `..` components, symlinks that leave the tree, hard links, devices and
// other special files, and archives over lim; every write goes through an os.Root, so a
// symlink planted by an earlier entry cannot carry a later one out of dst either.
func Unpack(r io.Reader, dst string, lim Limits) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return &ArchiveError{Reason: fmt.Sprintf("is not gzip: %v", err)}
	}
	defer zr.Close()
	root, err := os.OpenRoot(dst)
	if err != nil {
		return fmt.Errorf("opening unpack dir: %w", err)
	}
	defer root.Close()
	tr := tar.NewReader(zr)
	budget := lim.MaxBytes
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &ArchiveError{Reason: fmt.Sprintf("is not a valid tar.gz: %v", err)}
		}
		if n >= lim.MaxFiles {
			return &ArchiveError{Reason: fmt.Sprintf("has more than %d entries", lim.MaxFiles)}
		}
		name, err := entryName(h.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		if err := unpackEntry(root, tr, h, name, &budget); err != nil {
			return err
		}
	}
}

// entryName cleans an entry name, refusing absolute and `..` paths.
func entryName(raw string) (string, error) {
	if strings.HasPrefix(raw, "/") || strings.Contains(raw, `\`) {
		return "", &ArchiveError{Entry: raw, Reason: "has an absolute or non-portable path"}
	}
	for _, part := range strings.Split(raw, "/") {
		if part == ".." {
			return "", &ArchiveError{Entry: raw, Reason: "has a '..' path component"}
		}
	}
	return path.Clean(raw), nil
}

func unpackEntry(root *os.Root, tr *tar.Reader, h *tar.Header, name string, budget *int64) error {
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return unpackError(name, err)
	}
	switch h.Typeflag {
	case tar.TypeDir:
		return unpackError(name, root.MkdirAll(name, 0o755))
	case tar.TypeReg:
		if *budget -= h.Size; *budget < 0 {
			return &ArchiveError{Reason: "unpacks to more than the size limit"}
		}
		f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return unpackError(name, err)
		}
		_, err = io.Copy(f, io.LimitReader(tr, h.Size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return unpackError(name, err)
	case tar.TypeSymlink:
		t := h.Linkname
		if t == "" {
			return &ArchiveError{Entry: name, Reason: "is a symlink without a target"}
		}
		if path.IsAbs(t) {
			return &ArchiveError{Entry: name, Reason: fmt.Sprintf("is a symlink to an absolute path %q", t)}
		}
		if j := path.Join(path.Dir(name), t); j == ".." || strings.HasPrefix(j, "../") {
			return &ArchiveError{Entry: name, Reason: fmt.Sprintf("is a symlink leaving the tree (%q)", t)}
		}
		return unpackError(name, root.Symlink(t, name))
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeLink:
		return &ArchiveError{Entry: name, Reason: "is a hard link (not supported)"}
	default:
		return &ArchiveError{Entry: name, Reason: fmt.Sprintf("is a device, FIFO or other special file (type %q)", h.Typeflag)}
	}
}

// unpackError turns a write the os.Root refused (through a symlink out of the tree) into an
// ArchiveError; other errors are the machine's.
func unpackError(name string, err error) error {
	if err == nil {
		return nil
	}
	if tfmodule.EscapesRoot(err) || errors.Is(err, os.ErrExist) {
		return &ArchiveError{Entry: name, Reason: "is written through a symlink leaving the tree or over another entry"}
	}
	return fmt.Errorf("unpacking %s: %w", name, err)
}
