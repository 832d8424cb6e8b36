package director

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/devnode"
	"github.com/rmf-go/rmf/internal/zkstate"
)

func liveRecord(t *testing.T, n *devnode.Node, name string) zkstate.LiveRecord {
	t.Helper()
	host, pb, _ := net.SplitHostPort(n.PBAddr())
	_, httpPort, _ := net.SplitHostPort(n.HTTPAddr())
	pbp, _ := strconv.Atoi(pb)
	hp, _ := strconv.Atoi(httpPort)
	return zkstate.LiveRecord{Name: name, Host: host, PBPort: pbp, HTTPPort: hp}
}

func nodeIDs(p *Proxy) map[string]bool {
	ids := map[string]bool{}
	for _, n := range p.Nodes() {
		ids[n.ID] = true
	}
	return ids
}

// zkDiscovery starts ZooKeeper with cluster c1 and a proxy without nodes
// whose discovery watches c1's live records, all stopped when the test
// ends.
func zkDiscovery(t *testing.T, health time.Duration) (*testutil.ZooKeeper, *zkstate.Framework, *Proxy, string, *Discovery) {
	t.Helper()
	zk := testutil.StartZooKeeper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store, err := zkstate.Connect(ctx, zk.Servers(), zkstate.WithSessionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	fw, err := store.Framework("riak")
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.CreateCluster(ctx, zkstate.ClusterRecord{Name: "c1", NodeResources: zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 1024}}); err != nil {
		t.Fatal(err)
	}
	p, addr := startProxy(t, Config{Logger: logger(), HealthInterval: health}, nil)
	d := &Discovery{}
	wctx, wcancel := context.WithCancel(context.Background())
	t.Cleanup(wcancel)
	if err := d.WatchZooKeeper(wctx, fw, "c1", p, logger()); err != nil {
		t.Fatal(err)
	}
	return zk, fw, p, addr, d
}

// TestZooKeeperDiscovery: nodes appearing and disappearing under live/
// enter and leave rotation within 1 s with no client error, and the
// director keeps serving while ZooKeeper is down.
func TestZooKeeperDiscovery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	zk, fw, p, addr, d := zkDiscovery(t, 200*time.Millisecond)
	nodes := startCluster(t, 2)
	reg1, err := fw.RegisterLive(ctx, "c1", liveRecord(t, nodes[0], "dev1"))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		testutil.WaitFor(t, time.Second, what, cond)
	}
	waitUntil("dev1 enters rotation", func() bool { return nodeIDs(p)["dev1"] })

	// Continuous load while the node set changes.
	c := client(t, addr)
	var errs, ops atomic.Int64
	lctx, lcancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; lctx.Err() == nil; i++ {
				key := fmt.Sprintf("z%d-%d", w, i)
				if err := put(c, key, key); err != nil {
					errs.Add(1)
					continue
				}
				if v, err := get(c, key); err != nil || v != key {
					errs.Add(1)
					continue
				}
				ops.Add(1)
			}
		}()
	}
	reg2, err := fw.RegisterLive(ctx, "c1", liveRecord(t, nodes[1], "dev2"))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil("dev2 enters rotation", func() bool { return nodeIDs(p)["dev2"] })
	time.Sleep(300 * time.Millisecond)
	// dev1 is stopped on purpose: the executor marks its record leaving,
	// then deletes it.
	if err := fw.MarkLiveLeaving(ctx, reg1, liveRecord(t, nodes[0], "dev1")); err != nil {
		t.Fatal(err)
	}
	waitUntil("dev1 leaves rotation on the leaving mark", func() bool { return !nodeIDs(p)["dev1"] })
	if err := reg1.Close(); err != nil {
		t.Fatal(err)
	}
	if ds := d.Status(); ds.Source != "zookeeper" || ds.Updated.IsZero() || !ds.Connected || ds.Err != "" || len(ds.Unlisted) != 0 {
		t.Errorf("discovery status %+v", ds)
	}
	// The admin views show where the nodes come from and how fresh they are.
	admin := httptest.NewServer(p.AdminHandler(d))
	defer admin.Close()
	doc := getStatus(t, admin.URL)
	if doc.Discovery.Source != "zookeeper" || !doc.Discovery.Connected || doc.Discovery.Updated == "" ||
		doc.Discovery.AgeSeconds < 0 || doc.Discovery.AgeSeconds > 5 {
		t.Errorf("/status discovery %+v", doc.Discovery)
	}
	if statusOf(doc, "dev2") != NodeUp || statusOf(doc, "dev1") == NodeUp {
		t.Errorf("/status nodes %+v", doc.Nodes)
	}
	// dev2's record vanishes without the mark (as when its executor's
	// session expires): dev2 answers, so it keeps serving, unlisted.
	if err := reg2.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil("dev2 shown unlisted", func() bool { return slices.Equal(d.Status().Unlisted, []string{"dev2"}) })
	served := ops.Load()
	time.Sleep(500 * time.Millisecond)
	if !nodeIDs(p)["dev2"] || ops.Load() <= served {
		t.Fatalf("dev2 left rotation when its record vanished unmarked (nodes %v, %d ops before, %d after)", nodeIDs(p), served, ops.Load())
	}
	if doc := getStatus(t, admin.URL); !slices.Equal(doc.Discovery.Unlisted, []string{"dev2"}) {
		t.Errorf("/status discovery unlisted %v, want [dev2]", doc.Discovery.Unlisted)
	}
	reg2, err = fw.RegisterLive(ctx, "c1", liveRecord(t, nodes[1], "dev2"))
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()
	waitUntil("dev2 listed again", func() bool { return len(d.Status().Unlisted) == 0 && nodeIDs(p)["dev2"] })
	// ZooKeeper goes away: the last known set keeps serving.
	zk.Stop()
	before := ops.Load()
	time.Sleep(time.Second)
	lcancel()
	wg.Wait()
	if ops.Load() <= before {
		t.Errorf("no requests served while ZooKeeper was down (%d before, %d after)", before, ops.Load())
	}
	if !nodeIDs(p)["dev2"] {
		t.Error("node set lost while ZooKeeper was down")
	}
	if errs.Load() != 0 {
		t.Errorf("%d client errors during node churn and ZooKeeper outage (%d ops)", errs.Load(), ops.Load())
	}
}

// TestUnlistedNodeLeavesWhenUnhealthy: a node whose record vanished
// unmarked serves only while it passes health checks; once it stops
// answering it leaves rotation, and clients see no error.
func TestUnlistedNodeLeavesWhenUnhealthy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, fw, p, addr, d := zkDiscovery(t, 100*time.Millisecond)
	nodes := startCluster(t, 3)
	var regs []*zkstate.Registration
	for i, n := range nodes {
		reg, err := fw.RegisterLive(ctx, "c1", liveRecord(t, n, fmt.Sprintf("dev%d", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		defer reg.Close()
		regs = append(regs, reg)
	}
	testutil.WaitFor(t, 2*time.Second, "three nodes in rotation", func() bool { return len(nodeIDs(p)) == 3 })
	if err := regs[2].Close(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 2*time.Second, "dev3 unlisted", func() bool { return slices.Equal(d.Status().Unlisted, []string{"dev3"}) })
	if err := nodes[2].Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 3*time.Second, "dev3 out of rotation once it stops answering", func() bool {
		return !nodeIDs(p)["dev3"] && len(d.Status().Unlisted) == 0
	})
	c := client(t, addr)
	for i := range 20 {
		key := fmt.Sprintf("u%d", i)
		if err := put(c, key, key); err != nil {
			t.Fatalf("put through the remaining nodes: %v", err)
		}
	}
}

// TestNextNodeSet: listed records serve, leaving ones drain, and a served
// node whose record is gone stays only while healthy.
func TestNextNodeSet(t *testing.T) {
	rec := func(name string, port int, leaving bool) zkstate.LiveRecord {
		return zkstate.LiveRecord{Name: name, Host: "127.0.0.1", PBPort: port, HTTPPort: port + 1, Leaving: leaving}
	}
	spec := func(r zkstate.LiveRecord) balancer.NodeSpec { return specFromLive(r) }
	a, b, c := rec("a", 1000, false), rec("b", 2000, false), rec("c", 3000, false)
	healthyAll := func(string) bool { return true }
	for _, tc := range []struct {
		name         string
		live         []zkstate.LiveRecord
		served       []balancer.NodeSpec
		healthy      func(string) bool
		want         []string // IDs
		wantUnlisted []string
	}{
		{"first read", []zkstate.LiveRecord{b, a}, nil, healthyAll, []string{"a", "b"}, nil},
		{"leaving drains", []zkstate.LiveRecord{a, rec("b", 2000, true)}, []balancer.NodeSpec{spec(a), spec(b)}, healthyAll, []string{"a"}, nil},
		{"leaving never added", []zkstate.LiveRecord{rec("b", 2000, true)}, nil, healthyAll, nil, nil},
		{"vanished, healthy: kept", []zkstate.LiveRecord{a}, []balancer.NodeSpec{spec(a), spec(b)}, healthyAll, []string{"a", "b"}, []string{"b"}},
		{"vanished, unhealthy: dropped", []zkstate.LiveRecord{a}, []balancer.NodeSpec{spec(a), spec(b)}, func(id string) bool { return id != "b" }, []string{"a"}, nil},
		{"all vanished, healthy: all kept", nil, []balancer.NodeSpec{spec(a), spec(b), spec(c)}, healthyAll, []string{"a", "b", "c"}, []string{"a", "b", "c"}},
		{"back at a new address", []zkstate.LiveRecord{a, rec("b", 4000, false)}, []balancer.NodeSpec{spec(a), spec(b)}, healthyAll, []string{"a", "b"}, nil},
	} {
		set, unlisted := nextNodeSet(recordMap(tc.live...), tc.served, tc.healthy)
		var ids []string
		for _, s := range set {
			ids = append(ids, s.ID)
		}
		if !slices.Equal(ids, tc.want) || !slices.Equal(unlisted, tc.wantUnlisted) {
			t.Errorf("%s: set %v unlisted %v, want %v and %v", tc.name, ids, unlisted, tc.want, tc.wantUnlisted)
		}
		if tc.name == "back at a new address" && set[1].PBAddr != "127.0.0.1:4000" {
			t.Errorf("%s: b at %s, want the new address", tc.name, set[1].PBAddr)
		}
	}
}

func recordMap(rs ...zkstate.LiveRecord) map[string]zkstate.LiveRecord {
	m := map[string]zkstate.LiveRecord{}
	for _, r := range rs {
		m[r.Name] = r
	}
	return m
}
