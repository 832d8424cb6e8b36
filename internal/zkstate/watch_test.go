package zkstate_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
)

func children(want ...string) func(zkstate.ChildrenSnapshot) bool {
	return func(s zkstate.ChildrenSnapshot) bool {
		return s.Err == nil && s.Exists && slices.Equal(s.Children, want)
	}
}

// TestWatchChildren: the watch starts before its directory exists, sees
// children come and go, and keeps working across a ZooKeeper restart.
func TestWatchChildren(t *testing.T) {
	z := startZK(t)
	ctx := testCtx(t)
	s := connect(t, z.Addr)
	w := connect(t, z.Addr) // writer
	dir, _ := zkstate.NodesPath("riak", "c1")

	ch := s.WatchChildren(ctx, dir)
	waitFor(t, ch, waitLong, "missing dir", func(s zkstate.ChildrenSnapshot) bool {
		return s.Err == nil && !s.Exists && len(s.Children) == 0
	})

	wf := framework(t, w)
	if err := wf.CreateCluster(ctx, cluster("c1")); err != nil {
		t.Fatal(err)
	}
	if err := wf.CreateNode(ctx, node("c1", "n2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, waitLong, "n2", children("n2"))
	if err := wf.CreateNode(ctx, node("c1", "n1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, waitLong, "n1,n2", children("n1", "n2"))
	if err := wf.DeleteNode(ctx, "c1", "n2", -1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, waitLong, "n1", children("n1"))

	// Data changes are not children changes: no snapshot.
	if _, _, err := wf.ModifyNode(ctx, "c1", "n1", func(n *zkstate.NodeRecord) error { n.TaskID = "t"; return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case snap := <-ch:
		t.Fatalf("unexpected snapshot after a data change: %+v", snap)
	case <-time.After(200 * time.Millisecond):
	}

	z.Restart(t)
	if err := wf.CreateNode(ctx, node("c1", "n3")); err != nil {
		t.Fatalf("create after restart: %v", err)
	}
	waitFor(t, ch, waitLong, "n1,n3 after restart", children("n1", "n3"))

	// Deleting the directory is seen, and so is its re-creation.
	if err := wf.DeleteCluster(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, waitLong, "dir deleted", func(s zkstate.ChildrenSnapshot) bool { return s.Err == nil && !s.Exists })
	if err := wf.CreateCluster(ctx, cluster("c1")); err != nil {
		t.Fatal(err)
	}
	if err := wf.CreateNode(ctx, node("c1", "n9")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, waitLong, "n9", children("n9"))
}

// TestWatchLive: adds, data changes and removals are delivered as full
// sets; invalid records are skipped; a ZooKeeper restart is survived.
func TestWatchLive(t *testing.T) {
	z := startZK(t)
	ctx := testCtx(t)
	s := connect(t, z.Addr)
	exec := connect(t, z.Addr) // plays the executors
	f, fe := framework(t, s), framework(t, exec)

	ch, err := f.WatchLive(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WatchLive(ctx, "bad/cluster"); err == nil {
		t.Fatal("WatchLive(bad name) succeeded")
	}
	waitFor(t, ch, waitLong, "empty", func(s zkstate.LiveSnapshot) bool { return s.Err == nil && len(s.Nodes) == 0 })
	if err := f.CreateCluster(ctx, cluster("c1")); err != nil {
		t.Fatal(err)
	}

	r1, err := fe.RegisterLive(ctx, "c1", live("n1", 10000))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := fe.RegisterLive(ctx, "c1", live("n2", 20000))
	if err != nil {
		t.Fatal(err)
	}
	snap := waitFor(t, ch, waitLong, "n1,n2", func(s zkstate.LiveSnapshot) bool { return len(s.Nodes) == 2 })
	if got := snap.Nodes["n2"]; got.PBAddr() != "127.0.0.1:20000" || got.HTTPAddr() != "127.0.0.1:20011" {
		t.Fatalf("n2 = %+v", got)
	}

	// A data change is delivered.
	b, _ := zkstate.Encode(live("n1", 10500))
	if err := r1.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, waitLong, "n1 moved", func(s zkstate.LiveSnapshot) bool {
		return s.Nodes["n1"].PBPort == 10500 && len(s.Nodes) == 2
	})

	// Garbage and future versions next to valid records are skipped.
	dir, _ := zkstate.LivePath("riak", "c1")
	for name, data := range map[string]string{
		"junk":   `{"version":1,`,
		"future": `{"version":2,"name":"future","host":"h","pb_port":1,"http_port":2}`,
		"liar":   `{"version":1,"name":"n1","host":"h","pb_port":1,"http_port":2}`,
	} {
		if _, err := exec.Conn().Create(dir+"/"+name, []byte(data), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	r3, err := fe.RegisterLive(ctx, "c1", live("n3", 30000))
	if err != nil {
		t.Fatal(err)
	}
	snap = waitFor(t, ch, waitLong, "n1,n2,n3", func(s zkstate.LiveSnapshot) bool { return len(s.Nodes) == 3 })
	for _, bad := range []string{"junk", "future", "liar"} {
		if _, ok := snap.Nodes[bad]; ok {
			t.Fatalf("invalid record %q delivered: %+v", bad, snap.Nodes)
		}
	}
	// An invalid record becoming valid is picked up.
	fixed, _ := zkstate.Encode(live("junk", 40000))
	if _, err := exec.Conn().Set(dir+"/junk", fixed, -1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, waitLong, "junk fixed", func(s zkstate.LiveSnapshot) bool { return s.Nodes["junk"].PBPort == 40000 })

	// A deliberate stop: the record says leaving before it goes.
	if err := fe.MarkLiveLeaving(ctx, r2, live("n2", 20000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, waitLong, "n2 leaving", func(s zkstate.LiveSnapshot) bool {
		return s.Nodes["n2"].Leaving && s.Nodes["n2"].PBPort == 20000 && !s.Nodes["n1"].Leaving
	})

	// Removal.
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, waitLong, "n2 gone", func(s zkstate.LiveSnapshot) bool {
		_, ok := s.Nodes["n2"]
		return !ok && len(s.Nodes) == 3
	})

	// Restart: the sessions survive (the outage is shorter than their
	// timeout), so do the ephemerals and the watches.
	z.Restart(t)
	b, _ = zkstate.Encode(live("n3", 30500))
	testutil.WaitFor(t, waitLong, "update after restart", func() bool { return r3.Update(ctx, b) == nil })
	waitFor(t, ch, waitLong, "n3 moved after restart", func(s zkstate.LiveSnapshot) bool {
		return s.Nodes["n3"].PBPort == 30500 && s.Nodes["n1"].PBPort == 10500
	})
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, waitLong, "n1 gone after restart", func(s zkstate.LiveSnapshot) bool {
		_, ok := s.Nodes["n1"]
		return !ok && s.Nodes["n3"].PBPort == 30500
	})
}

// TestWatchCoalesces: a consumer that does not read while many changes
// happen gets the latest state, not a backlog.
func TestWatchCoalesces(t *testing.T) {
	z := startZK(t)
	ctx := testCtx(t)
	s := connect(t, z.Addr)
	w := connect(t, z.Addr)
	dir := "/coalesce"
	ch := s.WatchChildren(ctx, dir)
	waitFor(t, ch, waitLong, "start", func(s zkstate.ChildrenSnapshot) bool { return !s.Exists })

	const n = 30
	for i := range n {
		if _, err := w.Conn().Create(fmt.Sprintf("%s-%02d", dir, i), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Conn().Create(dir, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := w.Conn().Create(fmt.Sprintf("%s/c%02d", dir, i), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	// Deliberate: the watcher gets time to run through every change while
	// nobody reads, so that the snapshots coalesce; reading at once would
	// take them one by one as they come.
	time.Sleep(500 * time.Millisecond)
	reads := 0
	waitFor(t, ch, waitLong, "all children", func(s zkstate.ChildrenSnapshot) bool {
		reads++
		return len(s.Children) == n
	})
	// Without coalescing there would be a backlog of about n+1 snapshots.
	if reads > 3 {
		t.Fatalf("read %d snapshots before the latest; want the latest at once (coalesced)", reads)
	}
	select {
	case snap := <-ch:
		t.Fatalf("unexpected snapshot after the latest: %+v", snap)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestWatchStops: watch channels close when their context ends or the
// Store closes, and leave no goroutines.
func TestWatchStops(t *testing.T) {
	z := startZK(t)
	s := connect(t, z.Addr)
	f := framework(t, s)

	ctx, cancel := context.WithCancel(context.Background())
	a := s.WatchChildren(ctx, "/")
	b, _ := f.WatchLive(ctx, "c1")
	<-a
	<-b
	cancel()
	for _, closed := range []func() bool{
		func() bool { _, ok := <-a; return !ok },
		func() bool { _, ok := <-b; return !ok },
	} {
		done := make(chan bool, 1)
		go func() { done <- closed() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("watch channel not closed after cancel")
		}
	}

	c := s.WatchChildren(context.Background(), "/")
	d, _ := f.WatchLive(context.Background(), "c1")
	<-c
	<-d
	s.Close()
	for _, ch := range []<-chan zkstate.ChildrenSnapshot{c} {
		if _, ok := <-ch; ok {
			t.Fatal("WatchChildren channel open after Store.Close")
		}
	}
	if _, ok := <-d; ok {
		t.Fatal("WatchLive channel open after Store.Close")
	}
	buf := make([]byte, 1<<20)
	testutil.WaitFor(t, waitLong, "no watch goroutines", func() bool {
		n := runtimeStack(buf)
		return !strings.Contains(n, "zkstate.(*Store).watchDir")
	})
}
