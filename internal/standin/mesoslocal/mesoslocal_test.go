package mesoslocal_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal/mesoslocaltest"
)

func TestMain(m *testing.M) {
	if os.Getenv(testExecutorEnv) == "1" {
		os.Exit(runTestExecutor())
	}
	os.Exit(m.Run())
}

// startMaster runs a mesos-local with short intervals on a loopback port.
func startMaster(t *testing.T, agents int) (*mesoslocal.Master, string) {
	t.Helper()
	return mesoslocaltest.Start(t, mesoslocal.Config{
		Agents: agents, WorkDir: t.TempDir(), AgentAttributes: []string{"rack:r1"},
		HeartbeatInterval: time.Second, StatusRetryInterval: time.Second, AllocationInterval: 100 * time.Millisecond,
		ExecutorShutdownGrace: time.Second,
	})
}

// testScheduler is the shared mesos-go test scheduler.
type testScheduler = mesoslocaltest.Scheduler

func startScheduler(t *testing.T, master string, mt encoding.MediaType, failover time.Duration) *testScheduler {
	t.Helper()
	return mesoslocaltest.StartScheduler(t, master, mesoslocaltest.Options{MediaType: mt, Failover: failover})
}

// startSchedulerAck is startScheduler; with ack false, updates are not
// acknowledged automatically.
func startSchedulerAck(t *testing.T, master string, mt encoding.MediaType, failover time.Duration, ack bool) *testScheduler {
	t.Helper()
	return mesoslocaltest.StartScheduler(t, master, mesoslocaltest.Options{MediaType: mt, Failover: failover, NoAck: !ack})
}

// startSchedulerRole is startScheduler for a framework of another role.
func startSchedulerRole(t *testing.T, master, role string) *testScheduler {
	t.Helper()
	return mesoslocaltest.StartScheduler(t, master, mesoslocaltest.Options{Role: role})
}

func proto[T any](v T) *T { return &v }

// executorInfo runs this test binary as the executor.
func executorInfo(t *testing.T, id string, codec string) *mesos.ExecutorInfo {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &mesos.ExecutorInfo{
		ExecutorID: mesos.ExecutorID{Value: id}, Name: proto("test executor"),
		Resources: mesos.Resources{resources.NewCPUs(0.1).Resource}, // unreserved
		Command: &mesos.CommandInfo{Shell: proto(false), Value: proto(self), Arguments: []string{self, "-test.run=^$"},
			Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{
				{Name: testExecutorEnv, Type: mesos.Environment_Variable_VALUE.Enum(), Value: proto("1")},
				{Name: "TEST_EXECUTOR_CODEC", Type: mesos.Environment_Variable_VALUE.Enum(), Value: proto(codec)},
			}}},
	}
}

func reservation() mesos.Resource_ReservationInfo {
	return mesos.Resource_ReservationInfo{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: proto("riak"), Principal: proto("riak")}
}

// reserved is the node's reserved cpus and mem.
func reserved() mesos.Resources {
	return mesos.Resources{resources.NewCPUs(0.5).Resource, resources.NewMemory(128).Resource}.PushReservation(reservation())
}

// volume is a 100 MB persistent volume "vol1" mounted at data.
func volume() mesos.Resources {
	vol := resources.NewDisk(100).Resource
	vol = *proto(vol)
	out := mesos.Resources{vol}.PushReservation(reservation())
	out[0].Disk = &mesos.Resource_DiskInfo{Persistence: &mesos.Resource_DiskInfo_Persistence{ID: "vol1", Principal: proto("riak")},
		Volume: &mesos.Volume{ContainerPath: "data", Mode: mesos.RW.Enum()}}
	return out
}

func unreservedDisk() mesos.Resources {
	return mesos.Resources{resources.NewDisk(100).Resource}.PushReservation(reservation())
}

func task(id, agent string, exec *mesos.ExecutorInfo) mesos.TaskInfo {
	rs := append(reserved(), volume()...)
	return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, AgentID: mesos.AgentID{Value: agent}, Executor: exec, Resources: rs}
}

func TestSchedulerAndExecutorLifecycle(t *testing.T) {
	for _, mt := range []encoding.MediaType{codecs.MediaTypeProtobuf, codecs.MediaTypeJSON} {
		codecName := codecs.ByMediaType[mt].Name
		t.Run(codecName, func(t *testing.T) {
			m, url := startMaster(t, 3)
			s := startScheduler(t, url, mt, time.Minute)
			sub := s.Next("SUBSCRIBED", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_SUBSCRIBED })
			fid := sub.Subscribed.FrameworkID.Value
			if sub.Subscribed.GetHeartbeatIntervalSeconds() != 1 {
				t.Errorf("heartbeat interval %v, want 1", sub.Subscribed.GetHeartbeatIntervalSeconds())
			}
			offers := s.Offers(3)
			agentIDs := m.AgentIDs()
			for _, id := range agentIDs {
				o, ok := offers[id]
				if !ok {
					t.Fatalf("no offer from agent %s", id)
				}
				if _, ok := resources.Ports(o.Resources...); !ok {
					t.Errorf("offer from %s has no ports: %v", id, o.Resources)
				}
				if len(o.Attributes) != 1 || o.Attributes[0].Name != "rack" {
					t.Errorf("offer attributes %v", o.Attributes)
				}
			}
			agent := agentIDs[0]

			// Reserve, create a volume and launch, in one ACCEPT.
			exec := executorInfo(t, "exec-1", codecName)
			s.Call(calls.Accept(calls.OfferOperations{
				calls.OpReserve(append(reserved(), unreservedDisk()...)...),
				calls.OpCreate(volume()...),
				calls.OpLaunch(task("node-1", agent, exec)),
			}.WithOffers(s.Take(agent)...)).With(calls.RefuseSeconds(0)))
			st := s.Update("node-1", mesos.TASK_RUNNING, mesos.TASK_FAILED, mesos.TASK_ERROR)
			if st.GetState() != mesos.TASK_RUNNING {
				t.Fatalf("node-1: %v %q", st.GetState(), st.GetMessage())
			}
			if st.GetMessage() != "files:" {
				t.Errorf("fresh volume not empty: %q", st.GetMessage())
			}
			if len(st.UUID) != 16 || st.GetAgentID().GetValue() != agent {
				t.Errorf("update lacks uuid or agent: %+v", st)
			}
			waitState(t, m, func(s mesoslocal.State) bool {
				return len(s.Tasks) == 1 && s.Tasks[0].State == "TASK_RUNNING" && s.Tasks[0].Unacked == 0
			}, "RUNNING acknowledged")
			st0 := m.State()
			if v := st0.Agents[0].Volumes; len(v) != 1 || v[0].PersistenceID != "vol1" || v[0].Role != "riak" {
				t.Fatalf("volumes %+v", v)
			}
			if _, err := os.Stat(filepath.Join(st0.Agents[0].Volumes[0].Path, "node-1")); err != nil {
				t.Errorf("executor did not write into the volume: %v", err)
			}
			if r := st0.Agents[0].Reservations["riak"]; r["cpus"] != 0.5 || r["mem"] != 128.0 || r["disk"] != 100.0 {
				t.Errorf("reservations %v", st0.Agents[0].Reservations)
			}

			// Scheduler → executor message, and its echo back.
			s.Call(calls.Message(agent, "exec-1", []byte("hi")))
			msg := s.Next("MESSAGE", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_MESSAGE })
			if string(msg.Message.Data) != "echo:hi" || msg.Message.ExecutorID.Value != "exec-1" {
				t.Errorf("message %q from %v", msg.Message.Data, msg.Message.ExecutorID)
			}

			// Explicit reconciliation: known → latest state, unknown → LOST.
			s.Call(calls.Reconcile(calls.ReconcileTasks(map[string]string{"node-1": agent, "ghost": ""})))
			answers := map[string]mesos.TaskStatus{}
			s.Next("reconcile answers", func(e *scheduler.Event) bool {
				if e.Type == scheduler.Event_UPDATE {
					answers[e.Update.Status.TaskID.Value] = e.Update.Status
				}
				return len(answers) == 2
			})
			if st := answers["node-1"]; st.GetState() != mesos.TASK_RUNNING || st.GetReason() != mesos.REASON_RECONCILIATION || len(st.UUID) != 0 {
				t.Errorf("reconcile answer %+v", st)
			}
			if st := answers["ghost"]; st.GetState() != mesos.TASK_LOST {
				t.Errorf("reconcile of an unknown task: %+v", st)
			}

			// The scheduler's stream drops: it re-subscribes with its ID and
			// gets its task back.
			if err := m.DropFramework(fid); err != nil {
				t.Fatal(err)
			}
			sub2 := s.Next("re-SUBSCRIBED", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_SUBSCRIBED })
			if got := sub2.Subscribed.FrameworkID.Value; got != fid {
				t.Fatalf("re-subscribed as %s, want %s", got, fid)
			}
			s.Call(calls.Reconcile(nil)) // implicit
			s.Update("node-1", mesos.TASK_RUNNING)

			// Kill → KILLED.
			s.Call(calls.Kill("node-1", agent))
			s.Update("node-1", mesos.TASK_KILLED)
			waitState(t, m, func(s mesoslocal.State) bool { return len(s.Tasks) == 0 && len(s.Agents[0].Executors) == 0 }, "task and executor gone")

			// Relaunch on the same volume: the new executor sees the file.
			o := s.OfferFrom(agent, func(o mesos.Offer) bool { return hasVolume(o, "vol1") })
			exec2 := executorInfo(t, "exec-2", codecName)
			_ = o
			s.Call(calls.Accept(calls.OfferOperations{calls.OpLaunch(task("node-1b", agent, exec2))}.WithOffers(s.Take(agent)...)).With(calls.RefuseSeconds(0)))
			st = s.Update("node-1b", mesos.TASK_RUNNING, mesos.TASK_FAILED, mesos.TASK_ERROR)
			if st.GetState() != mesos.TASK_RUNNING || st.GetMessage() != "files:node-1" {
				t.Fatalf("relaunch on the volume: %v %q", st.GetState(), st.GetMessage())
			}

			// The executor process dies: TASK_FAILED and FAILURE.
			waitState(t, m, func(s mesoslocal.State) bool {
				return len(s.Agents[0].Executors) == 1 && s.Agents[0].Executors[0].PID > 0
			}, "executor pid")
			pid := m.State().Agents[0].Executors[0].PID
			if err := m.KillExecutor(fid, "exec-2"); err != nil {
				t.Fatal(err)
			}
			st = s.Update("node-1b", mesos.TASK_FAILED, mesos.TASK_LOST)
			if st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
				t.Errorf("failed reason %v", st.GetReason())
			}
			s.Next("FAILURE", func(e *scheduler.Event) bool {
				return e.Type == scheduler.Event_FAILURE && e.Failure.GetExecutorID().GetValue() == "exec-2"
			})
			if syscall.Kill(pid, 0) == nil {
				t.Errorf("executor %d still alive", pid)
			}

			// A launch onto resources the offer does not hold: TASK_ERROR.
			bad := task("too-big", agentIDs[1], executorInfo(t, "exec-3", codecName))
			bad.Resources = mesos.Resources{resources.NewCPUs(1000).Resource}
			held := s.Take(agentIDs[1])
			if len(held) == 0 {
				t.Fatal("no outstanding offer from the second agent")
			}
			s.Call(calls.Accept(calls.OfferOperations{calls.OpLaunch(bad)}.WithOffers(held...)))
			if st := s.Update("too-big", mesos.TASK_ERROR, mesos.TASK_RUNNING); st.GetState() != mesos.TASK_ERROR {
				t.Errorf("oversized task: %v", st.GetState())
			}
		})
	}
}

func hasVolume(o mesos.Offer, id string) bool {
	for _, r := range o.Resources {
		if r.GetDisk().GetPersistence().GetID() == id {
			return true
		}
	}
	return false
}

func waitState(t *testing.T, m *mesoslocal.Master, ok func(mesoslocal.State) bool, what string) {
	t.Helper()
	if !testutil.Eventually(20*time.Second, func() bool { return ok(m.State()) }) {
		t.Fatalf("timed out waiting for %s; state: %+v", what, m.State())
	}
}

var _ = strings.Contains
var _ sync.Mutex
