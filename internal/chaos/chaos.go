package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	riak "github.com/basho/riak-go-client"

	"github.com/rmf-go/rmf/bench"
	"github.com/rmf-go/rmf/internal/devenv/zkserver"
)

// Node-level fault scenarios of the chaos suite (`rmf bench chaos`, `make
// chaos`). Each runs a continuous riak-go-client write-then-read load
// through an `rmf director` in front of three disk-backed devnodes and
// injects one fault into the second node.
const (
	ScenarioKill9   = "kill9"   // SIGKILL the node, start it again on its data 5 s later
	ScenarioSIGSTOP = "sigstop" // freeze the node (a hang, not a crash), then SIGCONT
	ScenarioRestart = "restart" // SIGTERM the node, start it again at once
)

// NodeScenarios lists the node-level scenarios in the order the suite runs
// them.
var NodeScenarios = []string{ScenarioKill9, ScenarioSIGSTOP, ScenarioRestart}

// Scenarios lists every scenario, node-level then framework-level.
var Scenarios = slices.Concat(NodeScenarios, FrameworkScenarios)

// Levels of Result.
const (
	LevelNode      = "node"
	LevelFramework = "framework"
)

// Config configures Run. Zero values are documented defaults.
type Config struct {
	// Bin is the rmf binary that runs the devnodes and the director.
	Bin string
	// Scenarios to run; default Scenarios.
	Scenarios []string
	// Duration of the load per scenario (the fault comes after a quarter
	// of it); default 30s.
	Duration time.Duration
	// StopFor is how long sigstop freezes the node; default 10s.
	StopFor time.Duration
	// Workers is the number of concurrent clients; default 16.
	Workers int
	// TryTimeout is the director's --try-timeout in the node scenarios:
	// how long one attempt may wait before a read fails over; default
	// 500ms. The framework scenarios' director has its default.
	TryTimeout time.Duration
	// AgentDown is how long the agent scenario keeps the agent stopped;
	// default 10s.
	AgentDown time.Duration
	// AgentTimeout is the schedulers' --agent-timeout (an agent gone
	// longer has its nodes replaced elsewhere); default 60s.
	AgentTimeout time.Duration
	// ZKOutage is how long the zookeeper scenarios keep ZooKeeper down;
	// default 60s.
	ZKOutage time.Duration
	// PartitionFor is how long the partition scenarios keep one executor
	// cut off from ZooKeeper; default 20s (twice its session timeout).
	PartitionFor time.Duration
	// AgentResources are mesos-local's agent resources (tests give each
	// run its own ports); default: each framework stack claims a port
	// block of its own (testutil.ClaimPortBlock), so that runs at once on
	// one machine, or a test, never put nodes on the same addresses.
	AgentResources string
	// Dir keeps the processes' data and logs; default a temporary
	// directory, removed afterwards.
	Dir string
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// Result is one scenario's outcome.
type Result struct {
	Scenario     string  `json:"scenario"`
	Level        string  `json:"level"` // LevelNode or LevelFramework
	Seconds      float64 `json:"seconds"`
	Writes       int64   `json:"writes"` // acknowledged
	Reads        int64   `json:"reads"`  // that returned the written value
	FailedWrites int64   `json:"failed_writes"`
	FailedReads  int64   `json:"failed_reads"` // errors, and reads that did not return the value just written
	// LostWrites counts acknowledged writes not readable at the end.
	LostWrites int64 `json:"lost_writes"`
	// RecoverySeconds is the time from the fault to the last failed
	// operation (0: no operation failed).
	RecoverySeconds float64 `json:"recovery_seconds"`
	// MaxLatencyMs is the slowest operation (write or read).
	MaxLatencyMs float64  `json:"max_latency_ms"`
	Errors       []string `json:"errors,omitempty"` // the first five and the last five
	// ErrorKinds counts failures by kind (operation and message, keys
	// and ports removed).
	ErrorKinds map[string]int `json:"error_kinds,omitempty"`
	// FailuresBySecond counts failed operations by whole seconds after
	// the fault (negative: before it): when the load suffered.
	FailuresBySecond map[int]int `json:"failures_by_second,omitempty"`
	// Problems are the scenario's own checks that failed (framework
	// level: a node running twice or relaunched too often, no recovery).
	Problems []string `json:"problems,omitempty"`
	// Notes say what happened (framework level: takeover and recovery
	// times, relaunches).
	Notes string `json:"notes,omitempty"`
	// ReadsMayFail is set where failed reads are the designed outcome:
	// in the strict zookeeper scenarios the executors stop their nodes
	// once ZooKeeper has been silent for half their session (strict
	// fencing), so the cluster is down until ZooKeeper is back.
	ReadsMayFail bool `json:"reads_may_fail,omitempty"`
}

// Passed reports whether the scenario kept the promise: no lost
// acknowledged write, no failed read and no failed check of its own.
func (r Result) Passed() bool {
	return r.LostWrites == 0 && (r.FailedReads == 0 || r.ReadsMayFail) && len(r.Problems) == 0
}

// Run runs the scenarios one after another, each on a fresh cluster.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if err := cfg.resolve(); err != nil {
		return nil, err
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "rmf-chaos")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	var out []Result
	for _, s := range cfg.Scenarios {
		sdir := filepath.Join(dir, s)
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			return out, err
		}
		res, err := runOne(ctx, cfg, s, sdir)
		if err != nil {
			return out, fmt.Errorf("chaos: %s: %w", s, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// resolve checks cfg and fills in its defaults; the framework scenarios
// need ZooKeeper installed.
func (cfg *Config) resolve() error {
	if cfg.Bin == "" {
		return errors.New("chaos: needs the rmf binary")
	}
	if len(cfg.Scenarios) == 0 {
		cfg.Scenarios = Scenarios
	}
	for _, s := range cfg.Scenarios {
		if !slices.Contains(Scenarios, s) {
			return fmt.Errorf("chaos: unknown scenario %q (want one of %s)", s, strings.Join(Scenarios, ", "))
		}
	}
	cfg.Duration = orDefault(cfg.Duration, 30*time.Second)
	cfg.StopFor = orDefault(cfg.StopFor, 10*time.Second)
	cfg.Workers = orDefault(cfg.Workers, 16)
	cfg.TryTimeout = orDefault(cfg.TryTimeout, 500*time.Millisecond)
	cfg.AgentDown = orDefault(cfg.AgentDown, 10*time.Second)
	cfg.AgentTimeout = orDefault(cfg.AgentTimeout, time.Minute)
	cfg.ZKOutage = orDefault(cfg.ZKOutage, 60*time.Second)
	cfg.PartitionFor = orDefault(cfg.PartitionFor, 20*time.Second)
	if slices.ContainsFunc(cfg.Scenarios, func(s string) bool { return slices.Contains(FrameworkScenarios, s) }) {
		if err := zkserver.Installed(); err != nil {
			return fmt.Errorf("%w (%v)", errNoZooKeeper, err)
		}
	}
	return nil
}

// runOne runs one scenario in dir, its log lines prefixed with its name.
func runOne(ctx context.Context, cfg Config, scenario, dir string) (Result, error) {
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "%s: "+format+"\n", append([]any{scenario}, args...)...)
		}
	}
	if slices.Contains(FrameworkScenarios, scenario) {
		return runFrameworkScenario(ctx, cfg, scenario, dir, logf)
	}
	res, err := runScenario(ctx, cfg, scenario, dir, logf)
	res.Level = LevelNode
	return res, err
}

// chaosCluster is three devnodes and a director, with what it takes to
// restart a node.
type chaosCluster struct {
	ps       *bench.ProcSet
	bin      string
	args     [][]string // per node
	pb       []string
	nodes    []*bench.Proc
	director string
}

func startChaosCluster(ctx context.Context, cfg Config, dir string) (*chaosCluster, error) {
	c := &chaosCluster{ps: &bench.ProcSet{Dir: dir}, bin: cfg.Bin}
	var dargs []string
	for i := range 3 {
		pb, httpA := bench.FreeAddr(), bench.FreeAddr()
		args := []string{"devnode", "--name", fmt.Sprintf("dev%d@127.0.0.1", i+1), "--pb", pb, "--http", httpA,
			"--data", filepath.Join(dir, fmt.Sprintf("node%d", i+1)), "--backend", "disk"}
		if i > 0 {
			args = append(args, "--join", c.pb[0])
		}
		p, err := c.ps.Start(ctx, fmt.Sprintf("devnode%d", i+1), "node", cfg.Bin, args, pb)
		if err != nil {
			return c, err
		}
		c.args, c.pb, c.nodes = append(c.args, args), append(c.pb, pb), append(c.nodes, p)
		dargs = append(dargs, "--node", pb+","+httpA)
	}
	c.director = bench.FreeAddr()
	args := append([]string{"director", "--pb", c.director, "--http", "", "--admin", "",
		"--try-timeout", cfg.TryTimeout.String(), "--health-interval", "500ms"}, dargs...)
	if _, err := c.ps.Start(ctx, "director", "proxy", cfg.Bin, args, c.director); err != nil {
		return c, err
	}
	time.Sleep(time.Second) // membership gossip settles
	return c, nil
}

// restart starts node i again on its data (it rejoins through node 1).
func (c *chaosCluster) restart(ctx context.Context, i int) error {
	args := c.args[i]
	if i > 0 && !slices.Contains(args, "--join") {
		args = append(args, "--join", c.pb[0])
	}
	p, err := c.ps.Start(ctx, fmt.Sprintf("devnode%d-again", i+1), "node", c.bin, args, c.pb[i])
	if err != nil {
		return err
	}
	c.nodes[i] = p
	return nil
}

// nodeRun is one node-level scenario at its fault.
type nodeRun struct {
	ctx     context.Context
	cfg     Config
	c       *chaosCluster
	victim  int // the node faulted
	faultAt time.Time
	logf    func(string, ...any)
}

// nodeFaults inject each node-level scenario's fault (and end it); an
// error ends the scenario.
var nodeFaults = map[string]func(r *nodeRun) error{
	ScenarioKill9:   kill9,
	ScenarioSIGSTOP: sigstop,
	ScenarioRestart: sigtermRestart,
}

// kill9 SIGKILLs the node and starts it again on its data 5 s later.
func kill9(r *nodeRun) error {
	n := r.c.nodes[r.victim]
	r.logf("SIGKILL %s (pid %d)", n.Name(), n.PID())
	_ = syscall.Kill(n.PID(), syscall.SIGKILL)
	<-n.Done()
	sleepCtx(r.ctx, 5*time.Second)
	return r.restart()
}

// sigstop freezes the node for StopFor, then lets it go on.
func sigstop(r *nodeRun) error {
	n := r.c.nodes[r.victim]
	r.logf("SIGSTOP %s (pid %d) for %v", n.Name(), n.PID(), r.cfg.StopFor)
	_ = syscall.Kill(n.PID(), syscall.SIGSTOP)
	sleepCtx(r.ctx, r.cfg.StopFor)
	_ = syscall.Kill(n.PID(), syscall.SIGCONT)
	r.logf("SIGCONT")
	return nil
}

// sigtermRestart stops the node with SIGTERM and starts it again at once.
func sigtermRestart(r *nodeRun) error {
	n := r.c.nodes[r.victim]
	r.logf("SIGTERM %s (pid %d)", n.Name(), n.PID())
	_ = syscall.Kill(n.PID(), syscall.SIGTERM)
	<-n.Done()
	return r.restart()
}

func (r *nodeRun) restart() error {
	if err := r.c.restart(r.ctx, r.victim); err != nil {
		return err
	}
	r.logf("restarted after %v", time.Since(r.faultAt).Round(time.Millisecond))
	return nil
}

func runScenario(ctx context.Context, cfg Config, scenario, dir string, logf func(string, ...any)) (Result, error) {
	fault, ok := nodeFaults[scenario]
	if !ok {
		return Result{}, fmt.Errorf("not a node scenario: %q", scenario)
	}
	c, err := startChaosCluster(ctx, cfg, dir)
	defer c.ps.StopAll(logf)
	if err != nil {
		return Result{}, err
	}
	client, err := chaosClient(c.director, cfg.Workers)
	if err != nil {
		return Result{}, err
	}
	defer client.Stop()

	load := newChaosLoad(client, scenario)
	start := time.Now()
	load.run(cfg.Workers)
	logf("load on %d workers through the director %s", cfg.Workers, c.director)

	sleepCtx(ctx, cfg.Duration/4)
	r := &nodeRun{ctx: ctx, cfg: cfg, c: c, victim: 1, faultAt: time.Now(), logf: logf}
	if err := fault(r); err != nil {
		load.stop()
		return Result{}, err
	}
	sleepCtx(ctx, time.Until(start.Add(cfg.Duration)))
	load.stop()
	if ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	res := load.result(scenario, time.Since(start), r.faultAt)
	res.LostWrites = load.lost()
	logResult(logf, res, r.faultAt)
	return res, nil
}

// logResult logs a scenario's outcome: the counts, then any problems,
// the failures kept, their kinds and when they came.
func logResult(logf func(string, ...any), res Result, faultAt time.Time) {
	notes := ""
	if res.Notes != "" {
		notes = "; " + res.Notes
	}
	logf("fault at %s; %d writes, %d reads, %d failed writes, %d failed reads, %d lost, recovery %.1fs%s",
		faultAt.UTC().Format("15:04:05.000"), res.Writes, res.Reads, res.FailedWrites, res.FailedReads, res.LostWrites, res.RecoverySeconds, notes)
	for _, p := range res.Problems {
		logf("  problem: %s", p)
	}
	for _, e := range res.Errors {
		logf("  %s", e)
	}
	for k, n := range res.ErrorKinds {
		logf("  %6d x %s", n, k)
	}
	if len(res.FailuresBySecond) > 0 {
		logf("  failures by second after the fault: %s", formatBySecond(res.FailuresBySecond))
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// chaosClient is a riak-go-client client on the director that does not
// retry behind the suite's back (ExecutionAttempts 1), as bench does.
func chaosClient(addr string, workers int) (*riak.Client, error) {
	n, err := riak.NewNode(&riak.NodeOptions{RemoteAddress: addr, MinConnections: 1, MaxConnections: uint16(workers + 8),
		ConnectTimeout: 5 * time.Second, RequestTimeout: 15 * time.Second})
	if err != nil {
		return nil, err
	}
	cl, err := riak.NewCluster(&riak.ClusterOptions{Nodes: []*riak.Node{n}, ExecutionAttempts: 1})
	if err != nil {
		return nil, err
	}
	return riak.NewClient(&riak.NewClientOptions{Cluster: cl})
}

// chaosLoad is the write-then-read load: every worker writes a fresh key
// and reads it back at once.
type chaosLoad struct {
	client *riak.Client
	prefix string
	stopc  chan struct{}
	wg     sync.WaitGroup

	writes, reads, failedWrites, failedReads atomic.Int64
	maxLatency                               atomic.Int64 // ns

	mu      sync.Mutex
	acked   []string
	lastErr time.Time
	errs    []string
	kinds   map[string]int // error messages with keys and times removed
	failed  []time.Time    // when each operation failed
	// lastErrs are the last failures after the first five (a ring).
	lastErrs [5]string
	nLast    int
}

func newChaosLoad(c *riak.Client, prefix string) *chaosLoad {
	return &chaosLoad{client: c, prefix: prefix, stopc: make(chan struct{}), kinds: map[string]int{}}
}

func (l *chaosLoad) run(workers int) {
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
				key := fmt.Sprintf("%s-%d-%d", l.prefix, w, i)
				if err := l.timed(func() error { return chaosStore(l.client, key) }); err != nil {
					l.failedWrites.Add(1)
					l.fail("write " + key + ": " + err.Error())
					time.Sleep(10 * time.Millisecond) // an application backs off too
					continue
				}
				l.writes.Add(1)
				l.mu.Lock()
				l.acked = append(l.acked, key)
				l.mu.Unlock()
				if err := l.timed(func() error { return chaosCheck(l.client, key) }); err != nil {
					l.failedReads.Add(1)
					l.fail("read " + key + ": " + err.Error())
					time.Sleep(10 * time.Millisecond)
					continue
				}
				l.reads.Add(1)
			}
		}()
	}
}

func (l *chaosLoad) timed(fn func() error) error {
	t := time.Now()
	err := fn()
	d := int64(time.Since(t))
	for {
		cur := l.maxLatency.Load()
		if d <= cur || l.maxLatency.CompareAndSwap(cur, d) {
			break
		}
	}
	return err
}

func (l *chaosLoad) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lastErr = time.Now()
	l.failed = append(l.failed, l.lastErr)
	l.kinds[errorKind(msg)]++
	line := l.lastErr.UTC().Format("15:04:05.000 ") + msg
	if len(l.errs) < 5 {
		l.errs = append(l.errs, line)
	} else {
		l.lastErrs[l.nLast%len(l.lastErrs)] = line
		l.nLast++
	}
}

func (l *chaosLoad) stop() { close(l.stopc); l.wg.Wait() }

func (l *chaosLoad) result(scenario string, d time.Duration, faultAt time.Time) Result {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := Result{Scenario: scenario, Seconds: round2(d.Seconds()), Writes: l.writes.Load(), Reads: l.reads.Load(),
		FailedWrites: l.failedWrites.Load(), FailedReads: l.failedReads.Load(),
		MaxLatencyMs: round2(float64(l.maxLatency.Load()) / 1e6), Errors: slices.Clone(l.errs), ErrorKinds: maps.Clone(l.kinds)}
	for i := max(0, l.nLast-len(l.lastErrs)); i < l.nLast; i++ {
		r.Errors = append(r.Errors, l.lastErrs[i%len(l.lastErrs)])
	}
	if len(l.failed) > 0 {
		r.FailuresBySecond = map[int]int{}
	}
	for _, t := range l.failed {
		r.FailuresBySecond[int(t.Sub(faultAt).Seconds())]++
	}
	if !l.lastErr.IsZero() && l.lastErr.After(faultAt) {
		r.RecoverySeconds = round2(l.lastErr.Sub(faultAt).Seconds())
	}
	return r
}

// lost reads back every acknowledged write (a few in parallel) and counts
// those that are missing or wrong.
func (l *chaosLoad) lost() int64 {
	var lost atomic.Int64
	keys := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				if err := chaosCheck(l.client, k); err != nil {
					lost.Add(1)
					l.fail("lost " + k + ": " + err.Error())
				}
			}
		}()
	}
	for _, k := range l.acked {
		keys <- k
	}
	close(keys)
	wg.Wait()
	return lost.Load()
}

func chaosStore(c *riak.Client, key string) error {
	cmd, err := riak.NewStoreValueCommandBuilder().WithBucket("chaos").WithKey(key).
		WithContent(&riak.Object{ContentType: "text/plain", Value: []byte(key)}).Build()
	if err != nil {
		return err
	}
	return c.Execute(cmd)
}

// chaosCheck reads key and wants exactly the value written.
func chaosCheck(c *riak.Client, key string) error {
	cmd, err := riak.NewFetchValueCommandBuilder().WithBucket("chaos").WithKey(key).Build()
	if err != nil {
		return err
	}
	if err := c.Execute(cmd); err != nil {
		return err
	}
	resp := cmd.(*riak.FetchValueCommand).Response
	switch {
	case resp == nil || resp.IsNotFound || len(resp.Values) == 0:
		return errors.New("not found")
	case len(resp.Values) != 1 || string(resp.Values[0].Value) != key:
		return fmt.Errorf("%d values, first %q", len(resp.Values), resp.Values[0].Value)
	}
	return nil
}

// errorKind reduces an error message to its kind: the operation and the
// director's or client's words, without the key and connection ports.
func errorKind(msg string) string {
	op, rest, _ := strings.Cut(msg, " ")
	_, rest, _ = strings.Cut(rest, ": ")
	if i := strings.LastIndex(rest, "|"); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.Index(rest, "raw-read tcp"); i >= 0 {
		rest = rest[:i] + "read timeout"
	}
	return op + ": " + rest
}

// WriteTable writes the results as a Markdown table.
func WriteTable(w io.Writer, rs []Result) error {
	if _, err := fmt.Fprintln(w, "| scenario | level | seconds | writes | reads | failed writes | failed reads | lost acknowledged writes | recovery (s) | max latency (ms) | verdict | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|"); err != nil {
		return err
	}
	for _, r := range rs {
		verdict := "pass"
		if r.FailedReads > 0 && r.ReadsMayFail {
			verdict = "pass (fenced)"
		}
		if !r.Passed() {
			verdict = "**FAIL**"
		}
		notes := r.Notes
		if len(r.Problems) > 0 {
			notes = strings.TrimPrefix(notes+"; problems: "+strings.Join(r.Problems, "; "), "; ")
		}
		if _, err := fmt.Fprintf(w, "| %s | %s | %.0f | %d | %d | %d | %d | %d | %.1f | %.0f | %s | %s |\n", r.Scenario, r.Level, r.Seconds, r.Writes, r.Reads,
			r.FailedWrites, r.FailedReads, r.LostWrites, r.RecoverySeconds, r.MaxLatencyMs, verdict, strings.ReplaceAll(notes, "|", "/")); err != nil {
			return err
		}
	}
	return nil
}

// Markers around the generated table in docs/reliability.md.
const (
	TableBegin = "<!-- chaos:begin (generated by rmf bench chaos --update-docs) -->"
	TableEnd   = "<!-- chaos:end -->"
)

// ReplaceSection rewrites the text between begin and end (markers kept) in
// the file at path with content.
func ReplaceSection(path, begin, end, content string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("chaos: %s lacks the markers %q and %q", path, begin, end)
	}
	s = s[:i+len(begin)] + "\n" + content + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

// formatBySecond writes a failures-by-second map in time order: "0s:31
// 10s:1".
func formatBySecond(m map[int]int) string {
	secs := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(secs))
	for i, sec := range secs {
		parts[i] = fmt.Sprintf("%ds:%d", sec, m[sec])
	}
	return strings.Join(parts, " ")
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
