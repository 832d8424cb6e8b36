package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
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
	// Dir keeps the nodes' data and the processes' logs (default: a
	// temporary directory, removed at the end).
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
	Result    *Result `json:"-"`
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
	// (nil for direct); ProxyPeakRSSMB its VmHWM at the end.
	ProxyCPUPer1k  *Spread `json:"proxy_cpu_s_per_1k_ops,omitempty"`
	ProxyPeakRSSMB float64 `json:"proxy_peak_rss_mb,omitempty"`
	NodesCPUPer1k  Spread  `json:"nodes_cpu_s_per_1k_ops"`
	ClientCPUPer1k Spread  `json:"client_cpu_s_per_1k_ops"`
}

// Ratio compares two targets: A's number over B's, per round.
type Ratio struct {
	Name       string `json:"name"`
	Throughput Spread `json:"throughput"`
	P99        Spread `json:"p99"`
}

// Comparison is the outcome of Compare, as written to compare.json.
type Comparison struct {
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
	Driver      string  `json:"driver"`
	Ops         string  `json:"ops"`
	Concurrency int     `json:"concurrency"`
	Keys        int     `json:"keys"`
	KeyDist     string  `json:"key_dist"`
	ValueSize   string  `json:"value_size"`
	DurationS   float64 `json:"duration_s"`
	WarmupS     float64 `json:"warmup_s"`
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

// Compare starts cfg.Nodes devnodes (rmf devnode processes joined into one
// cluster), the director (an rmf director process) and HAProxy (mode tcp,
// balance leastconn) in front of them, and runs the same workload against
// each target for cfg.Rounds rounds, alternating the order. Everything it
// started is stopped before it returns, also when ctx is cancelled.
func Compare(ctx context.Context, cfg CompareConfig) (*Comparison, error) {
	wl, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	c := &compareRun{cfg: cfg, wl: wl, addrs: map[string][]string{}, proxies: map[string]*Proc{}, results: map[string]*TargetResult{}}
	c.logf = func(format string, args ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, format+"\n", args...)
		}
	}
	c.dir = cfg.Dir
	if c.dir == "" {
		d, err := os.MkdirTemp("", "rmf-bench-compare")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		c.dir = d
	}
	c.ps = &ProcSet{Dir: c.dir}
	defer c.ps.StopAll(c.logf)
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
	return c.comparison(), nil
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
	if len(cfg.Targets) == 0 {
		cfg.Targets = []string{TargetDirect, TargetDirector, TargetHAProxy}
	}
	if cfg.Nodes < 1 || cfg.Rounds < 1 {
		return Config{}, errors.New("bench: compare needs at least one node and one round")
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

// compareRun is one Compare in progress: the processes it started, each
// target's addresses and proxy process, and the measurements so far.
type compareRun struct {
	cfg  CompareConfig
	wl   Config
	dir  string
	ps   *ProcSet
	logf func(string, ...any)

	start            time.Time // when the measurements began
	nodePB, nodeHTTP []string
	addrs            map[string][]string // target -> PB addresses the workers use
	proxies          map[string]*Proc    // target -> its proxy process (none for direct)
	results          map[string]*TargetResult
}

// startNodes starts the devnodes, each joining the first.
func (c *compareRun) startNodes(ctx context.Context) error {
	for i := range c.cfg.Nodes {
		pb, httpA := FreeAddr(), FreeAddr()
		name := fmt.Sprintf("dev%d@127.0.0.1", i+1)
		args := []string{"devnode", "--name", name, "--pb", pb, "--http", httpA,
			"--data", filepath.Join(c.dir, fmt.Sprintf("node%d", i+1)), "--backend", c.cfg.Backend}
		if i > 0 {
			args = append(args, "--join", c.nodePB[0])
		}
		if _, err := c.ps.Start(ctx, fmt.Sprintf("devnode%d", i+1), "node", c.cfg.Bin, args, pb); err != nil {
			return err
		}
		c.logf("devnode %s ready: pb %s", name, pb)
		c.nodePB, c.nodeHTTP = append(c.nodePB, pb), append(c.nodeHTTP, httpA)
	}
	if c.cfg.Nodes > 1 {
		time.Sleep(500 * time.Millisecond) // membership gossip settles
	}
	c.addrs[TargetDirect] = c.nodePB
	return nil
}

// startTargets starts the proxies among the targets.
func (c *compareRun) startTargets(ctx context.Context) error {
	for _, t := range c.cfg.Targets {
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
	args := []string{"director", "--pb", pb, "--http", "", "--admin", FreeAddr()}
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

// measureRounds measures every target once per round, in cfg's order in
// odd rounds and reversed in even ones.
func (c *compareRun) measureRounds(ctx context.Context) error {
	for _, t := range c.cfg.Targets {
		c.results[t] = &TargetResult{Name: t, PBAddrs: c.addrs[t]}
	}
	for round := 1; round <= c.cfg.Rounds; round++ {
		order := slices.Clone(c.cfg.Targets)
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

// measure runs the workload against target t once, with the CPU the
// proxy, the nodes and this process used during the measured period.
func (c *compareRun) measure(ctx context.Context, t string, round, order int) (TargetRound, error) {
	run := c.wl
	run.Label = fmt.Sprintf("%s round %d", t, round)
	run.PBAddrs = c.addrs[t]
	var before, after cpuSample
	run.OnMeasureStart = func() { before = c.sampleCPU(t) }
	run.OnMeasureEnd = func() { after = c.sampleCPU(t) }
	c.logf("round %d/%d: %s (%s)", round, c.cfg.Rounds, t, strings.Join(c.addrs[t], ","))
	res, err := Run(ctx, run)
	if err != nil {
		return TargetRound{}, fmt.Errorf("bench: %s round %d: %w", t, round, err)
	}
	if dead := c.ps.Dead(); dead != "" {
		return TargetRound{}, fmt.Errorf("bench: %s exited during the run (see %s)", dead, filepath.Join(c.dir, dead+".log"))
	}
	tr := TargetRound{Round: round, Order: order, OpsPS: res.All.Throughput, Count: res.All.Count,
		P50: res.All.Latency.Median, P99: res.All.Latency.P99, P999: res.All.Latency.P999, Errors: res.All.Errors,
		ProxyCPU: round2(after.proxy - before.proxy), NodesCPU: round2(after.nodes - before.nodes), ClientCPU: round2(after.client - before.client),
		Result: res}
	c.logf("  %s: %.0f ops/s, p99 %.2f ms, %d errors", t, tr.OpsPS, tr.P99/1000, tr.Errors)
	return tr, nil
}

// sampleCPU reads the CPU seconds used so far by target t's proxy, the
// nodes and this process.
func (c *compareRun) sampleCPU(t string) cpuSample {
	var s cpuSample
	s.proxy = cpuSeconds(c.proxies[t])
	for _, n := range c.ps.ByRole("node") {
		s.nodes += cpuSeconds(n)
	}
	s.client = selfCPUSeconds()
	return s
}

// comparison summarizes the measurements over rounds.
func (c *compareRun) comparison() *Comparison {
	cfg, wl := c.cfg, c.wl
	cmp := &Comparison{
		Start: c.start, Nodes: cfg.Nodes, Backend: cfg.Backend, Rounds: cfg.Rounds, Machine: machineInfo(),
		Workload: WorkloadInfo{Driver: wl.Driver, Ops: wl.Mix.String(), Concurrency: wl.Concurrency, Keys: wl.Keys,
			KeyDist: string(wl.KeyDist), ValueSize: wl.ValueSize.String(), DurationS: wl.Duration.Seconds(), WarmupS: wl.Warmup.Seconds()},
	}
	for _, t := range cfg.Targets {
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
	for _, x := range r.Rounds {
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
		r.ProxyPeakRSSMB = round(float64(peakRSSKB(p))/1024, 1)
	}
	return *r
}

func round2(v float64) float64 { return round(v, 2) }

func ratios(res map[string]*TargetResult) []Ratio {
	var out []Ratio
	for _, p := range [][2]string{{TargetDirector, TargetHAProxy}, {TargetDirector, TargetDirect}, {TargetHAProxy, TargetDirect}} {
		a, b := res[p[0]], res[p[1]]
		if a == nil || b == nil {
			continue
		}
		var tp, p99 []float64
		for i := range min(len(a.Rounds), len(b.Rounds)) {
			if b.Rounds[i].OpsPS > 0 {
				tp = append(tp, a.Rounds[i].OpsPS/b.Rounds[i].OpsPS)
			}
			if b.Rounds[i].P99 > 0 {
				p99 = append(p99, a.Rounds[i].P99/b.Rounds[i].P99)
			}
		}
		out = append(out, Ratio{Name: p[0] + "/" + p[1], Throughput: spreadOf(tp), P99: spreadOf(p99)})
	}
	return out
}

// HAProxyConfig renders the HAProxy configuration of the haproxy target:
// mode tcp, balance leastconn over the nodes' PB addresses.
func HAProxyConfig(listen string, nodes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
  maxconn 4096
defaults
  mode tcp
  timeout connect 2s
  timeout client 60s
  timeout server 60s
frontend riak_pb
  bind %s
  default_backend riak_nodes
backend riak_nodes
  balance leastconn
`, listen)
	for i, n := range nodes {
		fmt.Fprintf(&b, "  server n%d %s\n", i+1, n)
	}
	return b.String()
}

// WriteCompareTable prints the comparison as a text table.
func WriteCompareTable(w io.Writer, c *Comparison) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tops/s mean\tmin-max\tspread\tp50 ms\tp99 ms\tp99 min-max\tp99.9 ms\terrors\tproxy CPU s/1k ops\tproxy peak RSS MB\t")
	for _, t := range c.Targets {
		cpu, rss := "-", "-"
		if t.ProxyCPUPer1k != nil {
			cpu = fmt.Sprintf("%.4f", t.ProxyCPUPer1k.Mean)
			rss = fmt.Sprintf("%.1f", t.ProxyPeakRSSMB)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f-%.0f\t%.1f%%\t%.3f\t%.3f\t%.3f-%.3f\t%.3f\t%d\t%s\t%s\t\n",
			t.Name, t.Throughput.Mean, t.Throughput.Min, t.Throughput.Max, t.Throughput.SpreadPct,
			t.P50.Mean/1000, t.P99.Mean/1000, t.P99.Min/1000, t.P99.Max/1000, t.P999.Mean/1000, t.Errors, cpu, rss)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range c.Ratios {
		fmt.Fprintf(w, "%s: throughput %.3f (rounds %.3f-%.3f), p99 latency %.3f (rounds %.3f-%.3f)\n",
			r.Name, r.Throughput.Mean, r.Throughput.Min, r.Throughput.Max, r.P99.Mean, r.P99.Min, r.P99.Max)
	}
	return nil
}

// WriteCompareReport writes compare.json, compare.html and compare.txt
// (the table) into dir, and each measurement's run report under
// dir/<target>-round<N>/.
func WriteCompareReport(dir string, c *Comparison) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: report dir: %w", err)
	}
	for _, t := range c.Targets {
		for _, r := range t.Rounds {
			if r.Result == nil {
				continue
			}
			if err := WriteRunReport(filepath.Join(dir, fmt.Sprintf("%s-round%d", t.Name, r.Round)), r.Result); err != nil {
				return err
			}
		}
	}
	if err := writeFile(filepath.Join(dir, "compare.json"), func(w io.Writer) error { return writeJSON(w, c) }); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "compare.txt"), func(w io.Writer) error { return WriteCompareTable(w, c) }); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "compare.html"), func(w io.Writer) error { return WriteHTML(w, "compare", c) })
}
