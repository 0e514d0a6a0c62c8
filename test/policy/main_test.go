// Package policy checks a platform team's CustomPolicies on the real stack (envtest, CAPI core,
// real terraform, the fakecloud provider): rules that narrow the manager's flags per namespace,
// and conftest's Rego plan policies judging every plan before it is applied.
package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// policyNamespace is the provider's namespace, where plan policy ConfigMaps live.
const policyNamespace = "capc-system"

var (
	ctx   = context.Background()
	c     client.Client // reads go to the API server, not the manager's cache
	cloud *envtestutil.FakeCloud
	logs  = &envtestutil.SyncBuffer{}
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.Level(zapcore.InfoLevel)))
	os.Exit(envtestutil.Main(m, "policy", logs, setup))
}

func setup(tmp string) (func(), error) {
	var err error
	if cloud, err = envtestutil.StartFakeCloud("policy-token"); err != nil {
		return nil, fmt.Errorf("fakecloud: %w", err)
	}
	var stopStack func()
	_, c, stopStack, err = envtestutil.StartDirect(ctx, envtestutil.StackOptions{
		WorkDir:         tmp,
		ProviderMirrors: []string{filepath.Join(envtestutil.RepoRoot(), "bin", "tf-mirror")},
		// The flags allow every provider: the rules below only narrow them.
		Controller: controllers.Options{ClusterConcurrency: 2, MachineConcurrency: 4, ApprovalMode: "auto", PolicyNamespace: policyNamespace},
	})
	return func() {
		if stopStack != nil {
			stopStack()
		}
		cloud.Stop()
	}, err
}
