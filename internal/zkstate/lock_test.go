package zkstate_test

import (
	"context"
	"errors"
	"path"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
)

func holderRec(task string) zkstate.LockRecord {
	return zkstate.LockRecord{TaskID: task, ExecutorID: "exec-" + task, AgentID: "agent-1", Host: "10.0.0.7", PID: 4242}
}

// lockLine returns the names of the lock znodes of node n1 in cluster c1.
func lockLine(t testing.TB, s *zkstate.Store) []string {
	t.Helper()
	dir, _ := zkstate.LockPath("riak", "c1", "n1")
	names, err := s.Children(context.Background(), dir)
	if err != nil && !errors.Is(err, zkstate.ErrNotFound) {
		t.Fatal(err)
	}
	return names
}

// asyncLock runs LockNode on a goroutine; the result arrives on the
// returned channel and every holder seen while waiting on waits.
type asyncLock struct {
	res   chan lockResult
	waits chan zkstate.LockHolder
}

type lockResult struct {
	l   *zkstate.NodeLock
	err error
	at  time.Time
}

func lockAsync(ctx context.Context, f *zkstate.Framework, task string, opts ...zkstate.LockOption) asyncLock {
	a := asyncLock{res: make(chan lockResult, 1), waits: make(chan zkstate.LockHolder, 16)}
	opts = append(opts, zkstate.WithLockWait(func(h zkstate.LockHolder) { a.waits <- h }))
	go func() {
		l, err := f.LockNode(ctx, "c1", "n1", holderRec(task), opts...)
		a.res <- lockResult{l, err, time.Now()}
	}()
	return a
}

func (a asyncLock) waitingBehind(t testing.TB, task string) {
	t.Helper()
	select {
	case h := <-a.waits:
		if h.TaskID != task {
			t.Fatalf("waiting behind %s, want %s", h, task)
		}
	case r := <-a.res:
		t.Fatalf("LockNode returned %v, %v while %s holds the lock", r.l, r.err, task)
	case <-time.After(waitLong):
		t.Fatalf("not waiting behind %s", task)
	}
}

func (a asyncLock) acquired(t testing.TB) lockResult {
	t.Helper()
	select {
	case r := <-a.res:
		if r.err != nil {
			t.Fatalf("LockNode: %v", r.err)
		}
		return r
	case <-time.After(waitLong):
		t.Fatal("lock not acquired")
	}
	return lockResult{}
}

func (a asyncLock) notYet(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case r := <-a.res:
		t.Fatalf("LockNode returned %v, %v; want it still waiting", r.l, r.err)
	case <-time.After(d):
	}
}

func isLost(l *zkstate.NodeLock) bool {
	select {
	case <-l.Lost():
		return true
	default:
		return false
	}
}

// TestNodeLock exercises the lock recipe against a real ZooKeeper: first
// come first served, waiters see the holder, release hands over in order,
// a cancelled waiter leaves no znode, a missing cluster is not created.
func TestNodeLock(t *testing.T) {
	z := startZK(t)
	ctx := testCtx(t)
	obs := connect(t, z.Addr)
	fobs := framework(t, obs)

	t.Run("cluster must exist", func(t *testing.T) {
		_, err := fobs.LockNode(ctx, "c1", "n1", holderRec("t0"))
		if !errors.Is(err, zkstate.ErrNotFound) {
			t.Fatalf("LockNode without the cluster = %v, want ErrNotFound", err)
		}
		if ok, _ := obs.Exists(ctx, "/riak/frameworks/riak/clusters/c1"); ok {
			t.Fatal("LockNode created the cluster znode")
		}
		if _, err := fobs.LockNode(ctx, "c1", "n1", holderRec("t0"), zkstate.WithLossFraction(1)); err == nil || !strings.Contains(err.Error(), "fraction") {
			t.Fatalf("fraction 1 = %v", err)
		}
		if _, err := fobs.LockNode(ctx, "c1", "n1", zkstate.LockRecord{Host: "h"}); !errors.Is(err, zkstate.ErrInvalidRecord) {
			t.Fatalf("no task ID = %v, want ErrInvalidRecord", err)
		}
	})
	if err := fobs.CreateCluster(ctx, cluster("c1")); err != nil {
		t.Fatal(err)
	}

	t.Run("order, holder, release", func(t *testing.T) {
		before := runtime.NumGoroutine()
		a, b, c := connect(t, z.Addr), connect(t, z.Addr), connect(t, z.Addr)
		if h, err := fobs.NodeLockHolder(ctx, "c1", "n1"); err != nil || h != nil {
			t.Fatalf("holder before anyone locks = %v, %v", h, err)
		}
		la, err := framework(t, a).LockNode(ctx, "c1", "n1", holderRec("task-a"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(path.Base(la.Path()), "lock-") || la.Err() != nil || isLost(la) {
			t.Fatalf("held lock: path %s err %v lost %v", la.Path(), la.Err(), isLost(la))
		}
		h, err := fobs.NodeLockHolder(ctx, "c1", "n1")
		if err != nil || h == nil {
			t.Fatalf("holder = %v, %v", h, err)
		}
		if h.TaskID != "task-a" || h.Host != "10.0.0.7" || h.PID != 4242 || h.AgentID != "agent-1" || h.Cluster != "c1" ||
			h.Node != "n1" || h.Since.IsZero() || time.Since(h.Since) > time.Minute || h.Znode != path.Base(la.Path()) || h.Session != a.SessionID() {
			t.Fatalf("holder %+v", h)
		}
		if s := h.String(); !strings.HasPrefix(s, "task task-a on host 10.0.0.7 (pid 4242, since ") {
			t.Fatalf("holder string %q", s)
		}

		wb := lockAsync(ctx, framework(t, b), "task-b")
		wb.waitingBehind(t, "task-a")
		wc := lockAsync(ctx, framework(t, c), "task-c")
		wc.waitingBehind(t, "task-a")
		if n := len(lockLine(t, obs)); n != 3 {
			t.Fatalf("%d lock znodes, want 3", n)
		}

		if err := la.Close(); err != nil {
			t.Fatal(err)
		}
		if !isLost(la) || la.Err() != nil {
			t.Fatalf("after Close: lost %v err %v", isLost(la), la.Err())
		}
		rb := wb.acquired(t)
		wc.waitingBehind(t, "task-b") // the holder changed: reported again
		wc.notYet(t, 200*time.Millisecond)
		if h, _ := fobs.NodeLockHolder(ctx, "c1", "n1"); h == nil || h.TaskID != "task-b" {
			t.Fatalf("holder after A's release = %v", h)
		}
		if err := rb.l.Close(); err != nil {
			t.Fatal(err)
		}
		rc := wc.acquired(t)
		if h, _ := fobs.NodeLockHolder(ctx, "c1", "n1"); h == nil || h.TaskID != "task-c" || h.Znode != path.Base(rc.l.Path()) {
			t.Fatalf("holder after B's release = %v", h)
		}

		// Closing the holder's Store ends its session: the znode goes.
		wa := lockAsync(ctx, framework(t, a), "task-a2")
		wa.waitingBehind(t, "task-c")
		c.Close()
		ra := wa.acquired(t)
		<-rc.l.Lost()
		if !errors.Is(rc.l.Err(), zkstate.ErrLockLost) {
			t.Fatalf("lock of a closed Store: Err %v", rc.l.Err())
		}
		if err := rc.l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := ra.l.Close(); err != nil {
			t.Fatal(err)
		}
		if names := lockLine(t, obs); len(names) != 0 {
			t.Fatalf("lock znodes left: %v", names)
		}
		a.Close()
		b.Close()
		testutil.WaitFor(t, waitLong, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= before })
	})

	t.Run("cancelled waiter withdraws", func(t *testing.T) {
		a, b := connect(t, z.Addr), connect(t, z.Addr)
		la, err := framework(t, a).LockNode(ctx, "c1", "n1", holderRec("task-a"))
		if err != nil {
			t.Fatal(err)
		}
		defer la.Close()
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		var waited []string
		_, err = framework(t, b).LockNode(short, "c1", "n1", holderRec("task-b"),
			zkstate.WithLockWait(func(h zkstate.LockHolder) { waited = append(waited, h.TaskID) }))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("LockNode past its deadline = %v", err)
		}
		if len(waited) != 1 || waited[0] != "task-a" {
			t.Fatalf("wait callback saw %v", waited)
		}
		if names := lockLine(t, obs); len(names) != 1 || names[0] != path.Base(la.Path()) {
			t.Fatalf("lock znodes after the cancelled wait: %v, want only the holder's %s", names, la.Path())
		}
		// A waiter in line does not disturb the holder, and cancelling
		// one that waits behind another waiter withdraws it too.
		wb := lockAsync(ctx, framework(t, b), "task-b")
		wb.waitingBehind(t, "task-a")
		cctx, ccancel := context.WithCancel(ctx)
		wc := lockAsync(cctx, framework(t, connect(t, z.Addr)), "task-c")
		wc.waitingBehind(t, "task-a")
		ccancel()
		if r := <-wc.res; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("cancelled LockNode = %v", r.err)
		}
		if n := len(lockLine(t, obs)); n != 2 {
			t.Fatalf("%d lock znodes, want holder and one waiter", n)
		}
		la.Close()
		rb := wb.acquired(t)
		rb.l.Close()
	})

	t.Run("deleted znode is lost", func(t *testing.T) {
		a := connect(t, z.Addr)
		la, err := framework(t, a).LockNode(ctx, "c1", "n1", holderRec("task-a"))
		if err != nil {
			t.Fatal(err)
		}
		defer la.Close()
		if err := obs.Delete(ctx, la.Path(), -1); err != nil {
			t.Fatal(err)
		}
		select {
		case <-la.Lost():
		case <-time.After(waitLong):
			t.Fatal("lock not lost after its znode was deleted")
		}
		if err := la.Err(); !errors.Is(err, zkstate.ErrLockLost) || !strings.Contains(err.Error(), "deleted") {
			t.Fatalf("Err = %v", err)
		}
	})
}

// TestNodeLockFencing cuts the holder off from ZooKeeper. The holder must
// count the lock lost after the loss fraction of the negotiated session
// timeout, before the server expires its session and the waiter gets the
// lock; a cut shorter than that, within the session, keeps the lock.
func TestNodeLockFencing(t *testing.T) {
	z := startZK(t)
	ctx := testCtx(t)
	obs := connect(t, z.Addr)
	if err := framework(t, obs).CreateCluster(ctx, cluster("c1")); err != nil {
		t.Fatal(err)
	}

	t.Run("short cut keeps the lock", func(t *testing.T) {
		proxy := testutil.NewProxy(t, z.Addr)
		// The test server clamps session timeouts to 0.4..4s.
		a := connect(t, proxy.Addr, zkstate.WithSessionTimeout(4*time.Second))
		if got := a.SessionTimeout(); got != 4*time.Second {
			t.Fatalf("negotiated session timeout %v, want 4s", got)
		}
		la, err := framework(t, a).LockNode(ctx, "c1", "n1", holderRec("task-a"))
		if err != nil {
			t.Fatal(err)
		}
		defer la.Close()
		sid, p := a.SessionID(), la.Path()
		for _, cut := range []struct {
			name string
			do   func()
		}{{"block", proxy.Block}, {"blackhole", proxy.Blackhole}} {
			cut.do()
			time.Sleep(300 * time.Millisecond) // deliberate: the cut lasts 300 ms, well under 2s (1/2 of 4s)
			proxy.Unblock()
			testutil.WaitFor(t, waitLong, cut.name+": reconnected", a.Connected)
			time.Sleep(500 * time.Millisecond) // deliberate: a few heartbeats pass, and the lock must stay
			if isLost(la) {
				t.Fatalf("%s: lock lost after a short cut: %v", cut.name, la.Err())
			}
		}
		if a.SessionID() != sid || owner(t, obs, p) != sid {
			t.Fatalf("session %#x, znode owner %#x, want %#x", a.SessionID(), owner(t, obs, p), sid)
		}
		if h, _ := framework(t, obs).NodeLockHolder(ctx, "c1", "n1"); h == nil || h.Znode != path.Base(p) {
			t.Fatalf("holder %v, want %s", h, p)
		}
	})

	for _, cut := range []string{"block", "blackhole"} {
		t.Run(cut+" loses the lock before the session expires", func(t *testing.T) {
			proxy := testutil.NewProxy(t, z.Addr)
			a := connect(t, proxy.Addr, zkstate.WithSessionTimeout(2*time.Second))
			tmo := a.SessionTimeout()
			la, err := framework(t, a).LockNode(ctx, "c1", "n1", holderRec("task-a"), zkstate.WithLossFraction(0.5))
			if err != nil {
				t.Fatal(err)
			}
			defer la.Close()
			wb := lockAsync(ctx, framework(t, connect(t, z.Addr)), "task-b")
			wb.waitingBehind(t, "task-a")

			start := time.Now()
			if cut == "block" {
				proxy.Block()
			} else {
				proxy.Blackhole()
			}
			var lostAt time.Time
			select {
			case <-la.Lost():
				lostAt = time.Now()
			case <-time.After(waitLong):
				t.Fatal("lock not lost")
			}
			if d := lostAt.Sub(start); d > tmo*3/4 {
				t.Errorf("lost %v after the cut, want about %v (1/2 of %v)", d, tmo/2, tmo)
			}
			if err := la.Err(); !errors.Is(err, zkstate.ErrLockLost) || !strings.Contains(err.Error(), "no answer from ZooKeeper") {
				t.Errorf("Err = %v", err)
			}
			rb := wb.acquired(t)
			defer rb.l.Close()
			if !rb.at.After(lostAt) {
				t.Fatalf("B acquired at %v, before A knew it lost the lock at %v", rb.at, lostAt)
			}
			if gap := rb.at.Sub(lostAt); gap < tmo/4 {
				t.Errorf("only %v between A losing the lock and B taking it (session timeout %v)", gap, tmo)
			}
			proxy.Unblock()
			if err := la.Close(); err != nil {
				t.Errorf("Close of a lost lock: %v", err)
			}
			if h, _ := framework(t, obs).NodeLockHolder(ctx, "c1", "n1"); h == nil || h.TaskID != "task-b" {
				t.Fatalf("holder %v, want task-b", h)
			}
		})
	}
}

// TestLockHolderString covers the status text of odd holders.
func TestLockHolderString(t *testing.T) {
	for _, c := range []struct {
		name string
		h    zkstate.LockHolder
		want string
	}{
		{"full", zkstate.LockHolder{LockRecord: zkstate.LockRecord{TaskID: "t", Host: "h", PID: 7, Since: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}}, "task t on host h (pid 7, since 2024-05-01T10:00:00Z)"},
		{"no pid", zkstate.LockHolder{LockRecord: zkstate.LockRecord{TaskID: "t", Host: "h"}}, "task t on host h"},
		{"no record", zkstate.LockHolder{Znode: "lock-0000000003", Session: 0x10}, "lock-0000000003 (session 0x10, no valid record)"},
	} {
		if got := c.h.String(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// TestNodeLockRetake covers each decision a LockRetake lock makes when
// ZooKeeper answers again, against a real ZooKeeper: the same session
// still holds it (silence alone never loses it), an expired session takes
// the free lock again, and a lock another holder took while the session
// was away is lost, naming the holder.
func TestNodeLockRetake(t *testing.T) {
	z := startZK(t)
	ctx := testCtx(t)
	obs := connect(t, z.Addr)
	if err := framework(t, obs).CreateCluster(ctx, cluster("c1")); err != nil {
		t.Fatal(err)
	}
	fobs := framework(t, obs)
	holder := func(t *testing.T) *zkstate.LockHolder {
		t.Helper()
		h, err := fobs.NodeLockHolder(ctx, "c1", "n1")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	t.Run("still held after a silence longer than the loss fraction", func(t *testing.T) {
		proxy := testutil.NewProxy(t, z.Addr)
		a := connect(t, proxy.Addr, zkstate.WithSessionTimeout(4*time.Second))
		la, err := framework(t, a).LockNode(ctx, "c1", "n1", holderRec("task-a"), zkstate.WithLockMode(zkstate.LockRetake), zkstate.WithLossFraction(0.25))
		if err != nil {
			t.Fatal(err)
		}
		defer la.Close()
		sid, p := a.SessionID(), la.Path()
		proxy.Blackhole()
		// 2 s of silence: twice the strict limit (1/4 of 4 s), half the session.
		select {
		case <-la.Lost():
			t.Fatalf("lock lost during a silence shorter than the session: %v", la.Err())
		case <-time.After(2 * time.Second):
		}
		proxy.Unblock()
		testutil.WaitFor(t, waitLong, "reconnected", a.Connected)
		if isLost(la) || a.SessionID() != sid || la.Path() != p || la.Retakes() != 0 {
			t.Fatalf("lost %v (%v), session %#x (was %#x), path %s (was %s), retakes %d", isLost(la), la.Err(), a.SessionID(), sid, la.Path(), p, la.Retakes())
		}
		if h := holder(t); h == nil || h.Znode != path.Base(p) {
			t.Fatalf("holder %v, want %s", h, p)
		}
	})

	t.Run("expired and free: taken again", func(t *testing.T) {
		proxy := testutil.NewProxy(t, z.Addr)
		a := connect(t, proxy.Addr, zkstate.WithSessionTimeout(time.Second))
		retaken := make(chan string, 1)
		la, err := framework(t, a).LockNode(ctx, "c1", "n1", holderRec("task-a"), zkstate.WithLockMode(zkstate.LockRetake),
			zkstate.WithLockRetaken(func(z string) { retaken <- z }))
		if err != nil {
			t.Fatal(err)
		}
		defer la.Close()
		sid, p := a.SessionID(), la.Path()
		proxy.Block()
		testutil.WaitFor(t, waitLong, "the server expires the session and deletes the lock znode", func() bool { return holder(t) == nil })
		if isLost(la) {
			t.Fatalf("lock lost while ZooKeeper was unreachable: %v", la.Err())
		}
		proxy.Unblock()
		var znode string
		select {
		case znode = <-retaken:
		case <-la.Lost():
			t.Fatalf("lock lost instead of taken again: %v", la.Err())
		case <-time.After(waitLong):
			t.Fatal("lock not taken again")
		}
		if a.SessionID() == sid || la.Path() == p || la.Path() != znode || la.Retakes() != 1 {
			t.Fatalf("session %#x (was %#x), path %s (was %s, callback %s), retakes %d", a.SessionID(), sid, la.Path(), p, znode, la.Retakes())
		}
		h := holder(t)
		if h == nil || h.TaskID != "task-a" || h.Znode != path.Base(la.Path()) || h.Session != a.SessionID() {
			t.Fatalf("holder %+v, want task-a at %s in session %#x", h, la.Path(), a.SessionID())
		}
		// The lock still works as a lock: a contender waits behind it.
		wb := lockAsync(ctx, framework(t, connect(t, z.Addr)), "task-b")
		wb.waitingBehind(t, "task-a")
		if err := la.Close(); err != nil {
			t.Fatal(err)
		}
		rb := wb.acquired(t)
		rb.l.Close()
	})

	t.Run("held by another: lost", func(t *testing.T) {
		proxy := testutil.NewProxy(t, z.Addr)
		a := connect(t, proxy.Addr, zkstate.WithSessionTimeout(time.Second))
		la, err := framework(t, a).LockNode(ctx, "c1", "n1", holderRec("task-a"), zkstate.WithLockMode(zkstate.LockRetake))
		if err != nil {
			t.Fatal(err)
		}
		defer la.Close()
		wb := lockAsync(ctx, framework(t, connect(t, z.Addr)), "task-b")
		wb.waitingBehind(t, "task-a")
		proxy.Block()
		rb := wb.acquired(t) // A's session expired: B is first in line
		defer rb.l.Close()
		if isLost(la) {
			t.Fatalf("lock lost while ZooKeeper was unreachable, before A could know: %v", la.Err())
		}
		proxy.Unblock()
		select {
		case <-la.Lost():
		case <-time.After(waitLong):
			t.Fatal("A's lock not lost although B holds it")
		}
		if err := la.Err(); !errors.Is(err, zkstate.ErrLockLost) || !strings.Contains(err.Error(), "held by task task-b") {
			t.Fatalf("Err = %v, want it to name task-b", err)
		}
		testutil.WaitFor(t, waitLong, "A's queued znode withdrawn", func() bool { return len(lockLine(t, obs)) == 1 })
		if h := holder(t); h == nil || h.TaskID != "task-b" {
			t.Fatalf("holder %v, want task-b", h)
		}
	})
}
