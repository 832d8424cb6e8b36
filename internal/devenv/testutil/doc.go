// Package testutil holds test harnesses shared by RMF-Go's packages: a real
// ZooKeeper server started per test, a fault-injecting TCP proxy for
// simulating partitions and session expiry, and free-port helpers.
//
// It is imported from _test.go files and by the fault suite (port blocks).
//
// ZooKeeper and -short: StartZooKeeper (and RequireZooKeeper) skip the test
// when -short is set, whether or not ZooKeeper is installed, so `go test
// -short ./...` runs only the fast, dependency-free tests. Without -short a
// missing ZooKeeper is a test failure, not a skip, so that CI cannot go green
// by silently skipping the integration tests.
package testutil
