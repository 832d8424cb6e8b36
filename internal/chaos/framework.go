package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	riak "github.com/basho/riak-go-client"

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
	part *testutil.Proxy
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

func startFrameworkStack(ctx context.Context, cfg Config, sc frameworkScenario, dir string, logf func(string, ...any)) (*fwStack, error) {
	s := &fwStack{cfg: cfg, dir: dir, ps: &bench.ProcSet{Dir: dir}, logf: logf, executor: cfg.Bin + " executor", fencing: "volume"}
	if sc.executorSession > 0 {
		s.executor += " --zk-session-timeout " + sc.executorSession.String()
	}
	if sc.strict {
		s.fencing = "strict"
	}
	if err := s.startZooKeeper(ctx, sc.partition); err != nil {
		return s, err
	}
	for _, step := range []func(context.Context) error{s.startMesosLocal, s.startSchedulers, s.startCluster, s.startDirector} {
		if err := step(ctx); err != nil {
			return s, err
		}
	}
	return s, nil
}

// startZooKeeper starts ZooKeeper on a port and data directory it keeps
// across a restart, connects to it, and (partition) puts a testutil.Proxy
// in front of it for the executors.
func (s *fwStack) startZooKeeper(ctx context.Context, partition bool) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.zk = &zkserver.Server{Port: port, Dir: filepath.Join(s.dir, "zookeeper")}
	if err := s.zk.Start(); err != nil {
		return fmt.Errorf("zookeeper: %w", err)
	}
	s.store, err = zkstate.Connect(ctx, []string{s.zk.Addr}, zkstate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	if s.fw, err = s.store.Framework(defaultChaosFramework); err != nil {
		return err
	}
	if partition {
		if s.part, err = testutil.StartProxy(s.zk.Addr); err != nil {
			return err
		}
	}
	return nil
}

// startMesosLocal serves mesos-local with four agents in this process (its
// faults are Go calls).
func (s *fwStack) startMesosLocal(context.Context) error {
	mlog, err := os.Create(filepath.Join(s.dir, "mesos-local.log"))
	if err != nil {
		return err
	}
	// Ports of our own: mesos-local's default ranges are the same for every
	// run, and another stack's nodes on our nodes' addresses (same names,
	// same cluster) would take our load and our writes.
	agentResources := s.cfg.AgentResources
	if agentResources == "" {
		_, hi, release, err := testutil.ClaimPortBlock()
		if err != nil {
			mlog.Close()
			return err
		}
		s.releasePorts = release
		agentResources = testutil.AgentResourcesIn(hi)
	}
	s.m, err = mesoslocal.New(mesoslocal.Config{Agents: 4, WorkDir: filepath.Join(s.dir, "mesos"), AgentResources: agentResources,
		AllocationInterval: 200 * time.Millisecond, StatusRetryInterval: time.Second, ExecutorShutdownGrace: 3 * time.Second,
		Logger: slog.New(slog.NewTextHandler(mlog, nil))})
	if err != nil {
		mlog.Close()
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = s.m.Serve(ln); mlog.Close() }()
	s.master = "http://" + ln.Addr().String()
	return nil
}

// startSchedulers starts two schedulers: the first leads, the second
// stands by.
func (s *fwStack) startSchedulers(ctx context.Context) error {
	for i := range 2 {
		if _, err := s.startScheduler(ctx, fmt.Sprintf("scheduler%d", i+1)); err != nil {
			return err
		}
		if i == 0 {
			if err := waitFor(ctx, 30*time.Second, "the first scheduler to lead", func() bool { return s.leader() != nil }); err != nil {
				return err
			}
		}
	}
	return nil
}

// startCluster creates the cluster of three nodes through the leader's
// API, waits for them to run and starts watching them.
func (s *fwStack) startCluster(ctx context.Context) error {
	if err := s.clusterCallBody("PUT", "", `{"node_resources":{"cpus":0.5,"mem_mb":256,"disk_mb":100}}`); err != nil {
		return err
	}
	if err := s.clusterCall("POST", "/nodes?count=3"); err != nil {
		return err
	}
	if err := waitFor(ctx, 60*time.Second, "3 running nodes", func() bool { return s.running(3) }); err != nil {
		return err
	}
	s.watch = watchNodes(s.m, s.dir)
	return nil
}

// startDirector starts the director, discovering the nodes in ZooKeeper.
// It has the director's default try timeout (the request's remaining
// time), not Config.TryTimeout: these scenarios ask whether a fault of
// the control plane reaches the data plane, and with 500 ms a put that a
// loaded machine's devnodes take longer over while a node joins (every
// member then resyncs) failed, nothing of ZooKeeper's doing (TestChaosShort,
// zookeeper, 1 write in about 6,800, twice in two days).
func (s *fwStack) startDirector(ctx context.Context) error {
	s.pb = bench.FreeAddr()
	args := []string{"director", "--pb", s.pb, "--http", "", "--admin", "", "--zk", s.zk.Addr, "--cluster", chaosClusterName,
		"--health-interval", "500ms"}
	_, err := s.ps.Start(ctx, "director", "proxy", s.cfg.Bin, args, s.pb)
	return err
}

// defaultChaosFramework is the framework name the schedulers use (their
// default).
const defaultChaosFramework = "riak"

func (s *fwStack) startScheduler(ctx context.Context, name string) (*schedInstance, error) {
	api := bench.FreeAddr()
	args := []string{"scheduler", "--master", s.master, "--zk", s.zk.Addr, "--api", api, "--failover-timeout", "10m",
		"--agent-timeout", s.cfg.AgentTimeout.String(), "--executor-command", s.executor, "--fencing", s.fencing}
	if s.part != nil {
		args = append(args, "--executor-zk", s.part.Addr)
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

// clusterCall sends a request to the leader's API for the chaos cluster
// (path under /api/v1/clusters/c1) and wants a 2xx answer.
func (s *fwStack) clusterCall(method, path string) error { return s.clusterCallBody(method, path, "") }

func (s *fwStack) clusterCallBody(method, path, body string) error {
	return apiCall(method, s.leader().api+"/api/v1/clusters/"+chaosClusterName+path, body)
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
		s.part.Close()
	}
	if s.zk != nil {
		s.zk.Stop()
	}
	if s.releasePorts != nil {
		s.releasePorts()
	}
}

// fwRun is one framework scenario in progress: its stack and load, the
// nodes before the fault, and what its checks found.
type fwRun struct {
	ctx  context.Context
	cfg  Config
	name string
	sc   frameworkScenario
	s    *fwStack
	load *chaosLoad
	logf func(string, ...any)

	start, faultAt time.Time
	before         []scheduler.NodeView
	victim         scheduler.NodeView // the second node
	// pids are the devnode processes at the fault (node name -> pids).
	pids map[string][]int

	problems, notes []string
}

func runFrameworkScenario(ctx context.Context, cfg Config, scenario, dir string, logf func(string, ...any)) (Result, error) {
	sc, ok := frameworkScenarios[scenario]
	if !ok {
		return Result{}, fmt.Errorf("not a framework scenario: %q", scenario)
	}
	s, err := startFrameworkStack(ctx, cfg, sc, dir, logf)
	defer s.close(logf)
	if err != nil {
		return Result{}, err
	}
	client, err := chaosClient(s.pb, cfg.Workers)
	if err != nil {
		return Result{}, err
	}
	defer client.Stop()
	r := &fwRun{ctx: ctx, cfg: cfg, name: scenario, sc: sc, s: s, logf: logf}
	if err := r.startLoad(client); err != nil {
		return Result{}, err
	}
	if err := r.fault(); err != nil {
		r.load.stop()
		return Result{}, err
	}
	return r.finish()
}

// startLoad waits until the director has found the nodes (a first write
// goes through), starts the load and lets it run a quarter of Duration.
func (r *fwRun) startLoad(client *riak.Client) error {
	if err := waitFor(r.ctx, 30*time.Second, "a first write through the director", func() bool {
		return chaosStore(client, r.name+"-probe") == nil
	}); err != nil {
		return err
	}
	r.before = r.s.nodes()
	r.victim = r.before[1]
	r.load = newChaosLoad(client, r.name)
	r.start = time.Now()
	r.load.run(r.cfg.Workers)
	r.logf("load on %d workers through the director %s; nodes %s", r.cfg.Workers, r.s.pb, describeNodes(r.before))
	sleepCtx(r.ctx, r.cfg.Duration/4)
	return nil
}

// fault injects the scenario's fault and waits for the framework to
// recover from it.
func (r *fwRun) fault() error {
	r.faultAt = time.Now()
	r.pids = devnodeProcs(r.s.dir)
	if err := r.sc.inject(r); err != nil {
		return err
	}
	ok, err := r.sc.recovered(r)
	if err != nil {
		return err
	}
	for _, inv := range r.sc.invariants {
		inv(r)
	}
	for _, check := range r.sc.checks {
		if !ok {
			break
		}
		if err := check(r); err != nil {
			return err
		}
	}
	return nil
}

// finish keeps the load on the recovered framework for a while (and at
// least Duration in all), then counts and checks.
func (r *fwRun) finish() (Result, error) {
	sleepCtx(r.ctx, max(time.Until(r.start.Add(r.cfg.Duration)), 3*time.Second))
	r.load.stop()
	if r.ctx.Err() != nil {
		return Result{}, r.ctx.Err()
	}
	res := r.load.result(r.name, time.Since(r.start), r.faultAt)
	res.LostWrites = r.load.lost()
	res.Level = LevelFramework
	if r.sc.quietDataPlane && (res.FailedWrites > 0 || res.FailedReads > 0) {
		r.problem("%d failed writes and %d failed reads: the data plane must not notice ZooKeeper (volume fencing)", res.FailedWrites, res.FailedReads)
	}
	res.ReadsMayFail = r.sc.readsMayFail != nil && r.sc.readsMayFail(r)
	r.checkLaunches()
	res.Problems, res.Notes = r.problems, strings.Join(r.notes, "; ")
	logResult(r.logf, res, r.faultAt)
	if !res.Passed() || res.FailedWrites > 0 {
		logWarnings(r.logf, r.s.dir, 25)
	}
	return res, nil
}

// logWarnings logs the last n WARN and ERROR lines of every process log
// under dir (director, schedulers, mesos-local, executors): what a failed
// run in CI leaves to look at once its directory is gone.
func logWarnings(logf func(string, ...any), dir string, n int) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.HasSuffix(p, ".log") && d.Name() != "stderr") || strings.Contains(p, "zookeeper") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		var lines []string
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		logf("warnings in %s (%d, the last %d):", rel, len(lines), min(n, len(lines)))
		for _, l := range lines[max(0, len(lines)-n):] {
			logf("  %s", l[:min(len(l), 400)])
		}
		return nil
	})
}

// checkLaunches: no node ran twice, and none was launched more often than
// the scenario allows.
func (r *fwRun) checkLaunches() {
	var allowed map[string]int
	if r.sc.relaunches != nil {
		allowed = r.sc.relaunches(r)
	}
	w := r.s.watch
	w.close()
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, most := range w.most {
		if most > 1 {
			r.problem("%s: %d devnode processes at once (%s)", name, most, w.overlap[name])
		}
	}
	relaunches := 0
	for name, ids := range w.tasks {
		if extra := len(ids) - 1; extra > allowed[name] {
			r.problem("%s launched %d times (tasks %s), want at most %d", name, len(ids), strings.Join(ids, ", "), allowed[name]+1)
		}
		relaunches += len(ids) - 1
	}
	r.note("%d relaunches; never two processes of one node", relaunches)
}

func (r *fwRun) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (r *fwRun) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// since is the time from the fault, for notes and logs.
func (r *fwRun) since() string { return time.Since(r.faultAt).Round(100 * time.Millisecond).String() }

// await waits up to d for the scenario's end state; a miss is a problem.
func (r *fwRun) await(d time.Duration, what string, ok func() bool) bool {
	if err := waitFor(r.ctx, d, what, ok); err != nil {
		r.problem("%s: not within %v", what, d)
		return false
	}
	return true
}

// node returns the cluster's node called name, as the leader sees it.
func (r *fwRun) node(name string) (scheduler.NodeView, bool) {
	ns := r.s.nodes()
	i := slices.IndexFunc(ns, func(n scheduler.NodeView) bool { return n.Name == name })
	if i < 0 {
		return scheduler.NodeView{}, false
	}
	return ns[i], true
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
		if len(args) < 2 || args[1] != "devnode" || testutil.Zombie(pid) {
			continue
		}
		if i := slices.Index(args, "--name"); i >= 0 && i+1 < len(args) {
			name, _, _ := strings.Cut(args[i+1], "@")
			out[name] = append(out[name], pid)
		}
	}
	return out
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
