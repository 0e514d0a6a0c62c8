/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// silentErr is terraform-exec's cancelled-run error without a cause: asking its message panics.
type silentErr struct{ cause error }

func (e silentErr) Error() string { return e.cause.Error() }

func TestSpeakable(t *testing.T) {
	if speakable(nil) != nil {
		t.Fatal("nil became an error")
	}
	plain := errors.New("exit status 1")
	if speakable(plain) != plain {
		t.Fatal("an ordinary error was replaced")
	}
	got := speakable(silentErr{})
	if got != errInterrupted || !errors.Is(got, context.Canceled) {
		t.Fatalf("a message-less error: %v", got)
	}
	te := newTerraformError(context.Background(), "apply", got, newRedactor(nil, nil, nil))
	if !errors.Is(te, context.Canceled) || !strings.Contains(te.Error(), "interrupted") {
		t.Fatalf("terraform error: %v", te)
	}
}
