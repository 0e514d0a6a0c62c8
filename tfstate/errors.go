/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"fmt"
	"time"
)

// LockedError is returned when another run holds the object's lock.
type LockedError struct {
	Holder  string
	RunID   string
	Since   time.Time
	Expires time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("locked by %s since %s (run %s, expires %s)",
		e.Holder, e.Since.UTC().Format(time.RFC3339), e.RunID, e.Expires.UTC().Format(time.RFC3339))
}

// StateConflictError is returned when the store holds newer state (same lineage, higher serial) or
// a different lineage than the one being written; the write is refused, never forced.
type StateConflictError struct {
	Object        string
	StoredLineage string
	StoredSerial  int64
	Lineage       string
	Serial        int64
}

func (e *StateConflictError) Error() string {
	return fmt.Sprintf("state conflict for %s: store has lineage %s serial %d, refusing to write lineage %s serial %d",
		e.Object, e.StoredLineage, e.StoredSerial, e.Lineage, e.Serial)
}
