/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Command fakecloud serves the fake cloud API on a loopback address.
//
//	fakecloud -listen 127.0.0.1:8787 -state /tmp/fc.json -running-delay 2s \
//	  -fault 'create:instance,error_rate=0.2,latency=1s' -fault 'get:*,consistency=500ms'
//
// The address it listens on is printed on stdout as "listening on http://HOST:PORT" (useful with
// port 0). The token comes from -token or FAKECLOUD_TOKEN. Faults can be changed at runtime
// with POST /admin/faults; GET /admin/stats reports counts.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/company/cluster-api-provider-custom/fakecloud/server"
)

type ruleFlags []server.Rule

func (r *ruleFlags) String() string { return fmt.Sprint(len(*r)) }
func (r *ruleFlags) Set(s string) error {
	rule, err := server.ParseRule(s)
	if err != nil {
		return err
	}
	*r = append(*r, rule)
	return nil
}

func main() {
	var (
		listen  = flag.String("listen", "127.0.0.1:8787", "loopback address to listen on (127.0.0.1:PORT or [::1]:PORT; port 0 picks one)")
		state   = flag.String("state", "", "JSON file to persist objects in (survives restarts); empty keeps them in memory")
		token   = flag.String("token", os.Getenv("FAKECLOUD_TOKEN"), "bearer token every request must carry (default $FAKECLOUD_TOKEN; empty: none)")
		delay   = flag.Duration("running-delay", 0, "how long new instances stay pending before running")
		faults  = flag.String("faults", "", `initial faults as JSON, e.g. {"rules":[{"op":"create:instance","error_rate":0.3}]}`)
		seed    = flag.Uint64("seed", 0, "seed for the fault dice (0: random)")
		verbose = flag.Bool("v", false, "log one line per request on stderr")
		rules   ruleFlags
	)
	flag.Var(&rules, "fault", "fault rule OP[,error_rate=F][,latency=D][,quota=N][,quota_status=429|403][,consistency=D]; repeatable")
	flag.Parse()

	var f server.Faults
	if *faults != "" {
		dec := json.NewDecoder(strings.NewReader(*faults))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			log.Fatalf("fakecloud: -faults: %v", err)
		}
	}
	f.Rules = append(f.Rules, rules...)
	opts := server.Options{StatePath: *state, Token: *token, RunningDelay: *delay, Faults: f, Seed: *seed}
	if *verbose {
		opts.Logger = log.New(os.Stderr, "fakecloud ", log.LstdFlags|log.Lmicroseconds)
	}
	srv, err := server.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := server.Listen(*listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil {
		log.Fatal(err)
	}
}
