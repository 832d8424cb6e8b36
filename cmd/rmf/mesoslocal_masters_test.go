package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// TestMesosLocalTwoMastersInZooKeeper runs `rmf mesos-local
// --standby-listen --zk`: both masters are published under the path, the
// lowest entry is the leader, and a move through the fault route changes
// it.
func TestMesosLocalTwoMastersInZooKeeper(t *testing.T) {
	testutil.RequireZooKeeper(t)
	bin := testutil.RMF(t)
	z := testutil.StartZooKeeper(t)
	first, second := testutil.FreeAddr(t), testutil.FreeAddr(t)
	startProc(t, bin, "mesos-local", "--listen", first, "--standby-listen", second, "--zk", "zk://"+z.Addr+"/mesos-cli",
		"--agents", "1", "--work-dir", filepath.Join(t.TempDir(), "mesos"), "--agent-resources", testutil.AgentResources(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := zkstate.Connect(ctx, z.Servers(), zkstate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	leader := func() string {
		info, err := st.MesosLeader(ctx, "/mesos-cli")
		if err != nil {
			return ""
		}
		u, _ := zkstate.MesosMasterURL(info)
		return u
	}
	children := func() int {
		ch, _, err := st.Conn().Children("/mesos-cli")
		if err != nil {
			return 0
		}
		return len(ch)
	}
	testutil.WaitFor(t, 30*time.Second, "both masters published, the first leading", func() bool { return leader() == "http://"+first && children() == 2 })
	resp, err := http.Post("http://"+second+"/faults/leader/move", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("move: %d", resp.StatusCode)
	}
	testutil.WaitFor(t, 10*time.Second, "the standby leading in ZooKeeper", func() bool { return leader() == "http://"+second && children() == 2 })
}

func TestMesosLocalBadZK(t *testing.T) {
	var out, errb bytes.Buffer
	code := run([]string{"mesos-local", "--work-dir", t.TempDir(), "--zk", "127.0.0.1:2181"}, &out, &errb)
	if code != exitUsage || !strings.Contains(errb.String(), "--zk") || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
		t.Errorf("--zk without zk://: exit %d, %q", code, errb.String())
	}
}
