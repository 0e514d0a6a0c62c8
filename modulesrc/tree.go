/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package modulesrc turns the places a user's module lives (a directory under --module-root, a
// .tar.gz archive in a ConfigMap, a Flux source artifact) into the module tree one terraform run
// needs: the root module and every local module it calls, read into memory so the digest covers
// exactly what runs. Archives are unpacked into a cache keyed by their digest, refusing unsafe
// entries. It does not import controller-runtime.
package modulesrc

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"
	"testing/fstest"

	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/tfmodule"
)

// Limits bound an archive or module tree: a zip bomb or a runaway symlink loop stops here.
type Limits struct {
	// MaxFiles is the number of files and directories.
	MaxFiles int
	// MaxBytes is the total size of the files, uncompressed.
	MaxBytes int64
}

// DefaultLimits fit a repository of modules; a module tree larger than this is not a module.
var DefaultLimits = Limits{MaxFiles: 10000, MaxBytes: 256 << 20}

// Tree is a root module and the local modules it calls, at their paths relative to the deepest
// directory holding them all (so a tree moved as a whole keeps its digest).
type Tree struct {
	FS fs.FS
	// Root is the root module's directory in FS ("." when it is the top).
	Root string
	// Remote lists the tree's module calls of remote sources (terraform init downloads them).
	Remote []modulecheck.RemoteCall
	// stamps identify every directory and file read, taken before reading (Store.Dir).
	stamps []stamp
}

// TreeError lists why a module tree cannot be used (a local source leaving the tree, a symlink
// out of it, a limit): the user must change the module, nothing runs.
type TreeError struct {
	Problems []modulecheck.Problem
}

func (e *TreeError) Error() string {
	return fmt.Sprintf("module tree is not usable (%d problem(s)): %s", len(e.Problems), modulecheck.Join(e.Problems))
}

// skipDir names directories that are never module content.
func skipDir(name string) bool { return name == ".terraform" || name == ".git" }

// Select reads the module tree rooted at root (a slash path in fsys) into memory: every file
// under the root module's directory and under each local module's directory it calls,
// transitively (a module may read its own subdirectories through path.module). fsys should
// refuse symlinks out of it (os.Root.FS does); such a symlink is reported as a problem.
func Select(fsys fs.FS, root string, lim Limits) (Tree, error) {
	root = path.Clean(root)
	if fi, err := fs.Stat(fsys, root); err != nil || !fi.IsDir() {
		return Tree{}, &TreeError{Problems: []modulecheck.Problem{{Item: "root module", Message: fmt.Sprintf("no directory %s", root)}}}
	}
	dirs, remote, problems := modulecheck.LocalModules(fsys, root)
	if len(problems) > 0 {
		return Tree{}, &TreeError{Problems: problems}
	}
	base := commonDir(dirs)
	r := &reader{fsys: fsys, base: base, lim: lim, files: fstest.MapFS{}}
	for _, d := range dirs {
		if err := r.walk(d); err != nil {
			return Tree{}, err
		}
	}
	return Tree{FS: r.files, Root: rel(base, root), Remote: remote, stamps: r.stamps}, nil
}

// RootFor is the root module directory of kind (cluster or machine) at p in fsys: <p>/<kind>
// when that directory exists, else p itself ("" is the top).
func RootFor(fsys fs.FS, p, kind string) string {
	p = path.Clean("./" + p)
	if fi, err := fs.Stat(fsys, path.Join(p, kind)); err == nil && fi.IsDir() {
		return path.Join(p, kind)
	}
	return p
}

// reader copies files of fsys under base into files, at their paths relative to base.
type reader struct {
	fsys   fs.FS
	base   string
	lim    Limits
	files  fstest.MapFS
	count  int
	bytes  int64
	stamps []stamp
}

func (r *reader) walk(dir string) error {
	return fs.WalkDir(r.fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return r.readError(p, err)
		}
		if d.IsDir() {
			if p != dir && skipDir(d.Name()) {
				return fs.SkipDir
			}
			r.stamp(p, d.Info)
			return nil
		}
		r.stamp(p, d.Info)
		if r.count++; r.count > r.lim.MaxFiles {
			return limitError("files", fmt.Sprint(r.lim.MaxFiles))
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return r.symlink(p)
		}
		if !d.Type().IsRegular() {
			return &TreeError{Problems: []modulecheck.Problem{{Item: fmt.Sprintf("file %q", p), Message: "is not a regular file"}}}
		}
		return r.read(p)
	})
}

// symlink follows a link that stays in the tree: a file's content is read at the link's path,
// a directory is walked (the file limit ends a loop).
func (r *reader) symlink(p string) error {
	fi, err := fs.Stat(r.fsys, p)
	if err != nil {
		return r.readError(p, err)
	}
	r.stamps = append(r.stamps, stampFrom(p, true, fi))
	if fi.IsDir() {
		return r.walk(p)
	}
	return r.read(p)
}

func (r *reader) read(p string) error {
	if _, done := r.files[rel(r.base, p)]; done {
		return nil // under two selected directories (a module nested in another)
	}
	b, err := fs.ReadFile(r.fsys, p)
	if err != nil {
		return r.readError(p, err)
	}
	if r.bytes += int64(len(b)); r.bytes > r.lim.MaxBytes {
		return limitError("bytes", fmt.Sprint(r.lim.MaxBytes))
	}
	r.files[rel(r.base, p)] = &fstest.MapFile{Data: b, Mode: 0o644}
	return nil
}

func (r *reader) stamp(p string, info func() (fs.FileInfo, error)) {
	if fi, err := info(); err == nil {
		r.stamps = append(r.stamps, stampFrom(p, false, fi))
	} else {
		r.stamps = append(r.stamps, stamp{path: p}) // never matches: the tree is read again
	}
}

// readError reports a path the confined fsys refused (a symlink out of the tree) as a problem
// of the module; other errors stay errors.
func (r *reader) readError(p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || tfmodule.EscapesRoot(err) {
		return &TreeError{Problems: []modulecheck.Problem{{Item: fmt.Sprintf("file %q", p),
			Message: "is a symlink that leaves the module tree or points nowhere"}}}
	}
	if errors.Is(err, syscall.ELOOP) {
		return &TreeError{Problems: []modulecheck.Problem{{Item: fmt.Sprintf("file %q", p), Message: "is a symlink loop"}}}
	}
	return fmt.Errorf("reading module file %s: %w", p, err)
}

func limitError(what, max string) error {
	return &TreeError{Problems: []modulecheck.Problem{{Item: "module tree", Message: fmt.Sprintf("exceeds %s %s", max, what)}}}
}

// commonDir is the deepest directory containing every dir (slash paths, cleaned).
func commonDir(dirs []string) string {
	base := dirs[0]
	for _, d := range dirs[1:] {
		for base != "." && d != base && !strings.HasPrefix(d, base+"/") {
			base = path.Dir(base)
		}
	}
	return base
}

// rel is p relative to base (both cleaned slash paths, p inside base).
func rel(base, p string) string {
	if base == "." {
		return p
	}
	if p == base {
		return "."
	}
	return strings.TrimPrefix(p, base+"/")
}
