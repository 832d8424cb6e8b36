package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmf-go/rmf/bench"
	"github.com/rmf-go/rmf/internal/chaos"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark Riak endpoints side by side",
		Long: `Benchmark Riak endpoints. "rmf bench run" drives load at given PB (or HTTP)
addresses; "rmf bench compare" starts devnodes, the director and HAProxy and
measures them side by side. See docs/performance.md.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageErrorf("%s needs one of: [run compare]", c.CommandPath())
		},
	}
	cmd.AddCommand(newBenchRunCmd(), newBenchCompareCmd(), newBenchChaosCmd())
	return annotateEnv(cmd)
}

// workloadFlags are the flags run and compare share.
type workloadFlags struct {
	duration, warmup, timeout time.Duration
	concurrency, keys         int
	rate                      float64
	ops, workload, keyDist    string
	valueSize, driver, out    string
	bucket                    string
	seed                      uint64
}

func (w *workloadFlags) register(cmd *cobra.Command, duration, warmup time.Duration, driver, out string) {
	f := cmd.Flags()
	f.DurationVar(&w.duration, "duration", duration, "measured time of each run")
	f.DurationVar(&w.warmup, "warmup", warmup, "load before measuring (not counted)")
	f.IntVar(&w.concurrency, "concurrency", 32, "workers, each with one operation in flight")
	f.Float64Var(&w.rate, "rate", 0, "offered load in ops/s over all workers, each on a fixed schedule, latency counted from the scheduled start (open loop); 0: closed loop, as fast as answers come")
	f.StringVar(&w.ops, "ops", "", "operation mix op:weight,... of get, put, update (get then put with the vclock), delete (default: --workload balanced = get:4,put:4,update:1,delete:1)")
	f.StringVar(&w.workload, "workload", "", "named mix: "+strings.Join(bench.WorkloadNames(), ", ")+" (instead of --ops)")
	f.IntVar(&w.keys, "keys", 100000, "key space size")
	f.StringVar(&w.keyDist, "key-dist", "uniform", "key distribution: uniform, pareto (80/20) or sequential")
	f.StringVar(&w.valueSize, "value-size", "1024", "value size in bytes: N or MIN-MAX")
	f.StringVar(&w.driver, "driver", driver, "client: riak-go-client, raw (lean PB on the protocol package) or http (Riak HTTP API; run only)")
	f.StringVar(&w.out, "out", out, "directory for the reports")
	f.StringVar(&w.bucket, "bucket", "bench", "bucket of every key")
	f.DurationVar(&w.timeout, "timeout", 5*time.Second, "bound on one operation")
	f.Uint64Var(&w.seed, "seed", 0, "seed of the key and op sequences (0: random)")
}

func (w *workloadFlags) config() (bench.Config, error) {
	cfg := bench.Config{Driver: w.driver, Bucket: w.bucket, Duration: w.duration, Warmup: w.warmup,
		Concurrency: w.concurrency, Rate: w.rate, Keys: w.keys, KeyDist: bench.KeyDist(w.keyDist), Timeout: w.timeout, Seed: w.seed}
	var err error
	switch {
	case w.ops != "" && w.workload != "":
		return cfg, usageErrorf("give --ops or --workload, not both")
	case w.ops != "":
		cfg.Mix, err = bench.ParseMix(w.ops)
	default:
		cfg.Mix, err = bench.NamedWorkload(orStr(w.workload, "balanced"))
	}
	if err != nil {
		return cfg, usageErrorf("%v", err)
	}
	if cfg.ValueSize, err = bench.ParseValueSize(w.valueSize); err != nil {
		return cfg, usageErrorf("--value-size: %v", err)
	}
	switch w.driver {
	case bench.DriverRiakGoClient, bench.DriverRaw, bench.DriverHTTP:
	default:
		return cfg, usageErrorf("--driver %q: want %s, %s or %s", w.driver, bench.DriverRiakGoClient, bench.DriverRaw, bench.DriverHTTP)
	}
	if w.duration <= 0 {
		return cfg, usageErrorf("--duration must be positive")
	}
	if w.concurrency <= 0 {
		return cfg, usageErrorf("--concurrency must be positive")
	}
	if w.keys <= 0 {
		return cfg, usageErrorf("--keys must be positive")
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageErrorf("%v", err)
	}
	return cfg, nil
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// isTerminal reports whether w is a character device (a TTY).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func splitAddrs(s []string) []string {
	var out []string
	for _, a := range s {
		for _, p := range strings.Split(a, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func newBenchRunCmd() *cobra.Command {
	var wf workloadFlags
	var pb []string
	var httpAddr string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Drive a workload at Riak PB (or HTTP) endpoints and report throughput and latency",
		Long: `Drive a closed-loop workload (--concurrency workers, one operation in flight
each; with --rate, an open loop at that many operations per second, latency
counted from each operation's scheduled start) at --pb addresses (workers spread over them) or, with --driver http, at
--http. After --warmup, it measures for --duration: per-op throughput, latency
percentiles (p50, p95, p99, p99.9, max; HdrHistogram), errors by kind and a
per-second time series. A live progress line is printed on a terminal.

--out receives basho_bench-style summary.csv and <op>_latencies.csv
(microseconds), summary.json and a self-contained report.html.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := wf.config()
			if err != nil {
				return err
			}
			cfg.PBAddrs, cfg.HTTPAddr = splitAddrs(pb), httpAddr
			if cfg.Driver == bench.DriverHTTP && httpAddr == "" {
				return usageErrorf("--driver http needs --http")
			}
			if cfg.Driver != bench.DriverHTTP && len(cfg.PBAddrs) == 0 {
				return usageErrorf("give at least one --pb address")
			}
			if cfg.Driver != bench.DriverHTTP {
				for _, a := range cfg.PBAddrs {
					if err := bench.Ping(a, 5*time.Second); err != nil {
						return fmt.Errorf("bench: %s does not answer RpbPingReq: %w", a, err)
					}
				}
			}
			if cfg.Driver == bench.DriverHTTP {
				cfg.Label = cfg.Driver + " -> " + httpAddr
			} else {
				cfg.Label = cfg.Driver + " -> " + strings.Join(cfg.PBAddrs, ",")
			}
			if isTerminal(cmd.ErrOrStderr()) {
				cfg.Progress = cmd.ErrOrStderr()
			}
			res, runErr := bench.Run(cmd.Context(), cfg)
			if res == nil {
				if runErr != nil {
					return runErr
				}
				return nil
			}
			if err := bench.WriteRunReport(wf.out, res); err != nil {
				return err
			}
			printRunSummary(cmd.OutOrStdout(), res)
			fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", filepath.Join(wf.out, "report.html"))
			if runErr != nil {
				return runErr
			}
			if res.All.Count == 0 {
				return fmt.Errorf("bench: no operation succeeded (%d failed)", res.All.Errors)
			}
			return nil
		},
	}
	wf.register(cmd, 60*time.Second, 5*time.Second, bench.DriverRiakGoClient, "rmf-bench")
	f := cmd.Flags()
	f.StringSliceVar(&pb, "pb", nil, "PB address(es) ADDR[,ADDR...]")
	f.StringVar(&httpAddr, "http", "", "Riak HTTP address (the http driver)")
	return annotateEnv(cmd)
}

func printRunSummary(w io.Writer, r *bench.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tok\tops/s\tp50 ms\tp95 ms\tp99 ms\tp99.9 ms\tmax ms\terrors\t")
	for _, o := range append(append([]bench.OpSummary{}, r.Ops...), r.All) {
		l := o.Latency
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t\n", o.Op, o.Count, o.Throughput,
			l.Median/1000, l.P95/1000, l.P99/1000, l.P999/1000, l.Max/1000, o.Errors)
	}
	_ = tw.Flush()
	for _, k := range bench.ErrorKinds() {
		if n := r.Errors[k]; n > 0 {
			fmt.Fprintf(w, "errors %s: %d (e.g. %s)\n", k, n, r.ErrorSamples[k])
		}
	}
}

func newBenchCompareCmd() *cobra.Command {
	var wf workloadFlags
	var nodes, rounds int
	var backend, targets, bin, haproxy, dir string
	var scenarios []string
	var singleConn bool
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Measure direct, director and HAProxy side by side on local devnodes, per scenario",
		Long: `For each --scenario, start --nodes devnodes (rmf devnode processes joined
into one cluster), the director (an rmf director process with --node for
each devnode) and HAProxy (mode tcp, balance leastconn, health checks), then
run the same workload against each target, --rounds times, alternating the
order. "direct" spreads the workers over the devnodes' PB addresses.

Scenarios (--scenario, repeatable or comma-separated; default steady):
  steady    every node healthy
  degraded  the last node frozen 50 ms of every 100 ms (SIGSTOP/SIGCONT) for
            the whole measured window; adds the target direct-healthy
            (workers on the other nodes only), the floor a balancer can reach
  kill9     the last node killed (SIGKILL) a quarter into the measured window
            and restarted on its data 2 s later; this scenario's devnodes use
            the disk backend (without fsync) so the node restarts with its
            data. direct is measured as is: workers pinned to the killed
            node fail until it is back.

--single-conn gives each worker exactly one PB connection of its own (the
raw driver always does).

Prints a table: per scenario and target, throughput and latency with their
spread over rounds, failed operations, each proxy's CPU seconds per 1,000
operations (utime+stime from /proc) and peak RSS (VmHWM), then the ratios
director/haproxy (throughput, p99, proxy CPU per 1k ops) and
director/direct(-healthy). --out receives compare.json, compare.html,
compare.txt and each run's report. Everything started is stopped (and
continued, if frozen) at the end and on SIGINT.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			wl, err := wf.config()
			if err != nil {
				return err
			}
			if wl.Driver == bench.DriverHTTP {
				return usageErrorf("--driver: compare measures PB: raw or riak-go-client")
			}
			wl.SingleConn = singleConn
			ts, err := bench.ParseTargets(targets)
			if err != nil {
				return usageErrorf("--targets: %v", err)
			}
			scs, err := bench.ParseScenarios(scenarios)
			if err != nil {
				return usageErrorf("--scenario: %v", err)
			}
			if nodes < 1 || rounds < 1 {
				return usageErrorf("--nodes and --rounds must be at least 1")
			}
			if nodes < 2 && (slices.Contains(scs, bench.ScenarioDegraded) || slices.Contains(scs, bench.ScenarioKill9)) {
				return usageErrorf("--scenario degraded and kill9 need --nodes 2 or more (one node is faulted)")
			}
			if backend != "memory" && backend != "disk" {
				return usageErrorf("--backend: want memory or disk")
			}
			if bin == "" {
				if bin, err = os.Executable(); err != nil {
					return err
				}
			}
			cfg := bench.CompareConfig{Bin: bin, HAProxy: haproxy, Nodes: nodes, Backend: backend, Targets: ts, Scenarios: scs,
				Rounds: rounds, Workload: wl, Dir: dir, Log: cmd.ErrOrStderr()}
			if isTerminal(cmd.ErrOrStderr()) {
				cfg.Workload.Progress = cmd.ErrOrStderr()
			}
			rep, err := bench.Compare(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if err := bench.WriteCompareReport(wf.out, rep); err != nil {
				return err
			}
			printCompareHeader(cmd.OutOrStdout(), rep, wl)
			if err := bench.WriteCompareTable(cmd.OutOrStdout(), rep); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "report: %s\n", filepath.Join(wf.out, "compare.html"))
			return nil
		},
	}
	wf.register(cmd, 30*time.Second, 2*time.Second, bench.DriverRaw, "rmf-bench-compare")
	f := cmd.Flags()
	f.StringArrayVar(&scenarios, "scenario", nil, "scenario(s): steady, degraded, kill9 (repeatable or comma-separated; default steady)")
	f.BoolVar(&singleConn, "single-conn", false, "each worker uses exactly one PB connection of its own")
	f.IntVar(&nodes, "nodes", 3, "devnodes to start")
	f.StringVar(&backend, "backend", "memory", "devnode storage backend: memory or disk (kill9 always uses disk)")
	f.StringVar(&targets, "targets", "direct,director,haproxy", "targets to measure: direct, director, haproxy")
	f.IntVar(&rounds, "rounds", 3, "rounds; each measures every target once, order alternating")
	f.StringVar(&bin, "bin", "", "rmf binary for the devnodes and the director (default: this one)")
	f.StringVar(&haproxy, "haproxy", "", "haproxy binary (default: haproxy from PATH)")
	f.StringVar(&dir, "dir", "", "keep node data and process logs here (default: a temporary directory)")
	return annotateEnv(cmd)
}

// printCompareHeader prints the line above the compare table: the
// cluster, the rounds and the workload.
func printCompareHeader(w io.Writer, rep *bench.CompareReport, wl bench.Config) {
	conns := "shared connection pool"
	if rep.Workload.SingleConn || rep.Workload.Driver == bench.DriverRaw {
		conns = "one connection per worker"
	}
	fmt.Fprintf(w, "%d devnodes, %d rounds x %s per target (+%s warmup), driver %s (%s), ops %s, concurrency %d%s, %d CPUs\n",
		rep.Nodes, rep.Rounds, wl.Duration, wl.Warmup, rep.Workload.Driver, conns, rep.Workload.Ops, rep.Workload.Concurrency, rateText(rep.Workload.Rate), rep.Machine.CPUs)
	for _, c := range rep.Scenarios {
		fmt.Fprintf(w, "  %s: devnodes %s\n", c.Scenario, c.Backend)
	}
}

// rateText says how the load was offered, for the line above a table:
// nothing for a closed loop.
func rateText(rate float64) string {
	if rate <= 0 {
		return ""
	}
	return fmt.Sprintf(", open loop at %g ops/s (latency from the scheduled start)", rate)
}

// chaosScenarios parses --scenarios, comma-separated ("": none given,
// chaos.Run's default); an unknown scenario is a usage error.
func chaosScenarios(list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	ss := strings.Split(list, ",")
	for _, s := range ss {
		if !slices.Contains(chaos.Scenarios, s) {
			return nil, usageErrorf("--scenarios: unknown %q (want %s)", s, strings.Join(chaos.Scenarios, ","))
		}
	}
	return ss, nil
}

// chaosReport is the table `rmf bench chaos` prints, writes to chaos.md
// and puts into --update-docs: a line on the run, then one row per
// scenario.
func chaosReport(cfg chaos.Config, started time.Time, rs []chaos.Result) (string, error) {
	var table strings.Builder
	fmt.Fprintf(&table, "Run %s on %d CPUs: 3 disk devnodes behind an rmf director, %d riak-go-client workers, %s of load per scenario at least.\n"+
		"Node level: devnode processes. Framework level: ZooKeeper, mesos-local, two rmf schedulers, rmf executors.\n\n",
		started.Format("2006-01-02 15:04 MST"), runtime.NumCPU(), orDefaultInt(cfg.Workers, 16), orDefaultDur(cfg.Duration, 30*time.Second))
	if err := chaos.WriteTable(&table, rs); err != nil {
		return "", err
	}
	return table.String(), nil
}

// writeChaosOut writes chaos.json and chaos.md into dir ("": nothing).
func writeChaosOut(dir string, rs []chaos.Result, table string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(rs, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "chaos.json"), js, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "chaos.md"), []byte(table), 0o644)
}

// chaosVerdict fails on the first scenario that did not pass (exit code 1).
func chaosVerdict(rs []chaos.Result) error {
	for _, r := range rs {
		if !r.Passed() {
			return fmt.Errorf("chaos: scenario %s lost %d acknowledged writes and failed %d reads; problems: %s",
				r.Scenario, r.LostWrites, r.FailedReads, strings.Join(append([]string{"none"}, r.Problems...)[min(1, len(r.Problems)):], "; "))
		}
	}
	return nil
}

func newBenchChaosCmd() *cobra.Command {
	var cfg chaos.Config
	var scenarios, out, docs string
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Run the node-level fault scenarios under load and report lost writes and failed reads",
		Long: `For each scenario (kill9, sigstop, restart), start three disk-backed devnodes
and a director (rmf processes), run a continuous riak-go-client
write-then-read load through the director, and inject the fault into the
second node a quarter into --duration: kill -9 and a restart on its data 5 s
later; SIGSTOP for --stop-for, then SIGCONT; SIGTERM and an immediate
restart. Afterwards every acknowledged write is read back.

Prints a table of writes, reads, failed writes, failed reads, lost
acknowledged writes, recovery time (fault to the last failed operation) and
the slowest operation; --out receives chaos.json and chaos.md;
--update-docs rewrites the table in that Markdown file (between its chaos
markers). Exits 1 when a scenario lost an acknowledged write or failed a
read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Scenarios, err = chaosScenarios(scenarios); err != nil {
				return err
			}
			if cfg.Bin == "" {
				exe, err := os.Executable()
				if err != nil {
					return err
				}
				cfg.Bin = exe
			}
			cfg.Log = cmd.ErrOrStderr()
			started := time.Now().UTC()
			rs, err := chaos.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			table, err := chaosReport(cfg, started, rs)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), table)
			if err := writeChaosOut(out, rs, table); err != nil {
				return err
			}
			if docs != "" {
				if err := chaos.ReplaceSection(docs, chaos.TableBegin, chaos.TableEnd, table); err != nil {
					return err
				}
			}
			return chaosVerdict(rs)
		},
	}
	f := cmd.Flags()
	f.StringVar(&scenarios, "scenarios", strings.Join(chaos.Scenarios, ","), "scenarios to run, comma-separated")
	f.DurationVar(&cfg.Duration, "duration", 30*time.Second, "load time per scenario (the fault comes a quarter in)")
	f.DurationVar(&cfg.StopFor, "stop-for", 10*time.Second, "how long sigstop freezes the node")
	f.DurationVar(&cfg.AgentDown, "agent-down", 10*time.Second, "how long the agent scenario keeps the agent stopped")
	f.DurationVar(&cfg.AgentTimeout, "agent-timeout", time.Minute, "the schedulers' --agent-timeout in the framework scenarios")
	f.DurationVar(&cfg.ZKOutage, "zk-outage", 60*time.Second, "how long the zookeeper scenarios keep ZooKeeper down")
	f.DurationVar(&cfg.PartitionFor, "partition-for", 20*time.Second, "how long the partition scenarios cut one executor off from ZooKeeper")
	f.IntVar(&cfg.Workers, "workers", 16, "concurrent clients")
	f.DurationVar(&cfg.TryTimeout, "try-timeout", 500*time.Millisecond, "the director's --try-timeout in the node scenarios (the framework scenarios' director has its default: the request's remaining time)")
	f.StringVar(&cfg.Bin, "bin", "", "rmf binary for the devnodes and the director (default: this one)")
	f.StringVar(&cfg.Dir, "dir", "", "keep node data and process logs here (default: a temporary directory)")
	f.StringVar(&out, "out", "", "write chaos.json and chaos.md here")
	f.StringVar(&docs, "update-docs", "", "rewrite the generated table in this Markdown file (docs/reliability.md)")
	return annotateEnv(cmd)
}

func orDefaultInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func orDefaultDur(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}
