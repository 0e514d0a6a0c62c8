/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProgressWriter(t *testing.T) {
	out := `
Terraform used the selected providers to generate the following execution plan.
  # fakecloud_instance.vm will be created
Plan: 2 to add, 0 to change, 1 to destroy.
fakecloud_network.net: Destroying... [id=net-1]
fakecloud_network.net: Destruction complete after 1s
fakecloud_network.net: Creating...
fakecloud_instance.vm["a b"]: Creating...
fakecloud_network.net: Creation complete after 2s [id=net-2]
fakecloud_instance.vm["a b"]: Still creating... [10s elapsed]
fakecloud_instance.vm["a b"]: Creation complete after 12s [id=i-secret-id]

Apply complete! Resources: 2 added, 0 changed, 1 destroyed.
`
	var got []Progress
	w := newProgressWriter("apply", 0, time.Unix(100, 0), func(p Progress) { got = append(got, p) })
	// Written in pieces that split lines, as a pipe delivers them.
	for len(out) > 0 {
		n := min(7, len(out))
		if _, err := w.Write([]byte(out[:n])); err != nil {
			t.Fatal(err)
		}
		out = out[n:]
	}
	last := got[len(got)-1]
	if last.Planned != 3 || last.Done != 3 || last.Current != `fakecloud_instance.vm["a b"]` || last.Operation != "apply" {
		t.Errorf("last progress = %+v", last)
	}
	for _, p := range got {
		if strings.Contains(p.Current, "secret") {
			t.Errorf("a value reached the progress: %+v", p)
		}
	}
	if len(got) != 8 { // plan, 3 starts, one "still creating", 3 completions
		t.Errorf("%d reports, want 8: %+v", len(got), got)
	}
}

func TestPlannedSteps(t *testing.T) {
	if n := plannedSteps(&PlanSummary{Add: 1, Change: 2, Destroy: 1, Replace: 2}); n != 8 {
		t.Errorf("plannedSteps = %d, want 8 (a replacement destroys and creates)", n)
	}
}

// Between terraform's lines the progress is reported every tick, so a run's first report does
// not wait for "Still creating..." (every 10 s); nothing is reported once stopped.
func TestProgressTicks(t *testing.T) {
	var mu sync.Mutex
	var got []Progress
	w := newProgressWriter("apply", 2, time.Now(), func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, p)
	})
	stop := w.tick(5 * time.Millisecond)
	_, _ = w.Write([]byte("aws_instance.vm: Creating...\n"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n < 3 {
		t.Fatalf("%d reports in 5 s with a 5 ms tick", n)
	}
	if last := got[n-1]; last.Current != "aws_instance.vm" || last.Planned != 2 {
		t.Fatalf("last report %+v; want ticks carrying the current address", last)
	}
	time.Sleep(30 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n {
		t.Fatalf("%d reports after stop", len(got)-n)
	}
}
