/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package sources

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// walkthroughBlock matches a code block of docs/modules.md tagged `walkthrough` and its language.
var walkthroughBlock = regexp.MustCompile("(?ms)^```(sh|yaml) walkthrough\n(.*?)^```\n")

// The "Bring your own module" walkthrough (docs/modules.md), run verbatim: its shell block writes the
// module tree under --module-root (and packs it), its YAML provisions a cluster from it.
func TestReadmeWalkthrough(t *testing.T) {
	g := NewWithT(t)
	readme, err := os.ReadFile(filepath.Join(envtestutil.RepoRoot(), "docs", "modules.md"))
	g.Expect(err).NotTo(HaveOccurred())
	blocks := walkthroughBlock.FindAllStringSubmatch(string(readme), -1)
	g.Expect(blocks).To(HaveLen(2), "the walkthrough has one sh and one yaml block")

	sh := exec.Command("bash", "-euo", "pipefail", "-c", blocks[0][2])
	sh.Dir = moduleRoot
	out, err := sh.CombinedOutput()
	g.Expect(err).NotTo(HaveOccurred(), "walkthrough shell block: %s", out)
	g.Expect(filepath.Join(moduleRoot, "infra-modules.tar.gz")).To(BeAnExistingFile())

	yamlFile := filepath.Join(t.TempDir(), "walkthrough.yaml")
	g.Expect(os.WriteFile(yamlFile, []byte(blocks[1][2]), 0o644)).To(Succeed())
	objs, err := envtestutil.ReadObjects(yamlFile)
	g.Expect(err).NotTo(HaveOccurred())
	ns := newNamespace(g)
	for _, o := range objs {
		o.SetNamespace(ns)
		g.Expect(stack.Client.Create(ctx, o)).To(Succeed(), "creating %s %s", o.GetKind(), o.GetName())
	}
	cc := &infrav1.CustomCluster{}
	g.Eventually(func(g Gomega) {
		g.Expect(stack.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "team-a"}, cc)).To(Succeed())
		g.Expect(cc.Status.Initialization.Provisioned).To(HaveValue(BeTrue()), "conditions: %v", cc.Status.Conditions)
	}, 2*time.Minute, 250*time.Millisecond).Should(Succeed())
	g.Expect(cc.Spec.ControlPlaneEndpoint.Host).To(Equal("team-a.eu-west-1.example.internal"))
	g.Expect(cc.Status.Terraform.ModuleRevision).To(MatchRegexp(`^infra-modules/teams/a@sha256:[0-9a-f]{12}$`))
	for _, o := range objs {
		g.Expect(client.IgnoreNotFound(stack.Client.Delete(ctx, o))).To(Succeed())
	}
	g.Eventually(func() error { return stack.Client.Get(ctx, client.ObjectKeyFromObject(cc), cc) }, 2*time.Minute, 250*time.Millisecond).
		Should(MatchError(ContainSubstring("not found")))
}
