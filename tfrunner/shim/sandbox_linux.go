/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package shim

import (
	"errors"
	"fmt"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// ABI is the Landlock ABI version of the running kernel (0: no Landlock).
func ABI() int {
	v, err := ll.LandlockGetABIVersion()
	if err != nil {
		return 0
	}
	return v
}

// handled is what a sandboxed terraform is restricted in: every filesystem right of ABI 7 and
// the IPC scopes (signals and abstract unix sockets of processes outside its domain). Network
// access is not restricted: terraform and its providers talk to cloud APIs. BestEffort lowers
// the set to what an older kernel knows; a kernel without Landlock is refused (the manager only
// asks for a sandbox where it found one, or when the operator requires it).
func handled() (landlock.Config, error) {
	c, err := landlock.NewConfig(landlock.V7.HandledAccessFS, landlock.V7.Scoped)
	if err != nil {
		return landlock.Config{}, err
	}
	return c.BestEffort(), nil
}

func (s Sandbox) rules() []landlock.Rule {
	var rules []landlock.Rule
	add := func(r landlock.FSRule, paths []string) {
		if len(paths) > 0 {
			rules = append(rules, r)
		}
	}
	add(landlock.RWDirs(s.ReadWrite...).WithRefer(), s.ReadWrite)
	add(landlock.RODirs(s.ReadOnly...), s.ReadOnly)
	add(landlock.ROFiles(s.Files...), s.Files)
	add(landlock.RWFiles(s.RWFiles...), s.RWFiles)
	add(landlock.RODirs(s.Optional...).IgnoreIfMissing(), s.Optional)
	add(landlock.ROFiles(s.OptFiles...).IgnoreIfMissing(), s.OptFiles)
	return rules
}

// restrictThread puts the calling OS thread (locked by the caller, never unlocked) into a new
// Landlock domain without capabilities; processes it starts inherit both. Go runs no code between fork and exec, so
// the shim restricts itself and then starts terraform from this thread.
func restrictThread(s Sandbox) error {
	cfg, err := handled()
	if err != nil {
		return err
	}
	fd, flags, err := cfg.NewRulesetFD(s.rules()...)
	if err != nil {
		return fmt.Errorf("building the Landlock ruleset: %w", err)
	}
	if fd < 0 {
		return errors.New("this kernel has no Landlock (Linux 5.13 or later with the landlock LSM enabled)")
	}
	defer unix.Close(fd)
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if err := ll.LandlockRestrictSelf(fd, flags); err != nil {
		return fmt.Errorf("landlock_restrict_self: %w", err)
	}
	return dropCapabilities()
}

// dropCapabilities leaves the thread, and so terraform, without any capability. A manager run
// as root (the image runs as 65532, but not every install does) would otherwise hand terraform
// CAP_SYS_PTRACE, with which Landlock lets a process read /proc/<pid>/environ and mem of
// processes outside its domain, and CAP_DAC_OVERRIDE and the like. The bounding set is emptied
// too, or root would regain the full set at exec.
func dropCapabilities() error {
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if errors.Is(err, unix.EPERM) {
			break // no CAP_SETPCAP (not root): exec grants nothing beyond what we drop below
		}
		if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: a capability this kernel lacks
			return fmt.Errorf("dropping capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	var none [2]unix.CapUserData // pid 0: this thread only
	if err := unix.Capset(&unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}, &none[0]); err != nil {
		return fmt.Errorf("dropping capabilities: %w", err)
	}
	return nil
}
