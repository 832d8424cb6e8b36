package scheduler_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal/mesoslocaltest"
	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

// zkContender publishes mesos-local's masters in ZooKeeper as Mesos does.
type zkContender struct {
	st   *zkstate.Store
	path string
}

func (c zkContender) Contend(info []byte) (func() error, error) {
	return c.st.ContendMesosMaster(context.Background(), c.path, info)
}

// twoMasters starts a mesos-local with a standby master; with st, both
// are published under zkPath. It returns the master and both addresses,
// the leader first.
func twoMasters(t *testing.T, st *zkstate.Store, zkPath string, agents int) (*mesoslocal.Master, string, string) {
	t.Helper()
	cfg := mesoslocal.Config{Agents: agents, WorkDir: t.TempDir(), AgentResources: testutil.AgentResources(t), AllocationInterval: 200 * time.Millisecond,
		StatusRetryInterval: time.Second, ExecutorShutdownGrace: 3 * time.Second}
	if st != nil {
		cfg.Contender = zkContender{st: st, path: zkPath}
	}
	m, url := mesoslocaltest.Start(t, cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.ServeStandby(ln) }()
	t.Cleanup(func() {
		_ = m.Close()
		if err := <-done; !errors.Is(err, mesoslocal.ErrClosed) {
			t.Errorf("ServeStandby: %v", err)
		}
	})
	testutil.WaitFor(t, 10*time.Second, "standby master", func() bool { return len(m.Masters()) == 2 })
	return m, strings.TrimPrefix(url, "http://"), ln.Addr().String()
}

// subscribedTo reports whether the scheduler leads, is subscribed, and
// calls master addr.
func subscribedTo(p *schedProc, addr string) bool {
	var st scheduler.Status
	return getJSON(p.api+"/api/v1/framework", &st) == nil && st.IsLeader && st.Connected && st.MasterURL == "http://"+addr
}

// frameworkConnected reports whether mesos-local has the framework fid
// subscribed.
func frameworkConnected(m *mesoslocal.Master, fid string) bool {
	for _, f := range m.State().Frameworks {
		if f.ID == fid {
			return f.Connected
		}
	}
	return false
}

// TestMasterLeaderChangeZK: the scheduler finds the leading master through
// ZooKeeper (--master zk://...); when leadership moves mid-run it
// subscribes to the new leader with its framework ID, and its nodes keep
// running: no task is launched again, none ends.
func TestMasterLeaderChangeZK(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	bin := testutil.RMF(t)
	z := testutil.StartZooKeeper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := zkstate.Connect(ctx, z.Servers(), zkstate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, first, second := twoMasters(t, st, "/mesos-e2e", 2)

	s := startSchedProc(t, bin, "zk://"+z.Addr+"/mesos-e2e", z.Addr)
	testutil.WaitFor(t, 30*time.Second, "scheduler subscribed to the first master", func() bool { return subscribedTo(s, first) })
	send(t, "PUT", s.api+"/api/v1/clusters/c1", `{"node_resources":{"cpus":0.5,"mem_mb":256,"disk_mb":100}}`)
	send(t, "POST", s.api+"/api/v1/clusters/c1/nodes?count=2", "")
	testutil.WaitFor(t, 60*time.Second, "2 running nodes", func() bool { return allRunning(nodes(t, s.api, "c1"), 2) })
	before := m.State()
	if len(before.Frameworks) != 1 || len(before.Tasks) != 2 {
		t.Fatalf("before the move: %d frameworks, %d tasks; want 1 and 2", len(before.Frameworks), len(before.Tasks))
	}
	fid := before.Frameworks[0].ID
	taskIDs := func(st mesoslocal.State) []string {
		var ids []string
		for _, tk := range st.Tasks {
			ids = append(ids, tk.ID+"="+tk.State)
		}
		slices.Sort(ids)
		return ids
	}

	for i, to := range []string{second, first} {
		if got, err := m.MoveLeader(); err != nil || got != to {
			t.Fatalf("move %d: MoveLeader = %q, %v; want %s", i+1, got, err, to)
		}
		testutil.WaitFor(t, 30*time.Second, "scheduler subscribed to the new leader "+to, func() bool { return subscribedTo(s, to) && frameworkConnected(m, fid) })
		after := m.State()
		if len(after.Frameworks) != 1 || after.Frameworks[0].ID != fid {
			t.Fatalf("move %d: frameworks %+v, want only %s (failover, not a new framework)", i+1, after.Frameworks, fid)
		}
		if got, want := taskIDs(after), taskIDs(before); !slices.Equal(got, want) {
			t.Errorf("move %d: tasks %v, want the same running tasks %v", i+1, got, want)
		}
		if len(after.CompletedTasks) != 0 {
			t.Errorf("move %d: completed tasks %+v, want none", i+1, after.CompletedTasks)
		}
	}
	// Still fine a while later (reconciliation done): nothing relaunched.
	testutil.WaitFor(t, 10*time.Second, "reconciled nodes running", func() bool { return allRunning(nodes(t, s.api, "c1"), 2) })
	if got := metricValue(t, s.api, "rmf_scheduler_relaunches_total"); got != "0" {
		t.Errorf("rmf_scheduler_relaunches_total = %s, want 0", got)
	}
	if got, want := taskIDs(m.State()), taskIDs(before); !slices.Equal(got, want) {
		t.Errorf("tasks %v, want %v", got, want)
	}
}

// TestMasterListFollowsRedirect: with --master listing the standby first,
// the scheduler is redirected (307) to the leader; when leadership moves,
// the master it calls redirects it again.
func TestMasterListFollowsRedirect(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	bin := testutil.RMF(t)
	z := testutil.StartZooKeeper(t)
	m, first, second := twoMasters(t, nil, "", 1)
	s := startSchedProc(t, bin, "http://"+second+",http://"+first, z.Addr)
	testutil.WaitFor(t, 30*time.Second, "scheduler redirected to the leader", func() bool { return subscribedTo(s, first) })
	fid := m.State().Frameworks[0].ID
	if _, err := m.MoveLeader(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "scheduler redirected to the new leader", func() bool { return subscribedTo(s, second) && frameworkConnected(m, fid) })
	if n := len(m.State().Frameworks); n != 1 {
		t.Errorf("%d frameworks, want 1", n)
	}
	if !strings.Contains(s.log.String(), "redirected by a master that does not lead") {
		t.Errorf("scheduler log does not say it was redirected:\n%s", tailStr(s.log.String(), 3000))
	}
}

// metricValue reads one unlabelled series from the scheduler's /metrics.
func metricValue(t *testing.T, api, name string) string {
	t.Helper()
	resp, err := http.Get(api + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return ""
}
