package bench

import (
	"fmt"
	"net/http"
	"sort"
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
