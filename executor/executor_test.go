package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/executor"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/standin/fakeriak"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal/mesoslocaltest"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// The executor under test is the real rmf binary, built once per test
// process by testutil.RMF.
func TestMain(m *testing.M) {
	code := m.Run()
	testutil.CleanupRMF()
	os.Exit(code)
}

func startMaster(t *testing.T, agents int, workDir string) (*mesoslocal.Master, string) {
	t.Helper()
	return mesoslocaltest.Start(t, mesoslocal.Config{
		Agents: agents, WorkDir: workDir, AgentResources: testutil.AgentResources(t),
		HeartbeatInterval: time.Second, StatusRetryInterval: time.Second, AllocationInterval: 100 * time.Millisecond,
		ExecutorShutdownGrace: 3 * time.Second,
	})
}

// testScheduler is the shared mesos-go test scheduler.
type testScheduler = mesoslocaltest.Scheduler

func ptr[T any](v T) *T { return &v }

func reservation() mesos.Resource_ReservationInfo {
	return mesos.Resource_ReservationInfo{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: ptr("riak"), Principal: ptr("riak")}
}

func reserved() mesos.Resources {
	return mesos.Resources{resources.NewCPUs(0.5).Resource, resources.NewMemory(128).Resource}.PushReservation(reservation())
}

// volume is a persistent volume mounted at nodetask.VolumePath.
func volume(id string) mesos.Resources {
	out := mesos.Resources{resources.NewDisk(100).Resource}.PushReservation(reservation())
	out[0].Disk = &mesos.Resource_DiskInfo{Persistence: &mesos.Resource_DiskInfo_Persistence{ID: id, Principal: ptr("riak")},
		Volume: &mesos.Volume{ContainerPath: nodetask.VolumePath, Mode: mesos.RW.Enum()}}
	return out
}

// env is a shared ZooKeeper, mesos-local and scheduler.
type env struct {
	t       *testing.T
	bin     string
	zk      *testutil.ZooKeeper
	fw      *zkstate.Framework
	m       *mesoslocal.Master
	workDir string // mesos-local's: agents' sandboxes and volumes
	s       *testScheduler
	agents  []string
}

func newEnv(t *testing.T, agents int) *env {
	bin := testutil.RMF(t)
	zk := testutil.StartZooKeeper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := zkstate.Connect(ctx, zk.Servers())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	fw, err := st.Framework("riak")
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.CreateCluster(ctx, zkstate.ClusterRecord{Name: "default", Generation: 1}); err != nil {
		t.Fatal(err)
	}
	workDir := t.TempDir()
	m, url := startMaster(t, agents, workDir)
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("EXECUTOR_TEST_LOGS") != "" {
			dumpSandboxes(t, workDir)
		}
	})
	s := mesoslocaltest.StartScheduler(t, url, mesoslocaltest.Options{Name: "executor-test"})
	s.Next("SUBSCRIBED", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_SUBSCRIBED })
	return &env{t: t, bin: bin, zk: zk, fw: fw, m: m, workDir: workDir, s: s, agents: m.AgentIDs()}
}

// nodeTask is node name's task data as the scheduler would write it for
// agent (an index into e.agents): on that agent's address, as its host
// and in its Erlang node name. With agent -1 it is on 127.0.0.1, a host
// of no agent's (the fencing tests move one task between agents).
func (e *env) nodeTask(name string, agent int) nodetask.Task {
	host := "127.0.0.1"
	if agent >= 0 {
		host = e.m.State().Agents[agent].Hostname
	}
	return nodetask.Task{Version: nodetask.Version, Framework: "riak", Cluster: "default", Node: name, NodeName: name + "@" + host,
		Flavor: nodetask.FlavorDevnode, ZooKeeper: e.zk.Addr, Host: host,
		Ports: nodetask.Ports{PB: testutil.FreePort(e.t), HTTP: testutil.FreePort(e.t), Handoff: testutil.FreePort(e.t),
			Disterl: testutil.FreePort(e.t), Erlpmd: testutil.FreePort(e.t)}}
}

// launch reserves resources and a volume on agent and launches a task with
// data run by the rmf executor.
func (e *env) launch(taskID, agent string, data []byte, uris ...mesos.CommandInfo_URI) {
	e.t.Helper()
	e.launchOn(taskID, agent, "vol-"+taskID, nil, data, uris...)
}

// launchOn is launch with the volume's persistence ID and extra executor
// environment (NAME=value) chosen by the caller.
func (e *env) launchOn(taskID, agent, volumeID string, environ []string, data []byte, uris ...mesos.CommandInfo_URI) {
	e.t.Helper()
	exec := &mesos.ExecutorInfo{
		ExecutorID: mesos.ExecutorID{Value: "rmf-executor." + taskID}, Name: ptr("rmf executor"),
		Command: &mesos.CommandInfo{Shell: ptr(false), Value: ptr(e.bin), Arguments: []string{e.bin, "executor"},
			Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{
				{Name: "RMF_HEALTH_INTERVAL", Type: mesos.Environment_Variable_VALUE.Enum(), Value: ptr("500ms")},
				{Name: "RMF_TRANSFERS_INTERVAL", Type: mesos.Environment_Variable_VALUE.Enum(), Value: ptr("300ms")},
				{Name: "RMF_START_TIMEOUT", Type: mesos.Environment_Variable_VALUE.Enum(), Value: ptr("20s")},
				{Name: fakeriak.Env, Type: mesos.Environment_Variable_VALUE.Enum(), Value: ptr(e.bin)},
			}}},
	}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		exec.Command.Environment.Variables = append(exec.Command.Environment.Variables,
			mesos.Environment_Variable{Name: name, Type: mesos.Environment_Variable_VALUE.Enum(), Value: ptr(value)})
	}
	exec.Command.URIs = uris
	vol := volume(volumeID)
	disk := mesos.Resources{resources.NewDisk(100).Resource}.PushReservation(reservation())
	task := mesos.TaskInfo{Name: taskID, TaskID: mesos.TaskID{Value: taskID}, AgentID: mesos.AgentID{Value: agent},
		Executor: exec, Resources: append(reserved(), vol...), Data: data}
	e.s.Call(calls.Accept(calls.OfferOperations{
		calls.OpReserve(append(reserved(), disk...)...),
		calls.OpCreate(vol...),
		calls.OpLaunch(task),
	}.WithOffers(e.s.TakeWait(agent)...)).With(calls.RefuseSeconds(0)))
}

func (e *env) liveNames() map[string]zkstate.LiveRecord {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	live, err := e.fw.ListLive(ctx, "default")
	if err != nil && !errors.Is(err, zkstate.ErrNotFound) {
		e.t.Fatal(err)
	}
	return live
}

func (e *env) waitExecutorsGone(agentIdx int) {
	e.t.Helper()
	if !testutil.Eventually(15*time.Second, func() bool { return len(e.m.State().Agents[agentIdx].Executors) == 0 }) {
		e.t.Errorf("executor on agent %d still running: %+v", agentIdx+1, e.m.State().Agents[agentIdx].Executors)
	}
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	if !testutil.Eventually(10*time.Second, func() bool { return syscall.Kill(pid, 0) != nil }) {
		t.Errorf("node process %d still alive", pid)
	}
}

func running(t *testing.T, st mesos.TaskStatus) executor.RunningInfo {
	t.Helper()
	if st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("state %v: %s", st.GetState(), st.GetMessage())
	}
	var info executor.RunningInfo
	if err := json.Unmarshal(st.Data, &info); err != nil {
		t.Fatalf("RUNNING data %q: %v", st.Data, err)
	}
	return info
}

func TestExecutorDevnode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rmf and runs ZooKeeper and mesos-local")
	}
	e := newEnv(t, 3)

	t.Run("launch and kill", func(t *testing.T) {
		e.t = t
		nt := e.nodeTask("riak-default-1", 0)
		data, err := nodetask.Marshal(nt)
		if err != nil {
			t.Fatal(err)
		}
		e.launch("node-1", e.agents[0], data)
		e.s.Update("node-1", mesos.TASK_STARTING)
		st := e.s.Update("node-1", mesos.TASK_RUNNING, mesos.TASK_FAILED)
		info := running(t, st)
		pb := net.JoinHostPort(nt.Host, strconv.Itoa(nt.Ports.PB))
		if nt.Host != "127.0.0.2" {
			t.Errorf("agent 1's address %s, want 127.0.0.2", nt.Host)
		}
		if info.NodeName != nt.NodeName || info.Ports != nt.Ports || info.PID <= 0 || !strings.Contains(st.GetMessage(), pb) {
			t.Errorf("RUNNING %q %+v", st.GetMessage(), info)
		}
		// Running means registered: the live record is there already.
		live := e.liveNames()
		if rec, ok := live["riak-default-1"]; !ok || rec.PBAddr() != pb || rec.HTTPPort != nt.Ports.HTTP {
			t.Fatalf("live records %+v", live)
		}
		if err := executor.Ping(context.Background(), pb, 2*time.Second); err != nil {
			t.Fatalf("PB ping of the node: %v", err)
		}
		// The node's data is on the persistent volume.
		vols := e.m.State().Agents[0].Volumes
		if len(vols) != 1 {
			t.Fatalf("volumes %+v", vols)
		}
		if _, err := os.Stat(filepath.Join(vols[0].Path, executor.DevnodeDir)); err != nil {
			t.Errorf("devnode data not on the volume: %v", err)
		}

		// A deliberate stop marks the record leaving before deleting it,
		// so directors drain the node before it stops.
		wctx, wcancel := context.WithCancel(context.Background())
		defer wcancel()
		snaps, err := e.fw.WatchLive(wctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		var sawLeaving atomic.Bool
		go func() {
			for s := range snaps {
				if s.Nodes["riak-default-1"].Leaving {
					sawLeaving.Store(true)
				}
			}
		}()
		e.s.Call(calls.Kill("node-1", e.agents[0]))
		st = e.s.Update("node-1", mesos.TASK_KILLED, mesos.TASK_FAILED)
		if st.GetState() != mesos.TASK_KILLED {
			t.Fatalf("after KILL: %v %q", st.GetState(), st.GetMessage())
		}
		if !sawLeaving.Load() {
			t.Error("the live record was never marked leaving before the kill removed it")
		}
		if _, ok := e.liveNames()["riak-default-1"]; ok {
			t.Error("live record still registered after TASK_KILLED")
		}
		waitGone(t, info.PID)
		e.waitExecutorsGone(0)
	})

	t.Run("shutdown", func(t *testing.T) {
		e.t = t
		nt := e.nodeTask("riak-default-4", 0)
		data, _ := nodetask.Marshal(nt)
		e.launch("node-4", e.agents[0], data)
		info := running(t, e.s.Update("node-4", mesos.TASK_RUNNING, mesos.TASK_FAILED))
		if _, ok := e.liveNames()["riak-default-4"]; !ok {
			t.Fatal("no live record")
		}
		e.s.Call(calls.Shutdown("rmf-executor.node-4", e.agents[0]))
		st := e.s.Update("node-4", mesos.TASK_KILLED, mesos.TASK_FAILED)
		if st.GetState() != mesos.TASK_KILLED || st.GetMessage() != "node stopped gracefully" {
			t.Errorf("after SHUTDOWN: %v %q", st.GetState(), st.GetMessage())
		}
		if _, ok := e.liveNames()["riak-default-4"]; ok {
			t.Error("live record still registered after SHUTDOWN")
		}
		waitGone(t, info.PID)
		e.waitExecutorsGone(0)
	})

	t.Run("riak flavor", func(t *testing.T) {
		e.t = t
		tarball := fakeRiakTarball(t)
		nt := e.nodeTask("riak-default-5", 1)
		nt.Flavor, nt.RiakTarball, nt.Join = nodetask.FlavorRiak, "file://"+tarball, "riak-default-0@127.0.0.2"
		data, err := nodetask.Marshal(nt)
		if err != nil {
			t.Fatal(err)
		}
		e.launch("node-5", e.agents[1], data, mesos.CommandInfo_URI{Value: nt.RiakTarball, Extract: ptr(true)})
		info := running(t, e.s.Update("node-5", mesos.TASK_RUNNING, mesos.TASK_FAILED))
		if info.Flavor != nodetask.FlavorRiak {
			t.Errorf("RUNNING data %+v", info)
		}
		var vol string
		for _, v := range e.m.State().Agents[1].Volumes {
			if v.PersistenceID == "vol-node-5" {
				vol = v.Path
			}
		}
		// The fake riak script logs what it was run with on the volume.
		for file, want := range map[string]string{
			"console.log": "foreground ERL_EPMD_PORT=" + strconv.Itoa(nt.Ports.Erlpmd) + "\n",
			"admin.log": "admin cluster join riak-default-0@127.0.0.2\nadmin cluster plan\nadmin cluster commit\n" +
				"admin wait-for-service riak_kv " + nt.NodeName + "\nadmin ringready\n",
		} {
			b, err := os.ReadFile(filepath.Join(vol, "data", file))
			if err != nil || !strings.HasPrefix(string(b), want) {
				t.Errorf("%s = %q (%v), want %q", file, b, err, want)
			}
		}
		// Transfers pending show in a TASK_RUNNING update, and so does
		// their end.
		if err := os.WriteFile(filepath.Join(vol, "data", "transfers-pending"), []byte("3"), 0o644); err != nil {
			t.Fatal(err)
		}
		if st := running(t, e.s.Update("node-5", mesos.TASK_RUNNING, mesos.TASK_FAILED)); !st.TransfersPending || !strings.Contains(st.Transfers, "waiting to handoff 3 partitions") {
			t.Errorf("transfers pending: %+v", st)
		}
		os.Remove(filepath.Join(vol, "data", "transfers-pending"))
		if st := running(t, e.s.Update("node-5", mesos.TASK_RUNNING, mesos.TASK_FAILED)); st.TransfersPending || !st.Ready {
			t.Errorf("transfers done: %+v", st)
		}
		// A configuration check leaves the node running and answers in
		// the next update: Riak refuses an unknown key.
		check := func(gen int64, conf string) *nodetask.ConfigCheck {
			e.s.Call(calls.Message(e.agents[1], "rmf-executor.node-5",
				nodetask.Message{Op: nodetask.OpCheckConfig, TaskID: "node-5", Generation: gen, RiakConf: conf}.Marshal()))
			st := running(t, e.s.Update("node-5", mesos.TASK_RUNNING, mesos.TASK_FAILED))
			if st.ConfigCheck == nil || st.ConfigCheck.Generation != gen || st.PID != info.PID {
				t.Fatalf("check of generation %d: %+v", gen, st)
			}
			return st.ConfigCheck
		}
		if c := check(7, "listener.pb.internal = 127.0.0.1:8087\n"); c.OK || !strings.Contains(c.Error, "unknown variable: listener.pb.internal") {
			t.Errorf("bad config check: %+v", c)
		}
		if c := check(8, "ring_size = 128\n"); !c.OK {
			t.Errorf("good config check: %+v", c)
		}
		// Leave: riak admin cluster leave, plan, commit; Riak stops the node.
		e.s.Call(calls.Message(e.agents[1], "rmf-executor.node-5", nodetask.Message{Op: nodetask.OpLeave, TaskID: "node-5"}.Marshal()))
		if st := e.s.Update("node-5", mesos.TASK_FINISHED, mesos.TASK_KILLED, mesos.TASK_FAILED); st.GetState() != mesos.TASK_FINISHED {
			t.Errorf("after leave: %v %q", st.GetState(), st.GetMessage())
		}
		b, err := os.ReadFile(filepath.Join(vol, "data", "admin.log"))
		if want := "admin cluster leave\nadmin cluster plan\nadmin cluster commit\n"; err != nil || !strings.HasSuffix(string(b), want) {
			t.Errorf("admin.log after leave = %q (%v), want %q", b, err, want)
		}
		waitGone(t, info.PID)
		e.waitExecutorsGone(1)
	})

	t.Run("riak flavor serves before the ring agrees", func(t *testing.T) {
		e.t = t
		down := filepath.Join(t.TempDir(), "down")
		if err := os.WriteFile(down, []byte("riak-default-0@127.0.0.3"), 0o644); err != nil {
			t.Fatal(err)
		}
		nt := e.nodeTask("riak-default-8", 1)
		nt.Flavor, nt.RiakTarball = nodetask.FlavorRiak, "file://"+fakeRiakTarball(t)
		data, err := nodetask.Marshal(nt)
		if err != nil {
			t.Fatal(err)
		}
		e.launchOn("node-8", e.agents[1], "vol-node-8", []string{"RMF_RING_READY_WAIT=1s", "FAKE_RIAK_DOWN=" + down}, data,
			mesos.CommandInfo_URI{Value: nt.RiakTarball, Extract: ptr(true)})
		// Another member is down: the node serves, is running, not ready,
		// and is not stopped for it.
		st := e.s.Update("node-8", mesos.TASK_RUNNING, mesos.TASK_FAILED)
		if info := running(t, st); info.Ready || !strings.Contains(st.GetMessage(), "do not agree on the ring yet") {
			t.Errorf("with a member down: %+v %q", info, st.GetMessage())
		}
		os.Remove(down)
		if st := e.s.Update("node-8", mesos.TASK_RUNNING, mesos.TASK_FAILED); !running(t, st).Ready || !strings.Contains(st.GetMessage(), "every member agrees") {
			t.Errorf("once the member is back: %q", st.GetMessage())
		}
		e.s.Call(calls.Kill(st.TaskID.Value, e.agents[1]))
		e.s.Update("node-8", mesos.TASK_KILLED, mesos.TASK_FAILED)
		e.waitExecutorsGone(1)
	})

	t.Run("riak flavor refuses a config Riak refuses", func(t *testing.T) {
		e.t = t
		nt := e.nodeTask("riak-default-9", 1)
		nt.Flavor, nt.RiakTarball = nodetask.FlavorRiak, "file://"+fakeRiakTarball(t)
		nt.RiakConf = "listener.pb.internal = {{.Host}}:8087\n"
		data, err := nodetask.Marshal(nt)
		if err != nil {
			t.Fatal(err)
		}
		e.launch("node-9", e.agents[1], data, mesos.CommandInfo_URI{Value: nt.RiakTarball, Extract: ptr(true)})
		st := e.s.Update("node-9", mesos.TASK_FAILED, mesos.TASK_RUNNING, mesos.TASK_STARTING)
		// riak chkconfig's own words, then cuttlefish's reason.
		if st.GetState() != mesos.TASK_FAILED || !strings.Contains(st.GetMessage(), "Cuttlefish failed! Oh no!") ||
			!strings.Contains(st.GetMessage(), "Conf file attempted to set unknown variable: listener.pb.internal") {
			t.Errorf("bad config: %v %q", st.GetState(), st.GetMessage())
		}
		e.waitExecutorsGone(1)
	})

	t.Run("leave", func(t *testing.T) {
		e.t = t
		first, second := e.nodeTask("riak-default-6", 0), e.nodeTask("riak-default-7", 2)
		second.Join = net.JoinHostPort(first.Host, strconv.Itoa(first.Ports.PB))
		data1, _ := nodetask.Marshal(first)
		data2, _ := nodetask.Marshal(second)
		e.launch("node-6", e.agents[0], data1)
		info1 := running(t, e.s.Update("node-6", mesos.TASK_RUNNING, mesos.TASK_FAILED))
		e.launch("node-7", e.agents[2], data2)
		info2 := running(t, e.s.Update("node-7", mesos.TASK_RUNNING, mesos.TASK_FAILED))
		pb1 := net.JoinHostPort(first.Host, strconv.Itoa(first.Ports.PB))
		c, err := riak.NewClient(&riak.NewClientOptions{RemoteAddresses: []string{pb1}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Stop()
		for i := range 100 {
			cmd, _ := riak.NewStoreValueCommandBuilder().WithBucket("b").WithKey(strconv.Itoa(i)).
				WithContent(&riak.Object{ContentType: "text/plain", Value: []byte(strconv.Itoa(i))}).Build()
			if err := c.Execute(cmd); err != nil {
				t.Fatal(err)
			}
		}
		if got := ringMembers(t, first); !slices.Contains(got, second.NodeName) {
			t.Fatalf("ring members before the leave: %v", got)
		}
		// Garbage and messages for another task change nothing.
		e.s.Call(calls.Message(e.agents[2], "rmf-executor.node-7", []byte("not a message")))
		e.s.Call(calls.Message(e.agents[2], "rmf-executor.node-7", nodetask.Message{Op: nodetask.OpLeave, TaskID: "node-6"}.Marshal()))
		time.Sleep(time.Second) // deliberate: give the executor time to act on them wrongly
		if err := syscall.Kill(info2.PID, 0); err != nil {
			t.Fatalf("node stopped after messages it should ignore: %v", err)
		}

		e.s.Call(calls.Message(e.agents[2], "rmf-executor.node-7", nodetask.Message{Op: nodetask.OpLeave, TaskID: "node-7"}.Marshal()))
		st := e.s.Update("node-7", mesos.TASK_RUNNING, mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED)
		if st.GetState() != mesos.TASK_RUNNING || !strings.HasPrefix(st.GetMessage(), "leaving the cluster") {
			t.Errorf("first update after the leave message: %v %q", st.GetState(), st.GetMessage())
		}
		st = e.s.Update("node-7", mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED)
		if st.GetState() != mesos.TASK_FINISHED || st.GetMessage() != "left the cluster; the node stopped" {
			t.Errorf("after the leave: %v %q", st.GetState(), st.GetMessage())
		}
		waitGone(t, info2.PID)
		if _, ok := e.liveNames()["riak-default-7"]; ok {
			t.Error("live record of the node that left still registered")
		}
		if got := ringMembers(t, first); slices.Contains(got, second.NodeName) {
			t.Errorf("ring members after the leave: %v", got)
		}
		for i := range 100 {
			cmd, _ := riak.NewFetchValueCommandBuilder().WithBucket("b").WithKey(strconv.Itoa(i)).WithR(1).Build()
			if err := c.Execute(cmd); err != nil || len(cmd.(*riak.FetchValueCommand).Response.Values) != 1 {
				t.Fatalf("key %d after the leave: %v", i, err)
			}
		}
		e.s.Call(calls.Kill("node-6", e.agents[0]))
		e.s.Update("node-6", mesos.TASK_KILLED, mesos.TASK_FAILED)
		waitGone(t, info1.PID)
		e.waitExecutorsGone(0)
		e.waitExecutorsGone(2)
	})

	t.Run("node dies", func(t *testing.T) {
		e.t = t
		nt := e.nodeTask("riak-default-2", 1)
		data, _ := nodetask.Marshal(nt)
		e.launch("node-2", e.agents[1], data)
		info := running(t, e.s.Update("node-2", mesos.TASK_RUNNING, mesos.TASK_FAILED))
		if err := syscall.Kill(info.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		st := e.s.Update("node-2", mesos.TASK_FAILED, mesos.TASK_KILLED)
		msg := st.GetMessage()
		if st.GetState() != mesos.TASK_FAILED || !strings.Contains(msg, "killed by signal killed") || !strings.Contains(msg, "last output:\n") ||
			!strings.Contains(msg, nt.NodeName) {
			t.Errorf("after SIGKILL: %v %q", st.GetState(), msg)
		}
		if _, ok := e.liveNames()["riak-default-2"]; ok {
			t.Error("live record of a dead node still registered")
		}
		e.waitExecutorsGone(1)
	})

	t.Run("bad task data", func(t *testing.T) {
		e.t = t
		e.launch("node-3", e.agents[2], []byte(`{"version":1,"flavor":"devnode"}`))
		st := e.s.Update("node-3", mesos.TASK_FAILED, mesos.TASK_RUNNING, mesos.TASK_STARTING)
		if st.GetState() != mesos.TASK_FAILED || !strings.HasPrefix(st.GetMessage(), "bad task data: nodetask:") ||
			st.GetReason() != mesos.REASON_TASK_INVALID {
			t.Errorf("bad data: %v %v %q", st.GetState(), st.GetReason(), st.GetMessage())
		}
		e.waitExecutorsGone(2)
	})
}

// dumpSandboxes logs the executors' and nodes' output files.
func dumpSandboxes(t *testing.T, workDir string) {
	files, _ := filepath.Glob(filepath.Join(workDir, "*", "frameworks", "*", "executors", "*", "runs", "*", "*std*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > 8<<10 {
			b = b[len(b)-8<<10:]
		}
		t.Logf("--- %s ---\n%s", strings.TrimPrefix(f, workDir), b)
	}
}

// fakeRiakTarball writes the fake Riak KV 3.x release (fakeriak).
func fakeRiakTarball(t *testing.T) string {
	p, err := fakeriak.Tarball(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ringMembers reads a devnode's ring members from its HTTP /stats.
func ringMembers(t *testing.T, nt nodetask.Task) []string {
	t.Helper()
	resp, err := http.Get("http://" + net.JoinHostPort(nt.Host, strconv.Itoa(nt.Ports.HTTP)) + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats struct {
		RingMembers []string `json:"ring_members"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	return stats.RingMembers
}
