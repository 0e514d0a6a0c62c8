/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package reliability

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// fcResourceType is the terraform resource type (modules/fakecloud) of each fake cloud collection.
var fcResourceType = map[string]string{
	"instances": "fakecloud_instance", "lb_targets": "fakecloud_lb_target",
	"load_balancers": "fakecloud_load_balancer", "security_groups": "fakecloud_security_group",
	"subnets": "fakecloud_subnet", "vpcs": "fakecloud_vpc",
}

// orphanOwner returns the kind and name of the object whose state should track o, from what the
// fakecloud modules set: an instance is named after its CustomMachine, an lb target points at its
// instance, and the cluster resources carry the kubernetes.io/cluster/<cluster> tag (the suites
// name each CustomCluster after its Cluster). all is the fake cloud listing o came from.
func orphanOwner(o fcObject, all []fcObject) (kind, name string) {
	switch o.Kind {
	case "instances":
		return "CustomMachine", o.Name
	case "lb_targets":
		for _, i := range all {
			if i.Kind == "instances" && i.ID == o.InstanceID {
				return "CustomMachine", i.Name
			}
		}
		return "CustomMachine", ""
	}
	for k := range o.Tags {
		if c, ok := strings.CutPrefix(k, "kubernetes.io/cluster/"); ok {
			return "CustomCluster", c
		}
	}
	return "CustomCluster", ""
}

// orphanReports lists the SuspectedOrphan Warning events on kind/name in ns.
func orphanReports(ns, kind, name string) []corev1.Event {
	l := &corev1.EventList{}
	err := suite.k8s.List(bg(), l, client.InNamespace(ns), client.MatchingFields{
		"involvedObject.kind": kind, "involvedObject.name": name, "reason": infrav1.SuspectedOrphanReason,
	})
	if err != nil {
		return nil
	}
	var out []corev1.Event
	for _, e := range l.Items {
		if e.Type == corev1.EventTypeWarning {
			out = append(out, e)
		}
	}
	return out
}

// orphanAudit matches orphans with the provider's reports of them: each orphan must claim a report
// of its own (an address of its resource type in a SuspectedOrphan event on its owner, times the
// event's count), so two orphans of one machine need two reports.
type orphanAudit struct {
	reported, silent int
	claimed          map[string]int // event UID + resource type -> reports claimed
}

// claim finds an unclaimed report of resource type typ on kind/name and claims it.
func (a *orphanAudit) claim(ns, kind, name, typ string) string {
	if a.claimed == nil {
		a.claimed = map[string]int{}
	}
	for _, e := range orphanReports(ns, kind, name) {
		key := string(e.UID) + "/" + typ
		if strings.Count(e.Message, typ+".")*int(max(e.Count, 1)) > a.claimed[key] {
			a.claimed[key]++
			return e.Message
		}
	}
	return ""
}

// check looks for the provider's report of each orphan in orphans (all: the fake cloud listing
// they came from), polling up to wait in all because events are recorded asynchronously. A silent
// orphan is a failure; where names what happened (trial, signal, phase).
func (a *orphanAudit) check(t *testing.T, ns, where string, orphans, all []fcObject, wait time.Duration) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for _, o := range orphans {
		kind, name := orphanOwner(o, all)
		typ := fcResourceType[o.Kind]
		msg := ""
		for name != "" {
			if msg = a.claim(ns, kind, name, typ); msg != "" || time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if msg != "" {
			a.reported++
			t.Logf("%s: orphan %s reported on %s %s: %s", where, o, kind, name, msg)
			continue
		}
		a.silent++
		var seen []string
		for _, e := range orphanReports(ns, kind, name) {
			seen = append(seen, fmt.Sprintf("%dx %q", max(e.Count, 1), e.Message))
		}
		t.Errorf("%s: SILENT ORPHAN %s: no unclaimed %s Warning event on %s %q naming %s within %s (events there: %v)",
			where, o, infrav1.SuspectedOrphanReason, kind, name, typ, wait, seen)
	}
}

// grepLines returns the lines of logs that contain must and any of anyOf.
func grepLines(logs, must string, anyOf ...string) string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if !strings.Contains(l, must) {
			continue
		}
		for _, w := range anyOf {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// countEvents counts the events with reason in ns (each event's count included).
func countEvents(ns, reason string) int {
	l := &corev1.EventList{}
	if err := suite.k8s.List(bg(), l, client.InNamespace(ns), client.MatchingFields{"reason": reason}); err != nil {
		return -1
	}
	n := 0
	for _, e := range l.Items {
		n += int(max(e.Count, 1))
	}
	return n
}

// reportedAddresses counts the resource addresses named in SuspectedOrphan events in ns.
func reportedAddresses(ns string) int {
	l := &corev1.EventList{}
	if err := suite.k8s.List(bg(), l, client.InNamespace(ns), client.MatchingFields{"reason": infrav1.SuspectedOrphanReason}); err != nil {
		return -1
	}
	n := 0
	for _, e := range l.Items {
		// "... was interrupted; it may have created a, b; not in the state ..."
		_, rest, _ := strings.Cut(e.Message, "it may have created ")
		list, _, _ := strings.Cut(rest, "; ")
		n += (strings.Count(list, ", ") + 1) * int(max(e.Count, 1))
	}
	return n
}
