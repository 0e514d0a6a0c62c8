/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package server is a small fake cloud: an HTTP JSON API with VPCs, subnets, security groups,
// load balancers (+ targets) and instances, optional persistence to a JSON file and fault
// injection (errors, latency, quotas, eventual consistency). It listens on loopback only.
//
// API (all bodies JSON; errors are {"code": "...", "message": "..."}):
//
//	POST   /v1/{vpcs|subnets|security_groups|load_balancers|lb_targets|instances}   create (201)
//	GET    /v1/{collection}[?name=N]                                                  list {"items": [...]}
//	GET    /v1/{collection}/{id}                                                      read (404 when absent)
//	PATCH  /v1/{collection}/{id}                                                      update mutable fields
//	DELETE /v1/{collection}/{id}                                                      delete (204; 409 while referenced)
//	POST   /v1/instances/{id}/stop, /v1/instances/{id}/start                          stop or start an instance (state "stopped")
//	GET    /admin/stats                                                               counts, duplicates, faults
//	GET|POST|DELETE /admin/faults                                                     fault rules (see Faults)
//	POST   /admin/reset                                                               delete everything
//	GET    /healthz
//
// With a token set, every request needs "Authorization: Bearer <token>" (401 otherwise).
package server

import (
	"context"
	crand "crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// StatePath, when set, is the JSON file the server loads at start and rewrites (atomically)
	// after every change, so it survives its own restart.
	StatePath string
	// Token, when set, is required as a bearer token on every request.
	Token string
	// RunningDelay is how long a new instance stays "pending" before it is "running".
	RunningDelay time.Duration
	// Faults is the initial fault configuration.
	Faults Faults
	// Seed seeds the fault dice (0: random).
	Seed uint64
	// Logger logs one line per request (nil: no logging). Bodies are never logged.
	Logger *log.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

type object struct {
	ID        string         `json:"id"`
	Kind      string         `json:"kind"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
	Attrs     map[string]any `json:"attrs"`
	// Computed holds what the cloud assigns at create (arn, dns_name, private_ip, ...).
	Computed map[string]any `json:"computed,omitempty"`
	// Stopped is an instance stopped through the API (state "stopped" until started again).
	Stopped bool `json:"stopped,omitempty"`
}

type persisted struct {
	Version int       `json:"version"`
	Objects []*object `json:"objects"`
}

// Stats is what GET /admin/stats answers.
type Stats struct {
	// Counts is the number of live objects per kind (every kind present, zeros included).
	Counts map[string]int `json:"counts"`
	Total  int            `json:"total"`
	// DuplicateInstanceNames maps each instance name used by more than one live instance to
	// the number of such instances.
	DuplicateInstanceNames map[string]int `json:"duplicate_instance_names"`
	InstancesByState       map[string]int `json:"instances_by_state"`
	// Requests counts requests per operation ("create:instance"), including failed ones.
	Requests map[string]int `json:"requests"`
	// Injected counts injected faults per type: error, quota, consistency, latency.
	Injected map[string]int `json:"injected"`
	// Created and Deleted count successful creates and deletes per kind since start.
	Created map[string]int `json:"created"`
	Deleted map[string]int `json:"deleted"`
	// Replays counts creates answered with an existing object (same client_token) per kind.
	Replays map[string]int `json:"replays"`
}

// Server is the fake cloud. Create it with New, then Start or Serve.
type Server struct {
	opts Options

	mu       sync.Mutex
	objs     map[string]map[string]*object // kind -> id -> object
	faults   Faults
	rng      *rand.Rand
	requests map[string]int
	injected map[string]int
	created  map[string]int
	deleted  map[string]int
	replays  map[string]int

	httpSrv *http.Server
	ln      net.Listener
}

// New creates a server, loading StatePath when it exists.
func New(opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := opts.Faults.Validate(); err != nil {
		return nil, fmt.Errorf("fakecloud: faults: %w", err)
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Server{opts: opts, objs: map[string]map[string]*object{}, faults: opts.Faults,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		requests: map[string]int{}, injected: map[string]int{}, created: map[string]int{}, deleted: map[string]int{}, replays: map[string]int{}}
	for k := range kinds {
		s.objs[k] = map[string]*object{}
	}
	if opts.StatePath != "" {
		b, err := os.ReadFile(opts.StatePath)
		switch {
		case err == nil:
			var p persisted
			if err := json.Unmarshal(b, &p); err != nil {
				return nil, fmt.Errorf("fakecloud: loading %s: %w", opts.StatePath, err)
			}
			for _, o := range p.Objects {
				if kinds[o.Kind] == nil {
					return nil, fmt.Errorf("fakecloud: loading %s: unknown kind %q", opts.StatePath, o.Kind)
				}
				s.objs[o.Kind][o.ID] = o
			}
		case !os.IsNotExist(err):
			return nil, fmt.Errorf("fakecloud: loading state: %w", err)
		}
	}
	return s, nil
}

// CheckLoopback returns an error unless addr ("host:port") names 127.0.0.1 or ::1.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("fakecloud: listen address %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || (ip != netip.MustParseAddr("127.0.0.1") && ip != netip.IPv6Loopback()) {
		return fmt.Errorf("fakecloud: refusing to listen on %q: only 127.0.0.1 and [::1] are allowed (loopback only)", addr)
	}
	return nil
}

// Listen opens a loopback listener on addr; anything but 127.0.0.1 or ::1 is refused.
func Listen(addr string) (net.Listener, error) {
	if err := CheckLoopback(addr); err != nil {
		return nil, err
	}
	return net.Listen("tcp", addr)
}

// Start listens on addr (loopback only; port 0 picks one) and serves in the background. It
// returns the base URL, e.g. "http://127.0.0.1:41234".
func (s *Server) Start(addr string) (string, error) {
	ln, err := Listen(addr)
	if err != nil {
		return "", err
	}
	srv := s.prepare(ln)
	go func() { _ = srv.Serve(ln) }()
	return s.URL(), nil
}

func (s *Server) prepare(ln net.Listener) *http.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ln = ln
	s.httpSrv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return s.httpSrv
}

// Serve serves on ln until Close. ln must be a loopback listener.
func (s *Server) Serve(ln net.Listener) error {
	if err := CheckLoopback(ln.Addr().String()); err != nil {
		return err
	}
	err := s.prepare(ln).Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// URL is the base URL of a started server ("" before Start).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Close stops serving.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.httpSrv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// SetFaults replaces the fault configuration.
func (s *Server) SetFaults(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
	return nil
}

// Stats returns the current statistics.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Counts: map[string]int{}, DuplicateInstanceNames: map[string]int{}, InstancesByState: map[string]int{},
		Requests: copyCounts(s.requests), Injected: copyCounts(s.injected), Created: copyCounts(s.created), Deleted: copyCounts(s.deleted), Replays: copyCounts(s.replays)}
	names := map[string]int{}
	for k, m := range s.objs {
		st.Counts[k] = len(m)
		st.Total += len(m)
	}
	for _, o := range s.objs[KindInstance] {
		if n, _ := o.Attrs["name"].(string); n != "" {
			names[n]++
		}
		st.InstancesByState[s.instanceState(o)]++
	}
	for n, c := range names {
		if c > 1 {
			st.DuplicateInstanceNames[n] = c
		}
	}
	return st
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Server) instanceState(o *object) string {
	if o.Stopped {
		return "stopped"
	}
	if s.opts.Now().Sub(o.CreatedAt) < s.opts.RunningDelay {
		return "pending"
	}
	return "running"
}

// apiError is an error with an HTTP status and a machine-readable code.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func writeErr(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errf(http.StatusInternalServerError, "InternalError", "%v", err)
	}
	writeJSON(w, ae.Status, ae)
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /admin/stats", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) })
	mux.HandleFunc("GET /admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		f := s.faults
		s.mu.Unlock()
		if f.Rules == nil {
			f.Rules = []Rule{}
		}
		writeJSON(w, http.StatusOK, f)
	})
	mux.HandleFunc("POST /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeErr(w, errf(http.StatusBadRequest, "InvalidFaults", "decoding faults: %v", err))
			return
		}
		if err := s.SetFaults(f); err != nil {
			writeErr(w, errf(http.StatusBadRequest, "InvalidFaults", "%v", err))
			return
		}
		writeJSON(w, http.StatusOK, f)
	})
	mux.HandleFunc("DELETE /admin/faults", func(w http.ResponseWriter, _ *http.Request) {
		_ = s.SetFaults(Faults{})
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /admin/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		for k := range s.objs {
			s.objs[k] = map[string]*object{}
		}
		err := s.saveLocked()
		s.mu.Unlock()
		if err != nil {
			writeErr(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/instances/{id}/{action}", s.power)
	mux.HandleFunc("POST /v1/{coll}", s.handle(VerbCreate))
	mux.HandleFunc("GET /v1/{coll}", s.handle(VerbList))
	mux.HandleFunc("GET /v1/{coll}/{id}", s.handle(VerbGet))
	mux.HandleFunc("PATCH /v1/{coll}/{id}", s.handle(VerbUpdate))
	mux.HandleFunc("DELETE /v1/{coll}/{id}", s.handle(VerbDelete))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, errf(http.StatusNotFound, "UnknownRoute", "no route for %s %s", r.Method, r.URL.Path))
	})
	return s.withAuth(s.withLog(mux))
}

func (s *Server) withAuth(next http.Handler) http.Handler {
	if s.opts.Token == "" {
		return next
	}
	want := []byte("Bearer " + s.opts.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeErr(w, errf(http.StatusUnauthorized, "Unauthorized", "missing or wrong bearer token"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

func (s *Server) withLog(next http.Handler) http.Handler {
	if s.opts.Logger == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.opts.Logger.Printf("%s %s %d %s", r.Method, r.URL.Path, rec.status, time.Since(start).Round(time.Millisecond))
	})
}

// handle serves one /v1 operation: faults first, then the operation itself.
func (s *Server) handle(verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k := kindByPath(r.PathValue("coll"))
		if k == nil {
			writeErr(w, errf(http.StatusNotFound, "UnknownCollection", "unknown collection %q", r.PathValue("coll")))
			return
		}
		var body map[string]any
		if verb == VerbCreate || verb == VerbUpdate {
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
			if err := dec.Decode(&body); err != nil {
				writeErr(w, errf(http.StatusBadRequest, "MalformedBody", "decoding %s body: %v", k.Name, err))
				return
			}
			if _, err := dec.Token(); err != io.EOF {
				writeErr(w, errf(http.StatusBadRequest, "MalformedBody", "trailing data after the JSON object"))
				return
			}
		}
		rules, latency := s.matchFaults(verb, k.Name)
		if latency > 0 {
			select {
			case <-time.After(latency):
			case <-r.Context().Done():
				return
			}
		}
		status, out, err := s.do(verb, k, r.PathValue("id"), r.URL.Query().Get("name"), body, rules)
		if err != nil {
			writeErr(w, err)
			return
		}
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, out)
	}
}

// power stops or starts an instance, as a cloud's console or an operator would: the instance
// stays, with state "stopped" while stopped.
func (s *Server) power(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	if action != "stop" && action != "start" {
		writeErr(w, errf(http.StatusNotFound, "UnknownAction", "unknown instance action %q (want stop or start)", action))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[action+":"+KindInstance]++
	o := s.objs[KindInstance][r.PathValue("id")]
	if o == nil {
		writeErr(w, errf(http.StatusNotFound, "NotFound", "instance %s not found", r.PathValue("id")))
		return
	}
	o.Stopped = action == "stop"
	o.UpdatedAt = s.opts.Now()
	if err := s.saveLocked(); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.render(o))
}

// matchFaults counts the request and returns the matching rules and their total latency.
func (s *Server) matchFaults(verb, kind string) ([]Rule, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[verb+":"+kind]++
	var rules []Rule
	var latency time.Duration
	for _, r := range s.faults.Rules {
		if r.matches(verb, kind) {
			rules = append(rules, r)
			latency += time.Duration(r.LatencyMS) * time.Millisecond
		}
	}
	if latency > 0 {
		s.injected["latency"]++
	}
	return rules, latency
}

func (s *Server) do(verb string, k *kindSpec, id, nameFilter string, body map[string]any, rules []Rule) (int, any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	consistency := time.Duration(0)
	for _, r := range rules {
		if r.ErrorRate > 0 && s.rng.Float64() < r.ErrorRate {
			s.injected["error"]++
			return 0, nil, errf(http.StatusInternalServerError, "InternalError", "injected fault: %s:%s failed (error_rate %.2f); retry later", verb, k.Name, r.ErrorRate)
		}
		if verb == VerbCreate && r.Quota != nil && len(s.objs[k.Name]) >= *r.Quota {
			s.injected["quota"]++
			status := r.QuotaStatus
			if status == 0 {
				status = http.StatusTooManyRequests
			}
			return 0, nil, errf(status, "QuotaExceeded", "quota exceeded for %s: limit %d, in use %d; delete some or raise the quota", k.Name, *r.Quota, len(s.objs[k.Name]))
		}
		if d := time.Duration(r.ConsistencyMS) * time.Millisecond; d > consistency {
			consistency = d
		}
	}
	young := func(o *object) bool { return consistency > 0 && now.Sub(o.CreatedAt) < consistency }
	switch verb {
	case VerbCreate:
		if o := s.byToken(k, body); o != nil {
			s.replays[k.Name]++
			return http.StatusOK, s.render(o), nil // an idempotent retry: the object it created before
		}
		o, err := s.create(k, body, now)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, s.render(o), nil
	case VerbList:
		items := []map[string]any{}
		for _, o := range s.objs[k.Name] {
			if young(o) {
				s.injected["consistency"]++
				continue
			}
			if nameFilter != "" && o.Attrs["name"] != nameFilter {
				continue
			}
			items = append(items, s.render(o))
		}
		sort.Slice(items, func(i, j int) bool { return items[i]["id"].(string) < items[j]["id"].(string) })
		return http.StatusOK, map[string]any{"items": items}, nil
	}
	o := s.objs[k.Name][id]
	if o == nil {
		return 0, nil, errf(http.StatusNotFound, "NotFound", "%s %q not found", k.Name, id)
	}
	switch verb {
	case VerbGet:
		if young(o) {
			s.injected["consistency"]++
			return 0, nil, errf(http.StatusNotFound, "NotFound", "%s %q not found", k.Name, id)
		}
		return http.StatusOK, s.render(o), nil
	case VerbUpdate:
		if err := s.update(k, o, body, now); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, s.render(o), nil
	case VerbDelete:
		if err := s.delete(k, o); err != nil {
			return 0, nil, err
		}
		return http.StatusNoContent, nil, nil
	}
	return 0, nil, errf(http.StatusMethodNotAllowed, "MethodNotAllowed", "unsupported operation %s", verb)
}

func newID(prefix string) string {
	b := make([]byte, 9)
	_, _ = crand.Read(b)
	return prefix + hex.EncodeToString(b)[:17]
}

// validate checks body against k's fields; on create every required field must be present,
// on update only mutable fields may change.
func (s *Server) validate(k *kindSpec, body map[string]any, existing *object) error {
	for name, v := range body {
		f, ok := k.Fields[name]
		if !ok {
			if existing != nil && (name == "id" || existing.Computed[name] != nil) {
				continue // echoing read-only fields back is harmless when unchanged
			}
			return errf(http.StatusBadRequest, "UnknownField", "%s has no field %q (fields: %s)", k.Name, name, strings.Join(fieldNames(k), ", "))
		}
		if err := checkType(name, f.Type, v); err != nil {
			return errf(http.StatusBadRequest, "InvalidParameter", "%s: %v", k.Name, err)
		}
		if existing != nil && !f.Mutable && !jsonEqual(existing.Attrs[name], v) {
			return errf(http.StatusBadRequest, "ImmutableField", "%s field %q cannot change after create (replace the %s)", k.Name, name, k.Name)
		}
	}
	if existing == nil {
		for name, f := range k.Fields {
			if f.Required && body[name] == nil {
				return errf(http.StatusBadRequest, "MissingParameter", "%s: field %q is required", k.Name, name)
			}
		}
	}
	if err := validateValues(k.Name, body); err != nil {
		return errf(http.StatusBadRequest, "InvalidParameter", "%s: %v", k.Name, err)
	}
	// References must exist.
	for name, f := range k.Fields {
		if f.Ref == "" || body[name] == nil {
			continue
		}
		var refs []string
		switch v := body[name].(type) {
		case string:
			refs = []string{v}
		case []any:
			for _, e := range v {
				refs = append(refs, e.(string))
			}
		}
		for _, ref := range refs {
			if s.resolve(f.Ref, ref) == nil {
				return errf(http.StatusBadRequest, "InvalidReference", "%s field %q: %s %q does not exist", k.Name, name, f.Ref, ref)
			}
		}
	}
	return nil
}

func fieldNames(k *kindSpec) []string {
	out := make([]string, 0, len(k.Fields))
	for n := range k.Fields {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// resolve finds a live object of kind by id (or, for load balancers, by arn).
func (s *Server) resolve(kind, ref string) *object {
	if o := s.objs[kind][ref]; o != nil {
		return o
	}
	if kind == KindLoadBalancer {
		for _, o := range s.objs[kind] {
			if o.Computed["arn"] == ref {
				return o
			}
		}
	}
	return nil
}

func (s *Server) create(k *kindSpec, body map[string]any, now time.Time) (*object, error) {
	if err := s.validate(k, body, nil); err != nil {
		return nil, err
	}
	o := &object{ID: newID(k.Prefix), Kind: k.Name, CreatedAt: now, UpdatedAt: now, Attrs: map[string]any{}, Computed: map[string]any{}}
	for name := range k.Fields {
		if v, ok := body[name]; ok {
			o.Attrs[name] = v
		}
	}
	switch k.Name {
	case KindSubnet:
		vpc := s.objs[KindVPC][body["vpc_id"].(string)]
		vp := netip.MustParsePrefix(vpc.Attrs["cidr_block"].(string))
		sp := netip.MustParsePrefix(body["cidr_block"].(string))
		if !vp.Contains(sp.Addr()) || sp.Bits() < vp.Bits() {
			return nil, errf(http.StatusBadRequest, "InvalidSubnet.Range", "subnet cidr_block %s is not within vpc %s (%s)", sp, vpc.ID, vp)
		}
		for _, other := range s.objs[KindSubnet] {
			if other.Attrs["vpc_id"] == vpc.ID && netip.MustParsePrefix(other.Attrs["cidr_block"].(string)).Overlaps(sp) {
				return nil, errf(http.StatusConflict, "InvalidSubnet.Conflict", "subnet cidr_block %s overlaps subnet %s (%s)", sp, other.ID, other.Attrs["cidr_block"])
			}
		}
	case KindLoadBalancer:
		o.Computed["arn"] = fmt.Sprintf("arn:fakecloud:elasticloadbalancing:loadbalancer/%s/%s", body["type"], o.ID)
		o.Computed["dns_name"] = fmt.Sprintf("%s-%s.lb.fakecloud.local", dnsLabel(body["name"].(string)), o.ID[len(k.Prefix):len(k.Prefix)+8])
	case KindLBTarget:
		o.Computed["load_balancer_id"] = s.resolve(KindLoadBalancer, body["load_balancer_arn"].(string)).ID
	case KindInstance:
		sub := s.objs[KindSubnet][body["subnet_id"].(string)]
		ip, err := s.allocateIP(sub)
		if err != nil {
			return nil, err
		}
		o.Computed["private_ip"] = ip
		o.Computed["private_dns"] = "ip-" + strings.ReplaceAll(ip, ".", "-") + ".fakecloud.internal"
		o.Computed["availability_zone"] = sub.Attrs["availability_zone"]
	}
	s.objs[k.Name][o.ID] = o
	if err := s.saveLocked(); err != nil {
		delete(s.objs[k.Name], o.ID)
		return nil, err
	}
	s.created[k.Name]++
	return o, nil
}

// byToken returns the live object of kind k created with the request's client_token, if any.
func (s *Server) byToken(k *kindSpec, body map[string]any) *object {
	tok, _ := body["client_token"].(string)
	if tok == "" {
		return nil
	}
	for _, o := range s.objs[k.Name] {
		if o.Attrs["client_token"] == tok {
			return o
		}
	}
	return nil
}

func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
		if b.Len() >= 32 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

// allocateIP picks the lowest free host address (from .10) in the subnet.
func (s *Server) allocateIP(sub *object) (string, error) {
	p := netip.MustParsePrefix(sub.Attrs["cidr_block"].(string))
	used := map[string]bool{}
	for _, o := range s.objs[KindInstance] {
		if o.Attrs["subnet_id"] == sub.ID {
			used[o.Computed["private_ip"].(string)] = true
		}
	}
	a := p.Addr()
	for i := 0; i < 10; i++ {
		a = a.Next()
	}
	for ; a.IsValid() && p.Contains(a); a = a.Next() {
		if !used[a.String()] && p.Contains(a.Next()) { // keep the broadcast address free
			return a.String(), nil
		}
	}
	return "", errf(http.StatusConflict, "InsufficientFreeAddressesInSubnet", "subnet %s (%s) has no free address", sub.ID, p)
}

func (s *Server) update(k *kindSpec, o *object, body map[string]any, now time.Time) error {
	if err := s.validate(k, body, o); err != nil {
		return err
	}
	old := o.Attrs
	o.Attrs = map[string]any{}
	for n, v := range old {
		o.Attrs[n] = v
	}
	for name, v := range body {
		if _, ok := k.Fields[name]; ok {
			o.Attrs[name] = v
		}
	}
	o.UpdatedAt = now
	if err := s.saveLocked(); err != nil {
		o.Attrs = old
		return err
	}
	return nil
}

// delete removes o; objects still referring to it make it a 409 DependencyViolation, except lb
// targets of a deleted instance, which go with it (as a cloud deregisters terminated instances).
func (s *Server) delete(k *kindSpec, o *object) error {
	var blockers []string
	var cascade []*object
	for _, other := range kinds {
		for _, oo := range s.objs[other.Name] {
			for name, f := range other.Fields {
				if f.Ref != k.Name || !refersTo(oo.Attrs[name], o) {
					continue
				}
				if other.Name == KindLBTarget && k.Name == KindInstance {
					cascade = append(cascade, oo)
				} else {
					blockers = append(blockers, other.Name+" "+oo.ID)
				}
			}
		}
	}
	if len(blockers) > 0 {
		sort.Strings(blockers)
		return errf(http.StatusConflict, "DependencyViolation", "%s %s is still in use by: %s", k.Name, o.ID, strings.Join(blockers, ", "))
	}
	delete(s.objs[k.Name], o.ID)
	for _, c := range cascade {
		delete(s.objs[c.Kind], c.ID)
	}
	if err := s.saveLocked(); err != nil {
		s.objs[k.Name][o.ID] = o
		for _, c := range cascade {
			s.objs[c.Kind][c.ID] = c
		}
		return err
	}
	s.deleted[k.Name]++
	for _, c := range cascade {
		s.deleted[c.Kind]++
	}
	return nil
}

func refersTo(v any, o *object) bool {
	match := func(s string) bool { return s == o.ID || (o.Computed["arn"] != nil && s == o.Computed["arn"]) }
	switch v := v.(type) {
	case string:
		return match(v)
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok && match(s) {
				return true
			}
		}
	}
	return false
}

// render is the wire form: the user fields as stored, the computed ones, id, state, times.
func (s *Server) render(o *object) map[string]any {
	out := map[string]any{}
	for n, v := range o.Attrs {
		out[n] = v
	}
	for n, v := range o.Computed {
		out[n] = v
	}
	out["id"] = o.ID
	out["created_at"] = o.CreatedAt.UTC().Format(time.RFC3339Nano)
	if o.Kind == KindInstance {
		out["state"] = s.instanceState(o)
	}
	return out
}

// saveLocked writes the state file (tmp + rename) when persistence is on. Callers hold s.mu.
func (s *Server) saveLocked() error {
	if s.opts.StatePath == "" {
		return nil
	}
	p := persisted{Version: 1, Objects: []*object{}}
	for _, k := range KindNames() {
		ids := make([]string, 0, len(s.objs[k]))
		for id := range s.objs[k] {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			p.Objects = append(p.Objects, s.objs[k][id])
		}
	}
	b, err := json.MarshalIndent(p, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.opts.StatePath), ".fakecloud-state-*")
	if err != nil {
		return errf(http.StatusInternalServerError, "PersistFailed", "writing state: %v", err)
	}
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return errf(http.StatusInternalServerError, "PersistFailed", "writing state: %v", err)
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return errf(http.StatusInternalServerError, "PersistFailed", "writing state: %v", err)
	}
	if err := os.Rename(tmp.Name(), s.opts.StatePath); err != nil {
		_ = os.Remove(tmp.Name())
		return errf(http.StatusInternalServerError, "PersistFailed", "writing state: %v", err)
	}
	return nil
}
