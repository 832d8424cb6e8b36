package mesoslocal_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
)

// launchNode reserves, creates vol1 and launches a task on agent.
func launchNode(t *testing.T, s *testScheduler, agent, taskID, execID string) mesos.TaskStatus {
	t.Helper()
	if !s.Holds(agent) {
		s.OfferFrom(agent, func(mesos.Offer) bool { return true })
	}
	s.Call(calls.Accept(calls.OfferOperations{
		calls.OpReserve(append(reserved(), unreservedDisk()...)...),
		calls.OpCreate(volume()...),
		calls.OpLaunch(task(taskID, agent, executorInfo(t, execID, "protobuf"))),
	}.WithOffers(s.Take(agent)...)).With(calls.RefuseSeconds(0)))
	return s.Update(taskID, mesos.TASK_RUNNING, mesos.TASK_FAILED, mesos.TASK_ERROR)
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// TestAgentStopAndRestart: a stopped agent's tasks are LOST and its
// processes die; restarted, it offers its volume back with the data.
func TestAgentStopAndRestart(t *testing.T) {
	m, url := startMaster(t, 2)
	s := startScheduler(t, url, codecs.MediaTypeProtobuf, time.Minute)
	agent := m.AgentIDs()[0]
	if st := launchNode(t, s, agent, "n1", "e1"); st.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("launch: %v %q", st.GetState(), st.GetMessage())
	}
	waitState(t, m, func(st mesoslocal.State) bool {
		return len(st.Agents[0].Executors) == 1 && st.Agents[0].Executors[0].PID > 0
	}, "executor")
	pid := m.State().Agents[0].Executors[0].PID
	// The executor is told its agent's address.
	if env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ")); err != nil ||
		!strings.Contains("\x00"+string(env), "\x00LIBPROCESS_IP=127.0.0.2\x00") || !strings.Contains("\x00"+string(env), "\x00MESOS_AGENT_ENDPOINT=127.0.0.2:") {
		t.Errorf("executor environment (%v) lacks LIBPROCESS_IP=127.0.0.2 or MESOS_AGENT_ENDPOINT=127.0.0.2:PORT", err)
	}
	if err := m.StopAgent("1"); err != nil {
		t.Fatal(err)
	}
	if st := s.Update("n1", mesos.TASK_LOST, mesos.TASK_FAILED); st.GetState() != mesos.TASK_LOST {
		t.Errorf("stopped agent's task: %v", st.GetState())
	}
	if alive(pid) {
		t.Errorf("executor %d survived its agent", pid)
	}
	if st := m.State(); st.Agents[0].Up || len(st.Agents[0].Volumes) != 1 {
		t.Fatalf("stopped agent state %+v", st.Agents[0])
	}
	if err := m.RestartAgent(agent); err != nil {
		t.Fatal(err)
	}
	o := s.OfferFrom(agent, func(o mesos.Offer) bool { return hasVolume(o, "vol1") })
	_ = o
	s.Call(calls.Accept(calls.OfferOperations{calls.OpLaunch(task("n1-again", agent, executorInfo(t, "e2", "protobuf")))}.WithOffers(s.Take(agent)...)))
	if st := s.Update("n1-again", mesos.TASK_RUNNING, mesos.TASK_FAILED, mesos.TASK_ERROR); st.GetState() != mesos.TASK_RUNNING || st.GetMessage() != "files:n1" {
		t.Fatalf("relaunch after restart: %v %q", st.GetState(), st.GetMessage())
	}
	if err := m.StopAgent("nope"); err == nil {
		t.Error("unknown agent accepted")
	}
}

// TestTeardownAndClose: TEARDOWN kills the framework's executors; Close
// leaves no process behind.
func TestTeardownAndClose(t *testing.T) {
	m, err := mesoslocal.New(mesoslocal.Config{Agents: 2, WorkDir: t.TempDir(), AllocationInterval: 100 * time.Millisecond, ExecutorShutdownGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- m.Serve(ln) }()
	s := startScheduler(t, "http://"+ln.Addr().String(), codecs.MediaTypeJSON, time.Minute)
	ids := m.AgentIDs()
	launchNode(t, s, ids[0], "a", "ea")
	launchNode(t, s, ids[1], "b", "eb")
	waitState(t, m, func(st mesoslocal.State) bool {
		return len(st.Agents[0].Executors) == 1 && len(st.Agents[1].Executors) == 1 && st.Agents[0].Executors[0].PID > 0 && st.Agents[1].Executors[0].PID > 0
	}, "executors")
	st := m.State()
	pids := []int{st.Agents[0].Executors[0].PID, st.Agents[1].Executors[0].PID}
	sandbox := st.Agents[0].Executors[0].Sandbox

	// SHUTDOWN of one executor: it exits (the test executor obeys), its task is KILLED.
	s.Call(&scheduler.Call{Type: scheduler.Call_SHUTDOWN, Shutdown: &scheduler.Call_Shutdown{
		ExecutorID: mesos.ExecutorID{Value: "ea"}, AgentID: mesos.AgentID{Value: ids[0]}}})
	if st := s.Update("a", mesos.TASK_KILLED, mesos.TASK_FAILED); st.GetState() != mesos.TASK_KILLED {
		t.Errorf("after SHUTDOWN: %v", st.GetState())
	}
	if _, err := os.Stat(filepath.Join(sandbox, "stderr")); err != nil {
		t.Errorf("sandbox has no stderr: %v", err)
	}

	s.Stop()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != mesoslocal.ErrClosed {
		t.Errorf("Serve: %v", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d outlived Close", pid)
		}
	}
}

// TestStatusUpdateRetry: an update the scheduler does not acknowledge is
// sent again with the same UUID; once acknowledged it is not.
func TestStatusUpdateRetry(t *testing.T) {
	m, url := startMaster(t, 1)
	s := startSchedulerAck(t, url, codecs.MediaTypeProtobuf, time.Minute, false)
	agent := m.AgentIDs()[0]
	first := launchNode(t, s, agent, "r1", "er1")
	if first.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("launch: %v", first.GetState())
	}
	again := s.Update("r1", mesos.TASK_RUNNING)
	if string(again.UUID) != string(first.UUID) {
		t.Fatalf("retry carries another UUID")
	}
	if st := m.State(); st.Tasks[0].Unacked != 1 {
		t.Errorf("unacked = %d, want 1", st.Tasks[0].Unacked)
	}
	s.Call(calls.Acknowledge(agent, "r1", first.UUID))
	waitState(t, m, func(st mesoslocal.State) bool { return st.Tasks[0].Unacked == 0 }, "acknowledged")
	deadline := time.After(2500 * time.Millisecond) // 2.5 retry intervals
	for {
		select {
		case e := <-s.Events():
			if e.Type == scheduler.Event_UPDATE && e.Update.Status.TaskID.Value == "r1" && len(e.Update.Status.UUID) > 0 {
				t.Fatalf("acknowledged update sent again")
			}
		case <-deadline:
			return
		}
	}
}

// TestOfferControls covers DESTROY, UNRESERVE, DECLINE filters, SUPPRESS,
// REVIVE and TEARDOWN.
func TestOfferControls(t *testing.T) {
	m, url := startMaster(t, 1)
	s := startScheduler(t, url, codecs.MediaTypeJSON, time.Minute)
	agent := m.AgentIDs()[0]
	s.OfferFrom(agent, func(mesos.Offer) bool { return true })
	s.Call(calls.Accept(calls.OfferOperations{
		calls.OpReserve(append(reserved(), unreservedDisk()...)...),
		calls.OpCreate(volume()...),
	}.WithOffers(s.Take(agent)...)).With(calls.RefuseSeconds(0)))
	waitState(t, m, func(st mesoslocal.State) bool { return len(st.Agents[0].Volumes) == 1 }, "volume")
	volDir := m.State().Agents[0].Volumes[0].Path
	if _, err := os.Stat(volDir); err != nil {
		t.Fatalf("volume dir: %v", err)
	}
	s.OfferFrom(agent, func(o mesos.Offer) bool { return hasVolume(o, "vol1") })
	s.Call(calls.Accept(calls.OfferOperations{
		calls.OpDestroy(volume()...),
		calls.OpUnreserve(append(reserved(), unreservedDisk()...)...),
	}.WithOffers(s.Take(agent)...)).With(calls.RefuseSeconds(0)))
	waitState(t, m, func(st mesoslocal.State) bool {
		return len(st.Agents[0].Volumes) == 0 && len(st.Agents[0].Reservations) == 0
	}, "volume destroyed and resources unreserved")
	if _, err := os.Stat(volDir); !os.IsNotExist(err) {
		t.Errorf("volume dir after DESTROY: %v", err)
	}

	// DECLINE for an hour: no offer from the agent until REVIVE.
	o := s.OfferFrom(agent, func(mesos.Offer) bool { return true })
	ids := s.Take(agent)
	s.Call(calls.Decline(ids...).With(calls.RefuseSeconds(time.Hour)))
	_ = o
	quiet := func(d time.Duration) bool {
		end := time.After(d)
		for {
			select {
			case e := <-s.Events():
				s.Track(e)
				if e.Type == scheduler.Event_OFFERS {
					return false
				}
			case <-end:
				return true
			}
		}
	}
	if !quiet(500 * time.Millisecond) {
		t.Fatal("offer despite refuse_seconds")
	}
	s.Call(calls.Revive())
	s.OfferFrom(agent, func(mesos.Offer) bool { return true })

	// SUPPRESS rescinds and stops offers.
	s.Call(calls.Suppress())
	s.Next("RESCIND", func(e *scheduler.Event) bool { return e.Type == scheduler.Event_RESCIND })
	s.Take(agent)
	if !quiet(500 * time.Millisecond) {
		t.Fatal("offer while suppressed")
	}
	if st := m.State(); st.Offers != 0 || !st.Frameworks[0].Suppressed {
		t.Errorf("suppressed state %+v", st.Frameworks)
	}

	// TEARDOWN removes the framework; its ID cannot come back.
	fid := s.FrameworkID()
	s.Call(&scheduler.Call{Type: scheduler.Call_TEARDOWN})
	waitState(t, m, func(st mesoslocal.State) bool { return len(st.Frameworks) == 0 }, "framework removed")
	_ = fid
}

// TestRestartKeepsReservations: a mesos-local started again on the same
// work dir has the same agent IDs, reservations and volumes.
func TestRestartKeepsReservations(t *testing.T) {
	dir := t.TempDir()
	m, err := mesoslocal.New(mesoslocal.Config{Agents: 1, WorkDir: dir, AllocationInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = m.Serve(ln) }()
	s := startScheduler(t, "http://"+ln.Addr().String(), codecs.MediaTypeProtobuf, time.Minute)
	agent := m.AgentIDs()[0]
	s.OfferFrom(agent, func(mesos.Offer) bool { return true })
	s.Call(calls.Accept(calls.OfferOperations{
		calls.OpReserve(append(reserved(), unreservedDisk()...)...),
		calls.OpCreate(volume()...),
	}.WithOffers(s.Take(agent)...)))
	waitState(t, m, func(st mesoslocal.State) bool { return len(st.Agents[0].Volumes) == 1 }, "volume")
	s.Stop()
	_ = m.Close()

	m2, err := mesoslocal.New(mesoslocal.Config{Agents: 1, WorkDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	st := m2.State()
	if st.Agents[0].ID != agent || len(st.Agents[0].Volumes) != 1 || st.Agents[0].Reservations["riak"]["cpus"] != 0.5 {
		t.Errorf("after restart: %+v", st.Agents[0])
	}
}

// TestReservedOnlyForTheirRole: resources reserved for role riak are
// offered to a riak framework only, never to a framework of another role.
func TestReservedOnlyForTheirRole(t *testing.T) {
	m, url := startMaster(t, 1)
	s := startScheduler(t, url, codecs.MediaTypeProtobuf, time.Minute)
	agent := m.AgentIDs()[0]
	s.OfferFrom(agent, func(mesos.Offer) bool { return true })
	s.Call(calls.Accept(calls.OfferOperations{calls.OpReserve(reserved()...)}.WithOffers(s.Take(agent)...)))
	waitState(t, m, func(st mesoslocal.State) bool { return st.Agents[0].Reservations["riak"] != nil }, "reservation")
	// The riak framework gets the reserved resources back.
	s.OfferFrom(agent, func(o mesos.Offer) bool {
		for _, r := range o.Resources {
			if r.ReservationRole() == "riak" {
				return true
			}
		}
		return false
	})
	s.Stop() // its offers go back
	other := startSchedulerRole(t, url, "web")
	for range 3 {
		o := other.OfferFrom(agent, func(mesos.Offer) bool { return true })
		for _, r := range o.Resources {
			if !r.IsUnreserved() {
				t.Fatalf("framework of role web offered %v", r)
			}
		}
		other.Call(calls.Decline(o.ID).With(calls.RefuseSeconds(0)))
	}
}

// TestAgentAddresses: each agent is on its own address, given as its
// hostname, its executor API's host and a fault's {agent}, and comes back
// on it after a restart.
func TestAgentAddresses(t *testing.T) {
	m, err := mesoslocal.New(mesoslocal.Config{Agents: 2, WorkDir: t.TempDir(), AgentAddresses: []string{"127.0.0.5", "127.0.0.6"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = m.Serve(ln) }()
	t.Cleanup(func() { _ = m.Close() })
	waitState(t, m, func(st mesoslocal.State) bool { return len(st.Agents) == 2 && st.Agents[0].Up && st.Agents[1].Up }, "agents up")
	for i, a := range m.State().Agents {
		want := []string{"127.0.0.5", "127.0.0.6"}[i]
		host, _, _ := net.SplitHostPort(a.ExecutorAPI)
		if a.Hostname != want || host != want {
			t.Errorf("agent %d: hostname %q, executor API %s; want %s", i+1, a.Hostname, a.ExecutorAPI, want)
		}
	}
	before := m.State().Agents[1].ExecutorAPI
	if err := m.StopAgent("127.0.0.6"); err != nil {
		t.Fatal(err)
	}
	if st := m.State(); st.Agents[1].Up || !st.Agents[0].Up {
		t.Fatalf("stopping 127.0.0.6 left agents up: %v %v", st.Agents[0].Up, st.Agents[1].Up)
	}
	if err := m.RestartAgent("2"); err != nil {
		t.Fatal(err)
	}
	if st := m.State(); !st.Agents[1].Up || st.Agents[1].ExecutorAPI != before {
		t.Errorf("restarted agent: up %v, executor API %s, was %s", st.Agents[1].Up, st.Agents[1].ExecutorAPI, before)
	}
}
