package scheduler

import (
	"errors"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/rmf-go/rmf/internal/nodetask"
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
			if err := observeUpdate(&rec, "t1", tc.state, tc.killAsked, "msg", statusReport{}); err != nil {
				t.Fatal(err)
			}
			if rec.ObservedState != tc.want || (rec.TaskID == "t1") != tc.keepsTask || rec.Message != "msg" {
				t.Errorf("record %+v, want %s with the task kept %v", rec, tc.want, tc.keepsTask)
			}
		})
	}
	rec := zkstate.NodeRecord{TaskID: "t2"}
	if err := observeUpdate(&rec, "t1", mesos.TASK_FAILED, false, "", statusReport{}); !errors.Is(err, errStale) {
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

// TestObserveStatus: a TASK_RUNNING's status is recorded (the last config
// check kept until another answers); an update without status marks an
// executor that reports none, unless it says nothing new
// (reconciliation, bad data); any other state forgets the status.
func TestObserveStatus(t *testing.T) {
	rec := zkstate.NodeRecord{Cluster: "c1", Name: "n1", Generation: 1, DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedStarting, TaskID: "t1"}
	up := func(state mesos.TaskState, rep statusReport) {
		t.Helper()
		if err := observeUpdate(&rec, "t1", state, false, "msg", rep); err != nil {
			t.Fatal(err)
		}
	}
	up(mesos.TASK_RUNNING, statusReport{Status: &nodetask.Status{Ready: true, TransfersPending: true, Transfers: strings.Repeat("x", 3*nodetask.MaxStatusText)}})
	if s := rec.Status; s == nil || !s.Ready || !s.TransfersPending || len(s.Transfers) > zkstate.MaxStatusText || rec.Validate() != nil {
		t.Fatalf("status: ready/transfers %v %v, %d bytes of transfers: %v", s != nil && s.Ready, s != nil && s.TransfersPending, len(rec.Status.Transfers), rec.Validate())
	}
	up(mesos.TASK_RUNNING, statusReport{Status: &nodetask.Status{Ready: true, ConfigCheck: &nodetask.ConfigCheck{Generation: 2, Error: "line 1\nline 2"}}})
	if c := rec.Status.ConfigCheck; c == nil || c.OK || c.Generation != 2 || !strings.Contains(rec.Message, "generation 2 refused") || strings.Contains(rec.Message, "line 2") {
		t.Fatalf("failed check: %+v, message %q", rec.Status, rec.Message)
	}
	up(mesos.TASK_RUNNING, statusReport{Status: &nodetask.Status{Ready: false}})
	if c := rec.Status.ConfigCheck; rec.Status.Ready || c == nil || c.Generation != 2 {
		t.Fatalf("check not kept: %+v", rec.Status)
	}
	up(mesos.TASK_RUNNING, statusReport{Keep: true})
	if rec.Status == nil || rec.Status.ConfigCheck == nil {
		t.Fatalf("reconciliation dropped the status")
	}
	up(mesos.TASK_RUNNING, statusReport{})
	if rec.Status != nil || rec.ObservedState != zkstate.ObservedRunning {
		t.Fatalf("no status: %+v", rec)
	}
	up(mesos.TASK_RUNNING, statusReport{Status: &nodetask.Status{Ready: true}})
	up(mesos.TASK_FAILED, statusReport{})
	if rec.Status != nil {
		t.Fatalf("ended task keeps its status %+v", rec.Status)
	}

	// statusOf: bad data is ignored, reconciliation keeps.
	s := fuzzScheduler()
	bad := s.statusOf(mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t1"}, State: mesos.TASK_RUNNING.Enum(), Data: []byte("{nope")}, rec)
	recon := s.statusOf(mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t1"}, State: mesos.TASK_RUNNING.Enum(), Reason: mesos.REASON_RECONCILIATION.Enum()}, rec)
	good := s.statusOf(mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t1"}, State: mesos.TASK_RUNNING.Enum(), Data: nodetask.MarshalStatus(nodetask.Status{Ready: true})}, rec)
	none := s.statusOf(mesos.TaskStatus{TaskID: mesos.TaskID{Value: "t1"}, State: mesos.TASK_RUNNING.Enum()}, rec)
	if !bad.Keep || bad.Status != nil || !recon.Keep || good.Status == nil || !good.Status.Ready || none.Keep || none.Status != nil {
		t.Errorf("statusOf: bad %+v recon %+v good %+v none %+v", bad, recon, good, none)
	}
}
