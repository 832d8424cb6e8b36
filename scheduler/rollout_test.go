package scheduler

import (
	"testing"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// TestPlanRollout: the rollout view computed from the node records.
func TestPlanRollout(t *testing.T) {
	rec := func(name string, gen int, o zkstate.ObservedState, st *zkstate.NodeStatus) zkstate.NodeRecord {
		return zkstate.NodeRecord{Cluster: "c1", Name: name, Generation: int64(gen), TaskID: "t-" + name, DesiredState: zkstate.DesiredRunning, ObservedState: o, Status: st}
	}
	run := zkstate.ObservedRunning
	ready := &zkstate.NodeStatus{Ready: true}
	check := func(gen int, ok bool) *zkstate.NodeStatus {
		return &zkstate.NodeStatus{Ready: true, ConfigCheck: &zkstate.ConfigCheck{Generation: int64(gen), OK: ok, Error: map[bool]string{false: "bad key"}[ok]}}
	}
	other := rec("x1", 0, zkstate.ObservedFailed, nil)
	other.Cluster = "c2"
	for _, tc := range []struct {
		name  string
		nodes []zkstate.NodeRecord
		gen   int
		want  Rollout
		next  string
	}{
		{"no nodes", nil, 3, Rollout{Generation: 3, State: RolloutDone}, ""},
		{"every node current", []zkstate.NodeRecord{rec("n1", 2, run, ready), rec("n2", 2, run, nil), other}, 2,
			Rollout{Generation: 2, State: RolloutDone, NodesDone: 2, NodesTotal: 2}, ""},
		{"checking the first", []zkstate.NodeRecord{rec("n1", 1, run, ready), rec("n2", 1, run, ready)}, 2,
			Rollout{Generation: 2, State: RolloutChecking, Node: "n1", NodesTotal: 2}, "n1"},
		{"checked: restarting", []zkstate.NodeRecord{rec("n1", 1, run, check(2, true)), rec("n2", 1, run, ready)}, 2,
			Rollout{Generation: 2, State: RolloutRestarting, Node: "n1", NodesTotal: 2}, "n1"},
		{"killed: restarting", []zkstate.NodeRecord{rec("n1", 1, zkstate.ObservedStopping, nil), rec("n2", 1, run, ready)}, 2,
			Rollout{Generation: 2, State: RolloutRestarting, Node: "n1", Message: "waiting: n1 is stopping", NodesTotal: 2}, ""},
		{"killed, to be relaunched: restarting", []zkstate.NodeRecord{rec("n1", 1, zkstate.ObservedReserved, nil), rec("n2", 1, run, ready)}, 2,
			Rollout{Generation: 2, State: RolloutRestarting, Node: "n1", Message: "waiting: n1 is reserving", NodesTotal: 2}, ""},
		{"back, not ready: restarting", []zkstate.NodeRecord{rec("n1", 2, run, &zkstate.NodeStatus{}), rec("n2", 1, run, ready)}, 2,
			Rollout{Generation: 2, State: RolloutRestarting, Node: "n1", Message: "waiting: n1 is not ready (riak_kv or ringready)", NodesDone: 1, NodesTotal: 2}, ""},
		{"transfers: waiting", []zkstate.NodeRecord{rec("n1", 2, run, ready), rec("n2", 1, run, &zkstate.NodeStatus{Ready: true, TransfersPending: true})}, 2,
			Rollout{Generation: 2, State: RolloutWaiting, Node: "n2", Message: "waiting: n2 reports transfers pending", NodesDone: 1, NodesTotal: 2}, ""},
		{"refused: stopped", []zkstate.NodeRecord{rec("n1", 2, run, ready), rec("n2", 1, run, check(2, false)), rec("n3", 1, run, ready)}, 2,
			Rollout{Generation: 2, State: RolloutStopped, Node: "n2", Error: "bad key", Message: "n2 refused generation 2; a new configuration (generation) starts a new check",
				NodesDone: 1, NodesTotal: 3}, ""},
		{"refused an older generation: checking again", []zkstate.NodeRecord{rec("n1", 2, run, ready), rec("n2", 1, run, check(2, false))}, 3,
			Rollout{Generation: 3, State: RolloutChecking, Node: "n1", NodesTotal: 2}, "n1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := planRollout(zkstate.ClusterRecord{Name: "c1", Generation: int64(tc.gen)}, tc.nodes)
			next := ""
			if st.Next != nil {
				next = st.Next.Name
			}
			if st.Rollout != tc.want || next != tc.next {
				t.Errorf("rollout %+v next %q, want %+v next %q", st.Rollout, next, tc.want, tc.next)
			}
		})
	}
}
