package director

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/protocol"
)

// TestTableRows: the table's writes and indexes, without sockets.
func TestTableRows(t *testing.T) {
	tb := newTable()
	tb.setNode(NodeRow{ID: "n1", PBAddr: "a:1", State: NodeUp})
	tb.setNode(NodeRow{ID: "n2", PBAddr: "a:2", State: NodeUp})
	c1, c2 := tb.addClient("r:1"), tb.addClient("r:2")
	b1, b2, b3 := tb.addBackend("n1"), tb.addBackend("n1"), tb.addBackend("n2")
	tb.pin(c2, b2, "n1")
	tb.tunnel(c2)
	tb.refresh(map[string]liveState{"n1": {up: true, idle: map[string]bool{b1: true, b2: true}}, "n2": {up: false}})

	cases := []struct {
		name      string
		got, want int
	}{
		{"clients", len(tb.ClientConns()), 2},
		{"clients pinned to n1", len(tb.ClientConnsByNode("n1")), 1},
		{"clients pinned to n2", len(tb.ClientConnsByNode("n2")), 0},
		{"backends of n1", len(tb.BackendConnsByNode("n1")), 2},
		{"idle backends", len(tb.BackendConnsByState(BackendIdle)), 1},     // b1; b2 stays pinned
		{"pinned backends", len(tb.BackendConnsByState(BackendPinned)), 1}, // b2
		{"busy backends", len(tb.BackendConnsByState(BackendBusy)), 1},     // b3
		{"nodes up", len(tb.NodesInState(NodeUp)), 1},
		{"nodes down", len(tb.NodesInState(NodeDown)), 1},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	if r := tb.ClientConnsByNode("n1"); len(r) == 1 && (r[0].ID != c2 || !r[0].Tunnel || r[0].Remote != "r:2") {
		t.Errorf("pinned client row %+v", r[0])
	}
	if r := tb.NodesInState(NodeDown); len(r) == 1 && r[0].ID != "n2" {
		t.Errorf("down node %+v", r[0])
	}
	tb.setNode(NodeRow{ID: "n2", State: NodeDraining})
	tb.refresh(map[string]liveState{"n1": {up: true, idle: map[string]bool{b1: true}}, "n2": {up: true}}) // draining stays draining
	if r := tb.NodesInState(NodeDraining); len(r) != 1 {
		t.Errorf("draining nodes %+v", r)
	}
	for _, id := range []string{c1, c2} {
		tb.removeClient(id)
	}
	for _, id := range []string{b1, b2, b3} {
		tb.removeBackend(id)
	}
	tb.dropNode("n1")
	tb.dropNode("n2")
	if c, b := tb.Counts(); c != 0 || b != 0 || len(tb.Nodes()) != 0 {
		t.Errorf("left behind: %d clients, %d backends, nodes %+v", c, b, tb.Nodes())
	}
	var nilTable *Table // DisableConnTable
	nilTable.pin("x", "y", "z")
	if len(nilTable.ClientConns()) != 0 || len(nilTable.BackendConnsByState(BackendIdle)) != 0 {
		t.Error("nil table has rows")
	}
}

// TestConnTable: rows follow real connections, idle/busy is brought up to
// date when read, and nothing is left behind after they close and after
// Shutdown (no goroutine leak either).
func TestConnTable(t *testing.T) {
	checkGoroutines(t)
	nodes := startCluster(t, 1)
	p, addr := startProxy(t, Config{HealthInterval: -1}, nodes)
	id := nodes[0].PBAddr()
	var raws []*rawClient
	for range 5 {
		rc := dialRaw(t, addr)
		rc.do(pingReq)
		raws = append(raws, rc)
	}
	testutil.WaitFor(t, 2*time.Second, "5 client rows", func() bool { c, _ := p.Table().Counts(); return c == len(p.Conns()) && c == 5 })
	tb := p.Table()
	if rows := tb.ClientConns(); len(rows) != 5 || rows[0].Remote == "" || rows[0].Pinned != "" {
		t.Errorf("client rows %+v", rows)
	}
	// Every request has been answered, so every backend connection goes
	// back to the pool (idle). That happens just after the answer is
	// relayed, so a client can hold its answer a moment before its backend
	// row says idle: wait for the state, do not read it at once.
	var bs, idle []BackendRow
	open := -1
	settled := func() bool {
		tb := p.Table()
		bs, idle, open = tb.BackendConnsByNode(id), tb.BackendConnsByState(BackendIdle), p.Stats().Nodes[0].ConnsOpen
		return len(bs) > 0 && len(idle) == len(bs) && open == len(bs)
	}
	testutil.Eventually(5*time.Second, settled)
	if len(bs) == 0 {
		t.Fatal("no backend rows")
	}
	if len(idle) != len(bs) {
		t.Errorf("idle %d of %d backend rows: %+v", len(idle), len(bs), bs)
	}
	if open != len(bs) {
		t.Errorf("backend rows %d, pool has %d", len(bs), open)
	}
	if ns := tb.NodesInState(NodeUp); len(ns) != 1 || ns[0].ID != id {
		t.Errorf("node rows %+v", ns)
	}
	for _, rc := range raws {
		rc.nc.Close()
	}
	testutil.WaitFor(t, 2*time.Second, "client rows gone", func() bool { c, _ := p.Table().Counts(); return c == 0 })
	p.SetNodes(nil)
	testutil.WaitFor(t, 3*time.Second, "backend and node rows gone", func() bool {
		tb := p.Table()
		_, b := tb.Counts()
		return b == 0 && len(tb.Nodes()) == 0
	})
}

// TestTablePinnedDraining: a pinned client keeps its node draining after
// the node is removed, in the table and in /status; when it leaves, the
// node and its rows are gone.
func TestTablePinnedDraining(t *testing.T) {
	checkGoroutines(t)
	nodes := startCluster(t, 2)
	p, addr := startProxy(t, Config{HealthInterval: -1}, nodes)
	admin := httptest.NewServer(p.AdminHandler(nil))
	defer admin.Close()

	rc := dialRaw(t, addr)
	if f := rc.do(frame(protocol.CodeGetClientIDReq, nil)); f.Code != protocol.CodeGetClientIDResp {
		t.Fatalf("get client id: %v", f.Code)
	}
	other := dialRaw(t, addr)
	other.do(pingReq)
	conns := p.Conns()
	var victim string
	for _, c := range conns {
		if c.Pinned != "" {
			victim = c.Pinned
		}
	}
	if victim == "" {
		t.Fatalf("no pinned connection in %+v", conns)
	}
	tb := p.Table()
	if rows := tb.ClientConnsByNode(victim); len(rows) != 1 {
		t.Fatalf("clients pinned to %s: %+v", victim, rows)
	}
	if rows := tb.BackendConnsByState(BackendPinned); len(rows) != 1 || rows[0].Node != victim {
		t.Fatalf("pinned backends %+v", rows)
	}
	doc := getStatus(t, admin.URL)
	if doc.ClientConns != len(p.Conns()) || doc.PinnedConns != 1 {
		t.Errorf("status: %d client conns (Conns %d), %d pinned", doc.ClientConns, len(p.Conns()), doc.PinnedConns)
	}
	for _, n := range doc.Nodes {
		if n.ID == victim && n.Pinned != 1 {
			t.Errorf("node %s: pinned %d, want 1", n.ID, n.Pinned)
		}
	}

	var rest []balancer.NodeSpec
	for _, s := range specsOf(nodes) {
		if s.ID != victim {
			rest = append(rest, s)
		}
	}
	p.SetNodes(rest)
	doc = getStatus(t, admin.URL)
	if st := statusOf(doc, victim); st != NodeDraining {
		t.Fatalf("removed node with a pinned client: %q, want draining (%+v)", st, doc.Nodes)
	}
	if ns := p.Table().NodesInState(NodeDraining); len(ns) != 1 || ns[0].ID != victim {
		t.Errorf("draining rows %+v", ns)
	}
	// The pinned client still works: its node is drained, not cut off.
	if f := rc.do(pingReq); f.Code != protocol.CodePingResp {
		t.Errorf("pinned ping after removal: %v", f.Code)
	}
	rc.nc.Close()
	testutil.WaitFor(t, 3*time.Second, "drained node gone", func() bool {
		return statusOf(getStatus(t, admin.URL), victim) == "absent" && len(p.Table().BackendConnsByNode(victim)) == 0
	})
	if rows := p.Table().ClientConnsByNode(victim); len(rows) != 0 {
		t.Errorf("client rows left: %+v", rows)
	}
}

// TestTableDisabled: without the table the admin views still work, from
// the proxy's counters.
func TestTableDisabled(t *testing.T) {
	nodes := startCluster(t, 1)
	p, addr := startProxy(t, Config{HealthInterval: -1, DisableConnTable: true}, nodes)
	admin := httptest.NewServer(p.AdminHandler(nil))
	defer admin.Close()
	rc := dialRaw(t, addr)
	rc.do(pingReq)
	if p.Table() != nil {
		t.Fatal("table enabled")
	}
	doc := getStatus(t, admin.URL)
	if doc.ClientConns != 1 || doc.BackendConns != 1 || len(doc.Nodes) != 1 || doc.Nodes[0].State != NodeUp {
		t.Errorf("status without table: %+v", doc)
	}
}
