/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package reliability

import "testing"

// The suites run in parallel (at most GOMAXPROCS at once): each has its own namespace, fake cloud
// and manager(s) (--namespace), and failover spends most of its time waiting (leader election, lock expiry).

func TestFailover(t *testing.T) { t.Parallel(); failover(t) }

// TestFaults runs the cloud fault cases, then the run timeout (its own manager with --run-timeout).
func TestFaults(t *testing.T) {
	t.Parallel()
	t.Run("cloud", faults)
	t.Run("run-timeout", runTimeout)
}

func TestAPIServerOutage(t *testing.T) { t.Parallel(); apiServerOutage(t) }

func TestLoad(t *testing.T) { t.Parallel(); load(t, counts().LoadMachines) }

func TestBadInput(t *testing.T) { t.Parallel(); badInput(t) }

func TestSecretLeaks(t *testing.T) { t.Parallel(); leakScan(t) }
