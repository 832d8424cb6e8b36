package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

// ownDev is an `rmf dev` on a ZooKeeper of its own, on addresses the test
// picked.
type ownDev struct {
	zk                                     *testutil.ZooKeeper
	cmd                                    *exec.Cmd
	bin, dir, pb, httpA, admin, api, mesos string
}

func startOwnDev(t *testing.T) *ownDev {
	t.Helper()
	testutil.RequireZooKeeper(t)
	d := &ownDev{zk: testutil.StartZooKeeper(t), bin: testutil.RMF(t), dir: t.TempDir()}
	d.pb, d.httpA, d.admin, d.api, d.mesos = testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	d.cmd = startDev(t, d.bin, d.dir, testutil.AgentResources(t), d.pb, d.httpA, d.admin, d.api, d.mesos, "--zk", d.zk.Addr)
	return d
}

// TestDevOperatorCommands runs the operator's commands against `rmf dev`
// (mesos-local, devnodes): cluster status, node transfers, aae-status and
// logs (with --follow), bucket types (Riak's refusals exit 1, bad input
// 2), then framework teardown (nothing reserved left on any agent) and
// clean-metadata (refused while the scheduler leads, then done).
func TestDevOperatorCommands(t *testing.T) {
	d := startOwnDev(t)
	zk, dev, rmf := d.zk, d.cmd, cliRunner(t, d.bin, d.api)
	bin, api, mesos := d.bin, d.api, d.mesos
	if code, out, errOut := rmf("cluster", "wait", "default", "--timeout", "90s"); code != 0 {
		t.Fatalf("cluster wait: exit %d, %q %q", code, out, errOut)
	}

	// Cluster status: every node valid in Riak's ring, owning a share,
	// ringready TRUE, no transfers; the table and --json say the same.
	var st scheduler.ClusterStatus
	testutil.WaitFor(t, 60*time.Second, "cluster status with 3 valid members, ringready and idle", func() bool {
		code, out, _ := rmf("cluster", "status", "default", "--json")
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st.Nodes) != 3 {
			return false
		}
		for _, n := range st.Nodes {
			if n.Member != "valid" || n.RingPct < 20 || n.RingReady == nil || !*n.RingReady || n.TransfersPending == nil || *n.TransfersPending {
				return false
			}
		}
		return true
	})
	total := 0.0
	for _, n := range st.Nodes {
		total += n.RingPct
	}
	if total < 99.5 || total > 100.5 || len(st.Members) != 3 || len(st.OtherMembers) != 0 {
		t.Errorf("ring shares add up to %.1f%% over members %+v (others %+v)", total, st.Members, st.OtherMembers)
	}
	code, out, errOut := rmf("cluster", "status", "default")
	if code != 0 || !strings.Contains(out, "MEMBER") || strings.Count(out, " valid ") != 3 || strings.Count(out, "TRUE") != 3 {
		t.Errorf("cluster status table: exit %d, %q %q", code, out, errOut)
	}
	node := st.Nodes[0].Name

	// A node's transfers and AAE status are Riak's text.
	if code, out, errOut := rmf("node", "transfers", node, "--cluster", "default"); code != 0 || !strings.HasPrefix(out, "No transfers active\n\nActive Transfers:\n") {
		t.Errorf("node transfers: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := rmf("node", "aae-status", node, "--cluster", "default"); code != 0 ||
		!strings.HasPrefix(out, "================================== Exchanges ==================================\nIndex ") || !strings.Contains(out, "Keys Repaired") {
		t.Errorf("node aae-status: exit %d, %q %q", code, out, errOut)
	}

	// Logs through the agent's sandbox: the devnode's log, the last lines.
	if code, out, errOut := rmf("node", "logs", node, "--cluster", "default", "--lines", "500"); code != 0 || !strings.Contains(out, "devnode ready") {
		t.Errorf("node logs: exit %d, %.500q %q", code, out, errOut)
	}
	if code, out, _ := rmf("node", "logs", node, "--cluster", "default", "--lines", "2", "--file", "stderr"); code != 0 || strings.Count(out, "\n") != 2 {
		t.Errorf("node logs --lines 2: exit %d, %q", code, out)
	}
	// --follow prints what the executor logs next (each admin request).
	ctx, cancel := context.WithCancel(context.Background())
	follow := exec.CommandContext(ctx, bin, "node", "logs", node, "--cluster", "default", "--file", "stderr", "--lines", "0", "--follow", "--interval", "200ms", "--api", api)
	followed := &testutil.SyncBuffer{}
	follow.Stdout, follow.Stderr = followed, followed
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "node logs --follow to print a later admin request", func() bool {
		rmf("node", "transfers", node, "--cluster", "default")
		return strings.Contains(followed.String(), "args=[transfers]")
	})
	cancel()
	_ = follow.Wait()

	// Bucket types: created and activated; Riak's refusals exit 1 with its words.
	if code, out, errOut := rmf("bucket-type", "create", "default", "sets3", `{"props":{"n_val":3}}`); code != 0 || !strings.Contains(out, "sets3 created") || !strings.Contains(out, "sets3 has been activated") {
		t.Errorf("bucket-type create: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := rmf("bucket-type", "create", "default", "sets3", `{"props":{"n_val":3}}`); code != 1 || errOut != "rmf: Error creating bucket type sets3: already_active\n" {
		t.Errorf("bucket-type create again: exit %d, %q", code, errOut)
	}
	if code, _, errOut := rmf("bucket-type", "create", "default", "bad", `{"n_val":3}`); code != 1 || errOut != "rmf: Cannot create bucket type bad: no props field found in json\n" {
		t.Errorf("bucket-type create without props: exit %d, %q", code, errOut)
	}
	if code, out, errOut := rmf("bucket-type", "update", "default", "sets3", `{"props":{"n_val":2}}`); code != 0 || !strings.Contains(out, "sets3 updated") {
		t.Errorf("bucket-type update: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := rmf("bucket-type", "list", "default"); code != 0 || out != "default (active)\nsets3 (active)\n" {
		t.Errorf("bucket-type list: exit %d, %q %q", code, out, errOut)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"update without JSON", []string{"bucket-type", "update", "default", "sets3"}, 2, "usage: rmf bucket-type update"},
		{"bad type name", []string{"bucket-type", "create", "default", "a/b"}, 2, "bucket type name"},
		{"body not JSON", []string{"bucket-type", "create", "default", "x", "{"}, 1, "the body is not JSON"},
		{"unknown log", []string{"node", "logs", node, "--cluster", "default", "--file", "kernel"}, 2, "--file"},
		{"devnode has no crash.log", []string{"node", "logs", node, "--cluster", "default", "--file", "crash"}, 1, "no crash.log"},
		{"status of no cluster", []string{"cluster", "status", "nope"}, 1, "cluster nope does not exist"},
		{"transfers of no node", []string{"node", "transfers", "riak-default-99", "--cluster", "default"}, 1, "does not exist"},
		{"clean-metadata without --zk", []string{"framework", "clean-metadata"}, 2, "needs --zk"},
	} {
		code, _, errOut := rmf(tc.args...)
		if code != tc.code || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, %q; want exit %d and one line with %q", tc.name, code, errOut, tc.code, tc.want)
		}
	}

	// clean-metadata is refused while the scheduler leads.
	if code, _, errOut := rmf("framework", "clean-metadata", "--zk", zk.Addr); code != 1 || !strings.Contains(errOut, "holds the framework's leadership") {
		t.Errorf("clean-metadata while the scheduler leads: exit %d, %q", code, errOut)
	}
	// Teardown: clusters gone, nothing of the role reserved on any agent,
	// no framework at the master; then the metadata can go.
	if code, out, errOut := rmf("framework", "teardown", "--wait", "90s"); code != 0 || !strings.Contains(out, "torn down (1 clusters destroyed: default; 3 nodes killed") {
		t.Fatalf("framework teardown: exit %d, %q %q", code, out, errOut)
	}
	var ms struct {
		Frameworks []struct{ Name string }
		Agents     []struct {
			Reserved map[string]map[string]any `json:"reserved_resources"`
		}
		Tasks []struct{ State string }
	}
	resp, err := http.Get("http://" + mesos + "/master/state")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&ms)
	resp.Body.Close()
	if len(ms.Frameworks) != 0 || len(ms.Tasks) != 0 || len(ms.Agents) != 3 {
		t.Errorf("after teardown the master has frameworks %+v, tasks %+v, agents %d", ms.Frameworks, ms.Tasks, len(ms.Agents))
	}
	for i, a := range ms.Agents {
		if len(a.Reserved) != 0 {
			t.Errorf("agent %d still has reservations %v", i, a.Reserved)
		}
	}
	testutil.WaitFor(t, 30*time.Second, "clean-metadata once the scheduler stopped leading", func() bool {
		code, out, _ := rmf("framework", "clean-metadata", "--zk", zk.Addr)
		return code == 0 && strings.Contains(out, "metadata removed")
	})
	store, err := zkstate.Connect(context.Background(), zk.Servers())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	root, _ := zkstate.FrameworkRoot(defaultFramework)
	if ok, err := store.Exists(context.Background(), root); err != nil || ok {
		t.Errorf("framework root %s exists %v (%v) after clean-metadata", root, ok, err)
	}
	_ = dev.Process.Signal(os.Interrupt)
	_ = dev.Wait()
}

// TestDevClusterUpdateUnderLoad: `rmf cluster update --mem` rolls through
// every node, one at a time on its volume, while riak-go-client writes
// and reads through the director without a single error; every node's
// reservation at the master then has the new memory. Then --disk grows
// every node's volume in place (each volume at its agent and each node
// record the new size, a key written before read back after). A growth no agent
// can fit is refused up front, saying why.
func TestDevClusterUpdateUnderLoad(t *testing.T) {
	d := startOwnDev(t)
	zk, dev, rmf := d.zk, d.cmd, cliRunner(t, d.bin, d.api)
	dir, pb, mesos := d.dir, d.pb, d.mesos
	if code, out, errOut := rmf("cluster", "wait", "default", "--timeout", "90s"); code != 0 {
		t.Fatalf("cluster wait: exit %d, %q %q", code, out, errOut)
	}
	var before scheduler.ClusterView
	if code, out, _ := rmf("cluster", "info", "default", "--json"); code != 0 || json.Unmarshal([]byte(out), &before) != nil {
		t.Fatalf("cluster info: exit %d, %q", code, out)
	}
	newMem := before.NodeResources.MemMB + 256

	c, err := riak.NewClient(&riak.NewClientOptions{RemoteAddresses: []string{pb}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Stop() }()
	var ops, errs atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("u%d-%d", w, i)
				store, _ := riak.NewStoreValueCommandBuilder().WithBucket("update").WithKey(key).
					WithContent(&riak.Object{ContentType: "text/plain", Value: []byte(key)}).Build()
				fetch, _ := riak.NewFetchValueCommandBuilder().WithBucket("update").WithKey(key).Build()
				if err := c.Execute(store); err != nil {
					if errs.Add(1) <= 5 {
						t.Logf("write %s: %v", key, err)
					}
					continue
				}
				if err := c.Execute(fetch); err != nil {
					if errs.Add(1) <= 5 {
						t.Logf("read %s: %v", key, err)
					}
					continue
				} else if r := fetch.(*riak.FetchValueCommand).Response; r == nil || len(r.Values) != 1 || string(r.Values[0].Value) != key {
					if errs.Add(1) <= 5 {
						t.Logf("read %s: %+v", key, r)
					}
					continue
				}
				ops.Add(1)
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	code, out, errOut := rmf("cluster", "update", "default", "--mem", fmt.Sprint(newMem))
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%g MB mem", newMem)) || !strings.Contains(out, "rollout to generation 1") {
		t.Fatalf("cluster update --mem: exit %d, %q %q", code, out, errOut)
	}
	var cv scheduler.ClusterView
	testutil.WaitFor(t, 3*time.Minute, "the rollout to generation 1 done", func() bool {
		code, out, _ := rmf("cluster", "info", "default", "--json")
		return code == 0 && json.Unmarshal([]byte(out), &cv) == nil && cv.Rollout.Generation == 1 && cv.Rollout.State == "done"
	})
	if code, _, errOut := rmf("cluster", "wait", "default", "--timeout", "60s"); code != 0 {
		t.Errorf("cluster wait after the update: %q", errOut)
	}
	if code, out, _ := rmf("cluster", "info", "default", "--json"); code != 0 || json.Unmarshal([]byte(out), &cv) != nil {
		t.Fatalf("cluster info: exit %d, %q", code, out)
	}
	close(stop)
	wg.Wait()
	if errs.Load() != 0 || ops.Load() == 0 {
		t.Errorf("%d client errors, %d good write+read pairs during the rolling update", errs.Load(), ops.Load())
	}
	var ms struct {
		Agents []struct {
			Reserved map[string]map[string]any `json:"reserved_resources"`
		}
	}
	resp, err := http.Get("http://" + mesos + "/master/state")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&ms)
	resp.Body.Close()
	for i, a := range ms.Agents {
		if got := a.Reserved[scheduler.DefaultRole]["mem"]; got != newMem {
			t.Errorf("agent %d reserves mem %v for the role, want %g", i, got, newMem)
			lb, _ := os.ReadFile(filepath.Join(dir, "rmf-dev.log"))
			t.Logf("rmf-dev.log tail:\n%s", tailN(string(lb), 20000))
		}
	}
	for _, n := range cv.Nodes {
		if n.Generation != 1 || !n.Ready {
			t.Errorf("node %s: generation %d ready %v after the rollout", n.Name, n.Generation, n.Ready)
		}
	}

	// A bigger disk: the rollout grows every node's volume in place on its
	// agent (RESERVE + GROW_VOLUME), and what was written before reads back.
	store1, _ := riak.NewStoreValueCommandBuilder().WithBucket("disk").WithKey("before").
		WithContent(&riak.Object{ContentType: "text/plain", Value: []byte("kept")}).Build()
	if err := c.Execute(store1); err != nil {
		t.Fatal(err)
	}
	newDisk := before.NodeResources.DiskMB + 512
	code, out, errOut = rmf("cluster", "update", "default", "--disk", fmt.Sprint(newDisk))
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%g MB disk", newDisk)) || !strings.Contains(out, "rollout to generation 2") || strings.Contains(out, "warning:") {
		t.Fatalf("cluster update --disk: exit %d, %q %q", code, out, errOut)
	}
	testutil.WaitFor(t, 3*time.Minute, "the rollout to generation 2 done", func() bool {
		code, out, _ := rmf("cluster", "info", "default", "--json")
		return code == 0 && json.Unmarshal([]byte(out), &cv) == nil && cv.Rollout.Generation == 2 && cv.Rollout.State == "done"
	})
	if code, _, errOut := rmf("cluster", "wait", "default", "--timeout", "60s"); code != 0 {
		t.Errorf("cluster wait after the disk update: %q", errOut)
	}
	var vs struct {
		Agents []struct {
			Reserved map[string]map[string]any `json:"reserved_resources"`
			Volumes  []mesoslocal.VolumeState  `json:"volumes"`
		}
	}
	resp, err = http.Get("http://" + mesos + "/master/state")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&vs)
	resp.Body.Close()
	volumes := 0
	for i, a := range vs.Agents {
		for _, v := range a.Volumes {
			volumes++
			if v.DiskMB != newDisk {
				t.Errorf("agent %d: volume %s is %g MB, want %g", i, v.PersistenceID, v.DiskMB, newDisk)
			}
		}
		if got, _ := a.Reserved[scheduler.DefaultRole]["disk"].(float64); got != newDisk*float64(len(a.Volumes)) {
			t.Errorf("agent %d reserves disk %v for the role, want %g per volume", i, got, newDisk)
		}
	}
	if volumes != len(cv.Nodes) {
		t.Errorf("%d volumes at the master for %d nodes", volumes, len(cv.Nodes))
	}
	zs, err := zkstate.Connect(context.Background(), zk.Servers())
	if err != nil {
		t.Fatal(err)
	}
	defer zs.Close()
	fw, _ := zs.Framework(defaultFramework)
	names, err := fw.ListNodes(context.Background(), "default")
	if err != nil || len(names) != len(cv.Nodes) {
		t.Fatalf("node records: %v %v", names, err)
	}
	for _, name := range names {
		n, _, err := fw.GetNode(context.Background(), "default", name)
		if err != nil {
			t.Fatal(err)
		}
		if n.Reserved.DiskMB != newDisk || n.Reserved.MemMB != newMem || n.Generation != 2 {
			t.Errorf("node %s record: reserved %+v generation %d, want %g MB disk at generation 2", n.Name, n.Reserved, n.Generation, newDisk)
		}
	}
	fetch1, _ := riak.NewFetchValueCommandBuilder().WithBucket("disk").WithKey("before").Build()
	if err := c.Execute(fetch1); err != nil {
		t.Errorf("read after the disk update: %v", err)
	} else if r := fetch1.(*riak.FetchValueCommand).Response; r == nil || len(r.Values) != 1 || string(r.Values[0].Value) != "kept" {
		t.Errorf("read after the disk update: %+v", r)
	}

	// Growth no agent has room for: refused, nothing restarts.
	code, _, errOut = rmf("cluster", "update", "default", "--mem", "10000000")
	if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "cannot grow where its data is") {
		t.Errorf("cluster update beyond the agents: exit %d, %q", code, errOut)
	}
	if code, _, errOut := rmf("cluster", "update", "default"); code != 2 || !strings.Contains(errOut, "needs --cpus") {
		t.Errorf("cluster update without a change: exit %d, %q", code, errOut)
	}
	_ = dev.Process.Signal(os.Interrupt)
	_ = dev.Wait()
}
