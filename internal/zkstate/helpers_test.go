package zkstate_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// testLogger discards logs unless ZKSTATE_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("ZKSTATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// connect opens a Store (closed at cleanup). The default session timeout
// (10s) keeps busy machines from dropping connections mid-test; tests that
// need expiry pass a short one.
func connect(t testing.TB, addr string, opts ...zkstate.Option) *zkstate.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts = append([]zkstate.Option{zkstate.WithLogger(testLogger())}, opts...)
	s, err := zkstate.Connect(ctx, []string{addr}, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	t.Cleanup(s.Close)
	return s
}

func framework(t testing.TB, s *zkstate.Store) *zkstate.Framework {
	t.Helper()
	f, err := s.Framework("riak")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// waitLong bounds waits for things that normally take milliseconds; it is
// generous so that a loaded machine does not fail the tests.
const waitLong = 20 * time.Second

// waitFor reads from ch until ok accepts a value, failing after timeout.
func waitFor[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(timeout)
	var last T
	for {
		select {
		case v, open := <-ch:
			if !open {
				t.Fatalf("%s: channel closed (last %+v)", what, last)
			}
			last = v
			if ok(v) {
				return v
			}
		case <-deadline:
			t.Fatalf("%s: not seen within %v (last %+v)", what, timeout, last)
		}
	}
}

func startZK(t testing.TB) *testutil.ZooKeeper {
	t.Helper()
	return testutil.StartZooKeeper(t)
}

// runtimeStack returns all goroutines' stacks.
func runtimeStack(buf []byte) string { return string(buf[:runtime.Stack(buf, true)]) }
