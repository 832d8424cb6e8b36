package scheduler

import (
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// TestRelaunchBackoff: the backoff doubles from RelaunchDelay to
// MaxRelaunchDelay without overflowing, gives up after MaxRelaunches
// failures in a row (never with NoRelaunchLimit), and New refuses
// settings that make no sense.
func TestRelaunchBackoff(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max time.Duration
		attempts int
		want     time.Duration
	}{
		{"first", time.Second, time.Minute, 1, time.Second},
		{"doubles", time.Second, time.Minute, 3, 4 * time.Second},
		{"capped", time.Second, time.Minute, 7, time.Minute},
		{"huge attempts", time.Second, time.Minute, 1 << 30, time.Minute},
		{"huge min does not overflow", 100 * time.Hour, 1000 * time.Hour, 40, 1000 * time.Hour},
		{"min equals max", 5 * time.Second, 5 * time.Second, 4, 5 * time.Second},
		{"largest max does not overflow", time.Nanosecond, time.Duration(1<<63 - 1), 100, time.Duration(1<<63 - 1)},
	} {
		c := Config{RelaunchDelay: tc.min, MaxRelaunchDelay: tc.max}
		if got := c.relaunchDelay(tc.attempts); got != tc.want {
			t.Errorf("%s: relaunchDelay(%d) = %v, want %v", tc.name, tc.attempts, got, tc.want)
		}
	}

	// The decision: give up after MaxRelaunches failures in a row, or never.
	s := fuzzScheduler()
	s.cfg.MaxRelaunches = 3
	now := time.Unix(1700000000, 0)
	r := &nodeRuntime{}
	var gave []bool
	for range 3 {
		gave = append(gave, s.afterUpdate(r, zkstate.DesiredRunning, mesos.TASK_FAILED, false, now))
	}
	if gave[0] || gave[1] || !gave[2] || !r.gaveUp {
		t.Errorf("MaxRelaunches 3: gave up %v, runtime %+v", gave, r)
	}
	s.cfg.MaxRelaunches = NoRelaunchLimit
	r = &nodeRuntime{}
	for i := range 1000 {
		if s.afterUpdate(r, zkstate.DesiredRunning, mesos.TASK_FAILED, false, now) {
			t.Fatalf("NoRelaunchLimit gave up after %d failures", i+1)
		}
	}
	if d := r.nextTry.Sub(now); d != s.cfg.MaxRelaunchDelay {
		t.Errorf("after 1000 failures the backoff is %v, want %v", d, s.cfg.MaxRelaunchDelay)
	}

	// What a new leader reads back from the record.
	rec := zkstate.NodeRecord{Cluster: "c1", Name: "n1", DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedFailed, Message: gaveUpMessage(3, "boom")}
	s.runtime = map[string]*nodeRuntime{}
	if !gaveUpRecorded(rec) || !s.rt(rec).gaveUp {
		t.Errorf("record %q not read back as given up", rec.Message)
	}
	rec.Message = "exit status 1"
	if gaveUpRecorded(rec) || !s.rt(rec).gaveUp {
		t.Errorf("an ordinary failure read as given up, or the leader's hold dropped by it")
	}
	// A restart asked on a standby reaches the leader through the record.
	rec.Message = retryAsked
	if r := s.rt(rec); r.gaveUp || r.attempts != 0 {
		t.Errorf("restart asked: runtime %+v still holds the node", r)
	}

	for _, tc := range []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{"defaults", Config{}, ""},
		{"never give up", Config{MaxRelaunches: NoRelaunchLimit}, ""},
		{"negative min", Config{RelaunchDelay: -time.Second}, "relaunch delay"},
		{"max below min", Config{RelaunchDelay: 2 * time.Minute}, "below the first delay"},
		{"bad tries", Config{MaxRelaunches: -2}, "max relaunches"},
	} {
		tc.cfg.Master, tc.cfg.ZooKeeper, tc.cfg.Framework = "http://m", "zk", &zkstate.Framework{}
		_, err := New(tc.cfg)
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: New: %v, want %q", tc.name, err, tc.want)
		}
	}
}
