/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// PauseImage is the node's sandbox image (containerd's pinned sandbox), built by pauseImage.
const PauseImage = "capc-test/pause:1"

// The node's configuration files. What each setting is for is in DESIGN.md §8 ("A real node
// runs here"); every one was needed on this machine kind.

// containerdConfig: state under dir, runc from Debian, cgroupfs, no negative oom_score_adj
// (the node has no CAP_SYS_RESOURCE), the sandbox image pinned (no registry to pull it from).
func containerdConfig(dir, socket, cniConf string) string {
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "/usr/bin/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = %[5]q
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %[6]q
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), socket, socket+".ttrpc", cniConf, PauseImage)
}

// cniConfig is a bridge network the runtime checks for at start; the node's pods use the host
// network (there is no kube-proxy), so it is never set up. bridge is unique per node.
func cniConfig(bridge string) string {
	return fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "capc-test", "plugins": [
  {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.250.0/24"}]]}},
  {"type": "loopback"}]}
`, bridge)
}

// kubeletConfig: cgroupfs under cgroupRoot on cgroup v1, no kernel tuning it has no right to
// (oom_score_adj, iptables chains), webhook authentication and authorization against the API
// server, free ports, image GC and eviction thresholds that keep imported images and pods on a
// busy shared disk.
func kubeletConfig(dir, podLogs, socket, caFile, cgroupRoot string, port, healthz int) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://%[2]s
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
cgroupRoot: %[4]s
oomScoreAdj: 0
makeIPTablesUtilChains: false
address: 127.0.0.1
port: %[5]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[6]d
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[3]s}
authorization: {mode: Webhook}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "10Mi", nodefs.available: "1%%", imagefs.available: "1%%"}
podLogsDir: %[7]s
volumePluginDir: %[1]s/volume-plugins
resolvConf: ""
serializeImagePulls: false
syncFrequency: 10s
fileCheckFrequency: 60s
`, dir, socket, caFile, cgroupRoot, port, healthz, podLogs)
}

// nodeIP is the machine's first non-loopback IPv4 address (the kubelet refuses a loopback one).
func nodeIP() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String(), nil
		}
	}
	return "", fmt.Errorf("no non-loopback IPv4 address for the node")
}

// pauseImage builds test/envtestutil/pause (static) into an image archive at path.
func pauseImage(dir, path string) error {
	bin := filepath.Join(dir, "pause")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./test/envtestutil/pause")
	build.Dir, build.Env = RepoRoot(), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the pause program: %w\n%s", err, out)
	}
	layer, err := fileLayer(bin, "pause")
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf.OS, cf.Architecture, cf.Config.Entrypoint = "linux", runtime.GOARCH, []string{"/pause"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	ref, err := name.NewTag(PauseImage)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, ref, img)
}

// fileLayer is an image layer holding the file at path as /name, executable.
func fileLayer(path, name string) (v1.Layer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.Bytes())), nil })
}

// cgroupRoot is where cgroup v1 hierarchies are mounted on this machine kind.
const cgroupRoot = "/sys/fs/cgroup"

// makeCgroups makes the node's cgroup in every v1 hierarchy with two children: daemons
// (containerd, its shims, the kubelet) and pods (the kubelet's cgroupRoot). cpuset children start
// with no CPUs or memory nodes, so they get their parent's.
func (n *Node) makeCgroups() error {
	hs, err := os.ReadDir(cgroupRoot)
	if err != nil {
		return err
	}
	for _, h := range hs {
		if h.Name() == "unified" {
			continue
		}
		for _, rel := range []string{n.cgroup, n.cgroup + "/daemons", n.cgroup + "/pods"} {
			dir := filepath.Join(cgroupRoot, h.Name(), rel)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("making cgroup %s: %w", dir, err)
			}
			if h.Name() != "cpuset" {
				continue
			}
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, f), b, 0o644)
				}
				if err != nil {
					return fmt.Errorf("setting %s of %s: %w", f, dir, err)
				}
			}
		}
	}
	return nil
}

// killCgroup kills every process in the node's cgroup (daemons, shims, containers) until none
// is left.
func (n *Node) killCgroup() {
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		pids := 0
		_ = filepath.WalkDir(filepath.Join(cgroupRoot, "pids", n.cgroup), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					pids++
				}
			}
			return nil
		})
		if pids == 0 {
			return
		}
	}
}

// removeCgroups removes the node's cgroups, innermost first, in every hierarchy.
func (n *Node) removeCgroups() {
	hs, _ := os.ReadDir(cgroupRoot)
	for _, h := range hs {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(cgroupRoot, h.Name(), n.cgroup), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
}

// PodsCPU is the CPU time the node's pods have used (their cgroup's cpuacct.usage): what the
// runner containers cost, sandboxes included.
func (n *Node) PodsCPU() time.Duration {
	b, err := os.ReadFile(filepath.Join(cgroupRoot, "cpuacct", n.cgroup, "pods", "cpuacct.usage"))
	if err != nil {
		return 0
	}
	ns, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return time.Duration(ns)
}
