/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package shim stands between the manager and terraform so that nothing terraform starts outlives
// the manager. It imports almost nothing, so the small capc-tfshim binary starts in about a
// millisecond (re-executing the manager costs ~20 ms of package initialisation per process).
package shim

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The shim stands between the manager and terraform so that nothing terraform starts outlives
// the manager: a manager that is killed (or loses its leadership and exits) may have its locks
// taken over at once, which is safe only if its terraform, the providers and any provisioner
// commands are gone. Go runs no code between fork and exec, so the manager re-executes itself
// (Config.Shim) with shimEnv naming terraform; the shim asks the kernel for SIGTERM when its
// parent dies, runs terraform in a process group of its own, forwards SIGINT (graceful stop),
// and kills the whole group on its parent's death and once terraform exits (provisioner
// stragglers).

const (
	execEnv    = "CAPC_TERRAFORM_SHIM_EXEC"
	parentEnv  = "CAPC_TERRAFORM_SHIM_PARENT"
	sandboxEnv = "CAPC_TERRAFORM_SHIM_SANDBOX"
	// graceEnv bounds an interrupt: that long after SIGINT the shim kills terraform's whole
	// process group (providers, provisioner commands) and exits, before whoever started it kills
	// the shim alone (which would leave terraform's children running).
	graceEnv = "CAPC_TERRAFORM_SHIM_GRACE"
)

// Supported reports whether this platform can run the shim.
const Supported = true

// Main runs the shim when the process was started as one (ok); a binary that may serve as
// tfrunner's Config.Shim calls it first thing in main and exits with code.
func Main() (code int, ok bool) {
	exe := os.Getenv(execEnv)
	if exe == "" {
		return 0, false
	}
	parent, _ := strconv.Atoi(os.Getenv(parentEnv))
	policy, sandboxed := os.LookupEnv(sandboxEnv)
	grace, _ := time.ParseDuration(os.Getenv(graceEnv))
	for _, k := range []string{execEnv, parentEnv, sandboxEnv, graceEnv} {
		_ = os.Unsetenv(k)
	}
	runtime.LockOSThread() // Pdeathsig of the child follows the thread that started it
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0); err != nil {
		return 125, true
	}
	if parent != 0 && os.Getppid() != parent {
		return 125, true // the manager died before the request took effect
	}
	if sandboxed {
		if err := sandbox(policy); err != nil {
			os.Stderr.WriteString("terraform sandbox: " + err.Error() + "\n")
			return 125, true
		}
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.Stderr.WriteString("terraform shim: " + err.Error() + "\n")
		return 126, true
	}
	group := -cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var deadline <-chan time.Time
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGINT {
				_ = cmd.Process.Signal(syscall.SIGINT) // terraform stops its providers itself
				if grace > 0 && deadline == nil {
					deadline = time.After(grace)
				}
				continue
			}
			_ = syscall.Kill(group, syscall.SIGKILL)
			<-done
			return 137, true
		case <-deadline:
			_ = syscall.Kill(group, syscall.SIGKILL)
			<-done
			return 137, true
		case err := <-done:
			_ = syscall.Kill(group, syscall.SIGKILL)
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return exit.ExitCode(), true
			}
			if err != nil {
				return 126, true
			}
			return 0, true
		}
	}
}

func sandbox(policy string) error {
	s, err := decodeSandbox(policy)
	if err != nil {
		return err
	}
	return restrictThread(s)
}

// Env is the environment that makes a shim binary run terraform at exe for this process, inside
// sb when it is not nil; an interrupted terraform gets grace (when positive) to stop before its
// process group is killed.
func Env(exe string, sb *Sandbox, grace time.Duration) (map[string]string, error) {
	env := map[string]string{execEnv: exe, parentEnv: strconv.Itoa(os.Getpid())}
	if grace > 0 {
		env[graceEnv] = grace.String()
	}
	if sb != nil {
		v, err := sb.encode()
		if err != nil {
			return nil, err
		}
		env[sandboxEnv] = v
	}
	return env, nil
}
