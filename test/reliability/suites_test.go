package reliability

import "testing"

// The suites run in parallel (at most GOMAXPROCS at once): each has its own namespace, fake cloud
// and manager(s) (--namespace), and failover spends most of its time waiting for a lock to expire.

func TestFailover(t *testing.T) { t.Parallel(); failover(t) }

func TestFaults(t *testing.T) { t.Parallel(); faults(t) }

func TestLoad(t *testing.T) { t.Parallel(); load(t, counts().LoadMachines) }

func TestBadInput(t *testing.T) { t.Parallel(); badInput(t) }

func TestSecretLeaks(t *testing.T) { t.Parallel(); leakScan(t) }
