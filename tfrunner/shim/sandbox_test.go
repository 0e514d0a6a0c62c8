/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package shim

import (
	"reflect"
	"testing"
)

func TestSandboxEncoding(t *testing.T) {
	s := Sandbox{ReadWrite: []string{"/w/ws/ns/cm-a", "/w/tmp/x"}, ReadOnly: []string{"/w/init/d"},
		Files: []string{"/bin/terraform"}, RWFiles: []string{"/dev/null"}, Optional: []string{"/etc/ssl"},
		OptFiles: []string{"/etc/resolv.conf", "/path with spaces"}}
	v, err := s.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSandbox(v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip: got %+v, want %+v", got, s)
	}
	if _, err := (Sandbox{ReadWrite: []string{"/a\nrw /"}}).encode(); err == nil {
		t.Error("a path with a newline must not be encoded (it would grant a second rule)")
	}
	for _, bad := range []string{"rw", "xx /a", "rw "} {
		if _, err := decodeSandbox(bad); err == nil {
			t.Errorf("decoding %q: want an error", bad)
		}
	}
}
