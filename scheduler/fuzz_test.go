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

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"

	"github.com/rmf-go/rmf/internal/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// seedOffers are realistic offers: plain resources, attributes, and one
// with this role's reservation and volume.
func seedOffers() []mesos.Offer {
	ports := resources.Build().Name(resources.NamePorts).Ranges(resources.BuildRanges().Span(31000, 31999).Ranges).Resource
	plain := mesos.Offer{
		ID: mesos.OfferID{Value: "o1"}, FrameworkID: mesos.FrameworkID{Value: "f1"}, AgentID: mesos.AgentID{Value: "a1"}, Hostname: "agent-1",
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
	return &Scheduler{cfg: Config{Role: "riak", Principal: "rmf"}, log: slog.New(slog.DiscardHandler)}
}

// FuzzOffer feeds an offer decoded from arbitrary protobuf to everything
// placement does with it without ZooKeeper: the offer view, the resource
// fit, constraints, ranking, port picking, and the release of orphaned
// reservations. Never a panic; picked ports are offered, free and distinct.
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
