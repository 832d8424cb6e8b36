package director

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// TestZooKeeperDiscovery: nodes appearing and disappearing under live/
// enter and leave rotation within 1 s with no client error, and the
// director keeps serving while ZooKeeper is down.
func TestZooKeeperDiscovery(t *testing.T) {
	zk := testutil.StartZooKeeper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store, err := zkstate.Connect(ctx, zk.Servers(), zkstate.WithSessionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	fw, err := store.Framework("riak")
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.CreateCluster(ctx, zkstate.ClusterRecord{Name: "c1", NodeResources: zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 1024}}); err != nil {
		t.Fatal(err)
	}
	nodes := startCluster(t, 2)
	p, addr := startProxy(t, Config{Logger: logger(), HealthInterval: 200 * time.Millisecond}, nil)
	var d Discovery
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	if err := d.WatchZooKeeper(wctx, fw, "c1", p, logger()); err != nil {
		t.Fatal(err)
	}
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
	defer reg2.Close()
	waitUntil("dev2 enters rotation", func() bool { return nodeIDs(p)["dev2"] })
	time.Sleep(300 * time.Millisecond)
	if err := reg1.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil("dev1 leaves rotation", func() bool { return !nodeIDs(p)["dev1"] })
	if ds := d.Status(); ds.Source != "zookeeper" || ds.Updated.IsZero() || !ds.Connected || ds.Err != "" {
		t.Errorf("discovery status %+v", ds)
	}
	// The admin views show where the nodes come from and how fresh they are.
	admin := httptest.NewServer(p.AdminHandler(&d))
	defer admin.Close()
	doc := getStatus(t, admin.URL)
	if doc.Discovery.Source != "zookeeper" || !doc.Discovery.Connected || doc.Discovery.Updated == "" ||
		doc.Discovery.AgeSeconds < 0 || doc.Discovery.AgeSeconds > 5 {
		t.Errorf("/status discovery %+v", doc.Discovery)
	}
	if statusOf(doc, "dev2") != NodeUp || statusOf(doc, "dev1") == NodeUp {
		t.Errorf("/status nodes %+v", doc.Nodes)
	}
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
