package zkstate_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
)

func live(name string, pb int) zkstate.LiveRecord {
	return zkstate.LiveRecord{Name: name, Host: "127.0.0.1", PBPort: pb, HTTPPort: pb + 11}
}

// owner returns the ephemeral owner of p as seen by s (0: missing).
func owner(t testing.TB, s *zkstate.Store, p string) int64 {
	t.Helper()
	ok, st, err := s.Conn().Exists(p)
	if err != nil {
		t.Fatalf("exists %s: %v", p, err)
	}
	if !ok {
		return 0
	}
	return st.EphemeralOwner
}

// TestRegistrationLifecycle: Register creates an ephemeral znode, Update
// rewrites it, Close deletes it and stops its goroutine, and closing the
// Store makes the znode disappear.
func TestRegistrationLifecycle(t *testing.T) {
	z := startZK(t)
	ctx := testCtx(t)
	obs := connect(t, z.Addr)
	p, _ := zkstate.LiveNodePath("riak", "c1", "n1")

	if _, err := framework(t, obs).RegisterLive(ctx, "c1", live("n1", 8087)); !errors.Is(err, zkstate.ErrNotFound) {
		t.Fatalf("RegisterLive without the cluster = %v, want ErrNotFound", err)
	}
	if ok, _ := obs.Exists(ctx, "/riak/frameworks/riak/clusters/c1"); ok {
		t.Fatal("RegisterLive created the cluster znode")
	}
	if err := framework(t, obs).CreateCluster(ctx, cluster("c1")); err != nil {
		t.Fatal(err)
	}

	before := runtime.NumGoroutine()
	a := connect(t, z.Addr)
	fa := framework(t, a)
	reg, err := fa.RegisterLive(ctx, "c1", live("n1", 8087))
	if err != nil {
		t.Fatal(err)
	}
	if reg.Path() != p {
		t.Fatalf("Path() = %q, want %q", reg.Path(), p)
	}
	if o := owner(t, obs, p); o != a.SessionID() {
		t.Fatalf("owner %#x, want session %#x", o, a.SessionID())
	}
	got, err := framework(t, obs).ListLive(ctx, "c1")
	if err != nil || got["n1"] != (zkstate.LiveRecord{Version: 1, Name: "n1", Host: "127.0.0.1", PBPort: 8087, HTTPPort: 8098}) {
		t.Fatalf("ListLive = %+v, %v", got, err)
	}

	b, _ := zkstate.Encode(live("n1", 9000))
	if err := reg.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, _ := framework(t, obs).ListLive(ctx, "c1"); got["n1"].PBPort != 9000 {
		t.Fatalf("after Update: %+v", got)
	}

	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if o := owner(t, obs, p); o != 0 {
		t.Fatalf("znode still there after Close (owner %#x)", o)
	}
	if err := reg.Update(ctx, b); err == nil {
		t.Fatal("Update after Close succeeded")
	}
	if err := reg.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Registered again, then the Store closes: the server drops the znode.
	if _, err := fa.RegisterLive(ctx, "c1", live("n1", 8087)); err != nil {
		t.Fatal(err)
	}
	if owner(t, obs, p) == 0 {
		t.Fatal("not registered")
	}
	a.Close()
	if o := owner(t, obs, p); o != 0 {
		t.Fatalf("znode survived Store.Close (owner %#x)", o)
	}
	// No goroutine of the registration or the closed Store is left.
	testutil.WaitFor(t, waitLong, "goroutines back to baseline", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// TestRegistrationTakesOver: a znode left by another session (e.g. a
// previous incarnation not yet expired) is replaced.
func TestRegistrationTakesOver(t *testing.T) {
	z := startZK(t)
	ctx := testCtx(t)
	old := connect(t, z.Addr)
	fold := framework(t, old)
	if _, err := fold.RegisterErlpmd(ctx, zkstate.ErlpmdRecord{Name: "riak@h1", Host: "h1", Port: 1000, NodeType: 77, HighestVersion: 6, LowestVersion: 5, Creation: 1}); err != nil {
		t.Fatal(err)
	}
	s := connect(t, z.Addr)
	f := framework(t, s)
	rec := zkstate.ErlpmdRecord{Name: "riak@h1", Host: "h1", Port: 2000, NodeType: 77, HighestVersion: 6, LowestVersion: 5, Extra: []byte{0, 1}, Creation: 2}
	reg, err := f.RegisterErlpmd(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if o := owner(t, old, reg.Path()); o != s.SessionID() {
		t.Fatalf("owner %#x, want new session %#x", o, s.SessionID())
	}
	got, err := fold.GetErlpmd(ctx, "riak@h1")
	if err != nil || got.Port != 2000 || got.Creation != 2 || string(got.Extra) != "\x00\x01" {
		t.Fatalf("GetErlpmd = %+v, %v", got, err)
	}
	all, err := fold.ListErlpmd(ctx)
	if err != nil || len(all) != 1 || all["riak@h1"].Port != 2000 {
		t.Fatalf("ListErlpmd = %+v, %v", all, err)
	}
	if _, err := f.GetErlpmd(ctx, "nobody@h1"); !errors.Is(err, zkstate.ErrNotFound) {
		t.Fatalf("GetErlpmd(missing) = %v", err)
	}
	// Invalid records are refused before anything is written.
	if _, err := f.RegisterErlpmd(ctx, zkstate.ErlpmdRecord{Name: "x@h", Host: "h"}); !errors.Is(err, zkstate.ErrInvalidRecord) {
		t.Fatalf("RegisterErlpmd(port 0) = %v", err)
	}
}

// TestRegistrationSurvivesSessionExpiry partitions a Store from ZooKeeper
// for longer than its session timeout. The server expires the session (an
// observer sees the znode go); when the partition heals the client gets a
// new session and the registration re-creates the znode, which the
// observer sees come back. The partitioned Store's own watch re-arms too.
func TestRegistrationSurvivesSessionExpiry(t *testing.T) {
	z := startZK(t)
	ctx := testCtx(t)
	proxy := testutil.NewProxy(t, z.Addr)
	a := connect(t, proxy.Addr, zkstate.WithSessionTimeout(time.Second))
	obs := connect(t, z.Addr)
	fa, fobs := framework(t, a), framework(t, obs)
	if err := fobs.CreateCluster(ctx, cluster("c1")); err != nil {
		t.Fatal(err)
	}

	reg, err := fa.RegisterLive(ctx, "c1", live("n1", 8087))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	oldSession := a.SessionID()

	seen, err := fobs.WatchLive(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, seen, waitLong, "observer sees n1", func(s zkstate.LiveSnapshot) bool { return s.Nodes["n1"].PBPort == 8087 })
	livePath, _ := zkstate.LivePath("riak", "c1")
	mine := a.WatchChildren(ctx, livePath)
	waitFor(t, mine, waitLong, "own watch sees n1", func(s zkstate.ChildrenSnapshot) bool { return len(s.Children) == 1 })

	proxy.Block()
	waitFor(t, seen, waitLong, "observer sees n1 expire", func(s zkstate.LiveSnapshot) bool { return len(s.Nodes) == 0 })
	// While partitioned, another node appears; the partitioned watch must
	// catch up after the new session.
	r2, err := fobs.RegisterLive(ctx, "c1", live("n2", 8187))
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	proxy.Unblock()

	waitFor(t, seen, waitLong, "observer sees n1 re-registered", func(s zkstate.LiveSnapshot) bool { return s.Nodes["n1"].PBPort == 8087 })
	newSession := a.SessionID()
	if newSession == oldSession || newSession == 0 {
		t.Fatalf("session %#x, want a new one (old %#x)", newSession, oldSession)
	}
	p, _ := zkstate.LiveNodePath("riak", "c1", "n1")
	testutil.WaitFor(t, waitLong, "n1 owned by the new session", func() bool { return owner(t, obs, p) == a.SessionID() })
	waitFor(t, mine, waitLong, "partitioned watch sees n1 and n2", func(s zkstate.ChildrenSnapshot) bool {
		return s.Err == nil && len(s.Children) == 2
	})

	// Close deletes the znode owned by the new session.
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, seen, waitLong, "observer sees n1 closed", func(s zkstate.LiveSnapshot) bool {
		_, ok := s.Nodes["n1"]
		return !ok && len(s.Nodes) == 1
	})
}

// TestRegisterWaitsForConnection: Register during an outage retries until
// its context ends, and succeeds once the server is back.
func TestRegisterDuringOutage(t *testing.T) {
	z := startZK(t)
	proxy := testutil.NewProxy(t, z.Addr)
	a := connect(t, proxy.Addr, zkstate.WithSessionTimeout(5*time.Second))
	fa := framework(t, a)
	if err := fa.CreateCluster(testCtx(t), cluster("c1")); err != nil {
		t.Fatal(err)
	}

	proxy.Block()
	testutil.WaitFor(t, waitLong, "store notices the outage", func() bool { return !a.Connected() })
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := fa.RegisterLive(short, "c1", live("n1", 8087)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RegisterLive during outage = %v, want DeadlineExceeded", err)
	}

	go func() {
		// Deliberate: the outage goes on while RegisterLive retries.
		time.Sleep(300 * time.Millisecond)
		proxy.Unblock()
	}()
	reg, err := fa.RegisterLive(testCtx(t), "c1", live("n1", 8087))
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	obs := connect(t, z.Addr)
	if o := owner(t, obs, reg.Path()); o != a.SessionID() {
		t.Fatalf("owner %#x, want %#x", o, a.SessionID())
	}
	if a.Conn().State() != zk.StateHasSession {
		t.Fatalf("state %v", a.Conn().State())
	}
}
