/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Node is a real Kubernetes node beside a stack's API server (started with StackOptions.Node):
// containerd and the kubelet, both in a private mount namespace whose /run, /var/lib and /var/log
// are directories under Dir (they hard-code paths there), with their processes and every pod's
// in a cgroup of their own; plus what pods of Jobs and Deployments need from a control plane:
// kube-scheduler and kube-controller-manager's Job, TTL-after-finished, garbage-collector,
// ServiceAccount, root CA publisher, node lifecycle, pod GC, Deployment and ReplicaSet
// controllers. All built by `make tools`; runc and the CNI plugins are Debian's. Stop tears it
// down by PID and cgroup and restores the sysctls the kubelet sets. It needs root and cgroup v1
// (this machine kind's layout), and one node runs on a machine at a time: the sysctls it
// restores are the machine's.
type Node struct {
	Name   string
	IP     string
	Dir    string
	Socket string // containerd's
	Kube   kubernetes.Interface

	env        *envtest.Environment
	cgroup     string // under each cgroup v1 hierarchy
	holder     *exec.Cmd
	containerd *exec.Cmd
	kubelet    *exec.Cmd
	others     []*exec.Cmd // kube-scheduler, kube-controller-manager
	sysctls    map[string]string
}

// kubeletSysctls are the kernel settings the kubelet changes at start (restored by Stop).
var kubeletSysctls = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}

// StartNode starts a node named capc-node for the API server of te (started for a node:
// StartEnv, or a stack with StackOptions.Node) and waits for it to be Ready.
func StartNode(ctx context.Context, te *envtest.Environment, dir string) (n *Node, err error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("a real node needs root")
	}
	if _, err := os.Stat("/usr/bin/runc"); err != nil {
		return nil, fmt.Errorf("a real node needs Debian's runc (apt-get install runc containernetworking-plugins): %w", err)
	}
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	n = &Node{Name: "capc-node", Dir: dir, Socket: filepath.Join(dir, "containerd.sock"),
		cgroup: "capc-node-" + hex.EncodeToString(id), sysctls: map[string]string{}, env: te}
	if n.IP, err = nodeIP(); err != nil {
		return nil, err
	}
	if n.Kube, err = kubernetes.NewForConfig(te.Config); err != nil {
		return nil, err
	}
	for _, s := range kubeletSysctls {
		if b, err := os.ReadFile("/proc/sys/" + s); err == nil {
			n.sysctls[s] = strings.TrimSpace(string(b))
		}
	}
	defer func() {
		if err != nil {
			n.Stop()
			n = nil
		}
	}()
	if err = n.startControlPlane(); err != nil {
		return n, err
	}
	if err = n.startRuntime(); err != nil {
		return n, err
	}
	if err = n.startKubelet(); err != nil {
		return n, err
	}
	return n, n.waitReady(ctx)
}

// startControlPlane starts kube-scheduler and kube-controller-manager with the admin identity.
func (n *Node) startControlPlane() error {
	admin, ca := filepath.Join(n.Dir, "admin.kubeconfig"), filepath.Join(n.Dir, "ca.crt")
	if err := WriteKubeconfig(n.env.Config, admin); err != nil {
		return err
	}
	if err := os.WriteFile(ca, n.env.Config.CAData, 0o644); err != nil {
		return err
	}
	sched, err := n.daemon("kube-scheduler", false, "--kubeconfig="+admin, "--leader-elect=false", "--secure-port=0")
	if err != nil {
		return err
	}
	kcm, err := n.daemon("kube-controller-manager", false, "--kubeconfig="+admin, "--leader-elect=false", "--secure-port=0",
		"--controllers=job,ttl-after-finished,garbagecollector,serviceaccount,root-ca-cert-publisher,nodelifecycle,podgc,deployment,replicaset",
		"--root-ca-file="+ca, "--use-service-account-credentials=false",
		"--flex-volume-plugin-dir="+filepath.Join(n.Dir, "flex"))
	n.others = append(n.others, sched, kcm)
	return err
}

// startRuntime makes the node's cgroups and mount namespace and starts containerd in them, with
// the pause image imported.
func (n *Node) startRuntime() error {
	if err := n.makeCgroups(); err != nil {
		return err
	}
	var mounts []string
	for _, d := range []string{"/run", "/var/lib", "/var/log"} {
		src := filepath.Join(n.Dir, "host", strings.ReplaceAll(strings.Trim(d, "/"), "/", "-"))
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		mounts = append(mounts, fmt.Sprintf("mount --bind %q %q", src, d))
	}
	// The holder keeps the mount namespace; the daemons join it (nsenter) and its cgroup.
	n.holder = exec.Command("unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
		strings.Join(mounts, " && ")+" && echo ready && exec sleep infinity")
	out, err := n.holder.StdoutPipe()
	if err != nil {
		return err
	}
	if err := n.holder.Start(); err != nil {
		return fmt.Errorf("starting the node's mount namespace: %w", err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "ready" {
		return fmt.Errorf("the node's mount namespace was not set up (%q)", line)
	}
	cniDir := filepath.Join(n.Dir, "cni")
	files := map[string]string{
		filepath.Join(n.Dir, "containerd.toml"):   containerdConfig(filepath.Join(n.Dir, "containerd"), n.Socket, cniDir),
		filepath.Join(cniDir, "10-capc.conflist"): cniConfig("capc" + n.cgroup[len(n.cgroup)-8:]),
	}
	if err := writeFiles(files); err != nil {
		return err
	}
	return n.startContainerd()
}

// startContainerd starts containerd in the node's namespace and waits for its socket; the first
// time, it imports the pause image.
func (n *Node) startContainerd() error {
	// A killed containerd leaves its socket: wait for the new one's.
	if err := os.Remove(n.Socket); err != nil && !os.IsNotExist(err) {
		return err
	}
	var err error
	if n.containerd, err = n.daemon("containerd", true, "--config="+filepath.Join(n.Dir, "containerd.toml")); err != nil {
		return err
	}
	if err := waitPath(n.Socket, 30*time.Second); err != nil {
		return fmt.Errorf("containerd: %w\n%s", err, n.LogTail("containerd"))
	}
	pause := filepath.Join(n.Dir, "pause.tar")
	if _, err := os.Stat(pause); err == nil {
		return nil
	}
	if err := pauseImage(n.Dir, pause); err != nil {
		return err
	}
	return n.ImportImage(pause)
}

// ImportImage imports an image archive (OCI or docker) into the node's image store, where the
// kubelet finds it (images of tags other than latest are pulled IfNotPresent: never, here).
func (n *Node) ImportImage(archive string) error {
	out, err := exec.Command(filepath.Join(RepoRoot(), "bin", "ctr"), "--address", n.Socket, "-n", "k8s.io",
		"images", "import", archive).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %w\n%s", archive, err, out)
	}
	return nil
}

// startKubelet starts the kubelet in the node's namespace with a node identity from the API
// server's client CA.
func (n *Node) startKubelet() error {
	u, err := n.env.AddUser(envtest.User{Name: "system:node:" + n.Name, Groups: []string{"system:nodes"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, config := filepath.Join(n.Dir, "kubelet.kubeconfig"), filepath.Join(n.Dir, "kubelet.yaml")
	if err := WriteKubeconfig(u.Config(), kubeconfig); err != nil {
		return err
	}
	ports, err := FreePorts(2)
	if err != nil {
		return err
	}
	text := kubeletConfig(filepath.Join(n.Dir, "kubelet"), n.podLogsDir(), n.Socket, filepath.Join(n.Dir, "ca.crt"), "/"+n.cgroup+"/pods", ports[0], ports[1])
	if err := writeFiles(map[string]string{config: text}); err != nil {
		return err
	}
	n.kubelet, err = n.daemon("kubelet", true, "--config="+config, "--kubeconfig="+kubeconfig,
		"--hostname-override="+n.Name, "--node-ip="+n.IP, "--v=1")
	return err
}

// waitReady waits for the Node to be Ready.
func (n *Node) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		if node, err := n.Kube.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{}); err == nil {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready; kubelet log:\n%s", n.Name, n.LogTail("kubelet"))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// daemon starts bin/name with args, logging to Dir/name.log; inNode runs it in the node's mount
// namespace and its daemons cgroup (so its children, the containerd shims, are found there).
func (n *Node) daemon(name string, inNode bool, args ...string) (*exec.Cmd, error) {
	log, err := os.OpenFile(filepath.Join(n.Dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	bin := filepath.Join(RepoRoot(), "bin", name)
	cmd := exec.Command(bin, args...)
	if inNode {
		procs := filepath.Join("/sys/fs/cgroup/pids", n.cgroup, "daemons", "cgroup.procs")
		cmd = exec.Command("sh", append([]string{"-c", `echo $$ > "$0" && pid=$1 && shift && exec nsenter -t "$pid" -m -- "$@"`, procs,
			strconv.Itoa(n.holder.Process.Pid), bin}, args...)...)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (make tools builds it): %w", name, err)
	}
	return cmd, nil
}

// RestartKubelet stops the kubelet (SIGTERM, as a service manager does) and starts it again.
func (n *Node) RestartKubelet() error {
	stop(n.kubelet, syscall.SIGTERM)
	return n.startKubelet()
}

// KillContainerd kills containerd (SIGKILL); its shims and containers run on. StartContainerd
// starts it again.
func (n *Node) KillContainerd() { stop(n.containerd, syscall.SIGKILL) }

// StartContainerd starts containerd again after KillContainerd.
func (n *Node) StartContainerd() error { return n.startContainerd() }

// Stop kills the node's daemons and every process of its cgroups, removes the cgroups and
// restores the sysctls; kube-scheduler and kube-controller-manager stop too.
func (n *Node) Stop() {
	stop(n.kubelet, syscall.SIGKILL)
	n.killCgroup()
	stop(n.containerd, syscall.SIGKILL)
	stop(n.holder, syscall.SIGKILL)
	for _, c := range n.others {
		stop(c, syscall.SIGKILL)
	}
	n.removeCgroups()
	for s, v := range n.sysctls {
		_ = os.WriteFile("/proc/sys/"+s, []byte(v), 0o644)
	}
}

// stop signals a started command and waits for it.
func stop(c *exec.Cmd, sig syscall.Signal) {
	if c == nil || c.Process == nil {
		return
	}
	_ = c.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = c.Process.Kill()
		<-done
	}
}

func writeFiles(files map[string]string) error {
	for path, text := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func waitPath(path string, timeout time.Duration) error {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%s did not appear in %s", path, timeout)
}

// ContainerLogs lists the log files the kubelet wrote for the containers matching namespace, pod
// and container (each may be a glob pattern, "*" for all).
func (n *Node) ContainerLogs(namespace, pod, container string) []string {
	logs, _ := filepath.Glob(filepath.Join(n.podLogsDir(), namespace+"_"+pod+"_*", container, "*.log"))
	return logs
}

// podLogsDir is where the kubelet writes container logs (its podLogsDir setting).
func (n *Node) podLogsDir() string { return filepath.Join(n.Dir, "kubelet", "pod-logs") }

// LogTail is the end of a daemon's log (containerd, kubelet, kube-scheduler,
// kube-controller-manager).
func (n *Node) LogTail(name string) string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, name+".log"))
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}
