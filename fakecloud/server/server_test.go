/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/company/cluster-api-provider-custom/fakecloud/client"
	"github.com/company/cluster-api-provider-custom/fakecloud/server"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func start(t *testing.T, opts server.Options) (*server.Server, *client.Client) {
	t.Helper()
	s, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// No retries: tests look at every answer.
	return s, &client.Client{Endpoint: u, Token: opts.Token, RetryTimeout: time.Nanosecond}
}

func mustDo(t *testing.T, c *client.Client, method, path string, body any) map[string]any {
	t.Helper()
	out, err := c.Do(ctx, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func apiErr(t *testing.T, err error, status int, code string) *client.APIError {
	t.Helper()
	var ae *client.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want HTTP %d %s, got %v", status, code, err)
	}
	if ae.Status != status || (code != "" && ae.Code != code) {
		t.Fatalf("want HTTP %d %s, got %v", status, code, err)
	}
	return ae
}

var ctx = context.Background()

// network creates a vpc and a subnet and returns their ids.
func network(t *testing.T, c *client.Client) (string, string) {
	t.Helper()
	vpc := mustDo(t, c, "POST", "/v1/vpcs", map[string]any{"name": "v", "cidr_block": "10.0.0.0/16"})
	sub := mustDo(t, c, "POST", "/v1/subnets", map[string]any{"name": "s", "vpc_id": vpc["id"], "cidr_block": "10.0.0.0/24", "availability_zone": "z1"})
	return vpc["id"].(string), sub["id"].(string)
}

func TestCRUD(t *testing.T) {
	s, c := start(t, server.Options{})
	vpcID, subID := network(t, c)
	if !strings.HasPrefix(vpcID, "vpc-") || !strings.HasPrefix(subID, "subnet-") {
		t.Fatalf("ids %s %s", vpcID, subID)
	}
	sg := mustDo(t, c, "POST", "/v1/security_groups", map[string]any{"name": "g", "vpc_id": vpcID,
		"ingress_rules": []any{map[string]any{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr_blocks": []any{"0.0.0.0/0"}}}})
	lb := mustDo(t, c, "POST", "/v1/load_balancers", map[string]any{"name": "api", "scheme": "internal", "type": "network", "port": 6443, "subnet_ids": []any{subID}})
	if !strings.HasPrefix(lb["arn"].(string), "arn:fakecloud:") || !strings.HasSuffix(lb["dns_name"].(string), ".lb.fakecloud.local") {
		t.Fatalf("lb computed fields: %v", lb)
	}
	inst := mustDo(t, c, "POST", "/v1/instances", map[string]any{"name": "m1", "instance_type": "t", "image_id": "img", "subnet_id": subID,
		"security_group_ids": []any{sg["id"]}, "user_data": "secret", "tags": map[string]any{"a": "b"}})
	if inst["private_ip"] != "10.0.0.10" || inst["availability_zone"] != "z1" || inst["state"] != "running" {
		t.Fatalf("instance: %v", inst)
	}
	tgt := mustDo(t, c, "POST", "/v1/lb_targets", map[string]any{"load_balancer_arn": lb["arn"], "instance_id": inst["id"], "port": 6443})
	if tgt["load_balancer_id"] != lb["id"] {
		t.Fatalf("target: %v", tgt)
	}

	got := mustDo(t, c, "GET", "/v1/instances/"+inst["id"].(string), nil)
	if got["user_data"] != "secret" || got["name"] != "m1" {
		t.Fatalf("get: %v", got)
	}
	list := mustDo(t, c, "GET", "/v1/instances?name=m1", nil)
	if n := len(list["items"].([]any)); n != 1 {
		t.Fatalf("list by name: %d items", n)
	}
	upd := mustDo(t, c, "PATCH", "/v1/instances/"+inst["id"].(string), map[string]any{"tags": map[string]any{"a": "c"}})
	if upd["tags"].(map[string]any)["a"] != "c" {
		t.Fatalf("update: %v", upd)
	}
	_, err := c.Do(ctx, "PATCH", "/v1/instances/"+inst["id"].(string), map[string]any{"image_id": "other"})
	apiErr(t, err, 400, "ImmutableField")

	// Bad input.
	for name, tc := range map[string]struct {
		path string
		body map[string]any
		code string
	}{
		"missing":      {"/v1/vpcs", map[string]any{"name": "x"}, "MissingParameter"},
		"unknown":      {"/v1/vpcs", map[string]any{"name": "x", "cidr_block": "10.1.0.0/16", "colour": "red"}, "UnknownField"},
		"bad cidr":     {"/v1/vpcs", map[string]any{"name": "x", "cidr_block": "10.1.0.1/16"}, "InvalidParameter"},
		"wrong type":   {"/v1/vpcs", map[string]any{"name": 3, "cidr_block": "10.1.0.0/16"}, "InvalidParameter"},
		"dangling ref": {"/v1/subnets", map[string]any{"name": "x", "vpc_id": "vpc-nope", "cidr_block": "10.0.1.0/24", "availability_zone": "z"}, "InvalidReference"},
		"outside vpc":  {"/v1/subnets", map[string]any{"name": "x", "vpc_id": vpcID, "cidr_block": "10.9.0.0/24", "availability_zone": "z"}, "InvalidSubnet.Range"},
		"bad port":     {"/v1/load_balancers", map[string]any{"name": "x", "scheme": "internal", "type": "network", "port": 70000}, "InvalidParameter"},
	} {
		_, err := c.Do(ctx, "POST", tc.path, tc.body)
		if ae := (*client.APIError)(nil); !errors.As(err, &ae) || ae.Code != tc.code {
			t.Errorf("%s: want %s, got %v", name, tc.code, err)
		}
	}

	// Dependencies: a subnet in use cannot go; deleting an instance deregisters its targets.
	_, err = c.Do(ctx, "DELETE", "/v1/subnets/"+subID, nil)
	if ae := apiErr(t, err, 409, "DependencyViolation"); !strings.Contains(ae.Message, inst["id"].(string)) {
		t.Fatalf("dependency message %q does not name the instance", ae.Message)
	}
	mustDo(t, c, "DELETE", "/v1/instances/"+inst["id"].(string), nil)
	_, err = c.Do(ctx, "GET", "/v1/lb_targets/"+tgt["id"].(string), nil)
	apiErr(t, err, 404, "NotFound")
	_, err = c.Do(ctx, "DELETE", "/v1/instances/"+inst["id"].(string), nil)
	apiErr(t, err, 404, "NotFound")
	for _, p := range []string{"/v1/load_balancers/" + lb["id"].(string), "/v1/security_groups/" + sg["id"].(string), "/v1/subnets/" + subID, "/v1/vpcs/" + vpcID} {
		mustDo(t, c, "DELETE", p, nil)
	}
	if st := s.Stats(); st.Total != 0 || st.Created[server.KindInstance] != 1 || st.Deleted[server.KindLBTarget] != 1 {
		t.Fatalf("stats after cleanup: %+v", st)
	}
}

func TestPendingToRunningAndDuplicates(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	s, c := start(t, server.Options{RunningDelay: 5 * time.Second, Now: clk.Now})
	_, subID := network(t, c)
	body := map[string]any{"name": "dup", "instance_type": "t", "image_id": "img", "subnet_id": subID}
	a := mustDo(t, c, "POST", "/v1/instances", body)
	b := mustDo(t, c, "POST", "/v1/instances", body)
	if a["state"] != "pending" || a["private_ip"] == b["private_ip"] {
		t.Fatalf("new instances: %v %v", a, b)
	}
	clk.Add(4 * time.Second)
	if got := mustDo(t, c, "GET", "/v1/instances/"+a["id"].(string), nil); got["state"] != "pending" {
		t.Fatalf("after 4s: %v", got["state"])
	}
	clk.Add(time.Second)
	if got := mustDo(t, c, "GET", "/v1/instances/"+a["id"].(string), nil); got["state"] != "running" {
		t.Fatalf("after 5s: %v", got["state"])
	}
	// Stats over HTTP, as the suites read them.
	raw := mustDo(t, c, "GET", "/admin/stats", nil)
	b2, _ := json.Marshal(raw)
	var st server.Stats
	_ = json.Unmarshal(b2, &st)
	if st.Counts[server.KindInstance] != 2 || st.DuplicateInstanceNames["dup"] != 2 || st.InstancesByState["running"] != 2 {
		t.Fatalf("stats: %+v", st)
	}
	_ = s
}

func TestStopStart(t *testing.T) {
	_, c := start(t, server.Options{})
	_, subID := network(t, c)
	a := mustDo(t, c, "POST", "/v1/instances", map[string]any{"name": "vm", "instance_type": "t", "image_id": "img", "subnet_id": subID})
	id := a["id"].(string)
	if got := mustDo(t, c, "POST", "/v1/instances/"+id+"/stop", nil); got["state"] != "stopped" {
		t.Fatalf("stop answered %v", got["state"])
	}
	if got := mustDo(t, c, "GET", "/v1/instances/"+id, nil); got["state"] != "stopped" {
		t.Fatalf("after stop: %v", got["state"])
	}
	if got := mustDo(t, c, "POST", "/v1/instances/"+id+"/start", nil); got["state"] != "running" {
		t.Fatalf("start answered %v", got["state"])
	}
	_, err := c.Do(ctx, "POST", "/v1/instances/"+id+"/reboot", nil)
	apiErr(t, err, 404, "UnknownAction")
	_, err = c.Do(ctx, "POST", "/v1/instances/i-missing/stop", nil)
	apiErr(t, err, 404, "NotFound")
}

func TestPersistenceAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	s1, c1 := start(t, server.Options{StatePath: path})
	vpcID, subID := network(t, c1)
	inst := mustDo(t, c1, "POST", "/v1/instances", map[string]any{"name": "m", "instance_type": "t", "image_id": "img", "subnet_id": subID})
	mustDo(t, c1, "PATCH", "/v1/vpcs/"+vpcID, map[string]any{"tags": map[string]any{"k": "v"}})
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2, c2 := start(t, server.Options{StatePath: path})
	got := mustDo(t, c2, "GET", "/v1/instances/"+inst["id"].(string), nil)
	if got["private_ip"] != inst["private_ip"] || got["created_at"] != inst["created_at"] {
		t.Fatalf("instance after restart: %v, before: %v", got, inst)
	}
	if v := mustDo(t, c2, "GET", "/v1/vpcs/"+vpcID, nil); v["tags"].(map[string]any)["k"] != "v" {
		t.Fatalf("vpc update lost: %v", v)
	}
	if st := s2.Stats(); st.Total != 3 {
		t.Fatalf("objects after restart: %+v", st.Counts)
	}
	// References are still enforced after the restart.
	_, err := c2.Do(ctx, "DELETE", "/v1/subnets/"+subID, nil)
	apiErr(t, err, 409, "DependencyViolation")
}

func TestFaults(t *testing.T) {
	s, c := start(t, server.Options{Seed: 1})
	_, subID := network(t, c)
	inst := map[string]any{"name": "m", "instance_type": "t", "image_id": "img", "subnet_id": subID}
	set := func(rules ...server.Rule) {
		t.Helper()
		mustDo(t, c, "POST", "/admin/faults", server.Faults{Rules: rules})
	}

	t.Run("error rate", func(t *testing.T) {
		set(server.Rule{Op: "create:instance", ErrorRate: 1})
		_, err := c.Do(ctx, "POST", "/v1/instances", inst)
		apiErr(t, err, 500, "InternalError")
		if n := s.Stats().Counts[server.KindInstance]; n != 0 {
			t.Fatalf("a failed create left %d instances", n)
		}
		// Other operations are untouched.
		mustDo(t, c, "GET", "/v1/subnets/"+subID, nil)
		// The client retries 5xx within its budget: with a 50% rate it gets through.
		set(server.Rule{Op: "create:instance", ErrorRate: 0.5})
		rc := *c
		rc.RetryTimeout, rc.MinBackoff = 10*time.Second, time.Millisecond
		created := mustDo(t, &rc, "POST", "/v1/instances", inst)
		mustDo(t, c, "DELETE", "/v1/instances/"+created["id"].(string), nil)
	})

	t.Run("latency", func(t *testing.T) {
		set(server.Rule{Op: "get:*", LatencyMS: 300})
		t0 := time.Now()
		mustDo(t, c, "GET", "/v1/subnets/"+subID, nil)
		if d := time.Since(t0); d < 300*time.Millisecond {
			t.Fatalf("get took %s, want >= 300ms", d)
		}
		t0 = time.Now()
		mustDo(t, c, "GET", "/v1/subnets", nil) // list is not get
		if d := time.Since(t0); d > 250*time.Millisecond {
			t.Fatalf("list took %s", d)
		}
	})

	t.Run("quota", func(t *testing.T) {
		one, forbidden := 1, 403
		set(server.Rule{Op: "create:instance", Quota: &one})
		a := mustDo(t, c, "POST", "/v1/instances", inst)
		_, err := c.Do(ctx, "POST", "/v1/instances", inst)
		if ae := apiErr(t, err, 429, "QuotaExceeded"); !strings.Contains(ae.Message, "limit 1, in use 1") || ae.Attempts != 1 {
			t.Fatalf("quota error %+v (quota errors are not retried)", ae)
		}
		set(server.Rule{Op: "create:instance", Quota: &one, QuotaStatus: forbidden})
		_, err = c.Do(ctx, "POST", "/v1/instances", inst)
		apiErr(t, err, 403, "QuotaExceeded")
		mustDo(t, c, "DELETE", "/v1/instances/"+a["id"].(string), nil)
	})

	t.Run("eventual consistency", func(t *testing.T) {
		set(server.Rule{Op: "get:instance", ConsistencyMS: 400}, server.Rule{Op: "list:instance", ConsistencyMS: 400})
		a := mustDo(t, c, "POST", "/v1/instances", inst)
		_, err := c.Do(ctx, "GET", "/v1/instances/"+a["id"].(string), nil)
		apiErr(t, err, 404, "NotFound")
		if l := mustDo(t, c, "GET", "/v1/instances", nil); len(l["items"].([]any)) != 0 {
			t.Fatalf("list shows a young object: %v", l)
		}
		time.Sleep(450 * time.Millisecond)
		mustDo(t, c, "GET", "/v1/instances/"+a["id"].(string), nil)
		mustDo(t, c, "DELETE", "/v1/instances/"+a["id"].(string), nil)
	})

	t.Run("admin", func(t *testing.T) {
		_, err := c.Do(ctx, "POST", "/admin/faults", map[string]any{"rules": []any{map[string]any{"op": "explode:instance"}}})
		apiErr(t, err, 400, "InvalidFaults")
		mustDo(t, c, "DELETE", "/admin/faults", nil)
		f := mustDo(t, c, "GET", "/admin/faults", nil)
		if len(f["rules"].([]any)) != 0 {
			t.Fatalf("faults after DELETE: %v", f)
		}
		st := s.Stats()
		if st.Injected["error"] == 0 || st.Injected["quota"] != 2 || st.Injected["consistency"] == 0 || st.Injected["latency"] == 0 {
			t.Fatalf("injected counts: %v", st.Injected)
		}
	})
}

func TestParseRule(t *testing.T) {
	r, err := server.ParseRule("create:instance,error_rate=0.25,latency=1.5s,quota=3,quota_status=403,consistency=200ms")
	if err != nil || r.Op != "create:instance" || r.ErrorRate != 0.25 || r.LatencyMS != 1500 || *r.Quota != 3 || r.QuotaStatus != 403 || r.ConsistencyMS != 200 {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"create:instance,error_rate=2", "create:nope", "get:*,colour=red", "get:*,latency=soon"} {
		if _, err := server.ParseRule(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "10.0.0.1:0", "127.0.0.2:0", "localhost:0", "example.com:80"} {
		s, _ := server.New(server.Options{})
		if _, err := s.Start(addr); err == nil || !strings.Contains(err.Error(), "loopback") {
			_ = s.Close()
			t.Errorf("%s: want a refusal, got %v", addr, err)
		}
	}
	s, _ := server.New(server.Options{})
	u, err := s.Start("[::1]:0")
	if err != nil {
		t.Logf("::1 unavailable here: %v", err)
	} else {
		_ = s.Close()
		if !strings.HasPrefix(u, "http://[::1]:") {
			t.Fatalf("url %s", u)
		}
	}
}

func TestToken(t *testing.T) {
	_, c := start(t, server.Options{Token: "s3cret"})
	mustDo(t, c, "GET", "/v1/vpcs", nil)
	anon := *c
	anon.Token = ""
	_, err := anon.Do(ctx, "GET", "/v1/vpcs", nil)
	apiErr(t, err, http.StatusUnauthorized, "Unauthorized")
	_, err = anon.Do(ctx, "GET", "/admin/stats", nil)
	apiErr(t, err, http.StatusUnauthorized, "Unauthorized")
}

// A create retried with the client_token of a live object returns that object: no duplicate, no
// overlap conflict for a subnet whose first create's response was lost.
func TestClientTokenMakesCreateIdempotent(t *testing.T) {
	s, c := start(t, server.Options{})
	vpcID, subID := network(t, c)
	sub := map[string]any{"name": "s2", "vpc_id": vpcID, "cidr_block": "10.0.200.0/24", "availability_zone": "a", "client_token": "tok-1"}
	first := mustDo(t, c, "POST", "/v1/subnets", sub)
	again := mustDo(t, c, "POST", "/v1/subnets", sub)
	if again["id"] != first["id"] || again["client_token"] != "tok-1" {
		t.Fatalf("retry created %v, want %v", again["id"], first["id"])
	}
	delete(sub, "client_token") // without a token the same create conflicts, as in a real cloud
	_, err := c.Do(ctx, "POST", "/v1/subnets", sub)
	apiErr(t, err, 409, "InvalidSubnet.Conflict")
	inst := map[string]any{"name": "m", "instance_type": "t", "image_id": "img", "subnet_id": subID, "client_token": "tok-2"}
	a, b := mustDo(t, c, "POST", "/v1/instances", inst), mustDo(t, c, "POST", "/v1/instances", inst)
	st := s.Stats()
	if a["id"] != b["id"] || st.Counts[server.KindInstance] != 1 || st.Replays[server.KindInstance] != 1 || st.Replays[server.KindSubnet] != 1 {
		t.Fatalf("instances %v/%v, stats %+v", a["id"], b["id"], st)
	}
	// Once the object is gone, its token creates a new one.
	mustDo(t, c, "DELETE", "/v1/instances/"+a["id"].(string), nil)
	if n := mustDo(t, c, "POST", "/v1/instances", inst); n["id"] == a["id"] {
		t.Fatal("a deleted object was returned")
	}
}
