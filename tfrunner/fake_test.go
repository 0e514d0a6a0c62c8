package tfrunner

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/hashicorp/go-version"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeClock is a settable clock for lock tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

// newFakeRunner returns a runner on the given fake clientset.
func newFakeRunner(t *testing.T, holder string, cs *fake.Clientset, clock *fakeClock) *Runner {
	t.Helper()
	r, err := New(Config{Binary: &Binary{Path: "/bin/false", Version: version.Must(version.NewVersion("1.5.7"))},
		WorkDir: t.TempDir(), Kube: cs, Holder: holder, Logger: testr.New(t), LockTTL: time.Minute, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// newCASClientset is a fake clientset that, like the API server, keeps resourceVersions and rejects
// updates and preconditioned deletes carrying a stale one (the plain fake tracker does neither).
func newCASClientset() *fake.Clientset {
	cs := fake.NewSimpleClientset()
	var rv atomic.Int64
	current := func(gvr schema.GroupVersionResource, ns, name string) metav1.Object {
		cur, err := cs.Tracker().Get(gvr, ns, name)
		if err != nil {
			return nil
		}
		m, _ := meta.Accessor(cur)
		return m
	}
	cs.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// Switch on the verb: CreateAction and UpdateAction are the same interface.
		switch a.GetVerb() {
		case "create":
			m, _ := meta.Accessor(a.(k8stesting.CreateAction).GetObject())
			m.SetResourceVersion(strconv.FormatInt(rv.Add(1), 10))
		case "update":
			act := a.(k8stesting.UpdateAction)
			m, _ := meta.Accessor(act.GetObject())
			if cur := current(act.GetResource(), act.GetNamespace(), m.GetName()); cur != nil &&
				m.GetResourceVersion() != "" && m.GetResourceVersion() != cur.GetResourceVersion() {
				return true, nil, apierrors.NewConflict(act.GetResource().GroupResource(), m.GetName(), nil)
			}
			m.SetResourceVersion(strconv.FormatInt(rv.Add(1), 10))
		case "delete":
			act := a.(k8stesting.DeleteAction)
			pre := act.GetDeleteOptions().Preconditions
			cur := current(act.GetResource(), act.GetNamespace(), act.GetName())
			if pre != nil && pre.ResourceVersion != nil && cur != nil && *pre.ResourceVersion != cur.GetResourceVersion() {
				return true, nil, apierrors.NewConflict(act.GetResource().GroupResource(), act.GetName(), nil)
			}
		}
		return false, nil, nil
	})
	return cs
}
