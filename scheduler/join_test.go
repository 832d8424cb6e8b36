package scheduler

import (
	"context"
	"fmt"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// TestRelaunchJoinsInOneRound: every node of a cluster failed at once (a
// strict-fencing ZooKeeper outage, a failed first start) and all are
// relaunched on their volumes from one round of offers. Exactly one may
// start without a join target; the others join it. (Each node was given
// an empty target, and three nodes whose first start had failed formed
// three one-node rings that acknowledged writes nobody else could read.)
func TestRelaunchJoinsInOneRound(t *testing.T) {
	r := newEventRig(t, Config{})
	r.reset(t)
	ctx := context.Background()
	var offers []mesos.Offer
	for i := 1; i <= 3; i++ {
		name, agent := fmt.Sprintf("riak-c1-%d", i), fmt.Sprintf("a%d", i)
		n := zkstate.NodeRecord{Cluster: "c1", Name: name, DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedFailed,
			AgentID: agent, Hostname: "agent-" + agent, Host: fmt.Sprintf("127.0.0.%d", i), RiakNodeName: fmt.Sprintf("%s@127.0.0.%d", name, i),
			PersistenceID: "c1-" + name + "-1", Reserved: DefaultNodeResources,
			Ports: zkstate.Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004}}
		if _, _, err := r.fw.ModifyNode(ctx, "c1", name, func(rec *zkstate.NodeRecord) error { *rec = n; return nil }); err != nil {
			if err := r.fw.CreateNode(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		plain, vol := r.s.nodeResources(n)
		ip := n.Host
		offers = append(offers, mesos.Offer{
			ID: mesos.OfferID{Value: "o" + agent}, FrameworkID: mesos.FrameworkID{Value: "f1"}, AgentID: mesos.AgentID{Value: agent}, Hostname: n.Hostname,
			URL:       &mesos.URL{Scheme: "http", Address: mesos.Address{Hostname: &ip, IP: &ip, Port: 5051}},
			Resources: append(append(mesos.Resources{resources.NewCPUs(4).Resource, resources.NewMemory(8192).Resource}, plain...), vol...),
		})
	}
	e := scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: offers}}
	if err := r.h.HandleEvent(ctx, &e); err != nil {
		t.Fatal(err)
	}
	joins := map[string]string{}
	for _, c := range r.sent {
		for _, op := range c.GetAccept().GetOperations() {
			for _, task := range op.GetLaunch().GetTaskInfos() {
				td, err := nodetask.Unmarshal(task.Data)
				if err != nil {
					t.Fatal(err)
				}
				joins[td.Node] = td.Join
			}
		}
	}
	if len(joins) != 3 {
		t.Fatalf("launched %v, want the three nodes", joins)
	}
	var seed string
	for name, j := range joins {
		if j == "" {
			if seed != "" {
				t.Fatalf("%s and %s both start without a join target: two rings (%v)", seed, name, joins)
			}
			seed = name
		}
	}
	if seed == "" {
		t.Fatalf("no node starts as the seed: %v", joins)
	}
	for name, j := range joins {
		if name != seed && j == "" {
			t.Fatalf("%s joins nobody: %v", name, joins)
		}
	}
	t.Logf("seed %s, joins %v", seed, joins)
}
