package scheduler_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal/mesoslocaltest"
	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

// TestZooKeeperUnreachable: a leading scheduler cut off from ZooKeeper
// (while its session lives on) when a node fails neither acknowledges the
// update it cannot record nor acts on offers (which, read against no
// desired state, would release the node's reservation and destroy its
// volume). Mesos sends the update again; once ZooKeeper answers it is
// recorded and the node relaunched on its volume.
func TestZooKeeperUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rmf and runs ZooKeeper and mesos-local")
	}
	bin := testutil.RMF(t)
	z := testutil.StartZooKeeper(t)
	m, master := mesoslocaltest.Start(t, mesoslocal.Config{Agents: 1, WorkDir: t.TempDir(), AgentResources: testutil.AgentResources(t),
		AllocationInterval: 200 * time.Millisecond, StatusRetryInterval: 500 * time.Millisecond, ExecutorShutdownGrace: 3 * time.Second})

	// The scheduler reaches ZooKeeper through a fault proxy, with a
	// session that outlives the cut; executors reach it directly.
	proxy := testutil.NewProxy(t, z.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	store, err := zkstate.Connect(ctx, []string{proxy.Addr}, zkstate.WithSessionTimeout(30*time.Second),
		zkstate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	fw, _ := store.Framework("riak")
	logs := &testutil.SyncBuffer{}
	s, err := scheduler.New(scheduler.Config{Master: master, Framework: fw, ZooKeeper: z.Addr,
		ExecutorCommand: bin + " executor", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(s.Handler(""))
	defer api.Close()
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { _ = s.Run(runCtx); close(ran) }()
	defer func() { stop(); <-ran }()
	defer func() {
		if t.Failed() {
			t.Logf("scheduler log:\n%s", tailStr(logs.String(), 8000))
		}
	}()
	testutil.WaitFor(t, 30*time.Second, "the scheduler to lead", func() bool { st := s.Status(ctx); return st.IsLeader && st.Connected })
	send(t, "PUT", api.URL+"/api/v1/clusters/c1", `{"node_resources":{"cpus":0.5,"mem_mb":256,"disk_mb":100}}`)
	send(t, "POST", api.URL+"/api/v1/clusters/c1/nodes", "")
	testutil.WaitFor(t, 60*time.Second, "the node running", func() bool { return allRunning(nodes(t, api.URL, "c1"), 1) })
	before := nodes(t, api.URL, "c1")[0]
	fid := s.Status(ctx).FrameworkID
	execs := m.State().Agents[0].Executors
	if len(execs) != 1 {
		t.Fatalf("executors %+v, want 1", execs)
	}

	// Cut the scheduler off, then fail the node.
	proxy.Block()
	if err := m.KillExecutor(fid, execs[0].ID); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "the scheduler to leave the update unacknowledged", func() bool {
		return strings.Contains(logs.String(), "task update not recorded; not acknowledging it")
	})
	time.Sleep(2 * time.Second) // Mesos sends it again, and offers come
	unacked := func() int {
		st := m.State()
		for _, ts := range append(st.Tasks, st.CompletedTasks...) {
			if ts.ID == before.TaskID {
				return ts.Unacked
			}
		}
		return -1
	}
	if n := unacked(); n < 1 {
		t.Fatalf("the failed task's update: %d unacknowledged, want it unacknowledged while ZooKeeper is unreachable", n)
	}
	for _, a := range m.State().Agents {
		if len(a.Volumes) != 1 {
			t.Fatalf("agent volumes while ZooKeeper is unreachable: %+v; the node's volume must stay", a.Volumes)
		}
	}

	// ZooKeeper answers again: the update is recorded and acknowledged, and
	// the node relaunched on the same agent and volume.
	proxy.Unblock()
	testutil.WaitFor(t, 60*time.Second, "the node relaunched", func() bool {
		ns := nodes(t, api.URL, "c1")
		return len(ns) == 1 && ns[0].State == "running" && ns[0].TaskID != before.TaskID
	})
	after := nodes(t, api.URL, "c1")[0]
	if after.Agent != before.Agent {
		t.Errorf("relaunched on %s, was on %s", after.Agent, before.Agent)
	}
	if vols := m.State().Agents[0].Volumes; len(vols) != 1 {
		t.Errorf("volumes after the relaunch: %+v, want the node's one", vols)
	}
	testutil.WaitFor(t, 10*time.Second, "the failed task's update acknowledged", func() bool { return unacked() <= 0 })
}
