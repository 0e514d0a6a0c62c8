/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package reliability

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/modules"
)

// badCase is one bad input: either the API server refuses it (reject: a substring of its
// message) or the provider reports it (cond/status/reason and a substring of the message).
type badCase struct {
	name    string
	kind    string // cluster or machine
	cluster func(*infrav1.CustomCluster)
	machine func(*corev1.Secret, *infrav1.CustomMachine)
	extra   []client.Object
	reject  string
	cond    string // default Ready
	status  metav1.ConditionStatus
	reason  string
	msg     string
	// bug, when set, names a provider bug: a mismatch is reported with t.Skip instead of failing.
	bug string
}

func tags(n int) map[string]string {
	m := map[string]string{}
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

func vars(js string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(js)} }

func path(p string) *infrav1.ModuleSource { return &infrav1.ModuleSource{Path: p} }

// writeModules lays out the module root the path cases use: broken HCL, a module without the
// contract's outputs, one with a required variable nobody passes, one with a typed extra
// variable, and a symlink that escapes the root.
func writeModules(t *testing.T) string {
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copySimulated := func(dir, kind string) {
		m, err := modules.Get("simulated", kind)
		if err == nil {
			err = os.CopyFS(filepath.Join(root, dir, kind), m)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, kind := range []string{"cluster", "machine"} {
		write("broken/"+kind+"/main.tf", "resource \"terraform_data\" \"x\" {\n  input = \n")
		copySimulated("required-var", kind)
		write("required-var/"+kind+"/extra.tf", "variable \"must_set\" {\n  type = string\n}\n")
		copySimulated("typed", kind)
		write("typed/"+kind+"/extra.tf", "variable \"replicas\" {\n  type    = number\n  default = 1\n}\n")
	}
	// outputs: the simulated machine with addresses a test can push past what the API holds
	// (extra_addresses).
	copySimulated("outputs", "machine")
	outs, err := os.ReadFile(filepath.Join(root, "outputs", "machine", "outputs.tf"))
	if err != nil {
		t.Fatal(err)
	}
	o := string(outs)
	a := strings.Index(o, `output "addresses" {`)
	b := a + strings.Index(o[a:], "\n}\n") + 3
	o = o[:a] + `output "addresses" {
  value = concat([{ type = "InternalIP", address = terraform_data.instance.output.private_ip }],
  [for i in range(var.extra_addresses) : { type = "InternalIP", address = "10.99.0.${i}" }])
}
` + o[b:]
	write("outputs/machine/outputs.tf", o)
	write("outputs/machine/knobs.tf", "variable \"extra_addresses\" {\n  type    = number\n  default = 0\n}\n")
	write("nooutputs/cluster/main.tf", "variable \"cluster_name\" {\n  type = string\n}\n")
	outside := t.TempDir()
	write("../"+filepath.Base(outside)+"/cluster/main.tf", "# outside the root\n")
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	return root
}

func badCases(ns string) []badCase {
	cl := func(name string, f func(*infrav1.CustomCluster), reject string) badCase {
		return badCase{name: name, kind: "cluster", cluster: f, reject: reject}
	}
	mc := func(name string, f func(*infrav1.CustomMachine), reject string) badCase {
		return badCase{name: name, kind: "machine", machine: func(_ *corev1.Secret, m *infrav1.CustomMachine) { f(m) }, reject: reject}
	}
	invalid := func(kind, name string, mod *infrav1.ModuleSource, v string, msg string) badCase {
		c := badCase{name: name, kind: kind, status: metav1.ConditionFalse, reason: infrav1.ModuleInvalidReason, msg: msg}
		if kind == "cluster" {
			c.cluster = func(cc *infrav1.CustomCluster) {
				cc.Spec.Module = mod
				if v != "" {
					cc.Spec.Variables = vars(v)
				}
			}
		} else {
			c.machine = func(_ *corev1.Secret, cm *infrav1.CustomMachine) {
				cm.Spec.Module = mod
				if v != "" {
					cm.Spec.Variables = vars(v)
				}
			}
		}
		return c
	}
	ok := func(kind, name string, fc func(*infrav1.CustomCluster), fm func(*corev1.Secret, *infrav1.CustomMachine)) badCase {
		return badCase{name: name, kind: kind, cluster: fc, machine: fm, status: metav1.ConditionTrue, reason: infrav1.ProvisionedReason}
	}
	injection := `${file("/etc/passwd")}`
	directive := `%{ for x in ["a"] }${x}%{ endfor }`
	return []badCase{
		// CustomCluster: refused by CRD validation.
		cl("vpc cidr prefix 33", func(c *infrav1.CustomCluster) { c.Spec.NetworkSpec.VPC.CIDRBlock = "10.0.0.0/33" }, "cidrBlock must be a valid CIDR such as 10.0.0.0/16"),
		cl("vpc cidr not an address", func(c *infrav1.CustomCluster) { c.Spec.NetworkSpec.VPC.CIDRBlock = "banana" }, "cidrBlock must be a valid CIDR such as 10.0.0.0/16"),
		cl("subnet cidr octet 300", func(c *infrav1.CustomCluster) {
			c.Spec.NetworkSpec.Subnets = []infrav1.SubnetSpec{{CIDRBlock: "300.1.1.0/24"}}
		}, "cidrBlock must be a valid CIDR such as 10.0.1.0/24"),
		cl("ingress cidr without prefix", func(c *infrav1.CustomCluster) {
			c.Spec.NetworkSpec.SecurityGroups = []infrav1.SecurityGroupSpec{{Name: "x", IngressRules: []infrav1.IngressRule{{Protocol: "tcp", FromPort: 1, ToPort: 2, CIDRBlocks: []string{"10.0.0.1"}}}}}
		}, "cidrBlocks entries must be valid CIDRs"),
		cl("region uppercase", func(c *infrav1.CustomCluster) { c.Spec.Region = "US-EAST-1" }, "spec.region in body should match"),
		cl("region empty", func(c *infrav1.CustomCluster) { c.Spec.Region = "" }, "spec.region"),
		cl("region unicode", func(c *infrav1.CustomCluster) { c.Spec.Region = "üs-east-1" }, "spec.region in body should match"),
		cl("region too long", func(c *infrav1.CustomCluster) { c.Spec.Region = strings.Repeat("a", 65) }, "spec.region: Too long"),
		cl("fromPort above toPort", func(c *infrav1.CustomCluster) {
			c.Spec.NetworkSpec.SecurityGroups = []infrav1.SecurityGroupSpec{{Name: "x", IngressRules: []infrav1.IngressRule{{Protocol: "tcp", FromPort: 10, ToPort: 1}}}}
		}, "fromPort must be <= toPort"),
		cl("protocol gre", func(c *infrav1.CustomCluster) {
			c.Spec.NetworkSpec.SecurityGroups = []infrav1.SecurityGroupSpec{{Name: "x", IngressRules: []infrav1.IngressRule{{Protocol: "gre", FromPort: 1, ToPort: 1}}}}
		}, `Unsupported value: "gre"`),
		cl("security group without name", func(c *infrav1.CustomCluster) {
			c.Spec.NetworkSpec.SecurityGroups = []infrav1.SecurityGroupSpec{{Name: ""}}
		}, "spec.networkSpec.securityGroups[0].name"),
		cl("load balancer port 70000", func(c *infrav1.CustomCluster) { c.Spec.LoadBalancerSpec.Port = 70000 }, "spec.loadBalancerSpec.port"),
		cl("module name path traversal", func(c *infrav1.CustomCluster) { c.Spec.Module = &infrav1.ModuleSource{Name: "../../etc"} }, "spec.module.name in body should match"),
		cl("module name and path", func(c *infrav1.CustomCluster) {
			c.Spec.Module = &infrav1.ModuleSource{Name: "simulated", Path: "x"}
		}, "path is a directory under --module-root, in a configMapRef archive or in a sourceRef artifact; not valid with name or source"),
		cl("module version without source", func(c *infrav1.CustomCluster) {
			c.Spec.Module = &infrav1.ModuleSource{Name: "simulated", Version: "1.0.0"}
		}, "version is only valid with source"),
		cl("51 tags", func(c *infrav1.CustomCluster) { c.Spec.AdditionalTags = tags(51) }, "spec.additionalTags: Too many"),
		cl("33 subnets", func(c *infrav1.CustomCluster) {
			c.Spec.NetworkSpec.Subnets = make([]infrav1.SubnetSpec, 33)
		}, "spec.networkSpec.subnets: Too many"),
		cl("subnet outside the vpc", func(c *infrav1.CustomCluster) {
			c.Spec.NetworkSpec.Subnets = []infrav1.SubnetSpec{{CIDRBlock: "10.0.1.0/24"}, {CIDRBlock: "192.168.1.0/24"}}
		}, "every subnets[].cidrBlock must lie inside vpc.cidrBlock"),
		cl("subnet larger than the vpc", func(c *infrav1.CustomCluster) {
			c.Spec.NetworkSpec.Subnets = []infrav1.SubnetSpec{{CIDRBlock: "10.0.0.0/8"}}
		}, "every subnets[].cidrBlock must lie inside vpc.cidrBlock"),
		cl("ipv6 subnet in an ipv4 vpc", func(c *infrav1.CustomCluster) {
			c.Spec.NetworkSpec.Subnets = []infrav1.SubnetSpec{{CIDRBlock: "fd00::/64"}}
		}, "every subnets[].cidrBlock must lie inside vpc.cidrBlock"),
		cl("overlapping subnets", func(c *infrav1.CustomCluster) {
			c.Spec.NetworkSpec.Subnets = []infrav1.SubnetSpec{{CIDRBlock: "10.0.1.0/24"}, {CIDRBlock: "10.0.1.128/25"}}
		}, "subnets[].cidrBlock ranges must not overlap"),
		cl("the same subnet twice", func(c *infrav1.CustomCluster) {
			c.Spec.NetworkSpec.Subnets = []infrav1.SubnetSpec{{CIDRBlock: "10.0.1.0/24", AvailabilityZone: "a"}, {CIDRBlock: "10.0.1.0/24", AvailabilityZone: "b"}}
		}, "subnets[].cidrBlock ranges must not overlap"),
		cl("empty tag key", func(c *infrav1.CustomCluster) { c.Spec.AdditionalTags = map[string]string{"": "x"} }, "tag keys must be 1 to 128 characters"),
		cl("tag key of 129 characters", func(c *infrav1.CustomCluster) {
			c.Spec.AdditionalTags = map[string]string{strings.Repeat("k", 129): "x"}
		}, "tag keys must be 1 to 128 characters"),
		cl("tag value of 257 characters", func(c *infrav1.CustomCluster) {
			c.Spec.AdditionalTags = map[string]string{"k": strings.Repeat("v", 257)}
		}, "tag values must be at most 256 characters"),
		cl("variables not an object", func(c *infrav1.CustomCluster) { c.Spec.Variables = vars(`[1,2]`) }, "spec.variables: Invalid value"),
		cl("object name with underscore", func(c *infrav1.CustomCluster) { c.Name = "Bad_Name" }, "metadata.name"),

		// CustomCluster: reported by the provider.
		invalid("cluster", "unknown module family", &infrav1.ModuleSource{Name: "nosuchfamily"}, "", `module family "nosuchfamily" kind "cluster" not embedded`),
		invalid("cluster", "module path with ..", path("../outside"), "", "must not contain '..'"),
		invalid("cluster", "absolute module path", path("/etc"), "", "must be relative to --module-root"),
		invalid("cluster", "module path symlink escaping the root", path("escape"), "", "escapes --module-root"),
		invalid("cluster", "module path that does not exist", path("doesnotexist"), "", `spec.module.path "doesnotexist": is not a directory inside --module-root`),
		invalid("cluster", "broken module HCL", path("broken"), "", "does not parse"),
		invalid("cluster", "module without contract outputs", path("nooutputs"), "", `module fails the contract check (1 problem(s)): output "control_plane_endpoint": is missing; the cluster contract requires it`),
		invalid("cluster", "missing required module variable", path("required-var"), "", `variable "must_set": is required (no default) but neither the cluster contract nor spec.variables provides it`),
		invalid("cluster", "extra variable the module lacks", nil, `{"nosuch": 1}`, `spec.variables "nosuch": is not a variable of the module`),
		invalid("cluster", "variable of the wrong type", path("typed"), `{"replicas": "many"}`, `spec.variables "replicas": value of type string cannot be converted to the declared type number`),
		invalid("cluster", "missing module ConfigMap", &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "nosuchcm"}}, "", "reading module ConfigMap "+ns+"/nosuchcm"),
		func() badCase {
			c := invalid("cluster", "empty module ConfigMap", &infrav1.ModuleSource{ConfigMapRef: &infrav1.LocalObjectReference{Name: "emptycm"}}, "", "module ConfigMap "+ns+"/emptycm is empty")
			c.extra = []client.Object{&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "emptycm"}}}
			return c
		}(),
		invalid("cluster", "remote module while disabled", &infrav1.ModuleSource{Source: "git::https://example.invalid/m.git"}, "", "remote modules are disabled; start the manager with --allow-remote-modules"),
		{name: "variable name not an identifier", kind: "cluster", cluster: func(c *infrav1.CustomCluster) { c.Spec.Variables = vars(`{"bad key": 1}`) },
			status: metav1.ConditionFalse, reason: infrav1.InvalidSpecReason, msg: `spec.variables key "bad key" is not a valid terraform variable name`},
		{name: "missing credentials Secret", kind: "cluster", cluster: func(c *infrav1.CustomCluster) {
			c.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: "nosuchcreds"}
		}, status: metav1.ConditionFalse, reason: infrav1.CredentialsNotFoundReason, msg: "reading credentials Secret " + ns + "/nosuchcreds"},
		{name: "contract variable in spec.variables is shown as ignored", kind: "cluster", cluster: func(c *infrav1.CustomCluster) {
			c.Spec.Variables = vars(`{"region": "elsewhere", "cluster_name": "other"}`)
		}, cond: infrav1.ModuleValidCondition, status: metav1.ConditionTrue, reason: infrav1.ModuleWarningsReason,
			msg: `spec.variables "cluster_name": ignored`},
		{name: "credentials key that would configure terraform", kind: "cluster", cluster: func(c *infrav1.CustomCluster) {
			c.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: "tfcreds"}
		}, extra: []client.Object{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tfcreds"},
			Data: map[string][]byte{"TF_CLI_CONFIG_FILE": []byte("/tmp/evil.tfrc"), "CLOUD_TOKEN": []byte("abc123")}}},
			status: metav1.ConditionFalse, reason: infrav1.CredentialsInvalidReason, msg: `key "TF_CLI_CONFIG_FILE" would configure terraform itself`},
		ok("cluster", "HCL interpolation in tags stays literal", func(c *infrav1.CustomCluster) { c.Spec.AdditionalTags = map[string]string{"inject": injection} }, nil),
		ok("cluster", "template directive in tags stays literal", func(c *infrav1.CustomCluster) { c.Spec.AdditionalTags = map[string]string{"inject": directive} }, nil),
		ok("cluster", "unicode tags", func(c *infrav1.CustomCluster) {
			c.Spec.AdditionalTags = map[string]string{"команда": "инфра 🚀", "名前": "値"}
		}, nil),
		ok("cluster", "allow-destroy garbage is not true", func(c *infrav1.CustomCluster) {
			c.Annotations = map[string]string{infrav1.AllowDestroyAnnotation: "yes please"}
		}, nil),
		ok("cluster", "long unicode plan-preview token", func(c *infrav1.CustomCluster) {
			c.Annotations = map[string]string{infrav1.PlanPreviewAnnotation: strings.Repeat("tøken-", 200)}
		}, nil),
		{name: "approval annotation garbage", kind: "cluster", cluster: func(c *infrav1.CustomCluster) {
			c.Annotations = map[string]string{infrav1.ApprovalAnnotation: "manaul"}
		}, status: metav1.ConditionFalse, reason: infrav1.InvalidSpecReason, msg: infrav1.ApprovalAnnotation + ` must be auto or manual, got "manaul"`},
		{name: "approve-plan garbage", kind: "cluster", cluster: func(c *infrav1.CustomCluster) {
			c.Annotations = map[string]string{infrav1.ApprovalAnnotation: "manual", infrav1.ApprovePlanAnnotation: "not-a-digest; rm -rf /"}
		}, cond: infrav1.PlanApprovedCondition, status: metav1.ConditionFalse, reason: infrav1.StalePlanReason, msg: "approve the pending plan instead"},

		// CustomMachine: refused by CRD validation.
		mc("empty instance type", func(m *infrav1.CustomMachine) { m.Spec.InstanceType = "" }, "spec.instanceType"),
		mc("root volume of 4 GiB", func(m *infrav1.CustomMachine) { m.Spec.RootVolume.Size = 4 }, "spec.rootVolume.size"),
		mc("volume type magnetic", func(m *infrav1.CustomMachine) { m.Spec.RootVolume.Type = "magnetic" }, `Unsupported value: "magnetic"`),
		mc("iops 50", func(m *infrav1.CustomMachine) { m.Spec.RootVolume.IOPS = 50 }, "spec.rootVolume.iops"),
		mc("user data over 64 KiB", func(m *infrav1.CustomMachine) { m.Spec.UserData = strings.Repeat("x", 65537) }, "spec.userData: Too long"),
		mc("duplicate security group ids", func(m *infrav1.CustomMachine) { m.Spec.SecurityGroupIDs = []string{"sg-1", "sg-1"} }, "Duplicate value"),
		mc("17 additional volumes", func(m *infrav1.CustomMachine) {
			m.Spec.AdditionalVolumes = make([]infrav1.Volume, 17)
			for i := range m.Spec.AdditionalVolumes {
				m.Spec.AdditionalVolumes[i].Size = 8
			}
		}, "spec.additionalVolumes: Too many"),
		mc("empty tag key", func(m *infrav1.CustomMachine) { m.Spec.Tags = map[string]string{"": "x"} }, "tag keys must be 1 to 128 characters"),
		mc("iops on gp2", func(m *infrav1.CustomMachine) { m.Spec.RootVolume.Type, m.Spec.RootVolume.IOPS = "gp2", 3000 }, "iops can only be set for volume types io1, io2 and gp3"),
		mc("io1 without iops", func(m *infrav1.CustomMachine) { m.Spec.RootVolume.Type, m.Spec.RootVolume.IOPS = "io1", 0 }, "volume types io1 and io2 need iops"),
		mc("additional volume without device name", func(m *infrav1.CustomMachine) {
			m.Spec.AdditionalVolumes = []infrav1.Volume{{Size: 8}}
		}, "every additional volume needs a deviceName"),
		mc("two volumes on one device", func(m *infrav1.CustomMachine) {
			m.Spec.AdditionalVolumes = []infrav1.Volume{{DeviceName: "/dev/sdb", Size: 8}, {DeviceName: "/dev/sdb", Size: 16}}
		}, "additional volumes must have distinct deviceNames"),
		mc("image id of 300 characters", func(m *infrav1.CustomMachine) { m.Spec.ImageID = strings.Repeat("a", 300) }, "spec.imageId: Too long"),

		// CustomMachine: reported by the provider.
		invalid("machine", "unknown module family", &infrav1.ModuleSource{Name: "nosuchfamily"}, "", `module family "nosuchfamily" kind "machine" not embedded`),
		invalid("machine", "module path traversal", path("../../x"), "", "must not contain '..'"),
		invalid("machine", "broken module HCL", path("broken"), "", "does not parse"),
		invalid("machine", "extra variable the module lacks", nil, `{"flavour": "x"}`, `spec.variables "flavour": is not a variable of the module (declared: region, simulated_instance_state)`),
		invalid("machine", "variable of the wrong type", path("typed"), `{"replicas": {"a": 1}}`, `spec.variables "replicas": value of type object({a=number}) cannot be converted to the declared type number`),
		{name: "addresses beyond the API's limit", kind: "machine", machine: func(_ *corev1.Secret, m *infrav1.CustomMachine) {
			m.Spec.Module, m.Spec.Variables = path("outputs"), vars(`{"extra_addresses": 40}`)
		}, status: metav1.ConditionFalse, reason: infrav1.InvalidOutputsReason,
			msg: "output addresses: status.addresses in body should have at most 32 items"},
		{name: "missing credentials Secret", kind: "machine", machine: func(_ *corev1.Secret, m *infrav1.CustomMachine) {
			m.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: "nosuchcreds"}
		}, status: metav1.ConditionFalse, reason: infrav1.CredentialsNotFoundReason, msg: "reading credentials Secret " + ns + "/nosuchcreds"},
		{name: "bootstrap Secret missing", kind: "machine", machine: func(s *corev1.Secret, _ *infrav1.CustomMachine) { s.Name = "" },
			status: metav1.ConditionFalse, reason: infrav1.WaitingForBootstrapDataReason, msg: "not found"},
		{name: "bootstrap Secret without value", kind: "machine", machine: func(s *corev1.Secret, _ *infrav1.CustomMachine) {
			s.Data = map[string][]byte{"format": []byte("cloud-config")}
		}, status: metav1.ConditionFalse, reason: infrav1.WaitingForBootstrapDataReason, msg: "has no 'value' key"},
		ok("machine", "512 KiB of bootstrap data", nil, func(s *corev1.Secret, _ *infrav1.CustomMachine) {
			s.Data["value"] = []byte(strings.Repeat("#cloud-config ünïcødé ${x} %{y}\n", 512*1024/36))
		}),
		ok("machine", "HCL interpolation in tags stays literal", nil, func(_ *corev1.Secret, m *infrav1.CustomMachine) {
			m.Spec.Tags = map[string]string{"inject": injection, "directive": directive}
		}),
		ok("machine", "unicode image id and tags", nil, func(_ *corev1.Secret, m *infrav1.CustomMachine) {
			m.Spec.ImageID = "ami-ünïcødé-🚀"
			m.Spec.Tags = map[string]string{"名前": "値"}
		}),
		ok("machine", "quotes and newlines in image id", nil, func(_ *corev1.Secret, m *infrav1.CustomMachine) {
			m.Spec.ImageID = "ami-1\"\n}\nresource \"x\" \"y\" {"
		}),
		ok("machine", "name of 200 characters", nil, func(_ *corev1.Secret, m *infrav1.CustomMachine) {
			m.Name = "long-" + strings.Repeat("x", 195)
		}),
	}
}

// badInput creates every case at once against one manager (simulated module, no fake cloud)
// and checks each outcome, then that a healthy machine created first kept its state throughout.
func badInput(t *testing.T) {
	ns := newNamespace(t, "badinput")
	logs := &syncBuffer{}
	mgr := startManager(t, managerOpts{PodName: "badinput-manager", Namespace: ns, WorkDir: t.TempDir(), ModuleRoot: writeModules(t), Logs: logs})

	// A healthy cluster and machine: their state must survive everything below.
	base, bcc := newCluster(ns, "base", nil, "")
	bs, bm, bcm := newMachine(ns, "base", "base-0", false, nil, "")
	create(t, bcc, base, bs, bm, bcm)
	waitFor(t, 3*time.Minute, "the healthy cluster and machine", func() (bool, string) { return allProvisioned(ns) })
	get := func(o client.Object) client.Object {
		if err := suite.k8s.Get(bg(), client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	get(bcm)
	before, err := stateSerials(ns)
	if err != nil {
		t.Fatal(err)
	}
	providerID := bcm.Spec.ProviderID

	cases := badCases(ns)
	type created struct {
		c   badCase
		obj client.Object
	}
	var pending []created
	rejected, reported, skipped := 0, 0, 0
	for i, c := range cases {
		name := fmt.Sprintf("bad-%02d", i)
		var obj client.Object
		var objs []client.Object
		objs = append(objs, c.extra...)
		if c.kind == "cluster" {
			cluster, cc := newCluster(ns, name, nil, "")
			if c.cluster != nil {
				c.cluster(cc)
			}
			cluster.Spec.InfrastructureRef.Name = cc.Name
			obj = cc
			objs = append(objs, cc)
			if c.reject == "" {
				objs = append(objs, cluster)
			}
		} else {
			s, m, cm := newMachine(ns, "base", name, false, nil, "")
			if c.machine != nil {
				c.machine(s, cm)
			}
			m.Name = cm.Name
			m.Spec.InfrastructureRef.Name = cm.Name
			obj = cm
			objs = append(objs, cm)
			if c.reject == "" {
				if s.Name != "" {
					m.Spec.Bootstrap.DataSecretName = &s.Name
					objs = append(objs, s)
				} else {
					missing := "nosuch-bootstrap"
					m.Spec.Bootstrap.DataSecretName = &missing
				}
				objs = append(objs, m)
			}
		}
		var cerr error
		for _, o := range objs {
			if cerr = suite.k8s.Create(bg(), o); cerr != nil {
				break
			}
		}
		if c.reject != "" {
			t.Run(c.kind+"/"+c.name, func(t *testing.T) {
				switch {
				case cerr == nil:
					t.Errorf("the API server accepted it; want a rejection mentioning %q", c.reject)
				case !strings.Contains(cerr.Error(), c.reject):
					t.Errorf("rejected with %q; want it to mention %q", cerr, c.reject)
				default:
					rejected++
				}
			})
			continue
		}
		if cerr != nil {
			t.Errorf("%s/%s: creating: %v", c.kind, c.name, cerr)
			continue
		}
		pending = append(pending, created{c, obj})
	}
	for _, p := range pending {
		c := p.c
		t.Run(c.kind+"/"+c.name, func(t *testing.T) {
			typ := c.cond
			if typ == "" {
				typ = infrav1.ReadyCondition
			}
			var last string
			deadline := time.Now().Add(2 * time.Minute) // all cases share the controllers with the other suites
			for {
				o := get(p.obj).(interface {
					GetConditions() []metav1.Condition
				})
				cnd := findCond(o.GetConditions(), typ)
				last = condString(o.GetConditions(), typ)
				if cnd != nil && cnd.Status == c.status && cnd.Reason == c.reason && strings.Contains(cnd.Message, c.msg) {
					reported++
					return
				}
				if time.Now().After(deadline) {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			if c.bug != "" {
				skipped++
				t.Skipf("%s (observed %s)", c.bug, last)
			}
			t.Errorf("want %s=%s/%s with a message containing %q; got %s", typ, c.status, c.reason, c.msg, last)
		})
	}

	// No state lost: the healthy machine kept its providerID and no serial went backwards.
	t.Run("machine/providerID is immutable", func(t *testing.T) {
		get(bcm)
		patch := client.MergeFrom(bcm.DeepCopy())
		bcm.Spec.ProviderID = "custom://elsewhere/i-0"
		err := suite.k8s.Patch(bg(), bcm, patch)
		if err == nil || !strings.Contains(err.Error(), "providerID is immutable once set") {
			t.Errorf("changing providerID: %v; want the immutability rejection", err)
		} else {
			rejected++
		}
	})
	get(bcm)
	if bcm.Spec.ProviderID != providerID || findCond(bcm.Status.Conditions, infrav1.ReadyCondition).Status != metav1.ConditionTrue {
		t.Errorf("the healthy machine changed: providerID %q (was %q), %s", bcm.Spec.ProviderID, providerID, condString(bcm.Status.Conditions, infrav1.ReadyCondition))
	}
	after, err := stateSerials(ns)
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for name, s := range before {
		if after[name] < s {
			lost++
			t.Errorf("state %s: serial %d, was %d (state lost)", name, after[name], s)
		}
	}
	mgr.Stop(t)
	report(t, "badinput", map[string]any{
		"cases": len(cases) + 1, "rejected_by_api_server": rejected, "reported_by_provider": reported,
		"skipped_known_bugs": skipped, "states_lost": lost, "panics": checkNoPanics(t, logs),
	})
}
