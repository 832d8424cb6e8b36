package devnode

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

func transfersOut(t *testing.T, pb string) (Transfers, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := CheckTransfers(ctx, pb)
	if err != nil {
		t.Fatalf("transfers: %v", err)
	}
	return tr, tr.Format()
}

func ringReady(t *testing.T, pb string) RingReady {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rr, err := CheckRingReady(ctx, pb)
	if err != nil {
		t.Fatalf("ringready: %v", err)
	}
	return rr
}

func waitService(pb, node string, d time.Duration) (bool, []string) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var lines []string
	up := WaitForService(ctx, pb, ServiceKV, node, 50*time.Millisecond, func(l string) { lines = append(lines, l) })
	return up, lines
}

// TestAdminReadyAndTransfers: ringready, wait-for-service and transfers on
// a 3-node cluster, with hinted handoff owed to a stopped member.
func TestAdminReadyAndTransfers(t *testing.T) {
	nodes := fixedNodes(t, 3)
	names := []string{"dev1@127.0.0.1", "dev2@127.0.0.1", "dev3@127.0.0.1"}
	pb1 := nodes[0].pb

	rr := ringReady(t, pb1)
	if !rr.OK() || !slices.Equal(rr.Nodes, names) {
		t.Fatalf("ringready = %+v, want TRUE with %v", rr, names)
	}
	if out := rr.Format(); !strings.HasPrefix(out, "TRUE All nodes agree on the ring ['dev1@127.0.0.1','dev2@127.0.0.1',\n") {
		t.Errorf("ringready output %q", out)
	}
	if up, lines := waitService(pb1, "", 5*time.Second); !up || lines[len(lines)-1] != "riak_kv is up\n" {
		t.Errorf("wait-for-service riak_kv: up=%v lines=%q", up, lines)
	}
	if up, _ := waitService(pb1, "dev3@127.0.0.1", 5*time.Second); !up {
		t.Errorf("wait-for-service riak_kv dev3@127.0.0.1 through dev1: not up")
	}
	testutil.WaitFor(t, 10*time.Second, "no transfers on an idle cluster", func() bool {
		tr, _ := transfersOut(t, pb1)
		return tr.Idle()
	})
	if _, out := transfersOut(t, pb1); !strings.HasPrefix(out, "No transfers active\n") {
		t.Errorf("idle transfers output %q", out)
	}

	nodes[2].stop(t)
	rr = ringReady(t, pb1)
	if rr.OK() || !slices.Equal(rr.Down, names[2:]) {
		t.Errorf("ringready with dev3 stopped = %+v, want dev3 down", rr)
	}
	if out := rr.Format(); out != "FALSE ['dev3@127.0.0.1'] down.  All nodes need to be up to check.\nerror\n" {
		t.Errorf("ringready output %q", out)
	}
	if up, lines := waitService(nodes[2].pb, "", 300*time.Millisecond); up || len(lines) == 0 || lines[0] != "riak_kv is not up: node watcher is not running\n" {
		t.Errorf("wait-for-service on a stopped node: up=%v lines=%q", up, lines)
	}
	c := newClient(t, pb1, nodes[1].pb)
	for i := range 30 {
		if err := store(c, "default", "admin", fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatalf("write k%d with dev3 stopped: %v", i, err)
		}
	}
	tr, out := transfersOut(t, pb1)
	if tr.Idle() || !strings.Contains(out, " waiting to handoff ") || !slices.Equal(tr.Down, names[2:]) {
		t.Fatalf("transfers with hints owed to a stopped dev3:\n%s", out)
	}
	if !strings.Contains(out, "Nodes ['dev3@127.0.0.1'] are currently down.\n") {
		t.Errorf("transfers does not report dev3 down:\n%s", out)
	}

	nodes[2].start(t, "")
	testutil.WaitFor(t, 15*time.Second, "hints handed to dev3: no transfers active", func() bool {
		tr, _ := transfersOut(t, pb1)
		return tr.Idle() && len(tr.Down) == 0
	})
	if rr := ringReady(t, nodes[2].pb); !rr.OK() {
		t.Errorf("ringready after dev3 came back: %+v", rr)
	}
}

// TestAdminForceReplace: dev3 is relaunched elsewhere as dev4; force-replace
// retires dev3 and no key written before is lost.
func TestAdminForceReplace(t *testing.T) {
	nodes := fixedNodes(t, 3)
	pb1 := nodes[0].pb
	c := newClient(t, pb1)
	const keys = 40
	for i := range keys {
		if err := store(c, "default", "replace", fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	nodes[2].stop(t)
	// Keys written while dev3 is down: hints owed to it, which the
	// replace must not leave pending for ever.
	const later = 20
	for i := range later {
		if err := store(c, "default", "replace", fmt.Sprintf("late%d", i), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if tr, out := transfersOut(t, pb1); tr.Idle() {
		t.Fatalf("no hints owed to a stopped dev3:\n%s", out)
	}
	dev4 := &fixedNode{name: "dev4@127.0.0.1", dir: t.TempDir(), pb: testutil.FreeAddr(t), http: testutil.FreeAddr(t)}
	dev4.start(t, pb1)
	live := []*fixedNode{nodes[0], nodes[1], dev4}
	testutil.WaitFor(t, 10*time.Second, "dev4 a member everywhere", func() bool {
		for _, f := range live {
			if _, ok := f.node.Cluster().Membership().Get("dev4@127.0.0.1"); !ok {
				return false
			}
		}
		return true
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _, err := Replace(ctx, pb1, "dev3@127.0.0.1", "dev4@127.0.0.1", false)
	if err != nil || out != ReplaceFailed {
		t.Errorf("replace of a stopped dev3 = %v, %v; want %v", out, err, ReplaceFailed)
	}
	out, _, err = Replace(ctx, pb1, "nobody@127.0.0.1", "dev4@127.0.0.1", true)
	if err != nil || out != ReplaceNotMember {
		t.Errorf("force-replace of a non-member = %v, %v; want %v", out, err, ReplaceNotMember)
	}
	if got := FormatReplace(out, "nobody@127.0.0.1", "dev4@127.0.0.1", true); got != "Failed: 'nobody@127.0.0.1' is not a member of the cluster.\nerror\n" {
		t.Errorf("non-member output %q", got)
	}
	out, reason, err := Replace(ctx, pb1, "dev3@127.0.0.1", "dev4@127.0.0.1", true)
	if err != nil || out != ReplaceOK {
		t.Fatalf("force-replace dev3 dev4 = %v (%s), %v", out, reason, err)
	}

	want := []string{"dev1@127.0.0.1", "dev2@127.0.0.1", "dev4@127.0.0.1"}
	testutil.WaitFor(t, 10*time.Second, "dev3 gone from every membership", func() bool {
		for _, f := range live {
			if !slices.Equal(f.node.Cluster().Membership().Names(), want) {
				return false
			}
		}
		return true
	})
	if rr := ringReady(t, dev4.pb); !rr.OK() || !slices.Equal(rr.Nodes, want) {
		t.Errorf("ringready after force-replace = %+v, want TRUE %v", rr, want)
	}
	rows, err := MemberStatus(ctx, pb1)
	if err != nil {
		t.Fatal(err)
	}
	if table := FormatMemberStatus(rows); strings.Contains(table, "dev3") || !strings.Contains(table, "Valid:3 / Leaving:0 / Exiting:0 / Joining:0 / Down:0\n") {
		t.Errorf("member-status after force-replace:\n%s", table)
	}
	testutil.WaitFor(t, 15*time.Second, "resync after the replace: no transfers active", func() bool {
		tr, _ := transfersOut(t, pb1)
		return tr.Idle() && len(tr.Down) == 0
	})
	for _, f := range live {
		cf := newClient(t, f.pb)
		for i := range keys {
			vals, err := fetch(cf, "default", "replace", fmt.Sprintf("k%d", i))
			if err != nil || len(vals) != 1 || vals[0] != fmt.Sprintf("v%d", i) {
				t.Errorf("k%d through %s after force-replace: %v %v", i, f.name, vals, err)
			}
		}
	}
	c4 := newClient(t, dev4.pb)
	for i := range later {
		vals, err := fetch(c4, "default", "replace", fmt.Sprintf("late%d", i))
		if err != nil || len(vals) != 1 || vals[0] != fmt.Sprintf("v%d", i) {
			t.Errorf("late%d through dev4 after force-replace: %v %v", i, vals, err)
		}
	}
	// A replaced name stays retired: gossip of an old view does not bring it back.
	m := nodes[0].node.Cluster().Membership()
	if !m.HasLeft("dev3@127.0.0.1") {
		t.Errorf("dev3 has no tombstone: %+v", m.Left)
	}
	stale := Membership{Version: membershipVersion, RingSize: m.RingSize, Members: []Member{{Name: "dev3@127.0.0.1", PB: nodes[2].pb, HTTP: nodes[2].http, Seen: time.Now().UTC()}}}
	if merged, _ := m.Merge(stale); slices.Contains(merged.Names(), "dev3@127.0.0.1") {
		t.Errorf("a newer announcement of dev3 brought it back")
	}
}

// TestAdminReplace: replace of a live member hands its data off (a leave)
// and leaves the cluster to the others and the new node.
func TestAdminReplace(t *testing.T) {
	nodes := fixedNodes(t, 3)
	pb1 := nodes[0].pb
	c := newClient(t, pb1)
	const keys = 30
	for i := range keys {
		if err := store(c, "default", "replace", fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	dev4 := &fixedNode{name: "dev4@127.0.0.1", dir: t.TempDir(), pb: testutil.FreeAddr(t), http: testutil.FreeAddr(t)}
	dev4.start(t, pb1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, reason, err := Replace(ctx, pb1, "dev3@127.0.0.1", "dev4@127.0.0.1", false)
	if err != nil || out != ReplaceOK {
		t.Fatalf("replace dev3 dev4 = %v (%s), %v", out, reason, err)
	}
	select {
	case <-nodes[2].node.Cluster().Left():
	case <-time.After(15 * time.Second):
		t.Fatal("dev3 did not leave after the replace")
	}
	want := []string{"dev1@127.0.0.1", "dev2@127.0.0.1", "dev4@127.0.0.1"}
	live := []*fixedNode{nodes[0], nodes[1], dev4}
	testutil.WaitFor(t, 10*time.Second, "dev3 gone from every membership", func() bool {
		for _, f := range live {
			if !slices.Equal(f.node.Cluster().Membership().Names(), want) {
				return false
			}
		}
		return true
	})
	nodes[2].stop(t)
	if rr := ringReady(t, pb1); !rr.OK() || !slices.Equal(rr.Nodes, want) {
		t.Errorf("ringready after replace = %+v, want TRUE %v", rr, want)
	}
	c4 := newClient(t, dev4.pb)
	for i := range keys {
		vals, err := fetch(c4, "default", "replace", fmt.Sprintf("k%d", i))
		if err != nil || len(vals) != 1 || vals[0] != fmt.Sprintf("v%d", i) {
			t.Errorf("k%d through dev4 after replace: %v %v", i, vals, err)
		}
	}
}
