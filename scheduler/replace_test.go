package scheduler

import (
	"slices"
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

// TestRelaunchResizesItsVolume: a node relaunching on its agent after the
// cluster's disk changed resizes its volume in the ACCEPT of its launch
// (RESERVE + GROW_VOLUME, SHRINK_VOLUME + UNRESERVE) and launches on the
// resized volume; a record that disagrees with the agent's volume (a
// resize that did not apply) is planned from what the agent has.
func TestRelaunchResizesItsVolume(t *testing.T) {
	s := fuzzScheduler()
	offer := seedOffers()[1] // agent a2: node 1's 1 cpu, 1024 MB mem, 1024 MB volume, 20000 MB free disk
	rec := zkstate.NodeRecord{Cluster: "c1", Name: "riak-c1-1", DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedFailed,
		AgentID: "a2", Hostname: "agent-2", Host: "127.0.0.1", RiakNodeName: "riak-c1-1@127.0.0.1", PersistenceID: "c1-riak-c1-1-1",
		Reserved: zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 1024}, Ports: zkstate.Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004}}
	for _, tc := range []struct {
		name         string
		recordDisk   float64
		clusterDisk  float64
		types        []string
		launchVolume float64
	}{
		{"grow", 1024, 2048, []string{"RESERVE", "GROW_VOLUME", "LAUNCH"}, 2048},
		{"shrink", 1024, 512, []string{"SHRINK_VOLUME", "UNRESERVE", "LAUNCH"}, 512},
		{"record ahead of the agent", 2048, 2048, []string{"RESERVE", "GROW_VOLUME", "LAUNCH"}, 2048},
		{"same", 1024, 1024, []string{"LAUNCH"}, 1024},
	} {
		r := rec
		r.Reserved.DiskMB = tc.recordDisk
		snap := offerSnapshot{Now: time.Unix(1700000000, 0), Framework: "riak", Offers: []mesos.Offer{offer}, HostIPs: []string{"127.0.0.1"},
			Clusters: map[string]zkstate.ClusterRecord{"c1": {Name: "c1", Generation: 1, NodeResources: zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: tc.clusterDisk}}},
			Nodes:    []zkstate.NodeRecord{r}}
		p := s.planOffers(snap)
		ch, ok := launchedFor(p, r)
		if !ok || len(p.Offers) != 1 || len(p.Offers[0].Ops) != 1 {
			t.Fatalf("%s: not launched: %v", tc.name, p.Why)
		}
		var types []string
		var vol float64
		for _, op := range p.Offers[0].Ops[0].Ops {
			types = append(types, op.Type.String())
			for _, ti := range op.GetLaunch().GetTaskInfos() {
				for _, res := range ti.Resources {
					if res.IsPersistentVolume() {
						vol = res.GetScalar().GetValue()
					}
				}
			}
		}
		if !slices.Equal(types, tc.types) || vol != tc.launchVolume || ch.Node.Reserved.DiskMB != tc.launchVolume {
			t.Errorf("%s: ops %v, launched on a %g MB volume, record %g MB; want %v on %g MB", tc.name, types, vol, ch.Node.Reserved.DiskMB, tc.types, tc.launchVolume)
		}
	}
}
