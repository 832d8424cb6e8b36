package executor_test

import (
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/nodetask"
)

// TestVolumeFencing: with volume fencing (the default) an executor cut off
// from ZooKeeper for longer than its session keeps its node: the same
// process acknowledges writes throughout, and once ZooKeeper answers again
// the executor takes its lock, which nobody took meanwhile, again. When
// another executor took the lock while the first was away (task B, on a
// volume of its own, waiting in line), the first stops its node as soon as
// it learns so, and says why.
func TestVolumeFencing(t *testing.T) {
	e, ctx, procs := startFenceTest(t)
	const node = "riak-default-1"
	nt := e.nodeTask(node, -1) // no fencing field: volume, the default
	u := newTaskUpdates(e)
	pb := func(task nodetask.Task) string { return net.JoinHostPort(task.Host, strconv.Itoa(task.Ports.PB)) }
	lockHolder := func() (task string, session int64) {
		t.Helper()
		h, err := e.fw.NodeLockHolder(ctx, "default", node)
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			return "", 0
		}
		return h.TaskID, h.Session
	}

	proxyA := testutil.NewProxy(t, e.zk.Addr)
	taskA := e.launchVia(nt, "task-a", e.agents[0], "vol-a", proxyA, "RMF_ZK_SESSION_TIMEOUT=2s")
	infoA := running(t, u.until("task-a", mesos.TASK_RUNNING, mesos.TASK_FAILED))
	holder, session := lockHolder()
	if holder != "task-a" {
		t.Fatalf("lock holder %q, want task-a", holder)
	}

	// A long cut: the server expires A's session (2 s) and its lock znode.
	proxyA.Block()
	testutil.WaitFor(t, 20*time.Second, "A's session expired", func() bool { h, _ := lockHolder(); return h == "" })
	for i := range 20 {
		if err := pbPut(pb(taskA), "during-"+strconv.Itoa(i), "v"); err != nil {
			t.Fatalf("A's node refused a write while ZooKeeper was out of reach: %v", err)
		}
	}
	if err := syscall.Kill(infoA.PID, 0); err != nil {
		t.Fatalf("A's node (pid %d) stopped while ZooKeeper was out of reach: %v", infoA.PID, err)
	}
	proxyA.Unblock()
	testutil.WaitFor(t, 20*time.Second, "A takes its free lock again", func() bool {
		h, s := lockHolder()
		return h == "task-a" && s != session
	})
	_, session = lockHolder()
	for i := range 20 {
		if got, err := pbGet(pb(taskA), "during-"+strconv.Itoa(i)); err != nil || got != "v" {
			t.Fatalf("read back during-%d = %q, %v", i, got, err)
		}
	}

	// B waits in line for the lock; A is cut off again, its session
	// expires, B takes the lock and starts (on its own volume: this is the
	// case volume fencing leaves to Mesos, which never gives one local
	// volume to two tasks).
	proxyB := testutil.NewProxy(t, e.zk.Addr)
	e.launchVia(nt, "task-b", e.agents[1], "vol-b", proxyB, "RMF_ZK_SESSION_TIMEOUT=4s")
	if st := u.next("task-b"); st.GetState() != mesos.TASK_STARTING || !strings.Contains(st.GetMessage(), "held by task task-a") {
		t.Fatalf("B: %v %q, want TASK_STARTING waiting for the lock of task-a", st.GetState(), st.GetMessage())
	}
	proxyA.Block()
	infoB := running(t, u.until("task-b", mesos.TASK_RUNNING, mesos.TASK_FAILED))
	if err := syscall.Kill(infoA.PID, 0); err != nil {
		t.Fatalf("A's node stopped before A could know B holds the lock: %v", err)
	}
	proxyA.Unblock()
	st := u.until("task-a", mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_FINISHED, mesos.TASK_LOST)
	if st.GetState() != mesos.TASK_FAILED || !strings.Contains(st.GetMessage(), "lock is now held by task task-b") {
		t.Fatalf("A: %v %q, want TASK_FAILED naming task-b", st.GetState(), st.GetMessage())
	}
	waitGone(t, infoA.PID)
	e.waitExecutorsGone(0)
	if h, s := lockHolder(); h != "task-b" || s == session {
		t.Fatalf("lock holder %q, want task-b", h)
	}
	if err := syscall.Kill(infoB.PID, 0); err != nil {
		t.Fatalf("B's node gone: %v", err)
	}
	e.s.Call(calls.Kill("task-b", e.agents[1]))
	if st := u.until("task-b", mesos.TASK_KILLED, mesos.TASK_FAILED); st.GetState() != mesos.TASK_KILLED {
		t.Errorf("B after KILL: %v %q", st.GetState(), st.GetMessage())
	}
	e.waitExecutorsGone(1)
	if n, _, _ := procs.count(); n != 0 {
		t.Errorf("%d devnode processes left", n)
	}
}
