package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"gonum.org/v1/gonum/mathext"
)

// Compare targets.
const (
	TargetDirect   = "direct"
	TargetDirector = "director"
	TargetHAProxy  = "haproxy"
)

// CompareConfig describes a side-by-side comparison. Zero values are
// documented defaults.
type CompareConfig struct {
	// Bin is the rmf binary that runs the devnodes and the director
	// (required).
	Bin string
	// HAProxy is the haproxy binary (default: haproxy from PATH).
	HAProxy string
	// Nodes is the number of devnodes (default 3), joined into one cluster;
	// Backend their storage (default memory).
	Nodes   int
	Backend string
	// Targets are measured in this order, reversed every other round
	// (default direct, director, haproxy).
	Targets []string
	// Rounds is the number of rounds (default 3).
	Rounds int
	// Workload is the load of each measurement; its addresses are set per
	// target. Duration defaults to 30s, Driver to raw.
	Workload Config
	// Scenarios are run one after the other, each on a cluster and
	// proxies of its own (default steady); see ScenarioSteady and the
	// others.
	Scenarios []string
	// DutyPeriod and DutyStop shape the degraded scenario's duty cycle
	// (default 100ms and 50ms); RestartAfter is how long kill9 leaves the
	// node dead (default 2s).
	DutyPeriod, DutyStop, RestartAfter time.Duration
	// Dir keeps the nodes' data and the processes' logs, one directory
	// per scenario (default: a temporary directory, removed at the end).
	Dir string
	// Log receives one line per step (nil: quiet).
	Log io.Writer
}

// Spread summarizes one number over rounds.
type Spread struct {
	Mean  float64 `json:"mean"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	Stdev float64 `json:"stdev"`
	// SpreadPct is (max-min)/mean in percent.
	SpreadPct float64 `json:"spread_pct"`
}

func spreadOf(vs []float64) Spread {
	if len(vs) == 0 {
		return Spread{}
	}
	s := Spread{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, v := range vs {
		s.Mean += v
		s.Min, s.Max = min(s.Min, v), max(s.Max, v)
	}
	s.Mean /= float64(len(vs))
	for _, v := range vs {
		s.Stdev += (v - s.Mean) * (v - s.Mean)
	}
	s.Stdev = math.Sqrt(s.Stdev / float64(len(vs)))
	if s.Mean != 0 {
		s.SpreadPct = round((s.Max-s.Min)/s.Mean*100, 2)
	}
	s.Mean, s.Min, s.Max, s.Stdev = round(s.Mean, 4), round(s.Min, 4), round(s.Max, 4), round(s.Stdev, 4)
	return s
}

// TargetRound is one target's measurement in one round.
type TargetRound struct {
	Round  int     `json:"round"`
	Order  int     `json:"order"`
	OpsPS  float64 `json:"ops_per_s"`
	Count  int64   `json:"count"`
	P50    float64 `json:"p50_us"`
	P99    float64 `json:"p99_us"`
	P999   float64 `json:"p99_9_us"`
	Errors int64   `json:"errors"`
	// CPU seconds (utime+stime) used during the measured period.
	ProxyCPU  float64 `json:"proxy_cpu_s"`
	NodesCPU  float64 `json:"nodes_cpu_s"`
	ClientCPU float64 `json:"client_cpu_s"`
	// ProxyPeakRSSKB is the proxy's peak resident set while this round's
	// load ran (warmup and measured window: its VmHWM, reset when the
	// round starts), and ProxyAnonRSSKB its anonymous part (RssAnon) when
	// the window closed: the memory that is the proxy's alone, where the
	// rest is file pages of its binary and libraries that every process
	// running them shares.
	ProxyPeakRSSKB int64 `json:"proxy_peak_rss_kb,omitempty"`
	ProxyAnonRSSKB int64 `json:"proxy_anon_rss_kb,omitempty"`
	// Timeline is the successful ops/s of each second of the measured
	// window.
	Timeline []float64 `json:"ops_per_s_timeline"`
	// Fault is what the scenario's fault injector did (nil: steady).
	Fault  *FaultInfo `json:"fault,omitempty"`
	Result *Result    `json:"-"`
}

// TargetResult is one target over every round.
type TargetResult struct {
	Name       string        `json:"name"`
	PBAddrs    []string      `json:"pb_addrs"`
	Rounds     []TargetRound `json:"rounds"`
	Throughput Spread        `json:"throughput"`
	P50        Spread        `json:"p50_us"`
	P99        Spread        `json:"p99_us"`
	P999       Spread        `json:"p99_9_us"`
	Errors     int64         `json:"errors"`
	// ProxyCPUPer1k is the proxy process's CPU seconds per 1,000 ok ops
	// (nil for direct); ProxyPeakRSSMB and ProxyAnonRSSMB the largest of
	// its rounds' ProxyPeakRSSKB and ProxyAnonRSSKB.
	ProxyCPUPer1k  *Spread `json:"proxy_cpu_s_per_1k_ops,omitempty"`
	ProxyPeakRSSMB float64 `json:"proxy_peak_rss_mb,omitempty"`
	ProxyAnonRSSMB float64 `json:"proxy_anon_rss_mb,omitempty"`
	NodesCPUPer1k  Spread  `json:"nodes_cpu_s_per_1k_ops"`
	ClientCPUPer1k Spread  `json:"client_cpu_s_per_1k_ops"`
}

// Ratio compares two targets: A's number over B's, per round.
type Ratio struct {
	Name       string      `json:"name"`
	Throughput RatioSpread `json:"throughput"`
	P99        RatioSpread `json:"p99"`
	// ProxyCPUPer1k is set when both targets are proxies.
	ProxyCPUPer1k *RatioSpread `json:"proxy_cpu_s_per_1k_ops,omitempty"`
}

// RatioSpread summarizes a ratio over rounds: its Spread, and its
// geometric mean with a 95% confidence interval (Student's t over the
// rounds' logarithms). Rounds on a shared machine vary more than the
// difference between two proxies often is; an interval that holds 1 says
// the rounds do not tell the two targets apart, one wholly below or
// above 1 that they do. CI95Low and CI95High are 0 with fewer than two
// rounds. Rounds counts the rounds with a ratio.
type RatioSpread struct {
	Spread
	Rounds   int     `json:"rounds"`
	GeoMean  float64 `json:"geomean"`
	CI95Low  float64 `json:"ci95_low,omitempty"`
	CI95High float64 `json:"ci95_high,omitempty"`
}

// ratioSpreadOf summarizes per-round ratios (each > 0; others are left
// out of the geometric mean and its interval).
func ratioSpreadOf(vs []float64) RatioSpread {
	r := RatioSpread{Spread: spreadOf(vs), Rounds: len(vs)}
	var logs []float64
	for _, v := range vs {
		if v > 0 && !math.IsInf(v, 0) {
			logs = append(logs, math.Log(v))
		}
	}
	if len(logs) == 0 {
		return r
	}
	n := float64(len(logs))
	var mean, ss float64
	for _, l := range logs {
		mean += l / n
	}
	for _, l := range logs {
		ss += (l - mean) * (l - mean)
	}
	r.GeoMean = round(math.Exp(mean), 4)
	if n >= 2 {
		sd := math.Sqrt(ss / (n - 1))
		half := studentT975(n-1) * sd / math.Sqrt(n)
		r.CI95Low, r.CI95High = round(math.Exp(mean-half), 4), round(math.Exp(mean+half), 4)
	}
	return r
}

// studentT975 is the 0.975 quantile of Student's t with df degrees of
// freedom, from the inverse regularized incomplete beta function:
// P(|T| > t) = I_x(df/2, 1/2) with x = df/(df+t²).
func studentT975(df float64) float64 {
	x := mathext.InvRegIncBeta(df/2, 0.5, 2*(1-0.975))
	return math.Sqrt(df * (1/x - 1))
}

// String is the geometric mean and its interval: "0.974 [0.941-1.008]".
func (r RatioSpread) String() string {
	if r.CI95High == 0 {
		return fmt.Sprintf("%.3f", r.GeoMean)
	}
	return fmt.Sprintf("%.3f [%.3f-%.3f]", r.GeoMean, r.CI95Low, r.CI95High)
}

// CompareReport is the outcome of Compare, as written to compare.json:
// one Comparison per scenario.
type CompareReport struct {
	Start     time.Time     `json:"start"`
	Nodes     int           `json:"nodes"`
	Rounds    int           `json:"rounds"`
	Workload  WorkloadInfo  `json:"workload"`
	Machine   MachineInfo   `json:"machine"`
	Scenarios []*Comparison `json:"scenarios"`
}

// Comparison is one scenario's side-by-side measurement.
type Comparison struct {
	Scenario string `json:"scenario"`
	// Fault describes the scenario's fault ("" for steady).
	Fault    string         `json:"fault,omitempty"`
	Start    time.Time      `json:"start"`
	Nodes    int            `json:"nodes"`
	Backend  string         `json:"backend"`
	Rounds   int            `json:"rounds"`
	Workload WorkloadInfo   `json:"workload"`
	Machine  MachineInfo    `json:"machine"`
	Targets  []TargetResult `json:"targets"`
	Ratios   []Ratio        `json:"ratios"`
}

// WorkloadInfo describes the load every measurement ran.
type WorkloadInfo struct {
	Driver      string `json:"driver"`
	Ops         string `json:"ops"`
	Concurrency int    `json:"concurrency"`
	// Rate is the offered load of open-loop runs (ops/s; 0: closed loop).
	Rate      float64 `json:"rate_ops_per_s,omitempty"`
	Keys      int     `json:"keys"`
	KeyDist   string  `json:"key_dist"`
	ValueSize string  `json:"value_size"`
	DurationS float64 `json:"duration_s"`
	WarmupS   float64 `json:"warmup_s"`
	// SingleConn: each worker had one PB connection of its own.
	SingleConn bool `json:"single_conn"`
}

// MachineInfo describes where the comparison ran.
type MachineInfo struct {
	CPUs       int    `json:"cpus"`
	OS         string `json:"os"`
	CPUModel   string `json:"cpu_model,omitempty"`
	GoVersion  string `json:"go_version"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

func machineInfo() MachineInfo {
	m := MachineInfo{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, GoVersion: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// ErrBadTarget is returned for an unknown compare target.
var ErrBadTarget = errors.New("bench: bad target")

// ParseTargets parses a comma-separated target list.
func ParseTargets(s string) ([]string, error) {
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		switch t {
		case TargetDirect, TargetDirector, TargetHAProxy:
		default:
			return nil, fmt.Errorf("%w: %q (want direct, director or haproxy)", ErrBadTarget, t)
		}
		if slices.Contains(out, t) {
			return nil, fmt.Errorf("%w: %q given twice", ErrBadTarget, t)
		}
		out = append(out, t)
	}
	return out, nil
}

// Compare runs each of cfg.Scenarios in turn. For each, it starts
// cfg.Nodes devnodes (rmf devnode processes joined into one cluster), the
// director (an rmf director process) and HAProxy (mode tcp, balance
// leastconn) in front of them, and runs the same workload against each
// target for cfg.Rounds rounds, alternating the order, with the
// scenario's fault injected into the last node during every measured
// window. Everything it started is stopped (and continued, if a fault
// left it stopped) before it returns, also when ctx is cancelled.
func Compare(ctx context.Context, cfg CompareConfig) (*CompareReport, error) {
	wl, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "rmf-bench-compare")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rep := &CompareReport{Start: time.Now().UTC(), Nodes: cfg.Nodes, Rounds: cfg.Rounds, Machine: machineInfo(), Workload: workloadInfo(wl)}
	for _, sc := range cfg.Scenarios {
		c := &compareRun{cfg: cfg, wl: wl, scenario: sc, logf: logf, dir: filepath.Join(dir, sc),
			addrs: map[string][]string{}, proxies: map[string]*Proc{}, results: map[string]*TargetResult{}}
		cmp, err := c.run(ctx)
		if err != nil {
			return nil, fmt.Errorf("bench: scenario %s: %w", sc, err)
		}
		rep.Scenarios = append(rep.Scenarios, cmp)
	}
	return rep, nil
}

// resolve fills in cfg's defaults and checks it, returning the workload
// every measurement runs.
func (cfg *CompareConfig) resolve() (Config, error) {
	if cfg.Bin == "" {
		return Config{}, errors.New("bench: compare needs the rmf binary")
	}
	cfg.Nodes = orDefault(cfg.Nodes, 3)
	cfg.Backend = orDefault(cfg.Backend, "memory")
	cfg.Rounds = orDefault(cfg.Rounds, 3)
	cfg.DutyPeriod = orDefault(cfg.DutyPeriod, DefaultDutyPeriod)
	cfg.DutyStop = orDefault(cfg.DutyStop, DefaultDutyStop)
	cfg.RestartAfter = orDefault(cfg.RestartAfter, DefaultRestartAfter)
	if len(cfg.Targets) == 0 {
		cfg.Targets = []string{TargetDirect, TargetDirector, TargetHAProxy}
	}
	if len(cfg.Scenarios) == 0 {
		cfg.Scenarios = []string{ScenarioSteady}
	}
	if _, err := ParseScenarios(cfg.Scenarios); err != nil {
		return Config{}, err
	}
	if cfg.Nodes < 1 || cfg.Rounds < 1 {
		return Config{}, errors.New("bench: compare needs at least one node and one round")
	}
	if cfg.Nodes < 2 && (slices.Contains(cfg.Scenarios, ScenarioDegraded) || slices.Contains(cfg.Scenarios, ScenarioKill9)) {
		return Config{}, fmt.Errorf("%w: degraded and kill9 need at least 2 nodes (one is faulted)", ErrBadScenario)
	}
	if cfg.DutyStop <= 0 || cfg.DutyStop >= cfg.DutyPeriod {
		return Config{}, fmt.Errorf("%w: duty cycle stop %v must be within its period %v", ErrBadScenario, cfg.DutyStop, cfg.DutyPeriod)
	}
	wl := cfg.Workload
	wl.Duration = orDefault(wl.Duration, 30*time.Second)
	wl.Driver = orDefault(wl.Driver, DriverRaw)
	if wl.Driver == DriverHTTP {
		return Config{}, fmt.Errorf("%w: compare measures PB; use raw or riak-go-client", ErrBadDriver)
	}
	wl.setDefaults()
	if err := wl.Validate(); err != nil {
		return Config{}, err
	}
	return wl, nil
}

func workloadInfo(wl Config) WorkloadInfo {
	return WorkloadInfo{Driver: wl.Driver, Ops: wl.Mix.String(), Concurrency: wl.Concurrency, Rate: wl.Rate, Keys: wl.Keys,
		KeyDist: string(wl.KeyDist), ValueSize: wl.ValueSize.String(), DurationS: wl.Duration.Seconds(), WarmupS: wl.Warmup.Seconds(),
		SingleConn: wl.SingleConn}
}

// compareRun is one scenario of a Compare in progress: the processes it
// started, each target's addresses and proxy process, and the
// measurements so far.
type compareRun struct {
	cfg      CompareConfig
	wl       Config
	scenario string
	dir      string
	ps       *ProcSet
	logf     func(string, ...any)

	start            time.Time // when the measurements began
	targets          []string  // cfg.Targets, plus direct-healthy in degraded
	nodePB, nodeHTTP []string
	nodeArgs         [][]string
	addrs            map[string][]string // target -> PB addresses the workers use
	proxies          map[string]*Proc    // target -> its proxy process (none for direct)
	directorAdmin    string              // the director's admin (metrics) address
	results          map[string]*TargetResult

	mu       sync.Mutex
	nodes    []*Proc // current process of each node (kill9 replaces the victim's)
	restarts int
	lostCPU  float64 // CPU seconds of node processes killed so far
}

// run starts the scenario's cluster and proxies, measures every target
// and stops everything.
func (c *compareRun) run(ctx context.Context) (*Comparison, error) {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	c.logf("scenario %s", c.scenario)
	c.ps = &ProcSet{Dir: c.dir}
	defer c.ps.StopAll(c.logf)
	defer c.continueNodes() // runs first: never leave a node stopped
	if err := c.startNodes(ctx); err != nil {
		return nil, err
	}
	if err := c.startTargets(ctx); err != nil {
		return nil, err
	}
	c.start = time.Now().UTC()
	if err := c.measureRounds(ctx); err != nil {
		return nil, err
	}
	c.saveDirectorMetrics(ctx)
	return c.comparison(), nil
}

// saveDirectorMetrics keeps the director's /metrics at the end of the
// scenario in the process log directory (director-metrics.txt), for the
// hedges, ejections, retries and confirmations behind its figures.
func (c *compareRun) saveDirectorMetrics(ctx context.Context) {
	if c.directorAdmin == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.directorAdmin+"/metrics", nil)
	if err != nil {
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.logf("director metrics: %v", err)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return
	}
	if err := os.WriteFile(filepath.Join(c.dir, "director-metrics.txt"), body, 0o644); err != nil {
		c.logf("director metrics: %v", err)
	}
}

// backend is the devnodes' storage in this scenario: kill9 restarts the
// node on its data, which only the disk backend keeps. fsync is off
// there: a killed process loses nothing the kernel has, so fsync would
// only slow the scenario down.
func (c *compareRun) backend() []string {
	if c.scenario == ScenarioKill9 {
		return []string{"--backend", "disk", "--sync=false"}
	}
	return []string{"--backend", c.cfg.Backend}
}

func (c *compareRun) backendName() string {
	if c.scenario == ScenarioKill9 {
		return "disk, no fsync"
	}
	return c.cfg.Backend
}

// victim is the index of the node a fault scenario faults: the last.
func (c *compareRun) victim() int { return c.cfg.Nodes - 1 }

// startNodes starts the devnodes, each joining the first.
func (c *compareRun) startNodes(ctx context.Context) error {
	for i := range c.cfg.Nodes {
		pb, httpA := FreeAddr(), FreeAddr()
		name := fmt.Sprintf("dev%d@127.0.0.1", i+1)
		args := []string{"devnode", "--name", name, "--pb", pb, "--http", httpA,
			"--data", filepath.Join(c.dir, fmt.Sprintf("node%d", i+1))}
		args = append(args, c.backend()...)
		if i > 0 {
			args = append(args, "--join", c.nodePB[0])
		}
		p, err := c.ps.Start(ctx, fmt.Sprintf("devnode%d", i+1), "node", c.cfg.Bin, args, pb)
		if err != nil {
			return err
		}
		c.logf("devnode %s ready: pb %s", name, pb)
		c.nodePB, c.nodeHTTP, c.nodeArgs = append(c.nodePB, pb), append(c.nodeHTTP, httpA), append(c.nodeArgs, args)
		c.nodes = append(c.nodes, p)
	}
	if c.cfg.Nodes > 1 {
		time.Sleep(500 * time.Millisecond) // membership gossip settles
	}
	c.addrs[TargetDirect] = c.nodePB
	c.targets = slices.Clone(c.cfg.Targets)
	if c.scenario == ScenarioDegraded {
		if i := slices.Index(c.targets, TargetDirect); i >= 0 {
			c.targets = slices.Insert(c.targets, i+1, TargetDirectHealthy)
			c.addrs[TargetDirectHealthy] = c.nodePB[:c.victim()]
		}
	}
	return nil
}

// continueNodes sends SIGCONT to every node process.
func (c *compareRun) continueNodes() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.nodes {
		_ = p.Signal(syscall.SIGCONT)
	}
}

// restartVictim starts the victim node again on its data, with its
// addresses, and waits until it answers a ping.
func (c *compareRun) restartVictim(ctx context.Context) (*Proc, error) {
	i := c.victim()
	c.mu.Lock()
	c.restarts++
	name := fmt.Sprintf("devnode%d-restart%d", i+1, c.restarts)
	c.mu.Unlock()
	p, err := c.ps.Start(ctx, name, "node", c.cfg.Bin, c.nodeArgs[i], c.nodePB[i])
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.nodes[i] = p
	c.mu.Unlock()
	return p, nil
}

// startTargets starts the proxies among the targets.
func (c *compareRun) startTargets(ctx context.Context) error {
	for _, t := range c.targets {
		var err error
		switch t {
		case TargetDirector:
			err = c.startDirector(ctx)
		case TargetHAProxy:
			err = c.startHAProxy(ctx)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// startDirector starts an rmf director with every devnode as a --node.
func (c *compareRun) startDirector(ctx context.Context) error {
	pb := FreeAddr()
	c.directorAdmin = FreeAddr()
	args := []string{"director", "--pb", pb, "--http", "", "--admin", c.directorAdmin}
	for i := range c.nodePB {
		args = append(args, "--node", c.nodePB[i]+","+c.nodeHTTP[i])
	}
	p, err := c.ps.Start(ctx, "director", "proxy", c.cfg.Bin, args, pb)
	if err != nil {
		return err
	}
	c.addrs[TargetDirector], c.proxies[TargetDirector] = []string{pb}, p
	c.logf("director ready: pb %s (pid %d)", pb, p.PID())
	return nil
}

// startHAProxy starts haproxy with HAProxyConfig over the devnodes.
func (c *compareRun) startHAProxy(ctx context.Context) error {
	bin := c.cfg.HAProxy
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("haproxy"); err != nil {
			return fmt.Errorf("bench: haproxy target: %w", err)
		}
	}
	pb := FreeAddr()
	cfgPath := filepath.Join(c.dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(HAProxyConfig(pb, c.nodePB)), 0o644); err != nil {
		return err
	}
	p, err := c.ps.Start(ctx, "haproxy", "proxy", bin, []string{"-db", "-f", cfgPath}, pb)
	if err != nil {
		return err
	}
	c.addrs[TargetHAProxy], c.proxies[TargetHAProxy] = []string{pb}, p
	c.logf("haproxy ready: pb %s (pid %d)", pb, p.PID())
	return nil
}

// measureRounds measures every target once per round, in the targets'
// order in odd rounds and reversed in even ones.
func (c *compareRun) measureRounds(ctx context.Context) error {
	for _, t := range c.targets {
		c.results[t] = &TargetResult{Name: t, PBAddrs: c.addrs[t]}
	}
	for round := 1; round <= c.cfg.Rounds; round++ {
		order := slices.Clone(c.targets)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for i, t := range order {
			tr, err := c.measure(ctx, t, round, i+1)
			if err != nil {
				return err
			}
			c.results[t].Rounds = append(c.results[t].Rounds, tr)
		}
	}
	return nil
}

// fault is a scenario's fault injector for one measured window: start is
// called when the window opens, stop when it closes (and again, harmlessly,
// on the way out).
type fault struct {
	start func()
	stop  func() (*FaultInfo, error)
}

// fault returns the injector of c's scenario (nil for steady).
func (c *compareRun) fault(ctx context.Context) *fault {
	v := c.victim()
	c.mu.Lock()
	victim := c.nodes[v]
	c.mu.Unlock()
	switch c.scenario {
	case ScenarioDegraded:
		var dc *dutyCycle
		return &fault{
			start: func() { dc = startDutyCycle(victim.PID(), c.cfg.DutyPeriod, c.cfg.DutyStop) },
			stop: func() (*FaultInfo, error) {
				if dc == nil {
					return nil, nil
				}
				return &FaultInfo{Kind: "duty-cycle", Victim: victim.Name(), Cycles: dc.Stop()}, nil
			},
		}
	case ScenarioKill9:
		var kr *killRestart
		var fi *FaultInfo
		return &fault{
			start: func() {
				kr = startKillRestart(ctx, c.wl.Duration/4, c.cfg.RestartAfter, killRestartHooks{
					victim: victim,
					beforeKill: func(p *Proc) {
						cpu := cpuSeconds(p)
						c.mu.Lock()
						c.lostCPU += cpu
						c.mu.Unlock()
						c.logf("  SIGKILL %s (pid %d)", p.Name(), p.PID())
					},
					exited:  c.ps.Remove,
					restart: c.restartVictim,
				})
			},
			stop: func() (*FaultInfo, error) {
				if kr == nil {
					return nil, nil
				}
				err := kr.Wait()
				if fi == nil && err == nil && kr.backAt > 0 {
					c.logf("  %s back after %v", victim.Name(), (kr.backAt - kr.killedAt).Round(time.Millisecond))
				}
				if fi == nil {
					fi = &FaultInfo{Kind: "kill9", Victim: victim.Name(), KilledAtS: round(kr.killedAt.Seconds(), 3), BackAtS: round(kr.backAt.Seconds(), 3)}
				}
				return fi, err
			},
		}
	}
	return nil
}

// measure runs the workload against target t once, with the scenario's
// fault, and the CPU the proxy, the nodes and this process used during
// the measured period.
func (c *compareRun) measure(ctx context.Context, t string, round, order int) (TargetRound, error) {
	run := c.wl
	run.Label = fmt.Sprintf("%s %s round %d", c.scenario, t, round)
	run.PBAddrs = c.addrs[t]
	var before, after cpuSample
	var mem procMemory
	if p := c.proxies[t]; p != nil {
		resetPeakRSS(p) // the peak of this round's load, not of the proxy's start
	}
	var fi *FaultInfo
	var faultErr error
	f := c.fault(ctx)
	if f != nil {
		defer func() { _, _ = f.stop() }() // Run ended before the window closed
	}
	run.OnMeasureStart = func() {
		before = c.sampleCPU(t)
		if f != nil {
			f.start()
		}
	}
	run.OnMeasureEnd = func() {
		if f != nil {
			fi, faultErr = f.stop()
		}
		after = c.sampleCPU(t)
		if p := c.proxies[t]; p != nil {
			mem = readProcMemory(p)
		}
	}
	c.logf("%s round %d/%d: %s (%s)", c.scenario, round, c.cfg.Rounds, t, strings.Join(c.addrs[t], ","))
	res, err := Run(ctx, run)
	if err != nil {
		return TargetRound{}, fmt.Errorf("bench: %s round %d: %w", t, round, err)
	}
	if faultErr != nil {
		return TargetRound{}, fmt.Errorf("bench: %s round %d: %w", t, round, faultErr)
	}
	if dead := c.ps.Dead(); dead != "" {
		return TargetRound{}, fmt.Errorf("bench: %s exited during the run (see %s)", dead, filepath.Join(c.dir, dead+".log"))
	}
	tr := TargetRound{Round: round, Order: order, OpsPS: res.All.Throughput, Count: res.All.Count,
		P50: res.All.Latency.Median, P99: res.All.Latency.P99, P999: res.All.Latency.P999, Errors: res.All.Errors,
		ProxyCPU: round2(after.proxy - before.proxy), NodesCPU: round2(after.nodes - before.nodes), ClientCPU: round2(after.client - before.client),
		ProxyPeakRSSKB: mem.peakKB, ProxyAnonRSSKB: mem.anonKB,
		Timeline: timeline(res), Fault: fi, Result: res}
	c.logf("  %s: %.0f ops/s, p99 %.2f ms, %d failed", t, tr.OpsPS, tr.P99/1000, tr.Errors)
	return tr, nil
}

// timeline is r's successful ops/s per window.
func timeline(r *Result) []float64 {
	out := make([]float64, 0, len(r.Series))
	for _, w := range r.Series {
		if w.Window > 0 {
			out = append(out, math.Round(float64(w.Successful)/w.Window))
		}
	}
	return out
}

// sampleCPU reads the CPU seconds used so far by target t's proxy, the
// nodes (those killed included) and this process.
func (c *compareRun) sampleCPU(t string) cpuSample {
	var s cpuSample
	s.proxy = cpuSeconds(c.proxies[t])
	for _, n := range c.ps.ByRole("node") {
		s.nodes += cpuSeconds(n)
	}
	c.mu.Lock()
	s.nodes += c.lostCPU
	c.mu.Unlock()
	s.client = selfCPUSeconds()
	return s
}

// faultText describes c's scenario's fault for the report.
func (c *compareRun) faultText() string {
	name := fmt.Sprintf("devnode%d", c.victim()+1)
	switch c.scenario {
	case ScenarioDegraded:
		return fmt.Sprintf("%s frozen %v of every %v (SIGSTOP/SIGCONT) for each whole measured window; %s: workers on the other nodes only",
			name, c.cfg.DutyStop, c.cfg.DutyPeriod, TargetDirectHealthy)
	case ScenarioKill9:
		return fmt.Sprintf("%s killed (SIGKILL) %v into each measured window, restarted on its data %v later",
			name, c.wl.Duration/4, c.cfg.RestartAfter)
	}
	return ""
}

// comparison summarizes the measurements over rounds.
func (c *compareRun) comparison() *Comparison {
	cfg := c.cfg
	cmp := &Comparison{Scenario: c.scenario, Fault: c.faultText(),
		Start: c.start, Nodes: cfg.Nodes, Backend: c.backendName(), Rounds: cfg.Rounds, Machine: machineInfo(), Workload: workloadInfo(c.wl)}
	for _, t := range c.targets {
		cmp.Targets = append(cmp.Targets, summarizeTarget(c.results[t], c.proxies[t]))
	}
	cmp.Ratios = ratios(c.results)
	return cmp
}

// summarizeTarget fills in r's spreads over its rounds, and its proxy's
// CPU per 1,000 operations and peak RSS (p nil: no proxy).
func summarizeTarget(r *TargetResult, p *Proc) TargetResult {
	slices.SortFunc(r.Rounds, func(a, b TargetRound) int { return a.Round - b.Round })
	var ops, p50, p99, p999, pcpu, ncpu, ccpu []float64
	var peakKB, anonKB int64
	for _, x := range r.Rounds {
		peakKB, anonKB = max(peakKB, x.ProxyPeakRSSKB), max(anonKB, x.ProxyAnonRSSKB)
		ops, p50, p99, p999 = append(ops, x.OpsPS), append(p50, x.P50), append(p99, x.P99), append(p999, x.P999)
		r.Errors += x.Errors
		k := float64(max(x.Count, 1)) / 1000
		pcpu, ncpu, ccpu = append(pcpu, x.ProxyCPU/k), append(ncpu, x.NodesCPU/k), append(ccpu, x.ClientCPU/k)
	}
	r.Throughput, r.P50, r.P99, r.P999 = spreadOf(ops), spreadOf(p50), spreadOf(p99), spreadOf(p999)
	r.NodesCPUPer1k, r.ClientCPUPer1k = spreadOf(ncpu), spreadOf(ccpu)
	if p != nil {
		s := spreadOf(pcpu)
		r.ProxyCPUPer1k = &s
		r.ProxyPeakRSSMB, r.ProxyAnonRSSMB = round(float64(peakKB)/1024, 1), round(float64(anonKB)/1024, 1)
	}
	return *r
}

func round2(v float64) float64 { return round(v, 2) }

// ratioPairs are the ratios reported, A over B, when both were measured.
var ratioPairs = [][2]string{
	{TargetDirector, TargetHAProxy},
	{TargetDirector, TargetDirect},
	{TargetDirector, TargetDirectHealthy},
	{TargetHAProxy, TargetDirect},
	{TargetHAProxy, TargetDirectHealthy},
}

func isProxy(t string) bool { return t == TargetDirector || t == TargetHAProxy }

func ratios(res map[string]*TargetResult) []Ratio {
	var out []Ratio
	for _, p := range ratioPairs {
		a, b := res[p[0]], res[p[1]]
		if a == nil || b == nil {
			continue
		}
		var tp, p99, cpu []float64
		for i := range min(len(a.Rounds), len(b.Rounds)) {
			ra, rb := a.Rounds[i], b.Rounds[i]
			if rb.OpsPS > 0 {
				tp = append(tp, ra.OpsPS/rb.OpsPS)
			}
			if rb.P99 > 0 {
				p99 = append(p99, ra.P99/rb.P99)
			}
			if ca, cb := ra.ProxyCPU/float64(max(ra.Count, 1)), rb.ProxyCPU/float64(max(rb.Count, 1)); cb > 0 {
				cpu = append(cpu, ca/cb)
			}
		}
		r := Ratio{Name: p[0] + "/" + p[1], Throughput: ratioSpreadOf(tp), P99: ratioSpreadOf(p99)}
		if isProxy(p[0]) && isProxy(p[1]) {
			s := ratioSpreadOf(cpu)
			r.ProxyCPUPer1k = &s
		}
		out = append(out, r)
	}
	return out
}

// HAProxyConfig renders the HAProxy configuration of the haproxy target:
// mode tcp, balance leastconn over the nodes' PB addresses, each with a
// TCP health check every second (the director's default health interval)
// and redispatch of a failed connect to another node, as HAProxy is
// deployed in front of Riak.
func HAProxyConfig(listen string, nodes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
  maxconn 4096
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  retries 2
  option redispatch
frontend riak_pb
  bind %s
  default_backend riak_nodes
backend riak_nodes
  balance leastconn
`, listen)
	for i, n := range nodes {
		fmt.Fprintf(&b, "  server n%d %s check inter 1s\n", i+1, n)
	}
	return b.String()
}

// WriteCompareTable prints the report as a text table: one row per
// scenario and target, then each scenario's fault and ratios.
func WriteCompareTable(w io.Writer, rep *CompareReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttarget\tops/s mean\tmin-max\tspread\tp50 ms\tp99 ms\tp99 min-max\tp99.9 ms\tfailed\tproxy CPU s/1k ops\tproxy peak RSS MB\tanon MB\t")
	for _, c := range rep.Scenarios {
		for _, t := range c.Targets {
			cpu, rss, anon := "-", "-", "-"
			if t.ProxyCPUPer1k != nil {
				cpu = fmt.Sprintf("%.4f", t.ProxyCPUPer1k.Mean)
				rss, anon = fmt.Sprintf("%.1f", t.ProxyPeakRSSMB), fmt.Sprintf("%.1f", t.ProxyAnonRSSMB)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f-%.0f\t%.1f%%\t%.3f\t%.3f\t%.3f-%.3f\t%.3f\t%d\t%s\t%s\t%s\t\n",
				c.Scenario, t.Name, t.Throughput.Mean, t.Throughput.Min, t.Throughput.Max, t.Throughput.SpreadPct,
				t.P50.Mean/1000, t.P99.Mean/1000, t.P99.Min/1000, t.P99.Max/1000, t.P999.Mean/1000, t.Errors, cpu, rss, anon)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range rep.Scenarios {
		if c.Fault != "" {
			fmt.Fprintf(w, "%s: %s\n", c.Scenario, c.Fault)
		}
		if kills := killTimes(c); kills != "" {
			fmt.Fprintf(w, "%s: seconds into the window, killed/answering again: %s\n", c.Scenario, kills)
		}
		for _, r := range c.Ratios {
			fmt.Fprintf(w, "%s %s: throughput %.3f (rounds %.3f-%.3f), p99 latency %.3f (rounds %.3f-%.3f)",
				c.Scenario, r.Name, r.Throughput.Mean, r.Throughput.Min, r.Throughput.Max, r.P99.Mean, r.P99.Min, r.P99.Max)
			if r.ProxyCPUPer1k != nil {
				fmt.Fprintf(w, ", proxy CPU/1k ops %.3f (rounds %.3f-%.3f)", r.ProxyCPUPer1k.Mean, r.ProxyCPUPer1k.Min, r.ProxyCPUPer1k.Max)
			}
			fmt.Fprintln(w)
		}
		for _, r := range c.Ratios {
			if r.Throughput.Rounds < 2 {
				continue
			}
			fmt.Fprintf(w, "%s %s, geometric mean [95%% CI] over %d rounds: throughput %v, p99 latency %v",
				c.Scenario, r.Name, r.Throughput.Rounds, r.Throughput, r.P99)
			if r.ProxyCPUPer1k != nil {
				fmt.Fprintf(w, ", proxy CPU/1k ops %v", r.ProxyCPUPer1k)
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}

// killTimes lists each kill9 measurement's kill and back times, "" when
// there was none. A back time past the window means the node was down
// for the rest of it (the measurement waited for it).
func killTimes(c *Comparison) string {
	var parts []string
	for _, t := range c.Targets {
		for _, r := range t.Rounds {
			if f := r.Fault; f != nil && f.Kind == "kill9" {
				parts = append(parts, fmt.Sprintf("%s round %d %.2f/%.2f", t.Name, r.Round, f.KilledAtS, f.BackAtS))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// WriteCompareReport writes compare.json, compare.html and compare.txt
// (the table) into dir, and each measurement's run report under
// dir/<scenario>/<target>-round<N>/.
func WriteCompareReport(dir string, rep *CompareReport) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: report dir: %w", err)
	}
	for _, c := range rep.Scenarios {
		for _, t := range c.Targets {
			for _, r := range t.Rounds {
				if r.Result == nil {
					continue
				}
				if err := WriteRunReport(filepath.Join(dir, c.Scenario, fmt.Sprintf("%s-round%d", t.Name, r.Round)), r.Result); err != nil {
					return err
				}
			}
		}
	}
	if err := writeFile(filepath.Join(dir, "compare.json"), func(w io.Writer) error { return writeJSON(w, rep) }); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "compare.txt"), func(w io.Writer) error { return WriteCompareTable(w, rep) }); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "compare.html"), func(w io.Writer) error { return WriteHTML(w, "compare", rep) })
}
