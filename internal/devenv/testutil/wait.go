package testutil

import (
	"testing"
	"time"
)

// pollInterval is how often WaitFor and Eventually look again.
const pollInterval = 10 * time.Millisecond

// WaitFor polls cond until it holds, failing the test (t.Fatalf, naming
// what it waited for) if it does not within d. It is the one polling
// primitive of the test suite: wait for a state, never sleep for it.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Eventually(d, cond) {
		t.Fatalf("%s: not within %v", what, d)
	}
}

// Eventually polls cond until it holds or d has passed and reports
// whether it held; for tests that report the failure themselves.
func Eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
}
