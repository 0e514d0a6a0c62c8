/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Backup is one kept backup of an object's state (the newest three are kept; see gcState).
type Backup struct {
	Serial    int64
	Lineage   string
	Time      time.Time // when the backup was taken: the state it holds was replaced then
	Size      int       // bytes of state JSON
	Resources int       // resource blocks in it
}

// Backups lists obj's state backups, newest first, with kube alone (tools beside the manager).
func Backups(ctx context.Context, kube kubernetes.Interface, obj ObjectRef) ([]Backup, error) {
	list, err := kube.CoreV1().Secrets(obj.Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector(obj) + "," + LabelRole + "=tfstate-backup"})
	if err != nil {
		return nil, fmt.Errorf("listing state backups: %w", err)
	}
	var out []Backup
	for i := range list.Items {
		sec := &list.Items[i]
		st, err := Decode(ctx, kube, obj, sec)
		if err != nil {
			return nil, err
		}
		m, err := ParseMeta(st.Raw)
		if err != nil {
			return nil, fmt.Errorf("backup %s: %w", sec.Name, err)
		}
		out = append(out, Backup{Serial: st.Serial, Lineage: st.Lineage, Time: sec.CreationTimestamp.Time, Size: len(st.Raw), Resources: len(m.Resources)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Serial > out[j].Serial })
	return out, nil
}

// Restore puts obj's backup of serial back as its current state, under obj's lock: refused
// while a run holds it (or held it and died: its journal must reach the next run first). The
// backup is written as a new serial of the same lineage, through the same compare-and-swap as
// any state write, so the state it replaces is kept as a backup in turn; it is not marked
// applied, so the next run plans against it (a destructive plan still waits for approval in auto
// mode). It returns the new serial once its lock is released (a tool may exit then).
func (s *Store) Restore(ctx context.Context, obj ObjectRef, serial int64) (int64, error) {
	if li, err := ReadLock(ctx, s.cfg.Kube, obj); err != nil {
		return 0, err
	} else if li != nil {
		return 0, &LockedError{Holder: li.Holder, RunID: li.RunID, Since: li.Since, Expires: li.Expires}
	}
	_, lease, stop, err := s.Hold(ctx, obj)
	if err != nil {
		return 0, err
	}
	// The lock is released before Restore returns.
	defer func() { stop(); s.Wait() }()
	// A lock taken over between the read and the hold: its journal must reach a run first.
	if lease.Inherited() != nil {
		return 0, fmt.Errorf("a run's lock was taken over: restore again once the object's next run has reported it")
	}
	name := backupName(obj, serial)
	sec, err := s.cfg.Kube.CoreV1().Secrets(obj.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("%s/%s has no backup of serial %d", obj.Namespace, obj.Name, serial)
	}
	if err != nil {
		return 0, fmt.Errorf("reading state backup %s: %w", name, err)
	}
	backup, err := Decode(ctx, s.cfg.Kube, obj, sec)
	if err != nil {
		return 0, err
	}
	cur, err := s.Get(ctx, obj)
	if err != nil {
		return 0, err
	}
	if cur == nil || cur.Lineage != backup.Lineage {
		return 0, fmt.Errorf("backup serial %d is not of the current state's lineage: refusing to restore it", serial)
	}
	raw, err := withSerial(backup.Raw, cur.Serial+1)
	if err != nil {
		return 0, fmt.Errorf("backup %s: %w", name, err)
	}
	next, _, err := s.Put(ctx, obj, Version{Raw: raw}, nil)
	return next, err
}

// withSerial is a state file with its serial set to serial, everything else kept as it is.
func withSerial(raw []byte, serial int64) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parsing state: %w", err)
	}
	doc["serial"] = json.RawMessage(strconv.FormatInt(serial, 10))
	return json.Marshal(doc)
}
