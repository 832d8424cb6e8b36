package scheduler

import (
	"errors"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// TestObserveUpdate: the record's change for each task state.
func TestObserveUpdate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		desired   zkstate.DesiredState
		observed  zkstate.ObservedState
		state     mesos.TaskState
		killAsked bool
		want      zkstate.ObservedState
		keepsTask bool
	}{
		{"staging", zkstate.DesiredRunning, zkstate.ObservedLaunching, mesos.TASK_STAGING, false, zkstate.ObservedLaunching, true},
		{"starting", zkstate.DesiredRunning, zkstate.ObservedLaunching, mesos.TASK_STARTING, false, zkstate.ObservedStarting, true},
		{"running", zkstate.DesiredRunning, zkstate.ObservedStarting, mesos.TASK_RUNNING, false, zkstate.ObservedRunning, true},
		{"running while leaving", zkstate.DesiredRemoved, zkstate.ObservedLeaving, mesos.TASK_RUNNING, false, zkstate.ObservedLeaving, true},
		{"removed node ended", zkstate.DesiredRemoved, zkstate.ObservedLeaving, mesos.TASK_FINISHED, false, zkstate.ObservedLeaving, false},
		{"stopped node killed", zkstate.DesiredStopped, zkstate.ObservedStopping, mesos.TASK_KILLED, true, zkstate.ObservedStopped, false},
		{"restarted node killed", zkstate.DesiredRunning, zkstate.ObservedStopping, mesos.TASK_KILLED, true, zkstate.ObservedReserved, false},
		{"failed", zkstate.DesiredRunning, zkstate.ObservedRunning, mesos.TASK_FAILED, false, zkstate.ObservedFailed, false},
		{"killed unasked", zkstate.DesiredRunning, zkstate.ObservedRunning, mesos.TASK_KILLED, false, zkstate.ObservedFailed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := zkstate.NodeRecord{Name: "n1", DesiredState: tc.desired, ObservedState: tc.observed, TaskID: "t1"}
			if err := observeUpdate(&rec, "t1", tc.state, tc.killAsked, "msg"); err != nil {
				t.Fatal(err)
			}
			if rec.ObservedState != tc.want || (rec.TaskID == "t1") != tc.keepsTask || rec.Message != "msg" {
				t.Errorf("record %+v, want %s with the task kept %v", rec, tc.want, tc.keepsTask)
			}
		})
	}
	rec := zkstate.NodeRecord{TaskID: "t2"}
	if err := observeUpdate(&rec, "t1", mesos.TASK_FAILED, false, ""); !errors.Is(err, errStale) {
		t.Errorf("update of another task: %v, want errStale", err)
	}
}

// TestAfterUpdate: the relaunch backoff doubles to its maximum and gives
// up after MaxRelaunches; running resets it; an asked-for end forgets the
// kill.
func TestAfterUpdate(t *testing.T) {
	s := fuzzScheduler()
	now := time.Unix(1700000000, 0)
	r := &nodeRuntime{why: "x"}
	var delays []time.Duration
	gaveUp := false
	for range s.cfg.MaxRelaunches {
		gaveUp = s.afterUpdate(r, zkstate.DesiredRunning, mesos.TASK_FAILED, false, now)
		delays = append(delays, r.nextTry.Sub(now))
	}
	if !gaveUp || !r.gaveUp || delays[0] != time.Second || delays[1] != 2*time.Second || delays[len(delays)-1] != time.Minute {
		t.Errorf("gave up %v %v after %d failures, delays %v", gaveUp, r.gaveUp, r.attempts, delays)
	}
	s.afterUpdate(r, zkstate.DesiredRunning, mesos.TASK_RUNNING, false, now)
	if r.attempts != 0 || r.why != "" {
		t.Errorf("running: %+v", r)
	}
	r = &nodeRuntime{killAsked: true, killSentFor: "t1", leaveFor: "t1"}
	if s.afterUpdate(r, zkstate.DesiredRunning, mesos.TASK_KILLED, true, now) || r.killAsked || r.killSentFor != "" || r.leaveFor != "" || r.attempts != 0 {
		t.Errorf("asked-for kill: %+v", r)
	}
}
