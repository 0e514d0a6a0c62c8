/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package bench

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// APICounter counts the API requests made through configs it wraps, by verb and resource.
type APICounter struct {
	mu sync.Mutex
	n  map[string]int
}

// Wrap returns a copy of cfg whose requests are counted.
func (c *APICounter) Wrap(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			c.add(r.Method + " " + resourceOf(r.URL.Path))
			return rt.RoundTrip(r)
		})
	})
	return out
}

func (c *APICounter) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[k]++
}

// Snapshot returns the counts so far.
func (c *APICounter) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// DiffString formats the requests made between two snapshots, e.g. "POST leases 1, GET secrets 2".
func DiffString(before, after map[string]int) string {
	var parts []string
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, d))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// resourceOf turns /api/v1/namespaces/ns/secrets/name into "secrets".
func resourceOf(path string) string {
	p := strings.Split(strings.Trim(path, "/"), "/")
	for i := 0; i+2 < len(p); i++ {
		if p[i] == "namespaces" {
			return p[i+2]
		}
	}
	return path
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// APIServerRequests reads the API server's apiserver_request_total counters, summed by
// "VERB resource[/subresource]".
func APIServerRequests(ctx context.Context, c rest.Interface) (map[string]float64, error) {
	raw, err := c.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		v, err := strconv.ParseFloat(strings.TrimSpace(line[end+1:]), 64)
		if err != nil {
			continue
		}
		l := map[string]string{}
		for _, kv := range strings.Split(line[len("apiserver_request_total{"):end], ",") {
			if k, val, ok := strings.Cut(kv, "="); ok {
				l[k] = strings.Trim(val, `"`)
			}
		}
		k := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			k += "/" + l["subresource"]
		}
		out[k] += v
	}
	return out, nil
}

// WritesPer formats the write requests between two APIServerRequests readings divided by n
// (per object), largest first: "PATCH custommachines/status 8.7, ...".
func WritesPer(before, after map[string]float64, n int) string {
	type kv struct {
		k string
		v float64
	}
	var rows []kv
	for k, v := range after {
		verb, _, _ := strings.Cut(k, " ")
		if d := v - before[k]; d > 0 && verb != "GET" && verb != "LIST" && verb != "WATCH" {
			rows = append(rows, kv{k, d / float64(n)})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].v > rows[j].v })
	var parts []string
	for _, r := range rows {
		if r.v >= 0.05 {
			parts = append(parts, fmt.Sprintf("%s %.1f", r.k, r.v))
		}
	}
	return strings.Join(parts, ", ")
}
