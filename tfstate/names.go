/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ObjectRef names the Kubernetes object a workspace belongs to. State, plan and lock objects are
// created in Namespace, labelled with ClusterName/Kind/Name and owned by the object (UID).
type ObjectRef struct {
	APIVersion  string
	Kind        string
	Namespace   string
	Name        string
	UID         string
	ClusterName string
}

const (
	prefix = "custom.infrastructure.cluster.x-k8s.io/"

	// SecretTypeState is the type of the primary state Secret.
	SecretTypeState = prefix + "tfstate"
	// SecretTypeStateChunk, SecretTypeStateBackup and SecretTypePlan type the other objects.
	SecretTypeStateChunk  = prefix + "tfstate-chunk"
	SecretTypeStateBackup = prefix + "tfstate-backup"
	SecretTypePlan        = prefix + "tfplan"
	// SecretTypeOutputs types the Secret holding every output of an object's module.
	SecretTypeOutputs = prefix + "outputs"
	// SecretTypeRun types a runner Job's request and result (job mode).
	SecretTypeRun = prefix + "run"

	LabelClusterName = "cluster.x-k8s.io/cluster-name"
	LabelKind        = prefix + "kind"
	LabelName        = prefix + "name"
	LabelRole        = prefix + "role"
	LabelMove        = "clusterctl.cluster.x-k8s.io/move"

	AnnSerial      = prefix + "serial"
	AnnLineage     = prefix + "lineage"
	AnnInputsHash  = prefix + "applied-inputs-hash"
	AnnPlanApplied = prefix + "applied-plan-digest"
	AnnChunks      = prefix + "chunks"
	AnnSHA256      = prefix + "sha256"
	AnnPlanDigest  = prefix + "plan-digest"
	AnnPlanInputs  = prefix + "plan-inputs-hash"
	AnnPlanSerial  = prefix + "plan-state-serial"
	AnnPlanLineage = prefix + "plan-state-lineage"
	AnnPlanPreview = prefix + "plan-preview-token"
	AnnRunID       = prefix + "run-id"
	AnnCreating    = prefix + "creating"     // run journal: JSON list of addresses (or patterns) terraform may create
	AnnLeaderLease = prefix + "leader-lease" // the lock holder's leader-election Lease (namespace/name)

	// maxBaseLen leaves room for the longest suffix ("-tfstate-backup-<serial>",
	// "-tfstate-<serial>-<i>") within the 253-character object name limit.
	maxBaseLen = 200
)

// BaseName is capc-<kind>-<name>, truncated with a hash suffix when too long.
func BaseName(obj ObjectRef) string {
	b := "capc-" + strings.ToLower(obj.Kind) + "-" + obj.Name
	if len(b) <= maxBaseLen {
		return b
	}
	sum := sha256.Sum256([]byte(b))
	return strings.TrimRight(b[:maxBaseLen-11], "-.") + "-" + hex.EncodeToString(sum[:])[:10]
}

// LabelValue keeps v when it is a valid label value, else a truncated value plus hash.
func LabelValue(v string) string {
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	h := hex.EncodeToString(sum[:])[:10]
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
			return r
		}
		return '-'
	}, v)
	if len(clean) > 52 {
		clean = clean[:52]
	}
	return strings.Trim(clean, "-._") + "-" + h
}

// selector lists everything tfrunner made for obj.
func selector(obj ObjectRef) string {
	return LabelKind + "=" + LabelValue(strings.ToLower(obj.Kind)) + "," + LabelName + "=" + LabelValue(obj.Name)
}

// Labels are the labels of everything the runner (or a runner Job) makes for obj.
func Labels(obj ObjectRef, role string) map[string]string {
	labels := map[string]string{
		LabelKind: LabelValue(strings.ToLower(obj.Kind)),
		LabelName: LabelValue(obj.Name),
		LabelRole: role,
		LabelMove: "",
	}
	if obj.ClusterName != "" {
		labels[LabelClusterName] = LabelValue(obj.ClusterName)
	}
	return labels
}

// ObjectMeta is the metadata of an object the runner (or a runner Job) makes for obj: its
// labels, and the object as owner.
func (s *Store) ObjectMeta(obj ObjectRef, name, role string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: obj.Namespace, Labels: Labels(obj, role),
		Annotations: map[string]string{}, OwnerReferences: s.cfg.OwnerRefs(obj)}
}

// DefaultOwnerRefs is one non-controller ownerRef to the object, when its UID is known.
func DefaultOwnerRefs(obj ObjectRef) []metav1.OwnerReference {
	if obj.UID == "" {
		return nil
	}
	return []metav1.OwnerReference{{APIVersion: obj.APIVersion, Kind: obj.Kind, Name: obj.Name, UID: types.UID(obj.UID)}}
}
