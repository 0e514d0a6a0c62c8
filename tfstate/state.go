/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

const (
	// ChunkSize bounds each Secret's share of the gzipped state, well under the 1 MiB object limit.
	ChunkSize   = 512 << 10
	keepBackups = 3
	dataKey     = "state.0"
	maxCASTries = 5
)

// Meta is the part of a terraform state file the runner reads.
type Meta struct {
	Serial    int64                      `json:"serial"`
	Lineage   string                     `json:"lineage"`
	Outputs   map[string]json.RawMessage `json:"outputs"`
	Resources []json.RawMessage          `json:"resources"`
}

func ParseMeta(raw []byte) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, fmt.Errorf("parsing state: %w", err)
	}
	if m.Lineage == "" {
		return m, fmt.Errorf("parsing state: no lineage")
	}
	return m, nil
}

// StoredState is the state currently in the store for one object.
type StoredState struct {
	Raw         []byte // uncompressed state JSON
	Serial      int64
	Lineage     string
	InputsHash  string // inputs hash of the last successful apply ("" while a change is in flight)
	AppliedPlan string // digest of the last applied plan
	sha         string
	sec         *corev1.Secret // the primary Secret as read
}

// Secret is the primary Secret the state was read from.
func (st *StoredState) Secret() *corev1.Secret { return st.sec }

func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func Gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return out, nil
}

// SplitChunks cuts b into pieces of at most size bytes (at least one piece).
func SplitChunks(b []byte, size int) [][]byte {
	var out [][]byte
	for len(b) > size {
		out = append(out, b[:size])
		b = b[size:]
	}
	return append(out, b)
}

func SHA256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func primaryName(obj ObjectRef) string { return BaseName(obj) + "-tfstate" }
func backupName(obj ObjectRef, serial int64) string {
	return fmt.Sprintf("%s-tfstate-backup-%d", BaseName(obj), serial)
}

// chunkName includes a content hash prefix so a chunk of one state version can never overwrite
// a chunk the current primary still points at.
func chunkName(obj ObjectRef, serial int64, sha string, i int) string {
	return fmt.Sprintf("%s-tfstate-%d-%s-%d", BaseName(obj), serial, sha[:8], i)
}

// Get reads the object's state; nil when there is none.
func (s *Store) Get(ctx context.Context, obj ObjectRef) (*StoredState, error) {
	return ReadState(ctx, s.cfg.Kube, obj)
}

// ReadState reads obj's state with kube alone, for tools beside the manager (kubectl-capc); nil
// when there is none. It never writes.
func ReadState(ctx context.Context, kube kubernetes.Interface, obj ObjectRef) (*StoredState, error) {
	sec, err := kube.CoreV1().Secrets(obj.Namespace).Get(ctx, primaryName(obj), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state secret %s/%s: %w", obj.Namespace, primaryName(obj), err)
	}
	return Decode(ctx, kube, obj, sec)
}

// Decode reads the state a primary state Secret (sec) points at: its chunks, checked against its
// checksum.
func Decode(ctx context.Context, kube kubernetes.Interface, obj ObjectRef, sec *corev1.Secret) (*StoredState, error) {
	a := sec.Annotations
	serial, _ := strconv.ParseInt(a[AnnSerial], 10, 64)
	n, err := strconv.Atoi(a[AnnChunks])
	if err != nil || n < 1 {
		return nil, fmt.Errorf("state secret %s: bad chunk count %q", sec.Name, a[AnnChunks])
	}
	gz := append([]byte(nil), sec.Data[dataKey]...)
	for i := 1; i < n; i++ {
		name := chunkName(obj, serial, a[AnnSHA256], i)
		c, err := kube.CoreV1().Secrets(obj.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading state chunk %s: %w", name, err)
		}
		gz = append(gz, c.Data[dataKey]...)
	}
	if got := SHA256Hex(gz); got != a[AnnSHA256] {
		return nil, fmt.Errorf("state secret %s: checksum mismatch (%s != %s)", sec.Name, got, a[AnnSHA256])
	}
	raw, err := Gunzip(gz)
	if err != nil {
		return nil, fmt.Errorf("state secret %s: %w", sec.Name, err)
	}
	return &StoredState{Raw: raw, Serial: serial, Lineage: a[AnnLineage], InputsHash: a[AnnInputsHash],
		AppliedPlan: a[AnnPlanApplied], sha: a[AnnSHA256], sec: sec}, nil
}

// Version is one version to put in the store.
type Version struct {
	Raw         []byte
	InputsHash  string
	AppliedPlan string
	// InRun marks a run's write. Such a write never deletes Secrets: old backups and chunks are
	// collected when the object's next run starts (Store.CollectDue). clusterctl move lists the
	// Secrets to move, then waits for the block-move annotation of a run in flight to go, then
	// copies what it listed: a Secret the finishing run deleted meanwhile would stall the move.
	InRun bool
	// NoBackup skips the backup of the previous primary: a run backs up the state it started
	// from once, not every intermediate serial it pushes.
	NoBackup bool
}

// Primary is what a run last read or wrote as the primary state Secret (Secret nil: none). The
// first compare-and-swap attempt uses it instead of a GET; a conflict falls back to reading.
type Primary struct{ Secret *corev1.Secret }

// Put writes chunks first, then a backup of the previous version, then compare-and-swaps the
// primary Secret; it returns the stored serial and the primary as written. Newer state (same
// lineage, higher serial) or another lineage in the store is never overwritten (a
// *StateConflictError). hint, when known, saves the first attempt's GET.
func (s *Store) Put(ctx context.Context, obj ObjectRef, w Version, hint *Primary) (int64, *corev1.Secret, error) {
	meta, err := ParseMeta(w.Raw)
	if err != nil {
		return 0, nil, err
	}
	gz := Gzip(w.Raw)
	sha := SHA256Hex(gz)
	chunks := SplitChunks(gz, ChunkSize)
	for try := 0; try < maxCASTries; try++ {
		var sec *corev1.Secret
		if try == 0 && hint != nil {
			sec, err = hint.Secret, nil
			if sec == nil {
				err = apierrors.NewNotFound(corev1.Resource("secrets"), primaryName(obj))
			}
		} else {
			sec, err = s.cfg.Kube.CoreV1().Secrets(obj.Namespace).Get(ctx, primaryName(obj), metav1.GetOptions{})
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return 0, nil, fmt.Errorf("reading state secret: %w", err)
		}
		exists := err == nil
		if exists {
			if err := checkWritable(obj, sec, meta); err != nil {
				return 0, nil, err
			}
		}
		if !exists || sec.Annotations[AnnSHA256] != sha {
			if err := s.writeChunks(ctx, obj, meta.Serial, sha, chunks[1:]); err != nil {
				return 0, nil, err
			}
		}
		backedUp := !w.NoBackup && exists && sec.Annotations[AnnSerial] != strconv.FormatInt(meta.Serial, 10)
		if backedUp {
			if err := s.writeBackup(ctx, obj, sec); err != nil {
				return 0, nil, err
			}
		}
		next := s.primarySecret(obj, meta, sha, len(chunks), chunks[0], w)
		var written *corev1.Secret
		if exists {
			next.ResourceVersion = sec.ResourceVersion
			written, err = s.cfg.Kube.CoreV1().Secrets(obj.Namespace).Update(ctx, next, metav1.UpdateOptions{})
		} else {
			written, err = s.cfg.Kube.CoreV1().Secrets(obj.Namespace).Create(ctx, next, metav1.CreateOptions{})
		}
		if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
			continue // re-read and re-check: someone else wrote in between
		}
		if err != nil {
			return 0, nil, fmt.Errorf("writing state secret %s: %w", next.Name, err)
		}
		// Only a new backup or chunks (now or before) can leave something to collect.
		if backedUp || len(chunks) > 1 || exists && sec.Annotations[AnnChunks] != "1" {
			if w.InRun {
				s.gcDue.Store(primaryName(obj), true)
			} else if err := s.gcState(ctx, obj); err != nil {
				s.cfg.Logger.Error(err, "garbage-collecting old state secrets", "object", obj.Name)
			}
		}
		return meta.Serial, written, nil
	}
	return 0, nil, fmt.Errorf("writing state secret %s: too many conflicts", primaryName(obj))
}

func checkWritable(obj ObjectRef, sec *corev1.Secret, meta Meta) error {
	lineage := sec.Annotations[AnnLineage]
	serial, _ := strconv.ParseInt(sec.Annotations[AnnSerial], 10, 64)
	if lineage != "" && (lineage != meta.Lineage || serial > meta.Serial) {
		return &StateConflictError{Object: obj.Namespace + "/" + obj.Name, StoredLineage: lineage,
			StoredSerial: serial, Lineage: meta.Lineage, Serial: meta.Serial}
	}
	return nil
}

func (s *Store) primarySecret(obj ObjectRef, meta Meta, sha string, n int, chunk0 []byte, w Version) *corev1.Secret {
	sec := &corev1.Secret{ObjectMeta: s.ObjectMeta(obj, primaryName(obj), "tfstate"), Type: SecretTypeState}
	sec.Annotations[AnnSerial] = strconv.FormatInt(meta.Serial, 10)
	sec.Annotations[AnnLineage] = meta.Lineage
	sec.Annotations[AnnChunks] = strconv.Itoa(n)
	sec.Annotations[AnnSHA256] = sha
	sec.Annotations[AnnInputsHash] = w.InputsHash
	sec.Annotations[AnnPlanApplied] = w.AppliedPlan
	sec.Data = map[string][]byte{dataKey: chunk0}
	return sec
}

func (s *Store) writeChunks(ctx context.Context, obj ObjectRef, serial int64, sha string, chunks [][]byte) error {
	for i, c := range chunks {
		sec := &corev1.Secret{ObjectMeta: s.ObjectMeta(obj, chunkName(obj, serial, sha, i+1), "tfstate-chunk"),
			Type: SecretTypeStateChunk, Data: map[string][]byte{dataKey: c}}
		sec.Annotations[AnnSerial] = strconv.FormatInt(serial, 10)
		sec.Annotations[AnnSHA256] = sha
		if err := s.createOrReplace(ctx, sec); err != nil {
			return fmt.Errorf("writing state chunk %s: %w", sec.Name, err)
		}
	}
	return nil
}

// writeBackup copies the current primary (its chunk 0 and annotations; its chunk Secrets are kept
// by gcState while the backup exists).
func (s *Store) writeBackup(ctx context.Context, obj ObjectRef, cur *corev1.Secret) error {
	serial, _ := strconv.ParseInt(cur.Annotations[AnnSerial], 10, 64)
	b := &corev1.Secret{ObjectMeta: s.ObjectMeta(obj, backupName(obj, serial), "tfstate-backup"),
		Type: SecretTypeStateBackup, Data: cur.Data}
	for _, k := range []string{AnnSerial, AnnLineage, AnnChunks, AnnSHA256, AnnInputsHash} {
		b.Annotations[k] = cur.Annotations[k]
	}
	if err := s.createOrReplace(ctx, b); err != nil {
		return fmt.Errorf("writing state backup %s: %w", b.Name, err)
	}
	return nil
}

func (s *Store) createOrReplace(ctx context.Context, sec *corev1.Secret) error {
	return CreateOrReplace(ctx, s.cfg.Kube, sec)
}

// CreateOrReplace writes s whether or not a Secret of its name exists.
func CreateOrReplace(ctx context.Context, kube kubernetes.Interface, s *corev1.Secret) error {
	c := kube.CoreV1().Secrets(s.Namespace)
	_, err := c.Create(ctx, s, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur, err := c.Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	s.ResourceVersion = cur.ResourceVersion
	_, err = c.Update(ctx, s, metav1.UpdateOptions{})
	return err
}

// CollectDue collects old backups and chunks that runs' writes left (Version.InRun), if any.
func (s *Store) CollectDue(ctx context.Context, obj ObjectRef) {
	if _, due := s.gcDue.LoadAndDelete(primaryName(obj)); due {
		if err := s.gcState(ctx, obj); err != nil {
			s.cfg.Logger.Error(err, "garbage-collecting old state secrets", "object", obj.Name)
		}
	}
}

// gcState keeps the newest keepBackups backups and the chunk Secrets that the primary or a kept
// backup references; everything else of role tfstate-chunk/backup goes.
func (s *Store) gcState(ctx context.Context, obj ObjectRef) error {
	c := s.cfg.Kube.CoreV1().Secrets(obj.Namespace)
	list, err := c.List(ctx, metav1.ListOptions{LabelSelector: selector(obj)})
	if err != nil {
		return fmt.Errorf("listing state secrets: %w", err)
	}
	var backups, chunks []corev1.Secret
	live := map[string]bool{}
	primarySerial := int64(-1)
	for _, sec := range list.Items {
		switch sec.Labels[LabelRole] {
		case "tfstate":
			live[sec.Annotations[AnnSerial]+"/"+sec.Annotations[AnnSHA256]] = true
			primarySerial, _ = strconv.ParseInt(sec.Annotations[AnnSerial], 10, 64)
		case "tfstate-backup":
			backups = append(backups, sec)
		case "tfstate-chunk":
			chunks = append(chunks, sec)
		}
	}
	serialOf := func(sec corev1.Secret) int64 { n, _ := strconv.ParseInt(sec.Annotations[AnnSerial], 10, 64); return n }
	sort.Slice(backups, func(i, j int) bool { return serialOf(backups[i]) > serialOf(backups[j]) })
	var del []string
	for i, b := range backups {
		if i < keepBackups {
			live[b.Annotations[AnnSerial]+"/"+b.Annotations[AnnSHA256]] = true
		} else {
			del = append(del, b.Name)
		}
	}
	for _, sec := range chunks {
		// Chunks of a serial the primary has not reached yet (or of its serial with other
		// content) may belong to a write in flight: its chunks go first, then the primary.
		// Deleting them would leave that primary pointing at missing chunks; they are
		// collected once the primary has moved past their serial.
		if !live[sec.Annotations[AnnSerial]+"/"+sec.Annotations[AnnSHA256]] && serialOf(sec) < primarySerial {
			del = append(del, sec.Name)
		}
	}
	for _, name := range del {
		if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s: %w", name, err)
		}
	}
	return nil
}

// SetApplied records the inputs hash (and plan digest) of a converged run on the primary Secret.
func (s *Store) SetApplied(ctx context.Context, obj ObjectRef, hash, planDigest string) error {
	c := s.cfg.Kube.CoreV1().Secrets(obj.Namespace)
	for try := 0; try < maxCASTries; try++ {
		sec, err := c.Get(ctx, primaryName(obj), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil // nothing applied yet; the next reconcile plans again
		}
		if err != nil {
			return fmt.Errorf("reading state secret: %w", err)
		}
		if sec.Annotations == nil {
			sec.Annotations = map[string]string{}
		}
		sec.Annotations[AnnInputsHash] = hash
		sec.Annotations[AnnPlanApplied] = planDigest
		_, err = c.Update(ctx, sec, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("recording applied inputs hash: %w", err)
		}
		return nil
	}
	return fmt.Errorf("recording applied inputs hash: too many conflicts")
}

// Cached reads the primary state Secret from the API server's watch cache (ResourceVersion "0":
// no etcd read; the copy may lag a moment).
func (s *Store) Cached(ctx context.Context, obj ObjectRef) (*corev1.Secret, error) {
	return s.cfg.Kube.CoreV1().Secrets(obj.Namespace).Get(ctx, primaryName(obj), metav1.GetOptions{ResourceVersion: "0"})
}

// DeleteAll deletes the object's state Secrets (and plan Secrets: everything labelled for it),
// the primary last so that a crash midway leaves a readable state or nothing; withLock also
// deletes its lock Lease.
func (s *Store) DeleteAll(ctx context.Context, obj ObjectRef, withLock bool) error {
	c := s.cfg.Kube.CoreV1().Secrets(obj.Namespace)
	list, err := c.List(ctx, metav1.ListOptions{LabelSelector: selector(obj)})
	if err != nil {
		return fmt.Errorf("listing state secrets: %w", err)
	}
	for _, pass := range []bool{false, true} {
		for _, sec := range list.Items {
			if (sec.Name == primaryName(obj)) != pass {
				continue
			}
			if err := c.Delete(ctx, sec.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting %s: %w", sec.Name, err)
			}
		}
	}
	if withLock {
		err := s.cfg.Kube.CoordinationV1().Leases(obj.Namespace).Delete(ctx, leaseName(obj), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting lock lease: %w", err)
		}
	}
	return nil
}
