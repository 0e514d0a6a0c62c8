/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"context"
	"fmt"
	"os"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Main runs a suite's tests (its TestMain) around what setup starts in a fresh temporary
// directory, removed afterwards. stop, when setup returns one, runs after the tests whatever
// happened (also when setup failed half-way); when a test fails, the last lines of logs (the
// manager's, as the suite's logger writes them) go to stderr. It returns the code for os.Exit.
func Main(m *testing.M, suite string, logs *SyncBuffer, setup func(tmp string) (stop func(), err error)) int {
	tmp, err := os.MkdirTemp("", "capc-"+suite+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	stop, err := setup(tmp)
	if stop != nil {
		defer stop()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the %s suite: %v\n", suite, err)
		return 1
	}
	code := m.Run()
	if code != 0 && logs != nil {
		fmt.Fprintf(os.Stderr, "---- manager logs (last 200 lines) ----\n%s\n", logs.Tail(200))
	}
	return code
}

// StartDirect starts a stack and a client of it that reads from the API server rather than the
// manager's cache; stop stops the stack (nil when it did not start).
func StartDirect(ctx context.Context, o StackOptions) (st *Stack, direct client.Client, stop func(), err error) {
	if st, err = StartStack(ctx, o); err != nil {
		return nil, nil, nil, fmt.Errorf("starting the stack: %w", err)
	}
	stop = func() {
		if err := st.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the stack:", err)
		}
	}
	if direct, err = client.New(st.Env.Config, client.Options{Scheme: st.Scheme}); err != nil {
		return st, nil, stop, fmt.Errorf("a direct client: %w", err)
	}
	return st, direct, stop, nil
}
