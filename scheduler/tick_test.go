package scheduler

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// TestPlanTick: what a tick decides from a snapshot, without ZooKeeper.
func TestPlanTick(t *testing.T) {
	now := time.Unix(1700000000, 0)
	node := func(name string, d zkstate.DesiredState, o zkstate.ObservedState, task string, gen int) zkstate.NodeRecord {
		n := zkstate.NodeRecord{Cluster: "c1", Name: name, DesiredState: d, ObservedState: o, TaskID: task, Generation: int64(gen)}
		if task != "" {
			n.AgentID = "a-" + name
		}
		return n
	}
	running := func(name string, gen int) zkstate.NodeRecord {
		return node(name, zkstate.DesiredRunning, zkstate.ObservedRunning, "t-"+name, gen)
	}
	// withStatus is running node name reporting status st.
	withStatus := func(name string, gen int, st zkstate.NodeStatus) zkstate.NodeRecord {
		n := running(name, gen)
		n.Status = &st
		return n
	}
	ready := zkstate.NodeStatus{Ready: true}
	checked := func(gen int, ok bool) zkstate.NodeStatus {
		st := zkstate.NodeStatus{Ready: true, ConfigCheck: &zkstate.ConfigCheck{Generation: int64(gen), OK: ok}}
		if !ok {
			st.ConfigCheck.Error = "riak.conf: bad key"
		}
		return st
	}
	asked := func(gen int, started, sent time.Duration) map[string]nodeRuntime {
		return map[string]nodeRuntime{"c1/n1": {checkFor: "t-n1", checkGen: int64(gen), checkStarted: now.Add(-started), checkSent: now.Add(-sent)}}
	}
	removedStarting := node("n9", zkstate.DesiredRemoved, zkstate.ObservedStarting, "t-n9", 0)
	holder := map[string]lockSeen{"c1/n9": {Holder: &zkstate.LockHolder{LockRecord: zkstate.LockRecord{TaskID: "t-n9"}}, At: now.Add(-time.Millisecond)}}
	for _, tc := range []struct {
		name    string
		nodes   []zkstate.NodeRecord
		gen     int
		runtime map[string]nodeRuntime
		locks   map[string]lockSeen
		want    string // the actions, as kind:node
		waiting bool
	}{
		{name: "all running, current", nodes: []zkstate.NodeRecord{running("n1", 1), running("n2", 1)}, gen: 1, want: ""},
		{name: "rolling restart: the first node checks the configuration", nodes: []zkstate.NodeRecord{withStatus("n1", 0, ready), withStatus("n2", 0, ready)},
			gen: 1, want: "check:n1@1(first) "},
		{name: "rolling restart waits while a node is not ready", nodes: []zkstate.NodeRecord{withStatus("n1", 0, ready), withStatus("n2", 1, zkstate.NodeStatus{})},
			gen: 1, want: ""},
		{name: "rolling restart waits while transfers are pending", nodes: []zkstate.NodeRecord{withStatus("n1", 0, ready),
			withStatus("n2", 1, zkstate.NodeStatus{Ready: true, TransfersPending: true})}, gen: 1, want: ""},
		{name: "check not resent before the resend interval", nodes: []zkstate.NodeRecord{withStatus("n1", 0, ready), withStatus("n2", 0, ready)},
			gen: 1, runtime: asked(1, 2*time.Second, time.Second), want: ""},
		{name: "check resent after the resend interval", nodes: []zkstate.NodeRecord{withStatus("n1", 0, ready), withStatus("n2", 0, ready)},
			gen: 1, runtime: asked(1, 10*time.Second, leaveResend+time.Second), want: "check:n1@1 "},
		{name: "rolling restart: restart after the check passed", nodes: []zkstate.NodeRecord{withStatus("n1", 0, checked(1, true)), withStatus("n2", 0, ready)},
			gen: 1, runtime: asked(1, 10*time.Second, time.Second), want: "kill:n1>stopping "},
		{name: "a check of an older generation does not count", nodes: []zkstate.NodeRecord{withStatus("n1", 0, checked(1, true)), withStatus("n2", 0, ready)},
			gen: 2, runtime: asked(1, 10*time.Second, time.Second), want: "check:n1@2(first) "},
		{name: "failed check: the node and the others keep running", nodes: []zkstate.NodeRecord{withStatus("n1", 0, checked(1, false)), withStatus("n2", 0, ready)},
			gen: 1, runtime: asked(1, time.Hour, time.Hour), want: ""},
		{name: "failed check: a new generation checks again", nodes: []zkstate.NodeRecord{withStatus("n1", 0, checked(1, false)), withStatus("n2", 0, ready)},
			gen: 2, runtime: asked(1, time.Hour, time.Hour), want: "check:n1@2(first) "},
		{name: "no answer in time: restarted anyway", nodes: []zkstate.NodeRecord{withStatus("n1", 0, ready), withStatus("n2", 0, ready)},
			gen: 1, runtime: asked(1, DefaultConfigCheckTimeout+time.Second, time.Second), want: "kill:n1>stopping(executor did not answer the config check: restarting the node anyway) "},
		{name: "no status (older executor): counts as ready, asked to check", nodes: []zkstate.NodeRecord{running("n1", 0), running("n2", 1)}, gen: 1, want: "check:n1@1(first) "},
		{name: "no status (older executor): restarted after the timeout", nodes: []zkstate.NodeRecord{running("n1", 0), running("n2", 0)}, gen: 1,
			runtime: asked(1, DefaultConfigCheckTimeout+time.Second, time.Second),
			want:    "kill:n1>stopping(executor did not answer the config check: restarting the node anyway (its executor reports no status: one from before config checks)) "},
		{name: "restarting node not killed again", nodes: []zkstate.NodeRecord{withStatus("n1", 0, checked(1, true)), withStatus("n2", 0, ready)},
			gen: 1, runtime: map[string]nodeRuntime{"c1/n1": {killSentFor: "t-n1"}}, want: ""},
		{name: "leaving node with transfers pending: not killed, not deleted", nodes: []zkstate.NodeRecord{withStatus("n1", 0, ready),
			func() zkstate.NodeRecord {
				n := node("n2", zkstate.DesiredRemoved, zkstate.ObservedLeaving, "t-n2", 0)
				n.Status = &zkstate.NodeStatus{Ready: true, TransfersPending: true}
				return n
			}()},
			runtime: map[string]nodeRuntime{"c1/n2": {leaveFor: "t-n2", leaveStarted: now.Add(-time.Minute), leaveSent: now.Add(-time.Second)}}, want: ""},
		{name: "rolling restart waits for every node to run", nodes: []zkstate.NodeRecord{running("n1", 0),
			node("n2", zkstate.DesiredRunning, zkstate.ObservedStarting, "t-n2", 1)}, gen: 1, want: ""},
		{name: "stopped node killed", nodes: []zkstate.NodeRecord{node("n1", zkstate.DesiredStopped, zkstate.ObservedRunning, "t-n1", 0)}, want: "kill:n1>stopping "},
		{name: "removed node without agent deleted", nodes: []zkstate.NodeRecord{node("n1", zkstate.DesiredRemoved, zkstate.ObservedLeaving, "", 0)}, want: "delete:n1 "},
		{name: "removed node with a reservation needs an offer", nodes: []zkstate.NodeRecord{
			{Cluster: "c1", Name: "n1", DesiredState: zkstate.DesiredRemoved, ObservedState: zkstate.ObservedLeaving, AgentID: "a1"}}, want: "", waiting: true},
		{name: "pending node needs an offer", nodes: []zkstate.NodeRecord{node("n1", zkstate.DesiredRunning, zkstate.ObservedPending, "", 0)}, want: "", waiting: true},
		{name: "given-up node needs nothing", nodes: []zkstate.NodeRecord{node("n1", zkstate.DesiredRunning, zkstate.ObservedFailed, "", 0)},
			runtime: map[string]nodeRuntime{"c1/n1": {gaveUp: true}}, want: ""},
		{name: "removed running node asked to leave", nodes: []zkstate.NodeRecord{running("n1", 0),
			node("n2", zkstate.DesiredRemoved, zkstate.ObservedRunning, "t-n2", 0)}, want: "leave:n2(first) "},
		{name: "leave resent after leaveResend", nodes: []zkstate.NodeRecord{running("n1", 0), node("n2", zkstate.DesiredRemoved, zkstate.ObservedLeaving, "t-n2", 0)},
			runtime: map[string]nodeRuntime{"c1/n2": {leaveFor: "t-n2", leaveStarted: now.Add(-time.Minute), leaveSent: now.Add(-leaveResend - time.Second)}}, want: "leave:n2 "},
		{name: "leave not resent before leaveResend", nodes: []zkstate.NodeRecord{running("n1", 0), node("n2", zkstate.DesiredRemoved, zkstate.ObservedLeaving, "t-n2", 0)},
			runtime: map[string]nodeRuntime{"c1/n2": {leaveFor: "t-n2", leaveStarted: now.Add(-time.Minute), leaveSent: now.Add(-time.Second)}}, want: ""},
		{name: "leave past LeaveTimeout killed", nodes: []zkstate.NodeRecord{running("n1", 0), node("n2", zkstate.DesiredRemoved, zkstate.ObservedLeaving, "t-n2", 0)},
			runtime: map[string]nodeRuntime{"c1/n2": {leaveFor: "t-n2", leaveStarted: now.Add(-DefaultLeaveTimeout - time.Second)}}, want: "kill:n2>leaving(node did not leave in time; killing it) "},
		{name: "last running node removed killed", nodes: []zkstate.NodeRecord{node("n2", zkstate.DesiredRemoved, zkstate.ObservedRunning, "t-n2", 0)}, want: "kill:n2>leaving "},
		{name: "killed node not killed again", nodes: []zkstate.NodeRecord{node("n2", zkstate.DesiredRemoved, zkstate.ObservedRunning, "t-n2", 0)},
			runtime: map[string]nodeRuntime{"c1/n2": {killSentFor: "t-n2"}}, want: ""},
		{name: "removed starting node holding its lock let start", nodes: []zkstate.NodeRecord{running("n1", 0), removedStarting},
			locks: holder, want: "wait:n9 "},
		{name: "removed starting node waited on", nodes: []zkstate.NodeRecord{running("n1", 0), removedStarting},
			runtime: map[string]nodeRuntime{"c1/n9": {removedFor: "t-n9", removedSince: now.Add(-time.Minute)}}, locks: holder, want: ""},
		{name: "removed starting node waited too long", nodes: []zkstate.NodeRecord{running("n1", 0), removedStarting},
			runtime: map[string]nodeRuntime{"c1/n9": {removedFor: "t-n9", removedSince: now.Add(-DefaultLeaveTimeout)}}, locks: holder, want: "kill:n9>leaving "},
		{name: "removed starting node without its lock killed", nodes: []zkstate.NodeRecord{running("n1", 0), removedStarting}, want: "kill:n9>leaving "},
		{name: "removed starting node, lock unreadable: wait", nodes: []zkstate.NodeRecord{running("n1", 0), removedStarting},
			locks: map[string]lockSeen{"c1/n9": {Err: errors.New("connection closed")}}, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fuzzScheduler()
			snap := tickSnapshot{Now: now, Nodes: tc.nodes, Clusters: map[string]zkstate.ClusterRecord{"c1": {Name: "c1", Generation: int64(tc.gen), RiakConf: "conf", AdvancedConfig: "adv"}},
				Runtime: tc.runtime, Locks: tc.locks}
			p := s.planTick(snap)
			got := ""
			for _, a := range p.Actions {
				switch a.Kind {
				case tickKill:
					got += fmt.Sprintf("kill:%s>%s", a.Node.Name, a.Next)
					if a.Why != "" {
						got += "(" + a.Why + ")"
					}
				case tickLeave:
					got += "leave:" + a.Node.Name
					if a.First {
						got += "(first)"
					}
				case tickDelete:
					got += "delete:" + a.Node.Name
				case tickWaitJoined:
					got += "wait:" + a.Node.Name
				case tickCheckConfig:
					got += fmt.Sprintf("check:%s@%d", a.Node.Name, a.Check.Generation)
					if a.First {
						got += "(first)"
					}
					if a.Check.Op != nodetask.OpCheckConfig || a.Check.TaskID != a.Node.TaskID || a.Check.RiakConf != "conf" || a.Check.AdvancedConfig != "adv" {
						t.Errorf("check message %+v", a.Check)
					}
				}
				got += " "
			}
			if got != tc.want || p.Waiting != tc.waiting {
				t.Errorf("actions %q waiting %v, want %q waiting %v", got, p.Waiting, tc.want, tc.waiting)
			}
		})
	}
}
