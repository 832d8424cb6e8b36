package executor

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

func TestProcessStop(t *testing.T) {
	tests := []struct {
		name         string
		script       string
		grace        time.Duration
		shorter      time.Duration // sent on the shorter channel if > 0
		wantGraceful bool
		maxTime      time.Duration
	}{
		{name: "exits on SIGTERM", script: "echo up; exec sleep 30", grace: 5 * time.Second, wantGraceful: true, maxTime: 3 * time.Second},
		{name: "ignores SIGTERM", script: `trap "" TERM; echo up; sleep 30 & wait; sleep 30`, grace: 300 * time.Millisecond, maxTime: 3 * time.Second},
		{name: "newer kill policy shortens the grace", script: `trap "" TERM; echo up; sleep 30 & wait; sleep 30`, grace: time.Minute,
			shorter: 100 * time.Millisecond, maxTime: 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := startProcess(Command{Args: []string{"/bin/sh", "-c", tc.script}, Dir: dir}, dir)
			if err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, 10*time.Second, "the script's first output", func() bool { return strings.Contains(p.tail.String(), "up") })
			shorter := make(chan time.Duration, 1)
			if tc.shorter > 0 {
				shorter <- tc.shorter
			}
			start := time.Now()
			graceful := p.stop(context.Background(), tc.grace, shorter)
			if graceful != tc.wantGraceful {
				t.Errorf("graceful = %v, want %v (%s)", graceful, tc.wantGraceful, p.exitReason())
			}
			if d := time.Since(start); d > tc.maxTime {
				t.Errorf("stop took %v", d)
			}
			if !p.exited() {
				t.Fatal("process still running")
			}
			if !testutil.Eventually(3*time.Second, func() bool { return syscall.Kill(-p.pid(), 0) != nil }) {
				t.Fatal("process group still has members")
			}
		})
	}
}

func TestProcessExitReason(t *testing.T) {
	dir := t.TempDir()
	p, err := startProcess(Command{Args: []string{"/bin/sh", "-c", "echo one; echo two >&2; exit 3"}, Dir: dir}, dir)
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	if got := p.exitReason(); got != "exited with status 3" {
		t.Errorf("reason %q", got)
	}
	if got := p.tail.String(); !strings.Contains(got, "one") || !strings.Contains(got, "two") {
		t.Errorf("tail %q", got)
	}
	if _, err := startProcess(Command{Args: []string{dir + "/missing"}, Dir: dir}, dir); err == nil {
		t.Error("started a missing program")
	}
}
