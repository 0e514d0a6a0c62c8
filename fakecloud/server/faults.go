/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package server

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Verbs of the operations faults apply to.
const (
	VerbCreate = "create"
	VerbGet    = "get"
	VerbList   = "list"
	VerbUpdate = "update"
	VerbDelete = "delete"
)

// Rule injects faults into the operations it matches. Op is "<verb>:<kind>" (verb one of create,
// get, list, update, delete; kind one of KindNames()); either part may be "*", and "" or "*"
// alone matches everything. Every matching rule applies.
type Rule struct {
	Op string `json:"op"`
	// ErrorRate is the probability (0..1) that a matching request fails with HTTP 500 before
	// anything is changed.
	ErrorRate float64 `json:"error_rate,omitempty"`
	// LatencyMS delays every matching request.
	LatencyMS int `json:"latency_ms,omitempty"`
	// Quota, for create operations, is the number of live objects of the kind beyond which a
	// create is refused with QuotaStatus (429 by default, or 403).
	Quota       *int `json:"quota,omitempty"`
	QuotaStatus int  `json:"quota_status,omitempty"`
	// ConsistencyMS, for get and list operations, hides objects created less than this many
	// milliseconds ago (get answers 404), as an eventually consistent API does.
	ConsistencyMS int `json:"consistency_ms,omitempty"`
}

// Faults is the whole fault configuration; POST /admin/faults replaces it.
type Faults struct {
	Rules []Rule `json:"rules"`
}

// Validate checks the rules.
func (f Faults) Validate() error {
	for i, r := range f.Rules {
		verb, kind := splitOp(r.Op)
		if verb != "*" && verb != VerbCreate && verb != VerbGet && verb != VerbList && verb != VerbUpdate && verb != VerbDelete {
			return fmt.Errorf("rule %d: unknown verb %q in op %q (want create, get, list, update, delete or *)", i, verb, r.Op)
		}
		if kind != "*" && kinds[kind] == nil {
			return fmt.Errorf("rule %d: unknown kind %q in op %q (want one of %v or *)", i, kind, r.Op, KindNames())
		}
		if r.ErrorRate < 0 || r.ErrorRate > 1 {
			return fmt.Errorf("rule %d: error_rate %v must be within 0..1", i, r.ErrorRate)
		}
		if r.LatencyMS < 0 || r.ConsistencyMS < 0 {
			return fmt.Errorf("rule %d: latency_ms and consistency_ms must not be negative", i)
		}
		if r.Quota != nil && *r.Quota < 0 {
			return fmt.Errorf("rule %d: quota must not be negative", i)
		}
		if r.QuotaStatus != 0 && r.QuotaStatus != 429 && r.QuotaStatus != 403 {
			return fmt.Errorf("rule %d: quota_status must be 429 or 403, got %d", i, r.QuotaStatus)
		}
	}
	return nil
}

func splitOp(op string) (verb, kind string) {
	if op == "" || op == "*" {
		return "*", "*"
	}
	verb, kind, ok := strings.Cut(op, ":")
	if !ok {
		return verb, "*"
	}
	return verb, kind
}

func (r Rule) matches(verb, kind string) bool {
	v, k := splitOp(r.Op)
	return (v == "*" || v == verb) && (k == "*" || k == kind)
}

// ParseRule parses the -fault flag form: "OP[,key=value...]" with keys error_rate, latency
// (a duration), quota, quota_status and consistency (a duration), e.g.
// "create:instance,error_rate=0.3,latency=2s" or "get:*,consistency=500ms".
func ParseRule(s string) (Rule, error) {
	parts := strings.Split(s, ",")
	r := Rule{Op: strings.TrimSpace(parts[0])}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			return r, fmt.Errorf("fault %q: %q is not key=value", s, p)
		}
		var err error
		switch k {
		case "error_rate":
			r.ErrorRate, err = strconv.ParseFloat(v, 64)
		case "latency", "consistency":
			var d time.Duration
			d, err = time.ParseDuration(v)
			if k == "latency" {
				r.LatencyMS = int(d / time.Millisecond)
			} else {
				r.ConsistencyMS = int(d / time.Millisecond)
			}
		case "quota":
			var n int
			n, err = strconv.Atoi(v)
			r.Quota = &n
		case "quota_status":
			r.QuotaStatus, err = strconv.Atoi(v)
		default:
			return r, fmt.Errorf("fault %q: unknown key %q (want error_rate, latency, quota, quota_status, consistency)", s, k)
		}
		if err != nil {
			return r, fmt.Errorf("fault %q: %s: %w", s, k, err)
		}
	}
	return r, Faults{Rules: []Rule{r}}.Validate()
}
