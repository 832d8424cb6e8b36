package devnode

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// waitMembers waits until every one of nodes counts all of them as
// members.
func waitMembers(t *testing.T, nodes ...*Node) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, fmt.Sprintf("membership of %d on every node", len(nodes)), func() bool {
		for _, n := range nodes {
			if len(n.Cluster().Membership().Members) != len(nodes) {
				return false
			}
		}
		return true
	})
}

// startNode starts an in-process devnode on free loopback ports.
func startNode(t *testing.T, name, dir, join string, bucketTypes map[string]string) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	n, err := Start(ctx, Config{
		Name: name, PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: dir,
		Backend: "disk", Join: join, RingSize: 16, BucketTypes: bucketTypes, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

func newClient(t *testing.T, addrs ...string) *riak.Client {
	t.Helper()
	c, err := riak.NewClient(&riak.NewClientOptions{RemoteAddresses: addrs})
	if err != nil {
		t.Fatalf("riak client: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func store(c *riak.Client, typ, bucket, key, value string) error {
	cmd, err := riak.NewStoreValueCommandBuilder().WithBucketType(typ).WithBucket(bucket).WithKey(key).
		WithContent(&riak.Object{ContentType: "text/plain", Value: []byte(value)}).Build()
	if err != nil {
		return err
	}
	return c.Execute(cmd)
}

// fetch returns the values of a key (nil when not found).
func fetch(c *riak.Client, typ, bucket, key string) ([]string, error) {
	cmd, err := riak.NewFetchValueCommandBuilder().WithBucketType(typ).WithBucket(bucket).WithKey(key).Build()
	if err != nil {
		return nil, err
	}
	if err := c.Execute(cmd); err != nil {
		return nil, err
	}
	resp := cmd.(*riak.FetchValueCommand).Response
	if resp.IsNotFound {
		return nil, nil
	}
	var vals []string
	for _, o := range resp.Values {
		vals = append(vals, string(o.Value))
	}
	return vals, nil
}

func TestConfigValidate(t *testing.T) {
	good := Config{Name: "a@127.0.0.1", PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir()}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{name: "good", mutate: func(*Config) {}},
		{name: "name without host", mutate: func(c *Config) { c.Name = "a" }, want: "name@host"},
		{name: "no data dir", mutate: func(c *Config) { c.DataDir = "" }, want: "--data"},
		{name: "bad backend", mutate: func(c *Config) { c.Backend = "leveldb" }, want: "unknown backend"},
		{name: "bad ring size", mutate: func(c *Config) { c.RingSize = 48 }, want: "power of two"},
		{name: "bad bucket type props", mutate: func(c *Config) { c.BucketTypes = map[string]string{"t": "{"} }, want: "bucket type t"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestDataDirKeepsIdentity(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, "a@127.0.0.1", dir, "", nil)
	_ = n.Shutdown(context.Background())
	_, err := Start(context.Background(), Config{Name: "b@127.0.0.1", PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: dir, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "belongs to node a@127.0.0.1") {
		t.Fatalf("starting b on a's data dir: %v, want a refusal", err)
	}
}

func TestSingleNodeRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, "solo@127.0.0.1", dir, "", map[string]string{"maps": `{"props":{"allow_mult":true}}`})
	c := newClient(t, n.PBAddr())
	if err := store(c, "maps", "b", "k", "v1"); err != nil {
		t.Fatalf("store: %v", err)
	}
	_ = c.Stop()
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	n2 := startNode(t, "solo@127.0.0.1", dir, "", nil)
	c2 := newClient(t, n2.PBAddr())
	vals, err := fetch(c2, "maps", "b", "k")
	if err != nil || len(vals) != 1 || vals[0] != "v1" {
		t.Fatalf("after restart: %v %v, want [v1]", vals, err)
	}
}

func TestThreeNodeCluster(t *testing.T) {
	n1 := startNode(t, "dev1@127.0.0.1", t.TempDir(), "", map[string]string{"sets": `{"props":{"allow_mult":true,"n_val":3}}`})
	n2 := startNode(t, "dev2@127.0.0.1", t.TempDir(), n1.PBAddr(), nil)
	n3 := startNode(t, "dev3@127.0.0.1", t.TempDir(), n1.PBAddr(), nil)

	// Membership converges on every node.
	waitMembers(t, n1, n2, n3)

	c1, c3 := newClient(t, n1.PBAddr()), newClient(t, n3.PBAddr())
	for i := 0; i < 50; i++ {
		if err := store(c1, "default", "b", fmt.Sprint("k", i), fmt.Sprint("v", i)); err != nil {
			t.Fatalf("store through node 1: %v", err)
		}
	}
	for i := 0; i < 50; i++ {
		vals, err := fetch(c3, "default", "b", fmt.Sprint("k", i))
		if err != nil || len(vals) != 1 || vals[0] != fmt.Sprint("v", i) {
			t.Fatalf("fetch k%d through node 3: %v %v", i, vals, err)
		}
	}
	// The bucket type created on node 1 is known to node 3, with its props.
	if err := store(c3, "sets", "s", "x", "a"); err != nil {
		t.Fatalf("store in type created on another node: %v", err)
	}
	if err := store(c1, "sets", "s", "x", "b"); err != nil {
		t.Fatal(err)
	}
	vals, err := fetch(c3, "sets", "s", "x")
	if err != nil || len(vals) != 2 {
		t.Fatalf("allow_mult type: blind writes through two nodes gave %v %v, want 2 siblings", vals, err)
	}
	// Every replica holds the key (n_val 3 on 3 nodes).
	for _, n := range []*Node{n1, n2, n3} {
		_, found, err := n.engine.FetchReplica(context.Background(), "default", "b", "k7")
		if err != nil || !found {
			t.Errorf("%s has no replica of k7 (%v)", n.cfg.Name, err)
		}
	}
	// Listing through node 2 sees keys written through node 1.
	cmd, _ := riak.NewListKeysCommandBuilder().WithBucket("b").Build()
	if err := newClient(t, n2.PBAddr()).Execute(cmd); err != nil {
		t.Fatal(err)
	}
	if keys := cmd.(*riak.ListKeysCommand).Response.Keys; len(keys) != 50 {
		t.Errorf("list keys through node 2: %d keys, want 50", len(keys))
	}
	// Bucket props set through one node are seen through another.
	setProps, _ := riak.NewStoreBucketPropsCommandBuilder().WithBucket("b").WithAllowMult(true).Build()
	if err := c1.Execute(setProps); err != nil {
		t.Fatal(err)
	}
	getProps, _ := riak.NewFetchBucketPropsCommandBuilder().WithBucket("b").Build()
	if err := c3.Execute(getProps); err != nil {
		t.Fatal(err)
	}
	if !getProps.(*riak.FetchBucketPropsCommand).Response.AllowMult {
		t.Error("allow_mult set through node 1 not visible through node 3")
	}
}

func TestReadRepair(t *testing.T) {
	n1 := startNode(t, "dev1@127.0.0.1", t.TempDir(), "", nil)
	n2 := startNode(t, "dev2@127.0.0.1", t.TempDir(), n1.PBAddr(), nil)
	testutil.WaitFor(t, 10*time.Second, "2 members", func() bool { return len(n1.Cluster().Membership().Members) == 2 })
	c := newClient(t, n1.PBAddr())
	if err := store(c, "default", "b", "rr", "v"); err != nil {
		t.Fatal(err)
	}
	// Lose node 2's replica behind the cluster's back, then read.
	if err := n2.engine.Backend().Delete(mustKey("default", "b", "rr"), nil); err != nil {
		t.Fatal(err)
	}
	if vals, err := fetch(c, "default", "b", "rr"); err != nil || len(vals) != 1 {
		t.Fatalf("fetch: %v %v", vals, err)
	}
	testutil.WaitFor(t, 5*time.Second, "read repair to restore node 2's replica", func() bool {
		_, found, _ := n2.engine.FetchReplica(context.Background(), "default", "b", "rr")
		return found
	})
}

// --- kill -9 under load, with real processes ---

// devnodeChildEnv set to 1 makes the test binary run one devnode (see
// runDevnodeChild) instead of the tests: TestKillNineUnderLoad needs node
// processes it can kill -9, and re-running this package's own test
// binary gives it them without building the rmf binary (which would make
// this leaf package's tests depend on every other package).
const devnodeChildEnv = "RMF_DEVNODE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(devnodeChildEnv) == "1" {
		os.Exit(runDevnodeChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// runDevnodeChild is what `rmf devnode` does, with the flags startProc
// passes: start the node, serve until SIGTERM or SIGINT (or until it has
// left its cluster), shut down.
func runDevnodeChild(args []string) int {
	var cfg Config
	fs := flag.NewFlagSet("devnode", flag.ContinueOnError)
	fs.StringVar(&cfg.Name, "name", "", "node name")
	fs.StringVar(&cfg.PBAddr, "pb", "", "PB listen address")
	fs.StringVar(&cfg.HTTPAddr, "http", "", "HTTP listen address")
	fs.StringVar(&cfg.DataDir, "data", "", "data directory")
	fs.StringVar(&cfg.Backend, "backend", "memory", "storage backend")
	fs.StringVar(&cfg.Join, "join", "", "PB address of a node to join")
	fs.IntVar(&cfg.RingSize, "ring-size", 64, "ring partitions")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.BucketTypes = map[string]string{}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "devnode child:", err)
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	node, err := Start(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devnode child:", err)
		return 1
	}
	fmt.Printf("devnode %s ready: pb %s http %s\n", cfg.Name, node.PBAddr(), node.HTTPAddr())
	select {
	case <-ctx.Done():
	case <-node.Cluster().Left():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "devnode child:", err)
		return 1
	}
	return 0
}

// devnodeBin is the program startProc runs: this test binary.
func devnodeBin(t *testing.T) string {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

type proc struct {
	cmd      *exec.Cmd
	pb, http string
	log      *testutil.SyncBuffer
}

func startProc(t *testing.T, bin, name, pb, httpAddr, dir, join string) *proc {
	t.Helper()
	args := []string{"--name", name, "--pb", pb, "--http", httpAddr, "--data", dir, "--backend", "disk", "--ring-size", "16"}
	if join != "" {
		args = append(args, "--join", join)
	}
	p := &proc{cmd: exec.Command(bin, args...), pb: pb, http: httpAddr, log: &testutil.SyncBuffer{}}
	p.cmd.Env = append(os.Environ(), devnodeChildEnv+"=1")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = p.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-done
			}
		}
	})
	// Ready when /ping answers and the PB port answers a ping (through the client).
	if !testutil.Eventually(40*time.Second, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		t.Fatalf("timed out after 40s waiting for %s ready; its log:\n%s", name, p.log.String())
	}
	return p
}

func TestKillNineUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three devnode processes; skipped under -short")
	}
	bin := devnodeBin(t)
	addrs := make([][2]string, 3)
	dirs := make([]string, 3)
	for i := range addrs {
		addrs[i] = [2]string{testutil.FreeAddr(t), testutil.FreeAddr(t)}
		dirs[i] = t.TempDir()
	}
	p1 := startProc(t, bin, "dev1@127.0.0.1", addrs[0][0], addrs[0][1], dirs[0], "")
	p2 := startProc(t, bin, "dev2@127.0.0.1", addrs[1][0], addrs[1][1], dirs[1], p1.pb)
	p3 := startProc(t, bin, "dev3@127.0.0.1", addrs[2][0], addrs[2][1], dirs[2], p1.pb)

	// Writers and readers go through nodes 1 and 2; node 3 is killed mid-load.
	c := newClient(t, p1.pb, p2.pb)
	var acked sync.Map
	var writes, writeErrs, reads, readErrs atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				if err := store(c, "default", "load", key, key); err != nil {
					if writeErrs.Add(1) <= 3 {
						t.Logf("write %s: %v", key, err)
					}
					continue
				}
				writes.Add(1)
				acked.Store(key, true)
				if vals, err := fetch(c, "default", "load", key); err != nil || len(vals) != 1 || vals[0] != key {
					if readErrs.Add(1) <= 3 {
						t.Logf("read %s: %v %v", key, vals, err)
					}
				} else {
					reads.Add(1)
				}
			}
		}()
	}
	testutil.WaitFor(t, 30*time.Second, "200 writes acknowledged before the kill", func() bool { return writes.Load() >= 200 })
	if err := p3.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p3.cmd.Wait()
	killedAt := writes.Load()
	// The surviving nodes serve on: the check below says so if they do not.
	testutil.Eventually(30*time.Second, func() bool { return writes.Load()-killedAt >= 50 })
	cancel()
	wg.Wait()
	t.Logf("writes %d (%d after kill), write errors %d, reads %d, read errors %d", writes.Load(), writes.Load()-killedAt, writeErrs.Load(), reads.Load(), readErrs.Load())
	if writes.Load()-killedAt < 50 {
		t.Errorf("only %d writes succeeded after the kill: the cluster stopped serving", writes.Load()-killedAt)
	}
	if readErrs.Load() > 0 || writeErrs.Load() > 0 {
		t.Errorf("errors through surviving nodes: %d write, %d read\nnode 1 log:\n%s\nnode 2 log:\n%s", writeErrs.Load(), readErrs.Load(), p1.log, p2.log)
	}

	// Restart node 3 on its data; it catches up before it is ready and
	// serves every acknowledged write, including those made while it was down.
	p3 = startProc(t, bin, "dev3@127.0.0.1", addrs[2][0], addrs[2][1], dirs[2], p1.pb) // as the scheduler relaunches it
	c3 := newClient(t, p3.pb)
	lost := 0
	acked.Range(func(k, _ any) bool {
		vals, err := fetch(c3, "default", "load", k.(string))
		if err != nil || len(vals) == 0 || vals[0] != k.(string) {
			lost++
			if lost < 5 {
				t.Errorf("acknowledged write %s not served by restarted node 3: %v %v", k, vals, err)
			}
		}
		return true
	})
	if lost > 0 {
		t.Fatalf("%d acknowledged writes lost", lost)
	}
	// Its own store was refilled by catch-up (not only read through peers).
	resp, err := http.Get("http://" + p3.http + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var stats map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	if n, _ := stats["handoff_objects_total"].(float64); n < float64(writes.Load()-killedAt) {
		t.Errorf("restarted node caught up %v objects, want at least the %d written while it was down", stats["handoff_objects_total"], writes.Load()-killedAt)
	}
}

func mustKey(typ, bucket, key string) kv.ObjectKey {
	return kv.ObjectKey{Type: typ, Bucket: bucket, Key: key}
}
