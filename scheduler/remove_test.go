package scheduler

import (
	"context"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// TestRemoveStartingNode: a node removed while it starts is not killed
// when its executor holds the node lock (the node may have joined its
// cluster already, and a killed member would stay in the ring): it is let
// run, then asked to leave. One whose executor waits for the lock, one
// waited for longer than LeaveTimeout and the last running node of its
// cluster are killed at once.
func TestRemoveStartingNode(t *testing.T) {
	for _, tc := range []struct {
		name         string
		state        zkstate.ObservedState
		holdsLock    bool
		others       bool
		leaveTimeout time.Duration
		wantKill     bool
	}{
		{name: "starting, holds the lock", state: zkstate.ObservedStarting, holdsLock: true, others: true},
		{name: "launching, holds the lock", state: zkstate.ObservedLaunching, holdsLock: true, others: true},
		{name: "starting, waits for the lock", state: zkstate.ObservedStarting, others: true, wantKill: true},
		{name: "starting, waited too long", state: zkstate.ObservedStarting, holdsLock: true, others: true, leaveTimeout: time.Nanosecond, wantKill: true},
		{name: "starting, no other running node", state: zkstate.ObservedStarting, holdsLock: true, wantKill: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newEventRig(t, Config{LeaveTimeout: tc.leaveTimeout})
			r.reset(t)
			ctx := context.Background()
			set := func(name string, fn func(*zkstate.NodeRecord)) {
				t.Helper()
				if _, _, err := r.fw.ModifyNode(ctx, "c1", name, func(n *zkstate.NodeRecord) error { fn(n); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			set("riak-c1-1", func(n *zkstate.NodeRecord) { n.ObservedState, n.DesiredState = tc.state, zkstate.DesiredRemoved })
			if tc.others {
				set("riak-c1-2", func(n *zkstate.NodeRecord) {
					n.ObservedState, n.TaskID, n.AgentID, n.PersistenceID = zkstate.ObservedRunning, "t2", "a2", "c1-riak-c1-2-1"
					n.Reserved, n.Ports = DefaultNodeResources, zkstate.Ports{PB: 32000, HTTP: 32001, Handoff: 32002, Disterl: 32003, Erlpmd: 32004}
				})
			}
			if tc.holdsLock {
				lock, err := r.fw.LockNode(ctx, "c1", "riak-c1-1", zkstate.LockRecord{TaskID: "t1", AgentID: "a1", Host: "127.0.0.1", PID: 1})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = lock.Close() })
			}
			r.s.mu.Lock()
			r.s.connected = true
			r.s.mu.Unlock()

			r.s.tick(ctx)
			kills, leaves := sentTo(r.sent, "t1")
			if tc.wantKill {
				if kills != 1 || leaves != 0 {
					t.Fatalf("want one kill, got %d kills and %d leave messages", kills, leaves)
				}
				return
			}
			if kills+leaves != 0 {
				t.Fatalf("starting node: %d kills and %d leave messages, want it let start", kills, leaves)
			}
			// The node comes up: the next tick asks it to leave.
			up := mesos.TASK_RUNNING
			ev := scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: mesos.TaskStatus{
				TaskID: mesos.TaskID{Value: "t1"}, State: &up, UUID: []byte("u1"), AgentID: &mesos.AgentID{Value: "a1"}}}}
			if err := r.h.HandleEvent(ctx, &ev); err != nil {
				t.Fatal(err)
			}
			r.s.tick(ctx)
			kills, leaves = sentTo(r.sent, "t1")
			if kills != 0 || leaves != 1 {
				t.Fatalf("running removed node: %d kills and %d leave messages, want one leave", kills, leaves)
			}
			if n, _, err := r.fw.GetNode(ctx, "c1", "riak-c1-1"); err != nil || n.ObservedState != zkstate.ObservedLeaving {
				t.Fatalf("record %+v, %v: want leaving", n, err)
			}
		})
	}
}

// sentTo counts the kills of a task and the leave messages to its executor.
func sentTo(sent []*scheduler.Call, taskID string) (kills, leaves int) {
	for _, c := range sent {
		switch c.GetType() {
		case scheduler.Call_KILL:
			if c.GetKill().TaskID.Value == taskID {
				kills++
			}
		case scheduler.Call_MESSAGE:
			m, err := nodetask.ParseMessage(c.GetMessage().Data)
			if c.GetMessage().ExecutorID.Value == executorID(taskID) && err == nil && m.Op == nodetask.OpLeave && m.TaskID == taskID {
				leaves++
			}
		}
	}
	return kills, leaves
}
