package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"
	"github.com/go-zookeeper/zk"

	"github.com/rmf-go/rmf/director"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal/mesoslocaltest"
	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.CleanupRMF()
	os.Exit(code)
}

// schedProc is an `rmf scheduler` process.
type schedProc struct {
	cmd *exec.Cmd
	api string
	log *testutil.SyncBuffer
}

func startSchedProc(t *testing.T, bin, master, zk string) *schedProc {
	t.Helper()
	api := testutil.FreeAddr(t)
	// Znodes writable only by the framework. The credential is in a file
	// (as an operator would keep it on each host): the scheduler reads it,
	// and tells its executors to read it too, so no task carries it.
	cred := filepath.Join(t.TempDir(), "zk-auth")
	if err := os.WriteFile(cred, []byte("rmf:e2e-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "scheduler", "--master", master, "--zk", zk, "--api", api, "--failover-timeout", "10m", "--agent-timeout", "5s",
		"--zk-auth-file", cred, "--executor-zk-auth-file", cred,
		"--executor-command", bin+" executor")
	out := &testutil.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &schedProc{cmd: cmd, api: "http://" + api, log: out}
	t.Cleanup(func() { p.kill9() })
	return p
}

func (p *schedProc) kill9() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func send(t *testing.T, method, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
}

func nodes(t *testing.T, api, cluster string) []scheduler.NodeView {
	var ns []scheduler.NodeView
	if err := getJSON(api+"/api/v1/clusters/"+cluster+"/nodes", &ns); err != nil {
		t.Logf("list nodes: %v", err)
	}
	return ns
}

func allRunning(ns []scheduler.NodeView, n int) bool {
	if len(ns) != n {
		return false
	}
	for _, x := range ns {
		if x.State != "running" {
			return false
		}
	}
	return true
}

// devnodePID finds the devnode process serving PB on host:port.
func devnodePID(t *testing.T, host string, port int) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	needle := "--pb\x00" + net.JoinHostPort(host, strconv.Itoa(port)) + "\x00"
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), "devnode\x00") && strings.Contains(string(b), needle) {
			var pid int
			fmt.Sscan(e.Name(), &pid)
			return pid
		}
	}
	t.Fatalf("no devnode process on %s:%d", host, port)
	return 0
}

type load struct {
	c                   *riak.Client
	stopc               chan struct{}
	wg                  sync.WaitGroup
	acked               sync.Map
	writes, reads, errs atomic.Int64
	notFound            atomic.Int64 // reads of an acknowledged write that found nothing
	t                   *testing.T
}

func startLoad(t *testing.T, c *riak.Client, workers int, prefix string) *load {
	l := &load{c: c, stopc: make(chan struct{}), t: t}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stopc:
					return
				default:
				}
				key := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				if err := put(c, key); err != nil {
					if l.errs.Add(1) <= 5 {
						t.Logf("write %s: %v", key, err)
					}
					continue
				}
				l.writes.Add(1)
				l.acked.Store(key, time.Now())
				if v, err := get(c, key); err != nil || v != key {
					if err != nil && err.Error() == "not found" {
						l.notFound.Add(1)
					}
					if l.errs.Add(1) <= 5 {
						t.Logf("read %s: %q %v", key, v, err)
					}
					continue
				}
				l.reads.Add(1)
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *load) stop() { close(l.stopc); l.wg.Wait() }

// verify reads back every acknowledged write; before is the time of the
// fault (zero: none), to tell writes acknowledged before it from later ones.
func (l *load) verify(t *testing.T, before time.Time) {
	t.Helper()
	var missing []string
	preFault := 0
	l.acked.Range(func(k, v any) bool {
		if got, err := get(l.c, k.(string)); err != nil || got != k.(string) {
			missing = append(missing, k.(string))
			if v.(time.Time).Before(before) {
				preFault++
			}
		}
		return true
	})
	if len(missing) == 0 {
		return
	}
	time.Sleep(3 * time.Second)
	still := 0
	for _, k := range missing {
		if got, err := get(l.c, k); err != nil || got != k {
			still++
		}
	}
	t.Errorf("%d acknowledged writes not readable (%d acknowledged before the fault; %d still missing 3 s later); e.g. %v", len(missing), preFault, still, missing[:min(5, len(missing))])
}

func put(c *riak.Client, key string) error {
	cmd, _ := riak.NewStoreValueCommandBuilder().WithBucket("e2e").WithKey(key).
		WithContent(&riak.Object{ContentType: "text/plain", Value: []byte(key)}).Build()
	return c.Execute(cmd)
}

func get(c *riak.Client, key string) (string, error) {
	cmd, _ := riak.NewFetchValueCommandBuilder().WithBucket("e2e").WithKey(key).Build()
	if err := c.Execute(cmd); err != nil {
		return "", err
	}
	r := cmd.(*riak.FetchValueCommand).Response
	if r == nil || len(r.Values) == 0 {
		return "", fmt.Errorf("not found")
	}
	return string(r.Values[0].Value), nil
}

// TestEndToEnd: mesos-local, real ZooKeeper, `rmf scheduler` processes,
// `rmf executor` + devnode processes, and a ZooKeeper-discovering director
// with riak-go-client in front.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	bin := testutil.RMF(t)
	z := testutil.StartZooKeeper(t)
	m, master := mesoslocaltest.Start(t, mesoslocal.Config{Agents: 3, WorkDir: t.TempDir(), AgentResources: testutil.AgentResources(t), AllocationInterval: 200 * time.Millisecond,
		StatusRetryInterval: time.Second, ExecutorShutdownGrace: 3 * time.Second})

	s1 := startSchedProc(t, bin, master, z.Addr)
	leader := func(p *schedProc) bool {
		var st scheduler.Status
		return getJSON(p.api+"/api/v1/framework", &st) == nil && st.IsLeader && st.Connected
	}
	testutil.WaitFor(t, 30*time.Second, "scheduler to lead", func() bool { return leader(s1) })

	// 1. A cluster of three nodes, on distinct agents, within 60 s.
	start := time.Now()
	send(t, "PUT", s1.api+"/api/v1/clusters/c1", `{"node_resources":{"cpus":0.5,"mem_mb":256,"disk_mb":100}}`)
	send(t, "POST", s1.api+"/api/v1/clusters/c1/nodes?count=3", "")
	testutil.WaitFor(t, 60*time.Second, "3 running nodes", func() bool { return allRunning(nodes(t, s1.api, "c1"), 3) })
	t.Logf("3 nodes running after %v", time.Since(start))
	agents := map[string]bool{}
	for _, n := range nodes(t, s1.api, "c1") {
		agents[n.Agent] = true
	}
	if len(agents) != 3 {
		t.Errorf("nodes on %d agents, want 3", len(agents))
	}
	// Each on its own host, as on a real cluster: the node binds its
	// agent's address, and its Riak node name is by that host.
	hosts := checkNodeHosts(t, m, nodes(t, s1.api, "c1"))

	// The director discovers them through ZooKeeper.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := zkstate.Connect(ctx, z.Servers(), zkstate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	fw, _ := store.Framework("riak")
	p, err := director.NewProxy(director.Config{HealthInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var d director.Discovery
	if err := d.WatchZooKeeper(ctx, fw, "c1", p, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	pln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = p.Serve(ctx, pln) }()
	defer p.Close()
	testutil.WaitFor(t, 10*time.Second, "director to see 3 nodes", func() bool { return len(p.Nodes()) == 3 })
	// What the director uses, the live records, carries the nodes' own
	// addresses, and the director's health checks reach every node there.
	live, err := fw.ListLive(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	for name, rec := range live {
		if want := hosts[name]; rec.Host != want {
			t.Errorf("live record of %s: host %q, want its agent's address %s", name, rec.Host, want)
		}
	}
	seenHosts := map[string]bool{}
	for _, n := range p.Nodes() {
		host, _, _ := net.SplitHostPort(n.PBAddr)
		seenHosts[host] = true
	}
	if len(seenHosts) != 3 {
		t.Errorf("director's nodes on hosts %v, want 3 hosts", seenHosts)
	}
	testutil.WaitFor(t, 10*time.Second, "director to find all 3 nodes healthy", func() bool {
		for _, n := range p.Nodes() {
			if !n.Healthy() {
				return false
			}
		}
		return true
	})
	// The framework's records and the executors' live records were made
	// with the credential from the file: an anonymous client reads them
	// and changes nothing.
	if _, _, err := fw.ModifyNode(ctx, "c1", "riak-c1-1", func(n *zkstate.NodeRecord) error { n.Message = "intruder"; return nil }); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("anonymous change of a node record: %v, want ErrNoAuth", err)
	}
	livePath, _ := zkstate.LiveNodePath("riak", "c1", "riak-c1-1")
	acl, _, err := store.Conn().GetACL(livePath)
	if err != nil || !slices.ContainsFunc(acl, func(a zk.ACL) bool { return a.Scheme == "digest" && strings.HasPrefix(a.ID, "rmf:") }) {
		t.Fatalf("live record %s ACL %v, %v: want the framework's digest identity (the executor read the credential file)", livePath, acl, err)
	}
	c, err := riak.NewClient(&riak.NewClientOptions{RemoteAddresses: []string{pln.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	for i := range 50 {
		if err := put(c, fmt.Sprintf("k%d", i)); err != nil {
			t.Fatalf("write through the director: %v", err)
		}
	}

	// 2. kill -9 the scheduler: the restarted one keeps the framework ID,
	// reconciles and launches nothing twice.
	var st1 scheduler.Status
	_ = getJSON(s1.api+"/api/v1/framework", &st1)
	s1.kill9()
	s1 = startSchedProc(t, bin, master, z.Addr)
	testutil.WaitFor(t, 30*time.Second, "restarted scheduler to lead", func() bool { return leader(s1) })
	var st2 scheduler.Status
	_ = getJSON(s1.api+"/api/v1/framework", &st2)
	if st2.FrameworkID == "" || st2.FrameworkID != st1.FrameworkID {
		t.Errorf("framework ID %q after restart, was %q", st2.FrameworkID, st1.FrameworkID)
	}
	time.Sleep(2 * time.Second)
	if tasks := m.State().Tasks; len(tasks) != 3 {
		t.Errorf("%d tasks after scheduler restart, want 3: %+v", len(tasks), tasks)
	}
	// With two schedulers, the standby takes over.
	s2 := startSchedProc(t, bin, master, z.Addr)
	time.Sleep(time.Second)
	if leader(s2) {
		t.Fatal("two leaders")
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scheduler log:\n%s", tailStr(s2.log.String(), 6000))
			b, _ := json.MarshalIndent(m.State().Tasks, "", " ")
			t.Logf("mesos tasks: %s", b)
		}
	})
	s1.kill9()
	testutil.WaitFor(t, 30*time.Second, "standby to take over", func() bool { return leader(s2) })
	api := s2.api

	// 3. kill -9 one node's process under load: it is relaunched on the
	// same agent and volume; every acknowledged write stays readable.
	l := startLoad(t, c, 8, "kill")
	time.Sleep(time.Second)
	victim := nodes(t, api, "c1")[0]
	killedAt := time.Now()
	if err := syscall.Kill(devnodePID(t, victim.Host, victim.PBPort), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "killed node relaunched", func() bool {
		for _, n := range nodes(t, api, "c1") {
			if n.Name == victim.Name && n.State == "running" && n.TaskID != victim.TaskID {
				return n.Agent == victim.Agent
			}
		}
		return false
	})
	time.Sleep(time.Second)
	l.stop()
	l.verify(t, killedAt)
	t.Logf("kill: %d writes, %d reads, %d errors", l.writes.Load(), l.reads.Load(), l.errs.Load())

	// 4. A fourth node stacks (more nodes than agents); removing it drains it.
	l = startLoad(t, c, 8, "fourth")
	time.Sleep(500 * time.Millisecond)
	addAt := time.Now()
	send(t, "POST", api+"/api/v1/clusters/c1/nodes", "")
	testutil.WaitFor(t, 60*time.Second, "4 running nodes", func() bool { return allRunning(nodes(t, api, "c1"), 4) })
	testutil.WaitFor(t, 10*time.Second, "director to see 4 nodes", func() bool { return len(p.Nodes()) == 4 })
	var fourth scheduler.NodeView
	for _, n := range nodes(t, api, "c1") {
		if n.Name == "riak-c1-4" {
			fourth = n
		}
	}
	send(t, "DELETE", api+"/api/v1/clusters/c1/nodes/riak-c1-4", "")
	// It leaves the cluster (handing off its data) before it is released.
	var seen []string
	testutil.WaitFor(t, 60*time.Second, "node 4 removed", func() bool {
		ns := nodes(t, api, "c1")
		for _, n := range ns {
			if n.Name == "riak-c1-4" && (len(seen) == 0 || seen[len(seen)-1] != n.State+": "+n.Message) {
				seen = append(seen, n.State+": "+n.Message)
			}
		}
		return len(ns) == 3
	})
	t.Logf("node 4 while removed: %q", seen)
	if !slices.ContainsFunc(seen, func(s string) bool {
		return strings.HasPrefix(s, "leaving: left the cluster") || strings.HasPrefix(s, "leaving: leaving the cluster")
	}) {
		t.Errorf("node 4 was not seen leaving its cluster: %q", seen)
	}
	testutil.WaitFor(t, 10*time.Second, "director to drop node 4", func() bool { return len(p.Nodes()) == 3 })
	for _, n := range nodes(t, api, "c1") {
		if members := ringMembers(t, n); len(members) != 3 || slices.Contains(members, fourth.NodeName) {
			t.Errorf("%s ring members after node 4 left: %v", n.Name, members)
		}
	}
	l.stop()
	if n := l.errs.Load(); n > 0 {
		t.Errorf("%d client errors while adding and removing a node", n)
	}
	l.verify(t, addAt)

	// 4b. A stopped node keeps its reservation and volume; started again
	// it runs on the same agent, on its data.
	var third scheduler.NodeView
	for _, n := range nodes(t, api, "c1") {
		if n.Name == "riak-c1-3" {
			third = n
		}
	}
	volumeOf := func(agent string) string {
		for _, a := range m.State().Agents {
			if a.ID == agent {
				for _, v := range a.Volumes {
					if strings.HasPrefix(v.PersistenceID, "c1-riak-c1-3-") {
						return v.PersistenceID
					}
				}
			}
		}
		return ""
	}
	vol, pid3 := volumeOf(third.Agent), devnodePID(t, third.Host, third.PBPort)
	if vol == "" {
		t.Fatalf("node 3's volume not found on its agent %s", third.Agent)
	}
	send(t, "POST", api+"/api/v1/clusters/c1/nodes/riak-c1-3/stop", "")
	testutil.WaitFor(t, 60*time.Second, "node 3 stopped", func() bool {
		for _, n := range nodes(t, api, "c1") {
			if n.Name == "riak-c1-3" {
				return n.State == "stopped" && n.Desired == "stopped" && n.TaskID == ""
			}
		}
		return false
	})
	testutil.WaitFor(t, 10*time.Second, "node 3's process gone", func() bool { return syscall.Kill(pid3, 0) != nil })
	time.Sleep(time.Second) // offers come and go: nothing relaunches it, nothing releases its volume
	if v := volumeOf(third.Agent); v != vol {
		t.Fatalf("stopped node's volume %q, want %q kept", v, vol)
	}
	for _, n := range nodes(t, api, "c1") {
		if n.Name == "riak-c1-3" && n.State != "stopped" {
			t.Fatalf("stopped node is %s", n.State)
		}
	}
	send(t, "POST", api+"/api/v1/clusters/c1/nodes/riak-c1-3/start", "")
	testutil.WaitFor(t, 60*time.Second, "node 3 running again on its agent", func() bool {
		for _, n := range nodes(t, api, "c1") {
			if n.Name == "riak-c1-3" {
				return n.State == "running" && n.Agent == third.Agent && n.Ready
			}
		}
		return false
	})
	if v := volumeOf(third.Agent); v != vol {
		t.Errorf("restarted node's volume %q, want %q", v, vol)
	}
	// Under UNIQUE hostname, a fourth node is refused, with the reason.
	send(t, "PUT", api+"/api/v1/clusters/u", `{"node_resources":{"cpus":0.1,"mem_mb":64,"disk_mb":10},"constraints":[["hostname","UNIQUE"]]}`)
	send(t, "POST", api+"/api/v1/clusters/u/nodes?count=4", "")
	testutil.WaitFor(t, 60*time.Second, "3 unique nodes running and one refused", func() bool {
		ns := nodes(t, api, "u")
		running, why := 0, ""
		for _, n := range ns {
			if n.State == "running" {
				running++
			}
			if n.State == "pending" {
				why = n.NotPlacedWhy
			}
		}
		return running == 3 && strings.Contains(why, "UNIQUE")
	})

	// 5. Rolling restart under load: zero failed reads.
	l = startLoad(t, c, 8, "roll")
	rollAt := time.Now()
	send(t, "POST", api+"/api/v1/clusters/c1/restart", "")
	testutil.WaitFor(t, 120*time.Second, "rolling restart", func() bool {
		ns := nodes(t, api, "c1")
		if !allRunning(ns, 3) {
			return false
		}
		for _, n := range ns {
			if n.Generation != 1 {
				return false
			}
		}
		return true
	})
	l.stop()
	t.Logf("rolling restart: %d writes, %d reads, %d errors, %d reads found nothing", l.writes.Load(), l.reads.Load(), l.errs.Load(), l.notFound.Load())

	if n := l.errs.Load(); n > 0 {
		t.Errorf("%d client errors during the rolling restart", n)
	}
	l.verify(t, rollAt)

	// 6. An agent that is gone past --agent-timeout: its node is placed
	// on another agent; when the agent comes back, the old reservation
	// and volume are released.
	var gone scheduler.NodeView
	for _, n := range nodes(t, api, "c1") {
		if n.Name == "riak-c1-2" {
			gone = n
		}
	}
	agentIdx := ""
	for i, id := range m.AgentIDs() {
		if id == gone.Agent {
			agentIdx = fmt.Sprint(i + 1)
		}
	}
	if err := m.StopAgent(agentIdx); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 90*time.Second, "node replaced on another agent", func() bool {
		for _, n := range nodes(t, api, "c1") {
			if n.Name == gone.Name {
				return n.State == "running" && n.Agent != gone.Agent && n.Agent != ""
			}
		}
		return false
	})
	if err := m.RestartAgent(agentIdx); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "returning agent's old volume released", func() bool {
		for _, a := range m.State().Agents {
			if a.ID == gone.Agent {
				for _, v := range a.Volumes {
					if strings.HasPrefix(v.PersistenceID, "c1-riak-c1-2-") {
						return false
					}
				}
				return true
			}
		}
		return false
	})
	// Nodes of cluster u on that agent keep theirs and come back.
	testutil.WaitFor(t, 60*time.Second, "cluster u running again", func() bool { return allRunning(nodes(t, api, "u")[:3], 3) })

	// Destroying that cluster kills its nodes at once (none has anywhere to
	// hand its data) and releases everything.
	destroyAt := time.Now()
	testutil.WaitFor(t, 60*time.Second, "cluster u destroyed", func() bool {
		req, _ := http.NewRequest("DELETE", api+"/api/v1/clusters/u", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	t.Logf("cluster u destroyed in %v", time.Since(destroyAt).Round(time.Millisecond))
}

// checkNodeHosts checks that the nodes run on different hosts, each on
// its agent's address (mesos-local's 127.0.0.N), with an Erlang node name
// by that host and a ring of all of them. It returns each node's host.
func checkNodeHosts(t *testing.T, m *mesoslocal.Master, ns []scheduler.NodeView) map[string]string {
	t.Helper()
	agentAddr := map[string]string{}
	for _, a := range m.State().Agents {
		agentAddr[a.ID] = a.Hostname
	}
	hosts, names := map[string]string{}, map[string]bool{}
	var nodeNames []string
	for _, n := range ns {
		if want := agentAddr[n.Agent]; n.Host != want || n.Hostname != want || !strings.HasPrefix(n.Host, "127.0.0.") || n.Host == "127.0.0.1" {
			t.Errorf("%s on agent %s: host %q, hostname %q; want the agent's address %q", n.Name, n.Agent, n.Host, n.Hostname, want)
		}
		if want := n.Name + "@" + n.Host; n.NodeName != want {
			t.Errorf("%s: node name %q, want %q", n.Name, n.NodeName, want)
		}
		hosts[n.Name] = n.Host
		names[n.Host] = true
		nodeNames = append(nodeNames, n.NodeName)
	}
	if len(names) != len(ns) {
		t.Errorf("%d nodes on %d hosts: %v", len(ns), len(names), hosts)
	}
	slices.Sort(nodeNames)
	testutil.WaitFor(t, 30*time.Second, "every node's ring to name all nodes by host", func() bool {
		for _, n := range ns {
			got := slices.Clone(ringMembers(t, n))
			slices.Sort(got)
			if !slices.Equal(got, nodeNames) {
				return false
			}
		}
		return true
	})
	return hosts
}

// ringMembers reads a devnode's ring members from its HTTP /stats.
func ringMembers(t *testing.T, n scheduler.NodeView) []string {
	t.Helper()
	var stats struct {
		RingMembers []string `json:"ring_members"`
	}
	if err := getJSON("http://"+net.JoinHostPort(n.Host, strconv.Itoa(n.HTTPPort))+"/stats", &stats); err != nil {
		t.Fatalf("stats of %s: %v", n.Name, err)
	}
	return stats.RingMembers
}

func tailStr(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
