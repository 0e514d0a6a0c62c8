/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package modulesrc

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/tfmodule"
)

// stamp identifies what a path was when it was read: a file rewritten, replaced, renamed over
// or chmod-ed, and a directory whose entries changed, all change their ctime (which nobody can
// set) or inode.
type stamp struct {
	path   string // slash path in the tree's fsys
	follow bool   // stat through a symlink
	size   int64
	ino    uint64
	ctime  int64
	mode   fs.FileMode
}

func stampFrom(p string, follow bool, fi fs.FileInfo) stamp {
	s := stamp{path: p, follow: follow, size: fi.Size(), mode: fi.Mode(), ctime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino, s.ctime = st.Ino, st.Ctim.Nano()
	}
	return s
}

// fresh reports whether every stamped path under dir is still what it was.
func fresh(dir string, stamps []stamp) bool {
	for _, s := range stamps {
		stat := os.Lstat
		if s.follow {
			stat = os.Stat
		}
		fi, err := stat(filepath.Join(dir, filepath.FromSlash(s.path)))
		if err != nil || stampFrom(s.path, s.follow, fi) != s {
			return false
		}
	}
	return len(stamps) > 0
}

// Dir returns the module tree of kind at p (see RootFor) in the directory dir (--module-root),
// as ReadDir does. A reconcile of an unchanged tree costs a stat per file and directory: the
// tree and its digest are reused until a stamp changes.
func (s *Store) Dir(dir, p, kind string) (Tree, error) {
	key := "dir\x00" + dir + "\x00" + p + "\x00" + kind
	s.mu.Lock()
	t, ok := s.trees[key]
	s.mu.Unlock()
	if ok && fresh(dir, t.stamps) {
		return t, nil
	}
	t, err := ReadDir(dir, p, kind, s.lim)
	if err != nil {
		return Tree{}, err
	}
	t.FS = tfmodule.NewImmutable(t.FS)
	s.remember(key, t)
	return t, nil
}

// ReadDir reads the module tree of kind at p (see RootFor) in the directory dir through an
// os.Root, so nothing outside dir is read.
func ReadDir(dir, p, kind string, lim Limits) (Tree, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return Tree{}, fmt.Errorf("module root %q: %w", dir, err)
	}
	defer r.Close()
	fsys := r.FS()
	top := path.Clean("./" + p)
	fi, err := fs.Stat(fsys, top) // before RootFor: a kind directory created later changes it
	if err != nil {
		msg := fmt.Sprintf("is not a directory inside --module-root: %v", err)
		if tfmodule.EscapesRoot(err) {
			msg = "escapes --module-root (a symlink out of it)"
		}
		return Tree{}, &TreeError{Problems: []modulecheck.Problem{{Item: fmt.Sprintf("spec.module.path %q", p), Message: msg}}}
	}
	t, err := Select(fsys, RootFor(fsys, p, kind), lim)
	if err != nil {
		return Tree{}, err
	}
	t.stamps = append(t.stamps, stampFrom(top, true, fi))
	return t, nil
}
