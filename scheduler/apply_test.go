package scheduler

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// failingStore is a stateStore whose ModifyNode fails for some nodes and
// records the others; nothing else of it is used by applyOfferPlan here.
type failingStore struct {
	stateStore
	fail     map[string]bool // node names
	recorded []string
}

func (f *failingStore) ModifyNode(_ context.Context, cluster, name string, fn func(*zkstate.NodeRecord) error) (zkstate.NodeRecord, int32, error) {
	if f.fail[name] {
		return zkstate.NodeRecord{}, 0, errors.New("zk: connection closed")
	}
	rec := zkstate.NodeRecord{Cluster: cluster, Name: name, DesiredState: zkstate.DesiredRunning}
	if err := fn(&rec); err != nil {
		return rec, 0, err
	}
	f.recorded = append(f.recorded, name)
	return rec, 1, nil
}

// TestApplyOfferPlan: a launch goes out only once its placement is
// recorded, and a node is not launched to join one whose placement was
// not; offers left without operations are declined briefly, as nodes
// still wait.
func TestApplyOfferPlan(t *testing.T) {
	for _, tc := range []struct {
		name         string
		fail         []string
		wantLaunched []string
	}{
		{"all recorded", nil, []string{"riak-c1-1", "riak-c1-2", "riak-c1-3"}},
		{"a joiner not recorded", []string{"riak-c1-2"}, []string{"riak-c1-1", "riak-c1-3"}},
		{"the seed not recorded", []string{"riak-c1-1"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := &failingStore{fail: map[string]bool{}}
			for _, n := range tc.fail {
				fs.fail[n] = true
			}
			s := fuzzScheduler()
			s.fw, s.runtime, s.agents = fs, map[string]*nodeRuntime{}, map[string]AgentView{}
			var sent []*scheduler.Call
			s.caller = calls.CallerFunc(func(_ context.Context, c *scheduler.Call) (mesos.Response, error) {
				sent = append(sent, c)
				return nil, nil
			})
			snap := offerSnapshot{Now: time.Unix(1700000000, 0), Framework: "riak",
				Clusters: map[string]zkstate.ClusterRecord{"c1": {Name: "c1", NodeResources: DefaultNodeResources}}}
			for i := 1; i <= 3; i++ {
				name, agent, ip := fmt.Sprintf("riak-c1-%d", i), fmt.Sprintf("a%d", i), fmt.Sprintf("127.0.0.%d", i)
				n := zkstate.NodeRecord{Cluster: "c1", Name: name, DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedFailed,
					AgentID: agent, Hostname: "agent-" + agent, Host: ip, RiakNodeName: name + "@" + ip, PersistenceID: "c1-" + name + "-1",
					Reserved: DefaultNodeResources, Ports: zkstate.Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004}}
				plain, vol := s.nodeResources(n)
				snap.Nodes = append(snap.Nodes, n)
				snap.Offers = append(snap.Offers, mesos.Offer{ID: mesos.OfferID{Value: "o" + agent}, AgentID: mesos.AgentID{Value: agent}, Hostname: n.Hostname,
					Resources: append(append(mesos.Resources{resources.NewCPUs(4).Resource}, plain...), vol...)})
				snap.HostIPs = append(snap.HostIPs, ip)
			}
			s.applyOfferPlan(context.Background(), s.planOffers(snap))
			var launched []string
			declined := 0
			for _, c := range sent {
				for _, op := range c.GetAccept().GetOperations() {
					for _, task := range op.GetLaunch().GetTaskInfos() {
						launched = append(launched, task.Name[len("c1/"):])
					}
				}
				if d := c.GetDecline(); d != nil {
					declined++
					if f := d.GetFilters().GetRefuseSeconds(); f != 1 {
						t.Errorf("declined for %vs with a node waiting, want 1s", f)
					}
				}
			}
			if fmt.Sprint(launched) != fmt.Sprint(tc.wantLaunched) || fmt.Sprint(fs.recorded) != fmt.Sprint(tc.wantLaunched) {
				t.Errorf("launched %v, recorded %v; want %v both", launched, fs.recorded, tc.wantLaunched)
			}
			if declined != 3-len(tc.wantLaunched) {
				t.Errorf("%d offers declined, want %d", declined, 3-len(tc.wantLaunched))
			}
		})
	}
}

// TestApplyTickCheck: a check action sends the check-config MESSAGE to
// the node's executor and records when; a resend keeps when the check
// began, so its timeout counts from the first request.
func TestApplyTickCheck(t *testing.T) {
	s := fuzzScheduler()
	s.fw, s.runtime, s.agents = &failingStore{}, map[string]*nodeRuntime{}, map[string]AgentView{}
	var sent []*scheduler.Call
	s.caller = calls.CallerFunc(func(_ context.Context, c *scheduler.Call) (mesos.Response, error) {
		sent = append(sent, c)
		return nil, nil
	})
	n := zkstate.NodeRecord{Cluster: "c1", Name: "riak-c1-1", TaskID: "t1", AgentID: "a1", DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedRunning}
	msg := nodetask.Message{Op: nodetask.OpCheckConfig, TaskID: "t1", Generation: 4, RiakConf: "ring_size = 64\n"}
	s.applyTick(context.Background(), tickPlan{Actions: []tickAction{{Kind: tickCheckConfig, Node: n, First: true, Check: msg}}})
	r := *s.runtime["c1/riak-c1-1"]
	if r.checkFor != "t1" || r.checkGen != 4 || r.checkStarted.IsZero() || r.checkSent.IsZero() {
		t.Fatalf("runtime after the first check: %+v", r)
	}
	s.applyTick(context.Background(), tickPlan{Actions: []tickAction{{Kind: tickCheckConfig, Node: n, Check: msg}}})
	if again := *s.runtime["c1/riak-c1-1"]; again.checkStarted != r.checkStarted || again.checkSent.Before(r.checkSent) {
		t.Errorf("resend moved the check's start: %+v", again)
	}
	if len(sent) != 2 {
		t.Fatalf("%d calls, want 2 MESSAGEs", len(sent))
	}
	for _, c := range sent {
		m := c.GetMessage()
		got, err := nodetask.ParseMessage(m.GetData())
		if c.GetType() != scheduler.Call_MESSAGE || m.AgentID.Value != "a1" || m.ExecutorID.Value != executorID("t1") || err != nil ||
			got.Op != nodetask.OpCheckConfig || got.Generation != 4 || got.RiakConf != msg.RiakConf {
			t.Errorf("call %v: message %+v, %v", c, got, err)
		}
	}
}
