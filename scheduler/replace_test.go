package scheduler

import (
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// launchedTask is the task data planOffers launches node name with.
func launchedTask(t *testing.T, p offerPlan, name string) nodetask.Task {
	t.Helper()
	for _, d := range p.Offers {
		for _, po := range d.Ops {
			for _, op := range po.Ops {
				for _, ti := range op.GetLaunch().GetTaskInfos() {
					td, err := nodetask.Unmarshal(ti.Data)
					if err != nil {
						t.Fatal(err)
					}
					if td.Node == name {
						return td
					}
				}
			}
		}
	}
	t.Fatalf("%s not launched: %+v", name, p.Why)
	return nodetask.Task{}
}

// TestReplacedNodeReplacesItsOldName: a node whose agent is gone is
// placed again on another agent under a new Erlang name; its task names
// the old one (Replaces) until a task under the new name runs. A second
// replacement before that keeps the name of the incarnation that ran.
func TestReplacedNodeReplacesItsOldName(t *testing.T) {
	s := fuzzScheduler()
	now := time.Unix(1700000000, 0)
	ports := zkstate.Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004}
	rec := zkstate.NodeRecord{Cluster: "c1", Name: "riak-c1-1", DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedFailed,
		AgentID: "a9", Hostname: "agent-9", Host: "127.0.0.9", RiakNodeName: "riak-c1-1@127.0.0.9", PersistenceID: "c1-riak-c1-1-1",
		Reserved: DefaultNodeResources, Ports: ports, Status: &zkstate.NodeStatus{Ready: true}}
	forgetPlacement(&rec, "agent gone")
	if rec.ReplacesRiakNodeName != "riak-c1-1@127.0.0.9" || rec.RiakNodeName != "" || rec.AgentID != "" || rec.Status != nil {
		t.Fatalf("after the agent is given up: %+v", rec)
	}
	if err := rec.Validate(); err != nil {
		t.Fatal(err)
	}
	plan := func(rec zkstate.NodeRecord) (offerPlan, zkstate.NodeRecord) {
		snap := offerSnapshot{Now: now, Framework: "riak", Offers: seedOffers()[:1], HostIPs: []string{"127.0.0.1"},
			Clusters: map[string]zkstate.ClusterRecord{"c1": {Name: "c1", Generation: 1, NodeResources: DefaultNodeResources}},
			Nodes:    []zkstate.NodeRecord{rec}}
		p := s.planOffers(snap)
		ch, ok := launchedFor(p, rec)
		if !ok {
			t.Fatalf("not placed: %v", p.Why)
		}
		return p, ch.Node
	}
	p, placed := plan(rec)
	if td := launchedTask(t, p, "riak-c1-1"); td.NodeName != "riak-c1-1@127.0.0.1" || td.Replaces != "riak-c1-1@127.0.0.9" {
		t.Errorf("task %s replaces %q, want riak-c1-1@127.0.0.1 replacing riak-c1-1@127.0.0.9", td.NodeName, td.Replaces)
	}

	// Replaced again before it ran: the incarnation that ran is the one
	// to replace.
	placed.TaskID, placed.ObservedState = "", zkstate.ObservedFailed
	again := placed
	forgetPlacement(&again, "agent gone")
	if again.ReplacesRiakNodeName != "riak-c1-1@127.0.0.9" {
		t.Errorf("second replacement replaces %q, want the one that ran", again.ReplacesRiakNodeName)
	}

	// A relaunch on the same agent keeps naming it; running clears it.
	placed.TaskID = "t1"
	if err := observeUpdate(&placed, "t1", mesos.TASK_STARTING, false, "", statusReport{}); err != nil || placed.ReplacesRiakNodeName == "" {
		t.Fatalf("starting: %v, replaces %q", err, placed.ReplacesRiakNodeName)
	}
	if err := observeUpdate(&placed, "t1", mesos.TASK_RUNNING, false, "", statusReport{Status: &nodetask.Status{Ready: true}}); err != nil || placed.ReplacesRiakNodeName != "" {
		t.Fatalf("running: %v, replaces %q, want cleared", err, placed.ReplacesRiakNodeName)
	}

	// Placed again on the agent whose address it had: the same name,
	// nothing to replace.
	same := rec
	same.ReplacesRiakNodeName = "riak-c1-1@127.0.0.1"
	p, _ = plan(same)
	if td := launchedTask(t, p, "riak-c1-1"); td.Replaces != "" {
		t.Errorf("same name: replaces %q, want none", td.Replaces)
	}
}
