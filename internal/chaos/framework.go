package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rmf-go/rmf/bench"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/devenv/zkserver"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

// Framework-level fault scenarios. Each runs the whole framework as it
// runs in production, on this machine: a ZooKeeper server, mesos-local
// with four agents, two `rmf scheduler` processes (a leader and a
// standby), a cluster of three nodes (`rmf executor` + devnode processes
// launched through Mesos) and an `rmf director` discovering the nodes in
// ZooKeeper; the same write-then-read load goes through the director.
const (
	// ScenarioAgent stops the agent of one node (its host goes down: the
	// executor and node die, the task is lost) and brings it back after
	// AgentDown, within the scheduler's agent timeout: the node must come
	// back on the same agent and volume.
	ScenarioAgent = "agent"
	// ScenarioScheduler kill -9s the leading scheduler; the standby must
	// take over and relaunch nothing.
	ScenarioScheduler = "scheduler"
	// ScenarioZooKeeper kill -9s ZooKeeper for ZKOutage and starts it
	// again on its data, with default flags (volume fencing): no operation
	// may fail, no node process may restart (the same pids before and
	// after), registrations must come back, and a fourth node added
	// afterwards must run.
	ScenarioZooKeeper = "zookeeper"
	// ScenarioZooKeeperStrict is the same outage with strict fencing: the
	// executors stop their nodes before their sessions can expire, and
	// every node is relaunched once ZooKeeper is back: nothing
	// acknowledged may be lost and no node may run twice.
	ScenarioZooKeeperStrict = "zookeeper-strict"
	// ScenarioZooKeeperLongSession is the strict outage with executors
	// whose ZooKeeper session (60 s) outlasts a short outage: fencing
	// waits for half of it.
	ScenarioZooKeeperLongSession = "zookeeper-long-session"
	// ScenarioPartition cuts one executor off from ZooKeeper (ZooKeeper
	// stays up for everyone else) for PartitionFor, longer than its
	// session: with volume fencing its node keeps serving, nothing is
	// relaunched, and the executor holds its lock again afterwards.
	ScenarioPartition = "partition"
	// ScenarioPartitionStrict is the same partition with strict fencing:
	// the node stops, and its replacement waits for the lock.
	ScenarioPartitionStrict = "partition-strict"
	// ScenarioRolling is a rolling restart of the cluster through the
	// scheduler API.
	ScenarioRolling = "rolling"
	// ScenarioScale adds a fourth node, then removes it (it leaves the
	// cluster, handing off its data).
	ScenarioScale = "scale"
)

// FrameworkScenarios lists the framework-level scenarios in the order the
// suite runs them.
var FrameworkScenarios = []string{ScenarioAgent, ScenarioScheduler, ScenarioZooKeeper, ScenarioZooKeeperStrict, ScenarioZooKeeperLongSession,
	ScenarioPartition, ScenarioPartitionStrict, ScenarioRolling, ScenarioScale}

// strictFencing reports whether a scenario runs its schedulers with
// --fencing strict.
func strictFencing(scenario string) bool {
	switch scenario {
	case ScenarioZooKeeperStrict, ScenarioZooKeeperLongSession, ScenarioPartitionStrict:
		return true
	}
	return false
}

// partitioned reports whether a scenario cuts one executor off from
// ZooKeeper.
func partitioned(scenario string) bool {
	return scenario == ScenarioPartition || scenario == ScenarioPartitionStrict
}

// longExecutorSession is the executors' ZooKeeper session timeout in
// ScenarioZooKeeperLongSession (zkserver.DefaultMaxSessionTimeout allows it).
const longExecutorSession = 60 * time.Second

const chaosClusterName = "c1"

// fwStack is the framework under test.
type fwStack struct {
	cfg    Config
	dir    string
	ps     *bench.ProcSet
	zk     *zkserver.Server
	store  *zkstate.Store
	fw     *zkstate.Framework
	m      *mesoslocal.Master
	master string
	scheds []*schedInstance
	pb     string // the director's PB address
	watch  *nodeWatch
	// part is the executors' way to ZooKeeper in the partition scenarios
	// (nil in the others: they reach it directly).
	part *partitionProxy
	// fencing is the schedulers' --fencing.
	fencing string
	logf    func(string, ...any)
	// executor is the schedulers' --executor-command.
	executor string
	// releasePorts gives back the port block the agents offer (nil: none claimed).
	releasePorts func()
}

type schedInstance struct {
	p   *bench.Proc
	api string // http://host:port
}

func startFrameworkStack(ctx context.Context, cfg Config, scenario, dir string, logf func(string, ...any)) (*fwStack, error) {
	s := &fwStack{cfg: cfg, dir: dir, ps: &bench.ProcSet{Dir: dir}, logf: logf, executor: cfg.Bin + " executor", fencing: "volume"}
	if scenario == ScenarioZooKeeperLongSession {
		s.executor += " --zk-session-timeout " + longExecutorSession.String()
	}
	if strictFencing(scenario) {
		s.fencing = "strict"
	}
	// ZooKeeper, on a port and data directory it keeps across a restart.
	port, err := freePort()
	if err != nil {
		return s, err
	}
	s.zk = &zkserver.Server{Port: port, Dir: filepath.Join(dir, "zookeeper")}
	if err := s.zk.Start(); err != nil {
		return s, fmt.Errorf("zookeeper: %w", err)
	}
	s.store, err = zkstate.Connect(ctx, []string{s.zk.Addr}, zkstate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return s, err
	}
	if s.fw, err = s.store.Framework(defaultChaosFramework); err != nil {
		return s, err
	}
	if partitioned(scenario) {
		if s.part, err = newPartitionProxy(s.zk.Addr); err != nil {
			return s, err
		}
	}
	// mesos-local, in this process (its faults are Go calls).
	mlog, err := os.Create(filepath.Join(dir, "mesos-local.log"))
	if err != nil {
		return s, err
	}
	// Ports of our own: mesos-local's default ranges are the same for every
	// run, and another stack's nodes on our nodes' addresses (same names,
	// same cluster) would take our load and our writes.
	agentResources := cfg.AgentResources
	if agentResources == "" {
		_, hi, release, err := testutil.ClaimPortBlock()
		if err != nil {
			mlog.Close()
			return s, err
		}
		s.releasePorts = release
		agentResources = testutil.AgentResourcesIn(hi)
	}
	s.m, err = mesoslocal.New(mesoslocal.Config{Agents: 4, WorkDir: filepath.Join(dir, "mesos"), AgentResources: agentResources,
		AllocationInterval: 200 * time.Millisecond, StatusRetryInterval: time.Second, ExecutorShutdownGrace: 3 * time.Second,
		Logger: slog.New(slog.NewTextHandler(mlog, nil))})
	if err != nil {
		mlog.Close()
		return s, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, err
	}
	go func() { _ = s.m.Serve(ln); mlog.Close() }()
	s.master = "http://" + ln.Addr().String()
	// Two schedulers: the first leads, the second stands by.
	for i := range 2 {
		if _, err := s.startScheduler(ctx, fmt.Sprintf("scheduler%d", i+1)); err != nil {
			return s, err
		}
		if i == 0 {
			if err := waitFor(ctx, 30*time.Second, "the first scheduler to lead", func() bool { return s.leader() != nil }); err != nil {
				return s, err
			}
		}
	}
	api := s.leader().api
	if err := apiCall("PUT", api+"/api/v1/clusters/"+chaosClusterName, `{"node_resources":{"cpus":0.5,"mem_mb":256,"disk_mb":100}}`); err != nil {
		return s, err
	}
	if err := apiCall("POST", api+"/api/v1/clusters/"+chaosClusterName+"/nodes?count=3", ""); err != nil {
		return s, err
	}
	if err := waitFor(ctx, 60*time.Second, "3 running nodes", func() bool { return s.running(3) }); err != nil {
		return s, err
	}
	s.watch = watchNodes(s.m, dir)
	// The director, discovering the nodes in ZooKeeper.
	s.pb = bench.FreeAddr()
	args := []string{"director", "--pb", s.pb, "--http", "", "--admin", "", "--zk", s.zk.Addr, "--cluster", chaosClusterName,
		"--try-timeout", cfg.TryTimeout.String(), "--health-interval", "500ms"}
	if _, err := s.ps.Start(ctx, "director", "proxy", cfg.Bin, args, s.pb); err != nil {
		return s, err
	}
	return s, nil
}

// defaultChaosFramework is the framework name the schedulers use (their
// default).
const defaultChaosFramework = "riak"

func (s *fwStack) startScheduler(ctx context.Context, name string) (*schedInstance, error) {
	api := bench.FreeAddr()
	args := []string{"scheduler", "--master", s.master, "--zk", s.zk.Addr, "--api", api, "--failover-timeout", "10m",
		"--agent-timeout", s.cfg.AgentTimeout.String(), "--executor-command", s.executor, "--fencing", s.fencing}
	if s.part != nil {
		args = append(args, "--executor-zk", s.part.Addr())
	}
	p, err := s.ps.StartWith(ctx, name, "scheduler", s.cfg.Bin, args, "on "+api, func() error {
		var st scheduler.Status
		return getJSON("http://"+api+"/api/v1/framework", &st)
	})
	if err != nil {
		return nil, err
	}
	in := &schedInstance{p: p, api: "http://" + api}
	s.scheds = append(s.scheds, in)
	return in, nil
}

// leader returns the live scheduler that leads and is subscribed, or nil.
func (s *fwStack) leader() *schedInstance {
	for _, in := range s.scheds {
		select {
		case <-in.p.Done():
			continue
		default:
		}
		var st scheduler.Status
		if getJSON(in.api+"/api/v1/framework", &st) == nil && st.IsLeader && st.Connected {
			return in
		}
	}
	return nil
}

// nodes lists the cluster's nodes through the leader (nil if none leads).
func (s *fwStack) nodes() []scheduler.NodeView {
	l := s.leader()
	if l == nil {
		return nil
	}
	var ns []scheduler.NodeView
	if getJSON(l.api+"/api/v1/clusters/"+chaosClusterName+"/nodes", &ns) != nil {
		return nil
	}
	return ns
}

// running reports whether the cluster has exactly n nodes, all running.
func (s *fwStack) running(n int) bool {
	ns := s.nodes()
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

// serving reports whether the cluster has exactly n nodes, all running
// by the scheduler's records and answering a PB ping (records can be stale
// while the scheduler catches up).
func (s *fwStack) serving(n int) bool {
	ns := s.nodes()
	if len(ns) != n {
		return false
	}
	for _, x := range ns {
		if x.State != "running" || bench.Ping(net.JoinHostPort(x.Host, strconv.Itoa(x.PBPort)), time.Second) != nil {
			return false
		}
	}
	return true
}

// live counts the nodes' live records in ZooKeeper.
func (s *fwStack) live(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	l, err := s.fw.ListLive(ctx, chaosClusterName)
	if err != nil {
		return -1
	}
	return len(l)
}

func (s *fwStack) close(logf func(string, ...any)) {
	if s.watch != nil {
		s.watch.close()
	}
	s.ps.StopAll(logf) // the director and the schedulers
	if s.m != nil {
		_ = s.m.Close() // kills the executors and their nodes
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.part != nil {
		s.part.close()
	}
	if s.zk != nil {
		s.zk.Stop()
	}
	if s.releasePorts != nil {
		s.releasePorts()
	}
}

func runFrameworkScenario(ctx context.Context, cfg Config, scenario, dir string, logf func(string, ...any)) (Result, error) {
	s, err := startFrameworkStack(ctx, cfg, scenario, dir, logf)
	defer s.close(logf)
	if err != nil {
		return Result{}, err
	}
	client, err := chaosClient(s.pb, cfg.Workers)
	if err != nil {
		return Result{}, err
	}
	defer client.Stop()
	// The director has found the nodes once a write goes through.
	if err := waitFor(ctx, 30*time.Second, "a first write through the director", func() bool {
		return chaosStore(client, scenario+"-probe") == nil
	}); err != nil {
		return Result{}, err
	}
	before := s.nodes()
	load := newChaosLoad(client, scenario)
	start := time.Now()
	load.run(cfg.Workers)
	logf("load on %d workers through the director %s; nodes %s", cfg.Workers, s.pb, describeNodes(before))
	sleepCtx(ctx, cfg.Duration/4)

	var problems, notes []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	faultAt := time.Now()
	since := func() string { return time.Since(faultAt).Round(100 * time.Millisecond).String() }
	// recovered waits for the scenario's end state; a miss is a problem.
	recovered := func(d time.Duration, what string, ok func() bool) bool {
		if err := waitFor(ctx, d, what, ok); err != nil {
			problem("%s: not within %v", what, d)
			return false
		}
		return true
	}
	byName := func(ns []scheduler.NodeView, name string) (scheduler.NodeView, bool) {
		i := slices.IndexFunc(ns, func(n scheduler.NodeView) bool { return n.Name == name })
		if i < 0 {
			return scheduler.NodeView{}, false
		}
		return ns[i], true
	}
	victim := before[1]
	wantLaunches := map[string]int{} // relaunches each node may have

	switch scenario {
	case ScenarioAgent:
		idx := slices.Index(s.m.AgentIDs(), victim.Agent) + 1
		logf("stopping agent %d (%s), which runs %s, for %v", idx, victim.Agent, victim.Name, cfg.AgentDown)
		if err := s.m.StopAgent(strconv.Itoa(idx)); err != nil {
			load.stop()
			return Result{}, err
		}
		sleepCtx(ctx, cfg.AgentDown)
		if err := s.m.RestartAgent(strconv.Itoa(idx)); err != nil {
			load.stop()
			return Result{}, err
		}
		logf("agent %d back after %s", idx, since())
		wantLaunches[victim.Name] = 1
		if recovered(90*time.Second, victim.Name+" running again", func() bool {
			n, ok := byName(s.nodes(), victim.Name)
			return ok && n.State == "running" && n.TaskID != victim.TaskID && s.serving(3)
		}) {
			n, _ := byName(s.nodes(), victim.Name)
			if n.Agent != victim.Agent {
				problem("%s came back on agent %s, not on its own %s (and volume)", victim.Name, n.Agent, victim.Agent)
			}
			note("agent down %v; %s running again on the same agent and volume %s after the stop", cfg.AgentDown, victim.Name, since())
		}
	case ScenarioScheduler:
		l := s.leader()
		logf("SIGKILL the leading scheduler %s (pid %d)", l.p.Name(), l.p.PID())
		_ = l.p.Signal(syscall.SIGKILL)
		<-l.p.Done()
		if recovered(60*time.Second, "the standby to lead", func() bool { return s.leader() != nil }) {
			note("standby led after %s", since())
			if _, err := s.startScheduler(ctx, l.p.Name()+"-again"); err != nil {
				problem("restart the killed scheduler as a standby: %v", err)
			}
		}
	case ScenarioZooKeeper, ScenarioZooKeeperStrict, ScenarioZooKeeperLongSession:
		session := zkstate.DefaultSessionTimeout
		if scenario == ScenarioZooKeeperLongSession {
			session = longExecutorSession
		}
		pidsBefore := devnodeProcs(s.dir)
		logf("SIGKILL ZooKeeper (pid %d) for %v; fencing %s, the executors' session timeout is %v", s.zk.PID(), cfg.ZKOutage, s.fencing, session)
		s.zk.Stop()
		sleepCtx(ctx, cfg.ZKOutage)
		if err := s.zk.Start(); err != nil {
			load.stop()
			return Result{}, fmt.Errorf("zookeeper again: %w", err)
		}
		logf("ZooKeeper back after %s", since())
		if strictFencing(scenario) && cfg.ZKOutage >= session/2 {
			for _, n := range before {
				wantLaunches[n.Name] = 1 // fenced executors fail; each node is relaunched at most once
			}
		}
		if !recovered(120*time.Second, "3 nodes answering and their 3 live records", func() bool { return s.serving(3) && s.live(ctx) == 3 }) {
			break
		}
		note("ZooKeeper down %v, fencing %s, executors' session %v; 3 nodes answering and registered %s after the kill", cfg.ZKOutage, s.fencing, session, since())
		if scenario != ScenarioZooKeeper {
			break
		}
		if after := devnodeProcs(s.dir); !maps.EqualFunc(pidsBefore, after, slices.Equal) {
			problem("node processes restarted through the outage: before %v, after %v", pidsBefore, after)
		} else {
			note("the same node processes before and after (%v)", after)
		}
		// The framework works again: a fourth node joins.
		fourth := "riak-" + chaosClusterName + "-4"
		wantLaunches[fourth] = 0
		if err := apiCall("POST", s.leader().api+"/api/v1/clusters/"+chaosClusterName+"/nodes", ""); err != nil {
			problem("add a fourth node after the outage: %v", err)
			break
		}
		addAt := time.Now()
		if recovered(90*time.Second, "a fourth node added after the outage answering", func() bool { return s.serving(4) && s.live(ctx) == 4 }) {
			note("a fourth node added after the outage ran %s later", time.Since(addAt).Round(100*time.Millisecond))
		}
	case ScenarioPartition, ScenarioPartitionStrict:
		pids := devnodeProcs(s.dir)[victim.Name]
		if len(pids) != 1 {
			load.stop()
			return Result{}, fmt.Errorf("%s: node processes %v, want one", victim.Name, pids)
		}
		exe, err := parentPID(pids[0])
		if err != nil {
			load.stop()
			return Result{}, err
		}
		logf("cutting the executor of %s (pid %d, node pid %d) off from ZooKeeper for %v; fencing %s", victim.Name, exe, pids[0], cfg.PartitionFor, s.fencing)
		s.part.block(exe)
		sleepCtx(ctx, cfg.PartitionFor)
		s.part.unblock()
		logf("partition healed after %s", since())
		holds := func(task string) bool {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			h, err := s.fw.NodeLockHolder(ctx, chaosClusterName, victim.Name)
			return err == nil && h != nil && h.TaskID == task
		}
		if scenario == ScenarioPartition {
			if recovered(60*time.Second, victim.Name+"'s executor holding its lock again, 3 live records", func() bool {
				return holds(victim.TaskID) && s.live(ctx) == 3 && s.serving(3)
			}) {
				note("%s cut off from ZooKeeper for %v; its executor holds the lock again %s after the cut", victim.Name, cfg.PartitionFor, since())
			}
			if after := devnodeProcs(s.dir)[victim.Name]; !slices.Equal(after, pids) {
				problem("%s's node process changed through the partition: %v, then %v", victim.Name, pids, after)
			}
			break
		}
		wantLaunches[victim.Name] = 1
		if recovered(90*time.Second, victim.Name+" relaunched, holding the lock", func() bool {
			n, ok := byName(s.nodes(), victim.Name)
			return ok && n.TaskID != victim.TaskID && n.State == "running" && holds(n.TaskID) && s.serving(3)
		}) {
			note("%s cut off from ZooKeeper for %v: stopped, relaunched and holding the lock %s after the cut", victim.Name, cfg.PartitionFor, since())
		}
	case ScenarioRolling:
		logf("rolling restart")
		if err := apiCall("POST", s.leader().api+"/api/v1/clusters/"+chaosClusterName+"/restart", ""); err != nil {
			load.stop()
			return Result{}, err
		}
		for _, n := range before {
			wantLaunches[n.Name] = 1
		}
		if recovered(180*time.Second, "every node restarted", func() bool {
			ns := s.nodes()
			return len(ns) == 3 && !slices.ContainsFunc(ns, func(n scheduler.NodeView) bool { return n.State != "running" || n.Generation != 1 }) && s.serving(3)
		}) {
			note("3 nodes restarted one at a time in %s", since())
		}
	case ScenarioScale:
		logf("adding a fourth node")
		if err := apiCall("POST", s.leader().api+"/api/v1/clusters/"+chaosClusterName+"/nodes", ""); err != nil {
			load.stop()
			return Result{}, err
		}
		fourth := "riak-" + chaosClusterName + "-4"
		wantLaunches[fourth] = 0
		if recovered(90*time.Second, "4 nodes answering", func() bool { return s.serving(4) }) {
			added := since()
			sleepCtx(ctx, 2*time.Second) // some load on four
			logf("removing %s", fourth)
			if err := apiCall("DELETE", s.leader().api+"/api/v1/clusters/"+chaosClusterName+"/nodes/"+fourth, ""); err != nil {
				load.stop()
				return Result{}, err
			}
			if recovered(120*time.Second, fourth+" left and removed", func() bool { return s.serving(3) }) {
				note("4th node running %s after the add; left (data handed off) and removed %s after the add", added, since())
			}
		}
	default:
		load.stop()
		return Result{}, fmt.Errorf("not a framework scenario: %q", scenario)
	}
	// Load on the recovered framework for a while, and at least Duration
	// in all.
	sleepCtx(ctx, max(time.Until(start.Add(cfg.Duration)), 3*time.Second))
	load.stop()
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	res := load.result(scenario, time.Since(start), faultAt)
	res.LostWrites = load.lost()
	res.Level = LevelFramework
	if (scenario == ScenarioZooKeeper || scenario == ScenarioPartition) && (res.FailedWrites > 0 || res.FailedReads > 0) {
		problem("%d failed writes and %d failed reads: the data plane must not notice ZooKeeper (volume fencing)", res.FailedWrites, res.FailedReads)
	}
	// Strict fencing stops every node during a long ZooKeeper outage.
	res.ReadsMayFail = (scenario == ScenarioZooKeeperStrict || scenario == ScenarioZooKeeperLongSession) && len(wantLaunches) > 0

	// No node ran twice, and none was launched more often than the
	// scenario calls for.
	s.watch.close()
	w := s.watch
	w.mu.Lock()
	for name, most := range w.most {
		if most > 1 {
			problem("%s: %d devnode processes at once (%s)", name, most, w.overlap[name])
		}
	}
	for name, ids := range w.tasks {
		if extra := len(ids) - 1; extra > wantLaunches[name] {
			problem("%s launched %d times (tasks %s), want at most %d", name, len(ids), strings.Join(ids, ", "), wantLaunches[name]+1)
		}
	}
	relaunches := 0
	for _, ids := range w.tasks {
		relaunches += len(ids) - 1
	}
	w.mu.Unlock()
	note("%d relaunches; never two processes of one node", relaunches)
	res.Problems, res.Notes = problems, strings.Join(notes, "; ")
	logResult(logf, res, faultAt)
	return res, nil
}

func describeNodes(ns []scheduler.NodeView) string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name+" on "+n.Agent)
	}
	return strings.Join(out, ", ")
}

// nodeWatch follows, every 20 ms, the tasks mesos-local runs (every task
// ID each node has had) and the devnode processes under the stack's
// directory (the most of one node alive at once).
type nodeWatch struct {
	m    *mesoslocal.Master
	dir  string
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	tasks   map[string][]string // node name -> task IDs in launch order
	most    map[string]int      // node name -> most devnode processes at once
	overlap map[string]string   // node name -> pids of the first overlap
	closed  bool
}

func watchNodes(m *mesoslocal.Master, dir string) *nodeWatch {
	w := &nodeWatch{m: m, dir: dir, stop: make(chan struct{}), done: make(chan struct{}),
		tasks: map[string][]string{}, most: map[string]int{}, overlap: map[string]string{}}
	go func() {
		defer close(w.done)
		for {
			w.scan()
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *nodeWatch) scan() {
	st := w.m.State()
	procs := devnodeProcs(w.dir)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range st.Tasks {
		name := t.Name[strings.LastIndexByte(t.Name, '/')+1:]
		if !slices.Contains(w.tasks[name], t.ID) {
			w.tasks[name] = append(w.tasks[name], t.ID)
		}
	}
	for name, pids := range procs {
		if len(pids) > w.most[name] {
			w.most[name] = len(pids)
			if len(pids) > 1 && w.overlap[name] == "" {
				w.overlap[name] = fmt.Sprintf("pids %v at %s", pids, time.Now().UTC().Format("15:04:05.000"))
			}
		}
	}
}

func (w *nodeWatch) close() {
	w.mu.Lock()
	closed := w.closed
	w.closed = true
	w.mu.Unlock()
	if !closed {
		close(w.stop)
	}
	<-w.done
}

// devnodeProcs maps node names ("riak-c1-1", from --name) to the pids of
// the live devnode processes whose command line mentions dir.
func devnodeProcs(dir string) map[string][]int {
	out := map[string][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), dir) {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) < 2 || args[1] != "devnode" || zombie(pid) {
			continue
		}
		if i := slices.Index(args, "--name"); i >= 0 && i+1 < len(args) {
			name, _, _ := strings.Cut(args[i+1], "@")
			out[name] = append(out[name], pid)
		}
	}
	return out
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

func waitFor(ctx context.Context, d time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(d)
	for !ok() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v", what, d)
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	return nil
}

var apiClient = &http.Client{Timeout: 5 * time.Second}

func getJSON(url string, v any) error {
	resp, err := apiClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// apiCall sends a scheduler API request and wants a 2xx answer.
func apiCall(method, url, body string) error {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s %s: %s %s", method, url, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

var errNoZooKeeper = errors.New("chaos: the framework scenarios need ZooKeeper: " + zkserver.InstallHint)
