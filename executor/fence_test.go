package executor_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/basho/riak-go-client/rpb/riak_kv"
	gproto "github.com/golang/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/executor"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/protocol"
)

// TestNodeNeverRunsTwice (strict fencing) launches, through mesos-local, two executors for
// the same node over the same data: task A on agent 1, and task B on agent
// 2 whose volume is the same directory (storage reachable from two places,
// as after a relaunch while the old process lives on). Each executor talks
// to ZooKeeper through its own fault proxy (the task's zookeeper field).
// B waits for the node lock and says so; a third executor, C, gives up
// after its lock timeout. Cutting A's ZooKeeper connection makes A stop its
// node before its session can expire; only then does B start the node, on
// the same data: at no moment do two node processes exist, and every write
// acknowledged before or during the switch is there after it. A short cut
// (under the loss fraction) leaves B's node and its lock alone; a KILL
// stops the node, then releases the lock.
func TestNodeNeverRunsTwice(t *testing.T) {
	e, ctx, procs := startFenceTest(t)
	const node, volID = "riak-default-1", "vol-riak-default-1"
	nt := e.nodeTask(node, -1)
	nt.Fencing = nodetask.FencingStrict
	launch := func(taskID, agent string, proxy *testutil.Proxy, environ ...string) nodetask.Task {
		t.Helper()
		return e.launchVia(nt, taskID, agent, volID, proxy, environ...)
	}
	u := newTaskUpdates(e)
	next, until := u.next, u.until
	pb := func(task nodetask.Task) string { return net.JoinHostPort(task.Host, strconv.Itoa(task.Ports.PB)) }

	// A: agent 1, a 2 s session: it must stop its node within 1 s of
	// losing ZooKeeper.
	proxyA := testutil.NewProxy(t, e.zk.Addr)
	taskA := launch("task-a", e.agents[0], proxyA, "RMF_ZK_SESSION_TIMEOUT=2s")
	infoA := running(t, until("task-a", mesos.TASK_RUNNING, mesos.TASK_FAILED))
	holder, err := e.fw.NodeLockHolder(ctx, "default", node)
	if err != nil || holder == nil || holder.TaskID != "task-a" || holder.Host != "127.0.0.1" || holder.AgentID != e.agents[0] ||
		holder.ExecutorID != "rmf-executor.task-a" || holder.PID == os.Getpid() || holder.PID <= 0 {
		t.Fatalf("lock holder %+v, %v; want task-a's executor on %s", holder, err, e.agents[0])
	}

	// Agent 2 reaches the same volume: its volume directory for the same
	// persistence ID is agent 1's.
	volA := filepath.Join(e.workDir, "agent-1", "volumes", "roles", "riak", volID)
	if entries, err := os.ReadDir(volA); err != nil || len(entries) == 0 {
		t.Fatalf("agent 1's volume %s: %d entries, %v; want the node's data", volA, len(entries), err)
	}
	volB := filepath.Join(e.workDir, "agent-2", "volumes", "roles", "riak", volID)
	if err := os.MkdirAll(filepath.Dir(volB), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(volA, volB); err != nil {
		t.Fatal(err)
	}

	// B: the replacement on agent 2. A 4 s session, so that the short cut
	// below stays well inside its loss fraction.
	proxyB := testutil.NewProxy(t, e.zk.Addr)
	taskB := launch("task-b", e.agents[1], proxyB, "RMF_ZK_SESSION_TIMEOUT=4s")
	if st := next("task-b"); st.GetState() != mesos.TASK_STARTING ||
		!strings.HasPrefix(st.GetMessage(), "waiting for the node lock held by task task-a on host 127.0.0.1 (pid ") {
		t.Fatalf("B: %v %q, want TASK_STARTING waiting for the lock of task-a", st.GetState(), st.GetMessage())
	}
	// C: gives up after its lock timeout (its own volume: it never gets to
	// the data).
	taskC := nt
	taskC.Ports = nodetask.Ports{PB: testutil.FreePort(t), HTTP: testutil.FreePort(t), Handoff: testutil.FreePort(t),
		Disterl: testutil.FreePort(t), Erlpmd: testutil.FreePort(t)}
	dataC, _ := nodetask.Marshal(taskC)
	e.launchOn("task-c", e.agents[1], "vol-task-c", []string{"RMF_LOCK_TIMEOUT=1s"}, dataC)
	if st := next("task-c"); st.GetState() != mesos.TASK_STARTING || !strings.Contains(st.GetMessage(), "held by task task-a") {
		t.Fatalf("C: %v %q", st.GetState(), st.GetMessage())
	}
	if st := next("task-c"); st.GetState() != mesos.TASK_FAILED ||
		!strings.HasPrefix(st.GetMessage(), "gave up after 1s waiting for the node lock of riak-default-1@127.0.0.1 held by task task-a") {
		t.Fatalf("C: %v %q, want TASK_FAILED after the lock timeout", st.GetState(), st.GetMessage())
	}

	// Writes go on throughout the switch, to whichever node answers.
	var (
		wmu    sync.Mutex
		acked  = map[string]string{}
		onB    int
		stopW  = make(chan struct{})
		wdone  = make(chan struct{})
		writeN int
	)
	go func() {
		defer close(wdone)
		for {
			select {
			case <-stopW:
				return
			default:
			}
			key := "k" + strconv.Itoa(writeN)
			val := "v" + strconv.Itoa(writeN)
			for i, addr := range []string{pb(taskA), pb(taskB)} {
				if pbPut(addr, key, val) == nil {
					wmu.Lock()
					acked[key] = val
					if i == 1 {
						onB++
					}
					wmu.Unlock()
					writeN++
					break
				}
			}
			time.Sleep(5 * time.Millisecond) // pacing the writer, not waiting for a state
		}
	}()
	testutil.WaitFor(t, 10*time.Second, "writes acknowledged by A", func() bool { wmu.Lock(); defer wmu.Unlock(); return len(acked) >= 20 })
	if n, _, _ := procs.count(); n != 1 {
		t.Fatalf("%d devnode processes while B waits, want 1 (A's)", n)
	}

	// Cut A off from ZooKeeper for good. B starts the node once A's
	// session has expired.
	cut := time.Now()
	proxyA.Block()
	infoB := running(t, until("task-b", mesos.TASK_RUNNING, mesos.TASK_FAILED))
	testutil.WaitFor(t, 10*time.Second, "writes acknowledged by B", func() bool { wmu.Lock(); defer wmu.Unlock(); return onB >= 20 })
	close(stopW)
	<-wdone

	// The old node was gone before the new one started, and within A's
	// session timeout (2 s) of the cut.
	_, lastA, okA := procs.seen(infoA.PID)
	firstB, _, okB := procs.seen(infoB.PID)
	if !okA || !okB {
		t.Fatalf("node processes not seen: A %d %v, B %d %v", infoA.PID, okA, infoB.PID, okB)
	}
	if _, most, overlap := procs.count(); most != 1 {
		t.Errorf("up to %d node processes at once (%s), want 1", most, overlap)
	}
	if !lastA.Before(firstB) {
		t.Errorf("A's node last seen %v, B's node first seen %v: they overlapped", lastA.Format(time.StampMicro), firstB.Format(time.StampMicro))
	}
	if d := lastA.Sub(cut); d > 2*time.Second {
		t.Errorf("A's node ran %v after the cut; its session (2s) could have expired", d)
	}
	t.Logf("cut at 0; A's node last seen at %v; B's node first seen at %v; %d writes acknowledged (%d by B)",
		lastA.Sub(cut).Round(time.Millisecond), firstB.Sub(cut).Round(time.Millisecond), len(acked), onB)
	// A said why it stopped, and its executor is gone.
	st := until("task-a", mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_FINISHED, mesos.TASK_LOST)
	if st.GetState() != mesos.TASK_FAILED ||
		!strings.HasPrefix(st.GetMessage(), "lost the ZooKeeper lock of node riak-default-1@127.0.0.1 (zkstate: node lock lost: no answer from ZooKeeper") ||
		!strings.Contains(st.GetMessage(), "so that it never runs twice") {
		t.Errorf("A: %v %q", st.GetState(), st.GetMessage())
	}
	e.waitExecutorsGone(0)

	// Nothing acknowledged was lost.
	for k, v := range acked {
		got, err := pbGet(pb(taskB), k)
		if err != nil || got != v {
			t.Errorf("read %s from B = %q, %v; want %q (acknowledged)", k, got, err, v)
		}
	}
	holder, err = e.fw.NodeLockHolder(ctx, "default", node)
	if err != nil || holder == nil || holder.TaskID != "task-b" || holder.AgentID != e.agents[1] {
		t.Fatalf("lock holder after the switch %+v, %v; want task-b on %s", holder, err, e.agents[1])
	}
	proxyA.Unblock()

	// A short cut (300 ms, well under 2 s = 1/2 of B's 4 s session) that
	// reconnects within the session: nothing happens.
	// Both sleeps are deliberate: the cut lasts 300 ms, and then the test
	// lets time pass beyond the loss fraction to see that nothing happens.
	proxyB.Block()
	time.Sleep(300 * time.Millisecond)
	proxyB.Unblock()
	time.Sleep(2500 * time.Millisecond) // past the loss fraction from the cut
	if syscall.Kill(infoB.PID, 0) != nil {
		t.Fatalf("B's node (pid %d) gone after a short cut", infoB.PID)
	}
	if err := executor.Ping(ctx, pb(taskB), time.Second); err != nil {
		t.Fatalf("B's node does not answer after a short cut: %v", err)
	}
	if h, err := e.fw.NodeLockHolder(ctx, "default", node); err != nil || h == nil || h.Znode != holder.Znode || h.Session != holder.Session {
		t.Fatalf("lock holder after a short cut %+v, %v; want the same znode %s", h, err, holder.Znode)
	}

	// KILL: the node stops, then the lock is released. No update of B
	// came between its RUNNING and this KILLED (the short cut changed
	// nothing).
	e.s.Call(calls.Kill("task-b", e.agents[1]))
	if st := next("task-b"); st.GetState() != mesos.TASK_KILLED || st.GetMessage() != "node stopped gracefully" {
		t.Errorf("B after KILL: %v %q, want TASK_KILLED", st.GetState(), st.GetMessage())
	}
	e.waitExecutorsGone(1)
	if h, err := e.fw.NodeLockHolder(ctx, "default", node); err != nil || h != nil {
		t.Errorf("lock holder after B's kill %+v, %v; want none", h, err)
	}
	if n, _, _ := procs.count(); n != 0 {
		t.Errorf("%d devnode processes left", n)
	}
}

// startFenceTest starts the two-agent environment of a fencing test, with
// a context of 2 minutes and a /proc watcher of its node processes.
func startFenceTest(t *testing.T) (*env, context.Context, *procWatch) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds rmf and runs ZooKeeper and mesos-local")
	}
	e := newEnv(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	procs := watchProcs(e.workDir)
	t.Cleanup(procs.close)
	return e, ctx, procs
}

// launchVia launches task (with fresh ports: several may run on this one
// host at once) as taskID on agent with volume volID; its executor reaches
// ZooKeeper through proxy.
func (e *env) launchVia(task nodetask.Task, taskID, agent, volID string, proxy *testutil.Proxy, environ ...string) nodetask.Task {
	e.t.Helper()
	task.ZooKeeper = proxy.Addr
	task.Ports = nodetask.Ports{PB: testutil.FreePort(e.t), HTTP: testutil.FreePort(e.t), Handoff: testutil.FreePort(e.t),
		Disterl: testutil.FreePort(e.t), Erlpmd: testutil.FreePort(e.t)}
	data, err := nodetask.Marshal(task)
	if err != nil {
		e.t.Fatal(err)
	}
	e.launchOn(taskID, agent, volID, environ, data)
	return task
}

// taskUpdates keeps every task's updates in order, whichever the test is
// waiting for (testScheduler.Next drops the events it is not asked about).
type taskUpdates struct {
	e    *env
	seen map[string][]mesos.TaskStatus
	read map[string]int
}

func newTaskUpdates(e *env) *taskUpdates {
	return &taskUpdates{e: e, seen: map[string][]mesos.TaskStatus{}, read: map[string]int{}}
}

// next returns the task's next update.
func (u *taskUpdates) next(taskID string) mesos.TaskStatus {
	u.e.t.Helper()
	if u.read[taskID] == len(u.seen[taskID]) {
		u.e.s.Next(taskID+" update", func(ev *scheduler.Event) bool {
			if ev.Type == scheduler.Event_UPDATE {
				id := ev.Update.Status.TaskID.Value
				u.seen[id] = append(u.seen[id], ev.Update.Status)
			}
			return u.read[taskID] < len(u.seen[taskID])
		})
	}
	u.read[taskID]++
	return u.seen[taskID][u.read[taskID]-1]
}

// until skips the task's updates until one in one of states.
func (u *taskUpdates) until(taskID string, states ...mesos.TaskState) mesos.TaskStatus {
	u.e.t.Helper()
	for {
		if st := u.next(taskID); slices.Contains(states, st.GetState()) {
			return st
		}
	}
}

// procWatch polls /proc for devnode processes whose command line mentions
// root, recording when each pid was first and last seen and the most seen
// at once.
type procWatch struct {
	root string
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	first   map[int]time.Time
	last    map[int]time.Time
	current []int // pids of the latest scan
	maxSeen int
	overlap string
}

func watchProcs(root string) *procWatch {
	w := &procWatch{root: root, stop: make(chan struct{}), done: make(chan struct{}), first: map[int]time.Time{}, last: map[int]time.Time{}}
	go func() {
		defer close(w.done)
		for {
			w.scan()
			select {
			case <-w.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *procWatch) scan() {
	entries, _ := os.ReadDir("/proc")
	now := time.Now()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && args[1] == "devnode" && strings.Contains(string(b), w.root) && !testutil.Zombie(pid) {
			pids = append(pids, pid)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.current = pids
	for _, pid := range pids {
		if _, ok := w.first[pid]; !ok {
			w.first[pid] = now
		}
		w.last[pid] = now
	}
	if len(pids) > w.maxSeen {
		w.maxSeen = len(pids)
	}
	if len(pids) > 1 && w.overlap == "" {
		w.overlap = fmt.Sprintf("devnode processes %v at once at %v", pids, now.Format(time.StampMicro))
	}
}

func (w *procWatch) close() {
	close(w.stop)
	<-w.done
}

func (w *procWatch) seen(pid int) (first, last time.Time, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	first, ok = w.first[pid]
	return first, w.last[pid], ok
}

// pbPut stores key=value in bucket "fence" with one Riak PB request.
func pbPut(addr, key, value string) error {
	req := &riak_kv.RpbPutReq{Bucket: []byte("fence"), Key: []byte(key), Content: &riak_kv.RpbContent{Value: []byte(value)}}
	f, err := pbCall(addr, protocol.CodePutReq, req)
	if err != nil {
		return err
	}
	if f.Code != protocol.CodePutResp {
		return fmt.Errorf("put %s: answered %v", key, f.Code)
	}
	return nil
}

func pbGet(addr, key string) (string, error) {
	f, err := pbCall(addr, protocol.CodeGetReq, &riak_kv.RpbGetReq{Bucket: []byte("fence"), Key: []byte(key)})
	if err != nil {
		return "", err
	}
	if f.Code != protocol.CodeGetResp {
		return "", fmt.Errorf("get %s: answered %v", key, f.Code)
	}
	var resp riak_kv.RpbGetResp
	if err := gproto.Unmarshal(f.Body, &resp); err != nil {
		return "", err
	}
	if len(resp.Content) != 1 {
		return "", fmt.Errorf("get %s: %d values", key, len(resp.Content))
	}
	return string(resp.Content[0].Value), nil
}

func pbCall(addr string, code protocol.Code, msg gproto.Message) (protocol.Frame, error) {
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return protocol.Frame{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	b, err := protocol.MarshalFrame(code, msg)
	if err != nil {
		return protocol.Frame{}, err
	}
	if _, err := c.Write(b); err != nil {
		return protocol.Frame{}, err
	}
	f, err := protocol.NewReader(c, 1<<20).ReadFrame()
	return f.Clone(), err
}

// count returns how many node processes the latest scan saw, the most
// seen at once, and the first overlap seen.
func (w *procWatch) count() (now, max int, overlap string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.current), w.maxSeen, w.overlap
}
