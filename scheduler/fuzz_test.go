package scheduler

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/extras/store"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/events"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// seedOffers are realistic offers: plain resources, attributes, and one
// with this role's reservation and volume.
func seedOffers() []mesos.Offer {
	ports := resources.Build().Name(resources.NamePorts).Ranges(resources.BuildRanges().Span(31000, 31999).Ranges).Resource
	ip := "127.0.0.1"
	plain := mesos.Offer{
		ID: mesos.OfferID{Value: "o1"}, FrameworkID: mesos.FrameworkID{Value: "f1"}, AgentID: mesos.AgentID{Value: "a1"}, Hostname: "agent-1",
		URL:       &mesos.URL{Scheme: "http", Address: mesos.Address{Hostname: &ip, IP: &ip, Port: 5051}, Path: ptr("/slave(1)")},
		Resources: mesos.Resources{resources.NewCPUs(4).Resource, resources.NewMemory(8192).Resource, resources.NewDisk(20000).Resource, ports},
		Attributes: []mesos.Attribute{
			{Name: "rack", Type: mesos.TEXT, Text: &mesos.Value_Text{Value: "r1"}},
			{Name: "zone", Type: mesos.SCALAR, Scalar: &mesos.Value_Scalar{Value: 2}},
		},
	}
	s := fuzzScheduler()
	n := zkstate.NodeRecord{Cluster: "c1", Name: "riak-c1-1", PersistenceID: "c1-riak-c1-1-1",
		Reserved: zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 1024},
		Ports:    zkstate.Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004}}
	p, vol := s.nodeResources(n)
	reserved := plain
	reserved.ID, reserved.AgentID, reserved.Hostname = mesos.OfferID{Value: "o2"}, mesos.AgentID{Value: "a2"}, "agent-2"
	reserved.Resources = append(append(mesos.Resources(plain.Resources).Clone(), p...), vol...)
	return []mesos.Offer{plain, reserved, {AgentID: mesos.AgentID{Value: "a3"}}}
}

func fuzzScheduler() *Scheduler {
	cfg := Config{Role: "riak", Principal: "rmf", ZooKeeper: "127.0.0.1:2181"} // named in task data, never dialled
	cfg.defaults()
	return &Scheduler{cfg: cfg, log: slog.New(slog.DiscardHandler)}
}

// FuzzOffer feeds an offer decoded from arbitrary protobuf to everything
// placement does with it without ZooKeeper: the offer view, the resource
// fit, constraints, ranking, port picking, the release of orphaned
// reservations, and the whole plan of a round (planOffers on a snapshot
// with the fuzzed offer among the seed offers; see checkPlan). Never a
// panic; picked ports are offered, free and distinct.
func FuzzOffer(f *testing.F) {
	for _, o := range seedOffers() {
		b, err := o.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte(`[["hostname","UNIQUE"],["rack","CLUSTER","r1"],["zone","GROUP_BY","2"],["rack","LIKE","r[12]"],["rack","MAX_PER","2"]]`), 1.0, 1024.0, 1024.0)
		f.Add(b, []byte(`[["rack","UNLIKE","r1"]]`), 0.5, 256.0, 100.0)
	}
	f.Fuzz(func(t *testing.T, offer, cons []byte, cpus, mem, disk float64) {
		var o mesos.Offer
		if err := o.Unmarshal(offer); err != nil {
			return
		}
		s := fuzzScheduler()
		v := newOfferView(o, s.cfg.Role)
		_ = v.fits(zkstate.Resources{CPUs: cpus, MemMB: mem, DiskMB: disk})
		var constraints []zkstate.Constraint
		_ = json.Unmarshal(cons, &constraints) // as stored: shape only, operators unchecked
		placed := append(hosts(), v.host)
		for _, h := range append(hosts(), v.host) {
			CheckConstraints(constraints, h, placed)
			CheckConstraints(constraints, v.host, []Host{h})
		}
		if ranked := Rank(append(hosts(), v.host), placed); len(ranked) != 4 {
			t.Fatalf("Rank lost hosts: %v", ranked)
		}
		picked, ok := PickPorts(v.ports, portsPerNode, map[uint64]bool{31000: true})
		if ok != (len(picked) == portsPerNode) {
			t.Fatalf("PickPorts %v, %v", picked, ok)
		}
		seen := map[uint64]bool{31000: true}
		for _, p := range picked {
			offered := false
			for _, r := range v.ports {
				offered = offered || r.Begin <= p && p <= r.End
			}
			if !offered || seen[p] || p < 1 || p > 65535 {
				t.Fatalf("PickPorts(%v) picked %d of %v: not an offered free TCP port", v.ports, p, picked)
			}
			seen[p] = true
		}
		_ = s.orphanOps(o, nil)
		checkPlan(t, s, o, constraints, zkstate.Resources{CPUs: cpus, MemMB: mem, DiskMB: disk})
		// A placed node as its record has it (validated: finite amounts
		// >= 0, ports assigned).
		n := zkstate.NodeRecord{Cluster: "c1", Name: "riak-c1-1", PersistenceID: "c1-riak-c1-1-1", Reserved: zkstate.Resources{CPUs: cpus, MemMB: mem, DiskMB: disk}}
		if !ok || n.Reserved.Validate() != nil {
			return
		}
		n.Ports = zkstate.Ports{PB: int(picked[0]), HTTP: int(picked[1]), Handoff: int(picked[2]), Disterl: int(picked[3]), Erlpmd: int(picked[4])}
		plain, vol := s.nodeResources(n)
		_ = s.orphanOps(o, append(plain, vol...))
		_ = s.releaseOps(o, n)
	})
}

// checkPlan plans one round, without ZooKeeper, on a snapshot of cluster
// c1 (node 1 failed on agent a2's volume, nodes 2 and 3 pending, node 4
// removed) with the seed offers and o, and checks the plan: one decision
// per offer, in order; every placement launched by exactly one offer, of
// its agent, on ports of that offer's that no other placement there
// took; nodes it does not place say why; at most one node of the round
// starts without a join target, and a node joins only a placement made
// before it.
func checkPlan(t *testing.T, s *Scheduler, o mesos.Offer, cons []zkstate.Constraint, need zkstate.Resources) {
	t.Helper()
	if need.Validate() != nil {
		need = DefaultNodeResources // zkstate reads no cluster record with such resources
	}
	offers := append(seedOffers()[:2], o)
	ports := zkstate.Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004}
	snap := offerSnapshot{Now: time.Unix(1700000000, 0), Framework: "riak", Offers: offers,
		HostIPs:  []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"},
		Clusters: map[string]zkstate.ClusterRecord{"c1": {Name: "c1", NodeResources: need, Constraints: cons}},
		Nodes: []zkstate.NodeRecord{
			{Cluster: "c1", Name: "riak-c1-1", DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedFailed,
				AgentID: "a2", Hostname: "agent-2", Host: "127.0.0.2", RiakNodeName: "riak-c1-1@127.0.0.2", PersistenceID: "c1-riak-c1-1-1",
				Reserved: zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 1024}, Ports: ports},
			{Cluster: "c1", Name: "riak-c1-2", DesiredState: zkstate.DesiredRunning},
			{Cluster: "c1", Name: "riak-c1-3", DesiredState: zkstate.DesiredRunning},
			{Cluster: "c1", Name: "riak-c1-4", DesiredState: zkstate.DesiredRemoved, ObservedState: zkstate.ObservedLeaving,
				AgentID: "a1", Hostname: "agent-1", PersistenceID: "c1-riak-c1-4-1", Reserved: DefaultNodeResources, Ports: ports},
		},
	}
	p := s.planOffers(snap)
	if len(p.Offers) != len(offers) {
		t.Fatalf("%d decisions for %d offers", len(p.Offers), len(offers))
	}
	launchedBy := map[int]int{}
	for i, d := range p.Offers {
		if d.Offer.ID != offers[i].ID {
			t.Fatalf("decision %d is for offer %q, want %q", i, d.Offer.ID.Value, offers[i].ID.Value)
		}
		for _, g := range d.Ops {
			if g.Change >= 0 {
				if _, dup := launchedBy[g.Change]; dup {
					t.Fatalf("change %d launched by two offers", g.Change)
				}
				launchedBy[g.Change] = i
			}
		}
	}
	taken := map[int]map[uint64]bool{} // offer → ports placements took
	seeds := 0
	for i, ch := range p.Changes {
		if ch.Kind != changePlace {
			continue
		}
		n := ch.Node
		oi, ok := launchedBy[i]
		if !ok || n.TaskID == "" || n.AgentID != offers[oi].AgentID.Value {
			t.Fatalf("placement %+v: launched by offer %d (%v) of agent %q", n, oi, ok, offers[oi].AgentID.Value)
		}
		if ch.JoinsChange >= i {
			t.Fatalf("%s joins change %d, not placed before it", n.Name, ch.JoinsChange)
		}
		if ch.Join == "" {
			seeds++
		}
		if !ch.Fresh {
			continue
		}
		v := newOfferView(offers[oi], s.cfg.Role)
		if taken[oi] == nil {
			taken[oi] = map[uint64]bool{}
		}
		for _, port := range []int{n.Ports.PB, n.Ports.HTTP, n.Ports.Handoff, n.Ports.Disterl, n.Ports.Erlpmd} {
			offered := false
			for _, r := range v.ports {
				offered = offered || r.Begin <= uint64(port) && uint64(port) <= r.End
			}
			if !offered || port < 1 || port > 65535 || taken[oi][uint64(port)] {
				t.Fatalf("%s placed on port %d of offer %d %v: not an offered free TCP port", n.Name, port, oi, v.ports)
			}
			taken[oi][uint64(port)] = true
		}
	}
	if seeds > 1 {
		t.Fatalf("%d nodes of one round start without a join target: %+v", seeds, p.Changes)
	}
	for _, n := range snap.Nodes[1:3] {
		if _, placed := launchedFor(p, n); !placed && p.Why[key(n)] == "" {
			t.Fatalf("%s neither placed nor told why", n.Name)
		}
	}
}

// launchedFor finds the placement of node n in a plan.
func launchedFor(p offerPlan, n zkstate.NodeRecord) (nodeChange, bool) {
	for _, ch := range p.Changes {
		if ch.Kind == changePlace && key(ch.Node) == key(n) {
			return ch, true
		}
	}
	return nodeChange{}, false
}

// FuzzConstraints: a constraint list as an API body or a stored cluster
// record gives, validated or not, a yes/no answer and never a panic.
func FuzzConstraints(f *testing.F) {
	for _, c := range []string{`[["hostname","UNIQUE"]]`, `[["rack","CLUSTER","r1"]]`, `[["rack","CLUSTER"]]`, `[["rack","GROUP_BY"]]`,
		`[["rack","GROUP_BY","2"]]`, `[["hostname","LIKE","agent-[12]"]]`, `[["rack","UNLIKE","r1"]]`, `[["rack","MAX_PER","2"]]`,
		`[["zone","UNIQUE"]]`, `[["hostname","SOMETIMES"]]`, `[["rack","MAX_PER","x"]]`} {
		f.Add([]byte(c), "r1", "agent-1")
	}
	f.Fuzz(func(t *testing.T, data []byte, rack, hostname string) {
		var cons []zkstate.Constraint
		if json.Unmarshal(data, &cons) != nil {
			return
		}
		valid := true
		for _, c := range cons {
			if ValidateConstraint(c) != nil || c.Validate() != nil {
				valid = false
			}
		}
		h := Host{AgentID: "x", Hostname: hostname, Attributes: map[string]string{"rack": rack}}
		all := hosts()
		for i := range all {
			if ok, why := CheckConstraints(cons, h, all[:i]); !ok && why == "" {
				t.Fatalf("refused without a reason (valid %v)", valid)
			}
		}
	})
}

// FuzzAPI sends arbitrary requests to the real API handler backed by a
// real ZooKeeper (skipped under -short): every answer is 2xx, 3xx (the
// mux's path cleaning) or 4xx, an /api/ error is a JSON {"error": ...},
// never a 5xx or a panic. State is reset to one cluster c1 with two
// pending nodes after each request.
func FuzzAPI(f *testing.F) {
	z := testutil.StartZooKeeper(f)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	store, err := zkstate.Connect(ctx, z.Servers())
	cancel()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(store.Close)
	fw, err := store.Framework("riak")
	if err != nil {
		f.Fatal(err)
	}
	s, err := New(Config{Master: "http://127.0.0.1:1", Framework: fw, ZooKeeper: z.Addr})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler("")
	reset := func(t testing.TB) {
		ctx := context.Background()
		names, err := fw.ListClusters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range names {
			if err := fw.DeleteCluster(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := fw.CreateCluster(ctx, zkstate.ClusterRecord{Name: "c1", NodeResources: DefaultNodeResources,
			Constraints: []zkstate.Constraint{{Field: "hostname", Operator: OpUnique}}, RiakConf: "nodename = {{.NodeName}}\n"}); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"riak-c1-1", "riak-c1-2"} {
			if err := fw.CreateNode(ctx, zkstate.NodeRecord{Cluster: "c1", Name: n, DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedPending}); err != nil {
				t.Fatal(err)
			}
		}
	}
	reset(f)
	methods := []string{"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"}
	for _, st := range []struct {
		m          byte
		path, body string
	}{
		{1, "/api/v1/clusters/c2", `{"node_resources":{"cpus":0.5,"mem_mb":256,"disk_mb":100},"constraints":[["hostname","UNIQUE"]]}`},
		{1, "/api/v1/clusters/c2", `{"constraints":[["hostname","SOMETIMES"]],"riak_conf":"x","advanced_config":"[]."}`},
		{1, "/api/v1/clusters/c1", ``},
		{1, "/api/v1/clusters/a%2F..%2Fb", ``},
		{0, "/api/v1/clusters/c1", ``},
		{0, "/api/v1/clusters", ``},
		{2, "/api/v1/clusters/c1/nodes?count=2", ``},
		{2, "/api/v1/clusters/c1/nodes", `{"count":3}`},
		{0, "/api/v1/clusters/c1/nodes/riak-c1-1", ``},
		{3, "/api/v1/clusters/c1/nodes/riak-c1-2?force=true", ``},
		{3, "/api/v1/clusters/c1/nodes/riak-c1-2", ``},
		{2, "/api/v1/clusters/c1/nodes/riak-c1-1/restart", ``},
		{1, "/api/v1/clusters/c1/config", "nodename = {{.NodeName}}\n"},
		{1, "/api/v1/clusters/c1/advancedConfig", "[]."},
		{0, "/api/v1/clusters/c1/advancedConfig", ""},
		{2, "/api/v1/clusters/c1/restart", ``},
		{3, "/api/v1/clusters/c1", ``},
		{0, "/api/v1/framework", ``},
		{0, "/api/v1/agents", ``},
		{0, "/api/v1/healthcheck", ``},
		{4, "/api/v1/clusters/c1", ``},
		{0, "/", ``},
	} {
		f.Add(st.m, st.path, []byte(st.body))
	}
	f.Fuzz(func(t *testing.T, m byte, target string, body []byte) {
		if strings.HasPrefix(target, "/static") { // serves files, not input
			return
		}
		req, err := http.NewRequest(methods[int(m)%len(methods)], "http://api"+target, strings.NewReader(string(body)))
		if err != nil || req.URL.Host != "api" {
			return // not a request a server would route
		}
		defer reset(t)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		code, got := rec.Code, rec.Body.String()
		if code < 200 || code >= 500 {
			t.Fatalf("%s %q: %d %s", req.Method, target, code, got)
		}
		if code >= 400 && strings.HasPrefix(req.URL.Path, "/api/") {
			var e struct{ Error string }
			if json.Unmarshal([]byte(got), &e) != nil || e.Error == "" {
				t.Fatalf("%s %q: %d without a JSON error: %s", req.Method, target, code, got)
			}
		}
		if code < 300 && rec.Header().Get("Content-Type") == "application/json" && req.Method != "HEAD" && !json.Valid([]byte(got)) {
			t.Fatalf("%s %q: invalid JSON %s", req.Method, target, got)
		}
	})
}

// eventRig is the scheduler's real event handler against a real
// ZooKeeper, with the calls it makes to the master recorded, not sent.
type eventRig struct {
	s    *Scheduler
	fw   *zkstate.Framework
	h    events.Handler
	sent []*scheduler.Call
}

// newEventRig starts ZooKeeper (skipped under -short).
func newEventRig(tb testing.TB, cfg Config) *eventRig {
	z := testutil.StartZooKeeper(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	st, err := zkstate.Connect(ctx, z.Servers())
	cancel()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	fw, err := st.Framework("riak")
	if err != nil {
		tb.Fatal(err)
	}
	cfg.Master, cfg.Framework, cfg.ZooKeeper, cfg.Logger = "http://127.0.0.1:1", fw, z.Addr, slog.New(slog.DiscardHandler)
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	r := &eventRig{s: s, fw: fw}
	s.caller = calls.CallerFunc(func(_ context.Context, c *scheduler.Call) (mesos.Response, error) {
		r.sent = append(r.sent, c)
		return nil, nil
	})
	return r
}

// reset leaves cluster c1 with node riak-c1-1 placed on agent a1 as task
// t1 and riak-c1-2 pending, no calls sent, and a fresh subscription.
func (r *eventRig) reset(tb testing.TB) {
	ctx := context.Background()
	names, err := r.fw.ListClusters(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range names {
		if err := r.fw.DeleteCluster(ctx, c); err != nil {
			tb.Fatal(err)
		}
	}
	if err := r.fw.CreateCluster(ctx, zkstate.ClusterRecord{Name: "c1", NodeResources: DefaultNodeResources}); err != nil {
		tb.Fatal(err)
	}
	for _, n := range []zkstate.NodeRecord{
		{Cluster: "c1", Name: "riak-c1-1", DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedStarting,
			TaskID: "t1", AgentID: "a1", PersistenceID: "c1-riak-c1-1-1", Reserved: DefaultNodeResources,
			Ports: zkstate.Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004}},
		{Cluster: "c1", Name: "riak-c1-2", DesiredState: zkstate.DesiredRunning, ObservedState: zkstate.ObservedPending},
	} {
		if err := r.fw.CreateNode(ctx, n); err != nil {
			tb.Fatal(err)
		}
	}
	r.sent = nil
	r.s.mu.Lock()
	r.s.runtime, r.s.agents = map[string]*nodeRuntime{}, map[string]AgentView{}
	r.s.mu.Unlock()
	r.h = r.s.eventHandler(store.NewInMemorySingleton())
}

// FuzzEvent decodes an event from arbitrary protobuf and hands it to the
// scheduler's real event handler (eventRig). Never a panic; the records
// stay readable; every call names what it acts on; an update is
// acknowledged only with its own UUID; an executor is never launched
// through a shell.
func FuzzEvent(f *testing.F) {
	r := newEventRig(f, Config{})
	for _, e := range seedEvents() {
		b, err := e.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e scheduler.Event
		if e.Unmarshal(data) != nil {
			return // the client's decoder would refuse it
		}
		r.reset(t)
		// Only an ERROR event ends the subscription (mesos-go's LiftErrors).
		if err := r.h.HandleEvent(context.Background(), &e); (err != nil) != (e.GetType() == scheduler.Event_ERROR && e.GetError() != nil) {
			t.Fatalf("%v: handler error %v", e.GetType(), err)
		}
		nodes, err := r.s.readAllNodes(context.Background())
		if err != nil {
			t.Fatalf("records unreadable after %s: %v", e.GetType(), err)
		}
		for _, n := range nodes {
			if len(n.Message) > maxEventText+len("…") {
				t.Fatalf("recorded a %d-byte message", len(n.Message))
			}
		}
		checkCalls(t, &e, r.sent)
	})
}

// checkCalls: the calls an event led to act on what the event named.
func checkCalls(t *testing.T, e *scheduler.Event, sent []*scheduler.Call) {
	t.Helper()
	for _, c := range sent {
		switch c.GetType() {
		case scheduler.Call_ACKNOWLEDGE:
			a, u := c.GetAcknowledge(), e.GetUpdate()
			if u == nil || string(a.UUID) != string(u.Status.GetUUID()) || len(a.UUID) == 0 || a.TaskID.Value != u.Status.TaskID.Value {
				t.Fatalf("acknowledged %v for event %v", a, e.GetType())
			}
		case scheduler.Call_KILL:
			if c.GetKill().TaskID.Value == "" {
				t.Fatal("kill without a task")
			}
		case scheduler.Call_DECLINE, scheduler.Call_ACCEPT:
			var ids []mesos.OfferID
			if c.GetDecline() != nil {
				ids = c.GetDecline().OfferIDs
			} else {
				ids = c.GetAccept().OfferIDs
			}
			for _, id := range ids {
				found := false
				for _, o := range e.GetOffers().GetOffers() {
					found = found || o.ID == id
				}
				if !found {
					t.Fatalf("%v of offer %q that was not offered", c.GetType(), id.Value)
				}
			}
			for _, op := range c.GetAccept().GetOperations() {
				for _, task := range op.GetLaunch().GetTaskInfos() {
					cmd := task.GetExecutor().GetCommand()
					if cmd.Shell == nil || cmd.GetShell() || len(cmd.Arguments) == 0 || cmd.Arguments[0] != cmd.GetValue() {
						t.Fatalf("task %s: executor command %q shell=%v args %q: want an argument vector, no shell",
							task.TaskID.Value, cmd.GetValue(), cmd.GetShell(), cmd.Arguments)
					}
				}
			}
		case scheduler.Call_RECONCILE, scheduler.Call_SUPPRESS, scheduler.Call_REVIVE:
		default:
			t.Fatalf("unexpected call %v for event %v", c.GetType(), e.GetType())
		}
	}
}

// TestLaunchWithoutShell: the executor is launched as an argument vector
// with the shell off, so an executor command with shell syntax in it is
// passed through as literal arguments, never interpreted.
func TestLaunchWithoutShell(t *testing.T) {
	r := newEventRig(t, Config{ExecutorCommand: "./rmf executor ; touch /tmp/pwned $(id)"})
	r.reset(t)
	e := scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: seedOffers()[:1]}}
	if err := r.h.HandleEvent(context.Background(), &e); err != nil {
		t.Fatal(err)
	}
	checkCalls(t, &e, r.sent)
	var launched []mesos.TaskInfo
	for _, c := range r.sent {
		for _, op := range c.GetAccept().GetOperations() {
			launched = append(launched, op.GetLaunch().GetTaskInfos()...)
		}
	}
	if len(launched) != 1 {
		t.Fatalf("launched %d tasks, want riak-c1-2 (calls %v; why %+v)", len(launched), r.sent, r.s.runtime["c1/riak-c1-2"])
	}
	cmd := launched[0].GetExecutor().GetCommand()
	want := []string{"./rmf", "executor", ";", "touch", "/tmp/pwned", "$(id)"}
	if cmd.GetShell() || cmd.GetValue() != "./rmf" || strings.Join(cmd.Arguments, "|") != strings.Join(want, "|") {
		t.Fatalf("executor command %q shell=%v args %q, want %q without a shell", cmd.GetValue(), cmd.GetShell(), cmd.Arguments, want)
	}
}

// seedEvents are the events the master sends, and a few it should not.
func seedEvents() []scheduler.Event {
	uuid := []byte("0123456789abcdef")
	running, finished := mesos.TASK_RUNNING, mesos.TASK_FAILED
	update := func(task string, state *mesos.TaskState, msg string) scheduler.Event {
		return scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: mesos.TaskStatus{
			TaskID: mesos.TaskID{Value: task}, State: state, UUID: uuid, Message: &msg, AgentID: &mesos.AgentID{Value: "a1"}}}}
	}
	hb := 15.0
	return []scheduler.Event{
		{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{FrameworkID: &mesos.FrameworkID{Value: "fw-0001"}, HeartbeatIntervalSeconds: &hb}},
		{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: seedOffers()}},
		update("t1", &running, "started"),
		update("t1", &finished, strings.Repeat("é", 2000)),
		update("t-unknown", &running, ""),
		{Type: scheduler.Event_RESCIND, Rescind: &scheduler.Event_Rescind{OfferID: mesos.OfferID{Value: "o1"}}},
		{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{AgentID: &mesos.AgentID{Value: "a1"}}},
		{Type: scheduler.Event_ERROR, Error: &scheduler.Event_Error{Message: "framework removed"}},
		{Type: scheduler.Event_HEARTBEAT},
		// malformed: the type's part is missing
		{Type: scheduler.Event_UPDATE},
		{Type: scheduler.Event_SUBSCRIBED},
		{Type: scheduler.Event_OFFERS},
		{Type: scheduler.Event_ERROR},
	}
}

// TestClip: an outside string is stored valid and bounded.
func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 4, "abc"},
		{"abcdef", 4, "abcd…"},
		{"aéé", 4, "aé…"},             // never half a rune
		{"a\xffb", 8, "a\uFFFDb"},     // invalid bytes replaced, not widened by JSON later
		{"a\xff\xffb", 4, "a\uFFFD…"}, // a run of bad bytes is one replacement
	} {
		if got := clip(tc.in, tc.n); got != tc.want || !utf8.ValidString(got) {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// TestExecutorCredential: with --zk-auth the executors get the
// credential in RMF_ZK_AUTH; with --executor-zk-auth-file they are told
// to read it from that file on the agent, and the task carries no trace
// of it (Mesos shows tasks to whoever can read its state).
func TestExecutorCredential(t *testing.T) {
	const cred = "rmf:s3cret"
	for _, file := range []string{"", "/etc/rmf/zk-auth"} {
		r := newEventRig(t, Config{ZKAuth: cred, ExecutorZKAuthFile: file})
		r.reset(t)
		e := scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{Offers: seedOffers()[:1]}}
		if err := r.h.HandleEvent(context.Background(), &e); err != nil {
			t.Fatal(err)
		}
		var launched []mesos.TaskInfo
		for _, c := range r.sent {
			for _, op := range c.GetAccept().GetOperations() {
				launched = append(launched, op.GetLaunch().GetTaskInfos()...)
			}
		}
		if len(launched) != 1 {
			t.Fatalf("launched %d tasks, want 1", len(launched))
		}
		task := launched[0]
		cmd := task.GetExecutor().GetCommand()
		b, err := task.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		inTask := strings.Contains(string(b), "s3cret")
		args := strings.Join(cmd.Arguments, " ")
		if file == "" {
			if !inTask || cmd.GetEnvironment() == nil || cmd.GetEnvironment().Variables[0].GetValue() != cred {
				t.Fatalf("--zk-auth only: environment %v, want RMF_ZK_AUTH", cmd.GetEnvironment())
			}
			continue
		}
		if inTask || cmd.GetEnvironment() != nil || !strings.HasSuffix(args, "--zk-auth-file "+file) {
			t.Fatalf("--executor-zk-auth-file: credential in the task %v, environment %v, args %q", inTask, cmd.GetEnvironment(), args)
		}
	}
	if _, err := New(Config{Master: "http://m", Framework: &zkstate.Framework{}, ZooKeeper: "z", ExecutorZKAuthFile: "relative/path"}); err == nil {
		t.Fatal("a relative credential file accepted")
	}
}
