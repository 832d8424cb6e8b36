package devnode

import (
	"context"
	"errors"
	"fmt"
	"github.com/rmf-go/rmf/internal/standin/devnode/ring"
	"slices"
	"testing"
	"time"
)

// TestLeaveHandsOffUnderLoad: the fourth member of a cluster leaves while
// clients write through another node. Afterwards every member knows it
// left, no ring names it, every object is stored on each primary of the
// three-member ring (what the leaver held reached its new owners), every
// acknowledged write reads back with the leaver stopped, and its data
// directory refuses to start again.
func TestLeaveHandsOffUnderLoad(t *testing.T) {
	n1 := startNode(t, "dev1@127.0.0.1", t.TempDir(), "", nil)
	n2 := startNode(t, "dev2@127.0.0.1", t.TempDir(), n1.PBAddr(), nil)
	n3 := startNode(t, "dev3@127.0.0.1", t.TempDir(), n1.PBAddr(), nil)
	leaverDir := t.TempDir()
	n4 := startNode(t, "dev4@127.0.0.1", leaverDir, n1.PBAddr(), nil)
	nodes := []*Node{n1, n2, n3, n4}
	waitMembers(t, nodes...)

	c1 := newClient(t, n1.PBAddr())
	for i := range 300 {
		if err := store(c1, "default", "pre", fmt.Sprint(i), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	load := startWriteLoad(t, []string{n2.PBAddr()}, 4, "during")
	load.waitWrites(t, 20, "before the leave")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := RequestLeave(ctx, n4.PBAddr())
	if err != nil {
		t.Fatalf("leave: %v", err)
	}
	load.waitWrites(t, 20, "after the leave")
	load.stop()
	t.Logf("leave handed off %d objects; load: %d writes, %d write errors, %d read errors", res.HandedOff, load.writes.Load(), load.writeErrs.Load(), load.readErr.Load())
	if res.HandedOff == 0 || len(res.Unreachable) != 0 {
		t.Errorf("leave result %+v: want objects handed off and every member reached", res)
	}
	if load.writeErrs.Load() != 0 || load.readErr.Load() != 0 {
		t.Errorf("client errors during the leave: %d writes, %d reads", load.writeErrs.Load(), load.readErr.Load())
	}
	select {
	case <-n4.Cluster().Left():
	default:
		t.Error("Left() not closed after the leave")
	}
	shutdown(t, n4)

	remaining := []*Node{n1, n2, n3}
	for _, n := range remaining {
		m := n.Cluster().Membership()
		if !m.HasLeft("dev4@127.0.0.1") || slices.Contains(m.Names(), "dev4@127.0.0.1") {
			t.Errorf("%s membership after the leave: members %v left %v", n.cfg.Name, m.Names(), m.Left)
		}
		if _, r := n.Cluster().snapshot(); slices.Contains(r.Members(), "dev4@127.0.0.1") {
			t.Errorf("%s ring still names the leaver", n.cfg.Name)
		}
	}
	// Every pre-leave object is on each of its primaries, without read repair.
	for _, n := range remaining {
		_, r := n.Cluster().snapshot()
		for i := range 300 {
			pl := r.Preflist([]byte("default"), []byte("pre"), []byte(fmt.Sprint(i)), 3, nil)
			if !slices.ContainsFunc(pl, func(e ring.Entry) bool { return e.Node == n.cfg.Name }) {
				continue
			}
			_, found, err := n.engine.FetchReplica(ctx, "default", "pre", fmt.Sprint(i))
			if err != nil || !found {
				t.Fatalf("%s lacks pre/%d after the leave (found %v, err %v)", n.cfg.Name, i, found, err)
			}
		}
	}
	if miss := load.missing(c1); len(miss) > 0 {
		t.Errorf("%d acknowledged writes unreadable after the leave, e.g. %v", len(miss), miss[:min(5, len(miss))])
	}

	// The leaver's data directory refuses to serve again.
	_, err = Start(ctx, Config{Name: "dev4@127.0.0.1", PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: leaverDir,
		Backend: "disk", RingSize: 16, Logger: quietLogger()})
	if !errors.Is(err, ErrLeft) {
		t.Errorf("restart of the leaver: %v, want ErrLeft", err)
	}
}

func TestLastMemberCannotLeave(t *testing.T) {
	n := startNode(t, "solo@127.0.0.1", t.TempDir(), "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := RequestLeave(ctx, n.PBAddr())
	if err == nil || n.Cluster().Ping(ctx) != nil {
		t.Fatalf("leave of the only member: %v; want a refusal and the node still serving", err)
	}
	t.Logf("refusal: %v", err)
}

func shutdown(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown %s: %v", n.cfg.Name, err)
	}
}

func TestMembershipMergeWithTombstones(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mb := func(name string, at time.Duration) Member {
		return Member{Name: name, PB: name + ":1", HTTP: name + ":2", Seen: t0.Add(at)}
	}
	base := Membership{Version: membershipVersion, RingSize: 16, Members: []Member{mb("a", 0), mb("b", 0), mb("c", 0)}}

	left, changed := base.Merge(Membership{Left: []Member{mb("c", time.Minute)}})
	if !changed || !left.HasLeft("c") || slices.Contains(left.Names(), "c") || left.Validate() != nil {
		t.Fatalf("tombstone merge: %+v changed=%v", left, changed)
	}
	// An announcement from before the leave does not bring it back.
	if again, changed := left.Merge(Membership{Members: []Member{mb("c", 30*time.Second)}}); changed || slices.Contains(again.Names(), "c") {
		t.Errorf("stale announcement resurrected the leaver: %v", again.Names())
	}
	// A newer one (fresh data directory, a new join) does.
	back, changed := left.Merge(Membership{Members: []Member{mb("c", 2*time.Minute)}})
	if !changed || !slices.Contains(back.Names(), "c") || back.HasLeft("c") || back.Validate() != nil {
		t.Errorf("rejoin after the leave: members %v left %v", back.Names(), back.Left)
	}
	// An old tombstone does not remove the rejoined member.
	if again, _ := back.Merge(Membership{Left: []Member{mb("c", time.Minute)}}); !slices.Contains(again.Names(), "c") {
		t.Errorf("old tombstone removed a rejoined member: %v", again.Names())
	}
	// Merging is commutative for the outcome.
	other, _ := Membership{Version: membershipVersion, RingSize: 16, Left: []Member{mb("c", time.Minute)}, Members: []Member{mb("a", 0)}}.Merge(base)
	if !slices.Equal(other.Names(), left.Names()) || !other.HasLeft("c") {
		t.Errorf("merge order changed the outcome: %v vs %v", other.Names(), left.Names())
	}
	bad := left
	bad.Members = append(slices.Clone(bad.Members), mb("c", 0))
	if bad.Validate() == nil {
		t.Error("a name both member and left validated")
	}
}
