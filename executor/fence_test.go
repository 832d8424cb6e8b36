package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/basho/riak-go-client/rpb/riak_kv"
	gproto "github.com/golang/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/protocol"
)

// buildDevBinary builds the rmf binary, whose `devnode` subcommand is the
// node process.
func buildDevBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rmf")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/rmf-go/rmf/cmd/rmf").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fencedExecutor is one in-process executor (Run) behind its own fake
// agent, running one devnode task whose ZooKeeper connection goes through
// its own fault proxy.
type fencedExecutor struct {
	name    string
	task    nodetask.Task
	agent   *fakeAgent
	proxy   *testutil.Proxy
	updates chan mesos.TaskStatus // every update, acknowledged
	logs    *syncBuffer
	runErr  chan error    // Run's result
	stopped chan struct{} // closed when Run has returned
}

// startFenced runs an executor whose sandbox links riak-data to vol (as an
// agent links the node's persistent volume) and launches task id on it.
func startFenced(t *testing.T, name, bin, root, vol string, zk *testutil.ZooKeeper, tune func(*Config)) *fencedExecutor {
	t.Helper()
	sandbox := filepath.Join(root, "sandbox-"+name)
	if err := os.MkdirAll(sandbox, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(vol, filepath.Join(sandbox, nodetask.VolumePath)); err != nil {
		t.Fatal(err)
	}
	a, addr := startFake(t)
	x := &fencedExecutor{name: name, agent: a, proxy: testutil.NewProxy(t, zk.Addr), updates: make(chan mesos.TaskStatus, 64),
		logs: &syncBuffer{}, runErr: make(chan error, 1), stopped: make(chan struct{})}
	x.task = nodetask.Task{Version: nodetask.Version, Framework: "riak", Cluster: "default", Node: "riak-default-1",
		NodeName: "riak-default-1@127.0.0.1", Flavor: nodetask.FlavorDevnode, ZooKeeper: x.proxy.Addr, Host: "127.0.0.1",
		Ports: nodetask.Ports{PB: testutil.FreePort(t), HTTP: testutil.FreePort(t), Handoff: testutil.FreePort(t),
			Disterl: testutil.FreePort(t), Erlpmd: testutil.FreePort(t)}}
	cfg := fakeConfig(t, addr)
	cfg.Mesos.ExecutorID = "rmf-executor." + name
	cfg.Mesos.Sandbox = sandbox
	cfg.Executable = bin
	cfg.HealthInterval = 200 * time.Millisecond
	cfg.StartTimeout = 20 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(x.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tune(&cfg)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		x.runErr <- Run(ctx, cfg)
		close(x.stopped)
	}()
	// Before the fake agent closes (cleanups run last first): an executor
	// still running (a failed test) is terminated, which stops its node.
	t.Cleanup(func() {
		cancel()
		select {
		case <-x.stopped:
		case <-time.After(15 * time.Second):
			t.Errorf("executor %s did not stop", name)
		}
	})
	// Acknowledge every update, as the agent would once the scheduler has.
	go func() {
		for {
			select {
			case c := <-a.updates:
				st := c.Update.Status
				x.updates <- st
				select {
				case a.events <- &executor.Event{Type: executor.Event_ACKNOWLEDGED,
					Acknowledged: &executor.Event_Acknowledged{TaskID: st.TaskID, UUID: st.UUID}}:
				case <-x.stopped:
					return
				}
			case <-x.stopped:
				return
			}
		}
	}()
	a.nextSubscribe(t)
	data, err := nodetask.Marshal(x.task)
	if err != nil {
		t.Fatal(err)
	}
	ev := launchEvent("task-"+name, string(data))
	ev.Launch.Task.AgentID = mesos.AgentID{Value: "agent-" + name}
	a.events <- ev
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- executor %s log ---\n%s", name, x.logs.String())
		}
	})
	return x
}

// next returns the next update, failing after timeout.
func (x *fencedExecutor) next(t *testing.T, timeout time.Duration) mesos.TaskStatus {
	t.Helper()
	select {
	case st := <-x.updates:
		return st
	case <-time.After(timeout):
		t.Fatalf("executor %s: no update within %v", x.name, timeout)
	}
	return mesos.TaskStatus{}
}

// until skips updates until one in state arrives; any terminal state
// other than the wanted one fails the test.
func (x *fencedExecutor) until(t *testing.T, state mesos.TaskState, timeout time.Duration) mesos.TaskStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := x.next(t, time.Until(deadline))
		if st.GetState() == state {
			return st
		}
		switch st.GetState() {
		case mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_FINISHED, mesos.TASK_LOST, mesos.TASK_ERROR:
			t.Fatalf("executor %s: %v %q while waiting for %v", x.name, st.GetState(), st.GetMessage(), state)
		}
	}
}

// exited waits for Run to return.
func (x *fencedExecutor) exited(t *testing.T) {
	t.Helper()
	select {
	case err := <-x.runErr:
		if err != nil {
			t.Errorf("executor %s: Run: %v", x.name, err)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("executor %s did not exit", x.name)
	}
}

func (x *fencedExecutor) pb() string { return hostPort(x.task.Host, x.task.Ports.PB) }

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
		if len(args) > 1 && args[1] == "devnode" && strings.Contains(string(b), w.root) && !zombie(pid) {
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

// zombie reports whether pid has exited but not been reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
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

// TestNodeNeverRunsTwice runs two executors for the same node over the same
// volume (a replacement launched while the first may still run). The
// second waits for the node lock and says so; a third gives up after its
// lock timeout. Cutting the holder's ZooKeeper connection makes it stop its
// node before its session can expire; only then does the second start the
// node, on the same data: at no moment do two node processes exist, and
// every write acknowledged before or during the switch is there after it.
// A short cut (less than the loss fraction) leaves the node and its lock
// alone.
func TestNodeNeverRunsTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rmf and runs ZooKeeper")
	}
	before := runtime.NumGoroutine()
	t.Cleanup(func() { checkGoroutines(t, before) }) // runs last
	bin := buildDevBinary(t)
	zk := testutil.StartZooKeeper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obs, err := zkstate.Connect(ctx, zk.Servers(), zkstate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close()
	fw, _ := obs.Framework("riak")
	if err := fw.CreateCluster(ctx, zkstate.ClusterRecord{Name: "default", Generation: 1}); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	vol := filepath.Join(root, "volume")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	procs := watchProcs(root)
	defer procs.close()

	// A: the first executor. A 2 s session: it must stop its node 1 s
	// after losing ZooKeeper.
	a := startFenced(t, "a", bin, root, vol, zk, func(c *Config) { c.ZKSessionTimeout = 2 * time.Second })
	runA := a.until(t, mesos.TASK_RUNNING, 30*time.Second)
	var infoA RunningInfo
	if err := json.Unmarshal(runA.Data, &infoA); err != nil {
		t.Fatal(err)
	}
	holder, err := fw.NodeLockHolder(ctx, "default", "riak-default-1")
	if err != nil || holder == nil || holder.TaskID != "task-a" || holder.Host != "127.0.0.1" || holder.AgentID != "agent-a" ||
		holder.ExecutorID != "rmf-executor.a" || holder.PID != os.Getpid() {
		t.Fatalf("lock holder %+v, %v; want task-a", holder, err)
	}

	// B: the replacement, same node and volume, other ports. A 4 s session
	// so that the short cut below stays well inside its loss fraction.
	b := startFenced(t, "b", bin, root, vol, zk, func(c *Config) { c.ZKSessionTimeout = 4 * time.Second })
	st := b.next(t, 10*time.Second)
	if st.GetState() != mesos.TASK_STARTING || !strings.HasPrefix(st.GetMessage(), "waiting for the node lock held by task task-a on host 127.0.0.1 (pid ") {
		t.Fatalf("B: %v %q, want TASK_STARTING waiting for the lock of task-a", st.GetState(), st.GetMessage())
	}
	// C: gives up after its lock timeout.
	c := startFenced(t, "c", bin, root, vol, zk, func(c *Config) { c.LockTimeout = time.Second })
	if st := c.next(t, 10*time.Second); st.GetState() != mesos.TASK_STARTING || !strings.Contains(st.GetMessage(), "held by task task-a") {
		t.Fatalf("C: %v %q", st.GetState(), st.GetMessage())
	}
	st = c.next(t, 10*time.Second)
	if st.GetState() != mesos.TASK_FAILED || !strings.HasPrefix(st.GetMessage(), "gave up after 1s waiting for the node lock of riak-default-1@127.0.0.1 held by task task-a") {
		t.Fatalf("C: %v %q, want TASK_FAILED after the lock timeout", st.GetState(), st.GetMessage())
	}
	c.exited(t)

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
			for i, addr := range []string{a.pb(), b.pb()} {
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
			time.Sleep(5 * time.Millisecond)
		}
	}()
	waitUntil(t, 10*time.Second, "writes acknowledged by A", func() bool { wmu.Lock(); defer wmu.Unlock(); return len(acked) >= 20 })
	if n, _, _ := procs.count(); n != 1 {
		t.Fatalf("%d devnode processes while B waits, want 1 (A's)", n)
	}

	// Cut A off from ZooKeeper for good. B starts the node once A's
	// session has expired.
	cut := time.Now()
	a.proxy.Block()
	runB := b.until(t, mesos.TASK_RUNNING, 20*time.Second)
	var infoB RunningInfo
	if err := json.Unmarshal(runB.Data, &infoB); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "writes acknowledged by B", func() bool { wmu.Lock(); defer wmu.Unlock(); return onB >= 20 })
	close(stopW)
	<-wdone

	// The old node was gone before the new one started, and within A's
	// session timeout (2s) of the cut.
	_, lastA, okA := procs.seen(infoA.PID)
	firstB, _, okB := procs.seen(infoB.PID)
	if !okA || !okB {
		t.Fatalf("node processes not seen: A %d %v, B %d %v", infoA.PID, okA, infoB.PID, okB)
	}
	if _, max, overlap := procs.count(); max != 1 {
		t.Errorf("up to %d node processes at once (%s), want 1", max, overlap)
	}
	if !lastA.Before(firstB) {
		t.Errorf("A's node last seen %v, B's node first seen %v: they overlapped", lastA.Format(time.StampMicro), firstB.Format(time.StampMicro))
	}
	if d := lastA.Sub(cut); d > 2*time.Second {
		t.Errorf("A's node ran %v after the cut; its session (2s) could have expired", d)
	}
	t.Logf("cut at 0; A's node last seen at %v; B's node first seen at %v; %d writes acknowledged (%d by B)",
		lastA.Sub(cut).Round(time.Millisecond), firstB.Sub(cut).Round(time.Millisecond), len(acked), onB)
	// A said why it stopped.
	st = a.until(t, mesos.TASK_FAILED, 5*time.Second)
	if !strings.HasPrefix(st.GetMessage(), "lost the ZooKeeper lock of node riak-default-1@127.0.0.1 (zkstate: node lock lost: no answer from ZooKeeper") ||
		!strings.Contains(st.GetMessage(), "so that it never runs twice") {
		t.Errorf("A: TASK_FAILED %q", st.GetMessage())
	}

	// Nothing acknowledged was lost.
	for k, v := range acked {
		got, err := pbGet(b.pb(), k)
		if err != nil || got != v {
			t.Errorf("read %s from B = %q, %v; want %q (acknowledged)", k, got, err, v)
		}
	}
	holder, err = fw.NodeLockHolder(ctx, "default", "riak-default-1")
	if err != nil || holder == nil || holder.TaskID != "task-b" {
		t.Fatalf("lock holder after the switch %+v, %v; want task-b", holder, err)
	}
	a.exited(t)
	a.proxy.Unblock()

	// A short cut (300 ms, well under 2 s = 1/2 of B's 4 s session) that
	// reconnects within the session: nothing happens.
	b.proxy.Block()
	time.Sleep(300 * time.Millisecond)
	b.proxy.Unblock()
	time.Sleep(2500 * time.Millisecond) // past the loss fraction from the cut
	select {
	case st := <-b.updates:
		t.Fatalf("B after a short cut: %v %q", st.GetState(), st.GetMessage())
	default:
	}
	if syscall.Kill(infoB.PID, 0) != nil {
		t.Fatalf("B's node (pid %d) gone after a short cut", infoB.PID)
	}
	if err := Ping(ctx, b.pb(), time.Second); err != nil {
		t.Fatalf("B's node does not answer after a short cut: %v", err)
	}
	if h, err := fw.NodeLockHolder(ctx, "default", "riak-default-1"); err != nil || h == nil || h.Znode != holder.Znode || h.Session != holder.Session {
		t.Fatalf("lock holder after a short cut %+v, %v; want the same znode %s", h, err, holder.Znode)
	}

	// KILL: the node stops, then the lock is released.
	b.agent.events <- &executor.Event{Type: executor.Event_KILL, Kill: &executor.Event_Kill{TaskID: mesos.TaskID{Value: "task-b"}}}
	if st := b.until(t, mesos.TASK_KILLED, 10*time.Second); st.GetMessage() != "node stopped gracefully" {
		t.Errorf("B killed: %q", st.GetMessage())
	}
	b.exited(t)
	if h, err := fw.NodeLockHolder(ctx, "default", "riak-default-1"); err != nil || h != nil {
		t.Errorf("lock holder after B's kill %+v, %v; want none", h, err)
	}
	if n, _, _ := procs.count(); n != 0 {
		t.Errorf("%d devnode processes left", n)
	}
}

// count returns how many node processes the latest scan saw, the most
// seen at once, and the first overlap seen.
func (w *procWatch) count() (now, max int, overlap string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.current), w.maxSeen, w.overlap
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkGoroutines fails the test if goroutines of this package or zkstate
// outlive it.
func checkGoroutines(t *testing.T, before int) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines: %d before, %d after\n%s", before, n, buf)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
