/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// FakeCloud is bin/fakecloud (built by `make fakecloud`) running on a free loopback port.
type FakeCloud struct {
	URL   string
	Token string
	cmd   *exec.Cmd
	logs  *SyncBuffer
}

// StartFakeCloud starts bin/fakecloud with a bearer token and extra flags; Stop ends it.
func StartFakeCloud(token string, args ...string) (*FakeCloud, error) {
	f := &FakeCloud{Token: token, logs: &SyncBuffer{}}
	f.cmd = exec.Command(filepath.Join(RepoRoot(), "bin", "fakecloud"), append([]string{"-listen", "127.0.0.1:0", "-token", token}, args...)...)
	f.cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	f.cmd.Stderr = f.logs
	out, err := f.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := f.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting fakecloud: %w", err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				found <- u
			}
		}
	}()
	select {
	case f.URL = <-found:
		return f, nil
	case <-time.After(20 * time.Second):
		f.Stop()
		return nil, fmt.Errorf("fakecloud did not report its address; stderr:\n%s", f.logs.String())
	}
}

// Stop kills the fake cloud and waits for it.
func (f *FakeCloud) Stop() { _ = f.cmd.Process.Kill(); _ = f.cmd.Wait() }

// Do sends one API request (body as JSON when not nil) and decodes a JSON answer into out (when
// not nil); a status of 300 or more is an error carrying the answer.
func (f *FakeCloud) Do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+f.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("fakecloud %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, out)
}

// FakeCloudStats is what the fake cloud's /admin/stats answers: fakecloud/server.Stats as JSON
// (fakecloud is a Go module of its own, which the provider's module does not require).
type FakeCloudStats struct {
	Counts                 map[string]int `json:"counts"`
	Total                  int            `json:"total"`
	DuplicateInstanceNames map[string]int `json:"duplicate_instance_names"`
	InstancesByState       map[string]int `json:"instances_by_state"`
	Requests               map[string]int `json:"requests"`
	Injected               map[string]int `json:"injected"`
	Created                map[string]int `json:"created"`
	Deleted                map[string]int `json:"deleted"`
	Replays                map[string]int `json:"replays"` // creates answered by client_token
}

// Stats reads the fake cloud's counters.
func (f *FakeCloud) Stats() (FakeCloudStats, error) {
	var s FakeCloudStats
	return s, f.Do(http.MethodGet, "/admin/stats", nil, &s)
}

// Instances lists the live instances whose name is name ("" for all).
func (f *FakeCloud) Instances(name string) ([]map[string]any, error) {
	var l struct {
		Items []map[string]any `json:"items"`
	}
	path := "/v1/instances"
	if name != "" {
		path += "?name=" + name
	}
	return l.Items, f.Do(http.MethodGet, path, nil, &l)
}

// FakeCloudCredentialsName names the credentials Secret FakeCloudObjects creates.
const FakeCloudCredentialsName = "fakecloud"

// FakeCloudObjects are a namespace's fake cloud credentials Secret (FakeCloudCredentialsName) and
// a CustomCluster named name on the bundled fakecloud module (region fc-1, a subnet per zone),
// using them; create them with a Cluster of the same name (NewCluster).
func (f *FakeCloud) FakeCloudObjects(ns, name string) (*corev1.Secret, *infrav1.CustomCluster) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: FakeCloudCredentialsName},
		StringData: map[string]string{"FAKECLOUD_ENDPOINT": f.URL, "FAKECLOUD_TOKEN": f.Token, "FAKECLOUD_RETRY_TIMEOUT": "5s"}}
	cc := NewCustomCluster(ns, name)
	cc.Spec.Region = "fc-1"
	for i := range cc.Spec.NetworkSpec.Subnets {
		cc.Spec.NetworkSpec.Subnets[i].AvailabilityZone = fmt.Sprintf("fc-1%c", 'a'+i)
	}
	cc.Spec.Module = &infrav1.ModuleSource{Name: "fakecloud"}
	cc.Spec.CredentialsRef = &infrav1.LocalObjectReference{Name: FakeCloudCredentialsName}
	return s, cc
}

// StartFakeCloudStack starts the fake cloud (with token) and a stack whose runs install its
// provider from bin/tf-mirror (o.ProviderMirrors is set), with a client that reads from the API
// server; stop stops both, and is set whenever something started.
func StartFakeCloudStack(ctx context.Context, token string, o StackOptions) (cloud *FakeCloud, st *Stack, direct client.Client, stop func(), err error) {
	if cloud, err = StartFakeCloud(token); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("fakecloud: %w", err)
	}
	o.ProviderMirrors = []string{filepath.Join(RepoRoot(), "bin", "tf-mirror")}
	st, direct, stopStack, err := StartDirect(ctx, o)
	return cloud, st, direct, func() {
		if stopStack != nil {
			stopStack()
		}
		cloud.Stop()
	}, err
}
