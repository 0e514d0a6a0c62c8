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

// orphanReport returns the message of a SuspectedOrphan Warning event on kind/name in ns that
// names resource type typ, or "".
func orphanReport(ns, kind, name, typ string) string {
	l := &corev1.EventList{}
	err := suite.k8s.List(bg(), l, client.InNamespace(ns), client.MatchingFields{
		"involvedObject.kind": kind, "involvedObject.name": name, "reason": infrav1.SuspectedOrphanReason,
	})
	if err != nil {
		return ""
	}
	for _, e := range l.Items {
		if e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, typ+".") {
			return e.Message
		}
	}
	return ""
}

// orphanAudit counts orphans the provider reported and those it left silent.
type orphanAudit struct {
	reported, silent int
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
			if msg = orphanReport(ns, kind, name, typ); msg != "" || time.Now().After(deadline) {
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
		t.Errorf("%s: SILENT ORPHAN %s: no %s Warning event on %s %q naming %s within %s",
			where, o, infrav1.SuspectedOrphanReason, kind, name, typ, wait)
	}
}

func (a *orphanAudit) String() string {
	return fmt.Sprintf("%d reported, %d silent", a.reported, a.silent)
}
