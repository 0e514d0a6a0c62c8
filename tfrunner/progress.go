/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"bytes"
	"io"
	"regexp"
	"strconv"
	"sync"
	"time"
)

// Progress is a terraform apply or destroy in flight, as its console output reports it.
type Progress struct {
	Operation string // apply or destroy
	// Done counts resource instances terraform finished; Planned those the run changes (from the
	// plan summary terraform prints, or the saved plan's; 0 while unknown).
	Done, Planned int
	Current       string // the instance terraform started last
	StartedAt     time.Time
}

var (
	progressPlan  = regexp.MustCompile(`^Plan: (\d+) to add, (\d+) to change, (\d+) to destroy`)
	progressStart = regexp.MustCompile(`^(.+): (?:Creating|Modifying|Destroying|Still creating|Still modifying|Still destroying)\.\.\.`)
	progressDone  = regexp.MustCompile(`^(.+): (?:Creation|Modifications|Destruction) complete after`)
)

// progressWriter reads terraform's console output (stdout, -no-color) line by line and tells
// report each time the progress changes. Only addresses and counts are kept: the lines' values
// (ids, attributes) are neither stored nor passed on.
type progressWriter struct {
	mu     sync.Mutex
	buf    []byte
	p      Progress
	report func(Progress)
}

func newProgressWriter(op string, planned int, start time.Time, report func(Progress)) *progressWriter {
	return &progressWriter{p: Progress{Operation: op, Planned: planned, StartedAt: start}, report: report}
}

func (w *progressWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if w.line(string(bytes.TrimSpace(w.buf[:i]))) {
			w.report(w.p)
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a line this long is not one of ours
		w.buf = w.buf[:0]
	}
	return len(b), nil
}

// line updates the progress from one line and reports whether it changed.
func (w *progressWriter) line(l string) bool {
	if m := progressPlan.FindStringSubmatch(l); m != nil && w.p.Planned == 0 {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			w.p.Planned += n
		}
		return true
	}
	if m := progressStart.FindStringSubmatch(l); m != nil {
		// "Still creating..." every 10 s changes nothing but lets a long create be reported.
		w.p.Current = m[1]
		return true
	}
	if progressDone.MatchString(l) {
		w.p.Done++
		return true
	}
	return false
}

// progressTick is how often a run's progress is reported while terraform prints nothing: a
// create prints "Still creating..." only every 10 s, and a run's first report must not wait for it.
var progressTick = time.Second

// watchProgress streams the run's console output to ws.OnProgress, when set, and reports the
// progress every progressTick besides, until the returned func is called; no report is made
// after it returns.
func (r *Runner) watchProgress(rn *run, op string, planned int) (stop func()) {
	if rn.ws.OnProgress == nil || rn.tf == nil {
		return func() {}
	}
	w := newProgressWriter(op, planned, r.now(), rn.ws.OnProgress)
	rn.tf.SetStdout(w)
	stopTicks := w.tick(progressTick)
	return func() {
		rn.tf.SetStdout(io.Discard)
		stopTicks()
	}
}

// tick reports w's progress every interval until the returned func is called; no report is
// made after it returns.
func (w *progressWriter) tick(every time.Duration) (stop func()) {
	done, ticked := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				w.mu.Lock()
				w.report(w.p)
				w.mu.Unlock()
			}
		}
	}()
	return func() {
		close(done)
		<-ticked
	}
}

// plannedSteps is how many "complete" lines applying a plan prints: a replacement is a destroy
// and a create.
func plannedSteps(s *PlanSummary) int {
	if s == nil {
		return 0
	}
	return s.Add + s.Change + s.Destroy + 2*s.Replace
}
