package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/director"
	"github.com/rmf-go/rmf/internal/autoprocs"
	"github.com/rmf-go/rmf/internal/procmem"
)

// directorShutdownTimeout bounds the graceful part of a director's shutdown.
const directorShutdownTimeout = 30 * time.Second

// directorLong is `rmf director --help`.
const directorLong = `Run the director. Applications point their Riak PB client at --pb; each
request (not each connection) is balanced onto a healthy node over pooled
backend connections, with circuit breakers, active health checks and
failover of requests that are safe to retry. See docs/director.md.

Nodes come from --node PBADDR,HTTPADDR (repeatable; the node ID is the PB
address) or from ZooKeeper (--zk, --framework, --cluster: the cluster's live
nodes, as executors register them).

Applications using Riak's HTTP API point at --http (empty: off): each
request is balanced the same way, headers and streamed answers relayed as
they come; GET and HEAD fail over to another node, writes only when the node
never received them.

The admin listener (--admin; empty: off) serves a live status page at /,
GET /status (JSON: nodes, breakers, latency, connections, discovery),
GET /metrics (Prometheus) and GET /health (200 when a node is available).

SIGINT or SIGTERM stops accepting, lets in-flight requests finish (at most
30s) and exits 0.`

// directorOpts are the flags of `rmf director`.
type directorOpts struct {
	pbAddr, httpAddr, adminAddr string
	zk, framework, cluster      string
	zkAuth                      zkAuthFlags
	tls                         tlsFlags
	policyName                  string
	nodes                       []string
	procs                       string
	procsChanged                bool // --procs given
	cfg                         director.Config
}

func newDirectorCmd() *cobra.Command {
	var o directorOpts
	cmd := &cobra.Command{
		Use:   "director",
		Short: "Run the director: a Riak PB sidecar that balances each request across the cluster",
		Long:  directorLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.procsChanged = cmd.Flags().Changed("procs")
			return runDirector(cmd.Context(), &o)
		},
	}
	o.register(cmd.Flags())
	return annotateEnv(cmd)
}

func (o *directorOpts) register(f *pflag.FlagSet) {
	f.StringVar(&o.pbAddr, "pb", defaultPBAddr, "Protocol Buffers listen address (empty: no PB listener)")
	f.StringVar(&o.httpAddr, "http", defaultHTTPAddr, "Riak HTTP API listen address (empty: no HTTP proxy)")
	f.StringVar(&o.adminAddr, "admin", defaultAdminAddr, "admin listen address: status page, /status, /metrics, /health (empty: off)")
	f.StringVar(&o.cfg.AdminToken, "api-token", "", "bearer token required on the admin listener but /health (browsers: ?token=...; empty: none)")
	f.StringVar(&o.procs, "procs", procsAuto, "CPUs the director runs Go code on at once (GOMAXPROCS): auto (one while it uses less than half a CPU, every CPU above: one costs the least CPU per request at a sidecar's load, more serve a saturating one), N, or 0 (every CPU); a GOMAXPROCS environment variable wins over the default")
	f.StringArrayVar(&o.nodes, "node", nil, "static backend node PBADDR,HTTPADDR (repeatable; instead of --zk)")
	f.StringVar(&o.zk, "zk", "", "ZooKeeper servers host:port[,host:port...] for node discovery (instead of --node)")
	o.zkAuth.register(f)
	o.tls.register(f, "the HTTP and admin listeners (not PB)")
	f.StringVar(&o.framework, "framework", defaultFramework, "framework name in ZooKeeper")
	f.StringVar(&o.cluster, "cluster", "", "cluster name in ZooKeeper")
	f.StringVar(&o.policyName, "policy", balancer.PolicyPeakEWMA, "balancing policy: peak-ewma (latency-aware), least-outstanding, round-robin or p2c")
	f.DurationVar(&o.cfg.HedgeDelay, "hedge-delay", director.DefaultHedgeDelay, "least wait before a slow read is also sent to a second node (the 90th percentile of the last second's latencies when longer; a read whose node answers other requests waits twice that; negative: no hedging)")
	f.Float64Var(&o.cfg.HedgeBudget, "hedge-budget", director.DefaultHedgeBudget, "hedged reads as a fraction of requests, at most (plus a burst of 10; negative: no hedging)")
	f.StringVar(&o.cfg.ConfirmNotFound, "confirm-notfound", director.ConfirmTransitions, "ask a GET's \"not found\" again of another node (r=1, notfound_ok=false) before answering: transitions (while a node is restarting or handing off), always or never")
	f.StringVar(&o.cfg.RetryWrites, "retry-writes", director.RetryWritesBrokenConn, "send a put or delete that may have reached a node to another one: broken-conn (an unconditional put or a delete whose node broke the connection before answering; never after a timeout) or never")
	f.Float64Var(&o.cfg.ConfirmBudget, "confirm-budget", director.DefaultConfirmBudget, "not-found confirmations as a fraction of GETs, at most (plus a burst of 50)")
	f.DurationVar(&o.cfg.TransitionSettle, "transition-settle", director.DefaultTransitionSettle, "how long a node that failed a check or a request, or joined, counts as in transition (its partitions may still be handed back)")
	f.IntVar(&o.cfg.Outliers.ConsecutiveFailures, "eject-after-failures", balancer.DefaultConsecutiveFailures, "eject a node as an outlier after this many transport failures in a row (negative: never)")
	f.Float64Var(&o.cfg.Outliers.LatencyFactor, "eject-latency-factor", balancer.DefaultLatencyFactor, "eject a node whose latency is this many times its peers' median, and at least 10ms (negative: never)")
	f.IntVar(&o.cfg.Outliers.StallEpisodes, "eject-after-stalls", balancer.DefaultStallEpisodes, "eject a node seen stalled (requests in flight, none answered for longer than 90% of requests take) this many separate times in a second while its peers were not (negative: never)")
	f.Float64Var(&o.cfg.Outliers.StalledShare, "eject-stalled-share", balancer.DefaultStalledShare, "eject a node stalled (as --eject-after-stalls says) for this share of a second and three times its peers' median share, however often its peers stall (0 to 1; off with --eject-after-stalls negative)")
	f.DurationVar(&o.cfg.Outliers.BaseEjection, "eject-for", balancer.DefaultBaseEjection, fmt.Sprintf("how long an outlier's first ejection lasts (the k-th in a row lasts k times this, up to %v)", balancer.DefaultMaxEjection))
	f.IntVar(&o.cfg.MaxConns, "max-conns", 0, "maximum client connections; more wait to be accepted (0: no limit)")
	f.DurationVar(&o.cfg.IdleTimeout, "idle-timeout", 0, "close client connections idle this long (0: never)")
	f.DurationVar(&o.cfg.RequestTimeout, "request-timeout", director.DefaultRequestTimeout, "bound on one request, retries included")
	f.DurationVar(&o.cfg.TryTimeout, "try-timeout", 0, "bound on one attempt's wait for the start of its answer; an object read then fails over; writes, listings and queries wait on until --request-timeout (0: the request's remaining time)")
	f.DurationVar(&o.cfg.MetadataSettle, "metadata-settle", director.DefaultMetadataSettle, "after a client changes bucket or bucket-type properties, send every request to the node that took the change for this long (negative: only the metadata requests)")
	f.DurationVar(&o.cfg.DialTimeout, "dial-timeout", director.DefaultDialTimeout, "bound on dialing a Riak node")
	f.DurationVar(&o.cfg.HealthInterval, "health-interval", director.DefaultHealthInterval, "period of the active RpbPingReq check of each node (negative: off)")
	f.IntVar(&o.cfg.MaxFrameSize, "max-frame-size", 0, "maximum PB frame size in bytes (0: 64 MiB)")
}

// check validates the flags and returns the static nodes; its errors are
// usage errors.
func (o *directorOpts) check() ([]balancer.NodeSpec, error) {
	switch {
	case o.zk != "" && len(o.nodes) > 0:
		return nil, usageErrorf("director: give either --node or --zk, not both")
	case o.zk != "" && o.cluster == "":
		return nil, usageErrorf("director: --zk needs --cluster")
	case o.zk == "" && len(o.nodes) == 0:
		return nil, usageErrorf("director: give at least one --node PBADDR,HTTPADDR, or --zk with --cluster")
	}
	if _, _, err := directorProcs(o.procs, true, ""); err != nil {
		return nil, usageErrorf("director: %v", err)
	}
	specs, err := parseNodes(o.nodes)
	if err != nil {
		return nil, err
	}
	if o.cfg.Policy, err = balancer.PolicyByName(o.policyName); err != nil {
		return nil, usageErrorf("--policy: %v", err)
	}
	if m := o.cfg.RetryWrites; m != director.RetryWritesBrokenConn && m != director.RetryWritesNever {
		return nil, usageErrorf("--retry-writes: %q is not %s or %s", m, director.RetryWritesBrokenConn, director.RetryWritesNever)
	}
	if err := o.cfg.Validate(); err != nil {
		return nil, usageErrorf("%v", err)
	}
	return specs, nil
}

// runDirector is `rmf director`: check the flags, make the server, give
// it its nodes, listen, and serve until ctx ends (SIGINT, SIGTERM) or a
// listener fails.
func runDirector(ctx context.Context, o *directorOpts) error {
	specs, err := o.check()
	if err != nil {
		return err
	}
	// Both restored on return, for the tests that run the command in
	// their process.
	n, auto, _ := directorProcs(o.procs, o.procsChanged, os.Getenv("GOMAXPROCS"))
	if n > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	}
	if os.Getenv("GOGC") == "" {
		// A sidecar's heap is small (2-4 MB live) and allocates little
		// (2 allocations per request): collecting at half the live heap
		// rather than all of it costs a few more collections a minute
		// and keeps peak RSS 1.3 MB lower (docs/performance.md).
		defer debug.SetGCPercent(debug.SetGCPercent(directorGCPercent))
	}
	tlsCfg, err := o.tls.config()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	o.cfg.Logger = log
	var disc *director.Discovery
	if o.zk != "" {
		disc = &director.Discovery{}
	}
	srv, err := director.NewServer(director.ServerConfig{Proxy: o.cfg, Discovery: disc,
		PBAddr: o.pbAddr, HTTPAddr: o.httpAddr, AdminAddr: o.adminAddr, TLS: tlsCfg})
	if err != nil {
		return usageErrorf("%v", err)
	}
	srv.Proxy().SetNodes(specs)
	if disc != nil {
		closeZK, err := o.watchZooKeeper(ctx, log, disc, srv.Proxy())
		if err != nil {
			_ = srv.Close()
			return err
		}
		defer closeZK()
	}
	if err := srv.Start(); err != nil {
		_ = srv.Close()
		return err
	}
	logListening(log, srv, len(specs), o)
	releaseStartupPages(log)
	if auto {
		procsCtx, stopProcs := context.WithCancel(ctx)
		procsDone := make(chan struct{})
		go func() {
			defer close(procsDone)
			autoprocs.Run(procsCtx, autoprocs.Policy{}, func(procs int, use float64) {
				log.Debug("director: GOMAXPROCS changed", "procs", procs, "cpu_use", use)
			})
		}()
		defer func() { stopProcs(); <-procsDone }() // restores GOMAXPROCS
	}
	return serveDirector(ctx, log, srv)
}

// releaseStartupPages unmaps the binary's code and constants that the
// director touched while it started (every linked package's init, flag
// parsing): most of its resident set at idle, pages it never uses again
// (procmem). What it does use comes back on first use.
func releaseStartupPages(log *slog.Logger) {
	st, err := procmem.ReleaseExecutablePages()
	if err != nil {
		log.Debug("director: startup pages kept", "err", err)
		return
	}
	log.Debug("director: startup pages released", "mappings", st.Mappings, "resident_kb_before", st.Before>>10, "resident_kb_after", st.After>>10)
}

// directorGCPercent is the director's GOGC unless the environment sets one.
const directorGCPercent = 50

// procsAuto is --procs's default: GOMAXPROCS follows the load
// (autoprocs).
const procsAuto = "auto"

// directorProcs reads --procs (flag; changed: given on the command line)
// and the GOMAXPROCS environment variable (env): the GOMAXPROCS to set
// (0: leave it) and whether autoprocs sizes it instead. The default is
// auto unless env says: at a sidecar's load the director spends its CPU
// on waking up for each request, and with a second P the Go scheduler
// also wakes and spins a second thread (measured: 80-88 against 100-102
// µs of CPU per request of the riak-go-client mix), while a saturating
// load needs every CPU (docs/performance.md).
func directorProcs(flag string, changed bool, env string) (n int, auto bool, err error) {
	if !changed && env != "" {
		return 0, false, nil
	}
	if flag == procsAuto {
		return 0, true, nil
	}
	v, err := strconv.Atoi(flag)
	switch {
	case err != nil || v < 0:
		return 0, false, fmt.Errorf("--procs %s: want auto, 0 (every CPU) or a number of CPUs", flag)
	case v == 0:
		return runtime.NumCPU(), false, nil
	}
	return v, false, nil
}

// watchZooKeeper keeps p's nodes equal to the cluster's live nodes; the
// returned func closes the ZooKeeper session.
func (o *directorOpts) watchZooKeeper(ctx context.Context, log *slog.Logger, disc *director.Discovery, p *director.Proxy) (func(), error) {
	zkAuth, err := o.zkAuth.resolve()
	if err != nil {
		return nil, err
	}
	store, fw, err := connectZK(ctx, log, "director", o.zk, zkAuth, o.framework)
	if err != nil {
		return nil, err
	}
	if err := disc.WatchZooKeeper(ctx, fw, o.cluster, p, log); err != nil {
		store.Close()
		return nil, fmt.Errorf("director: watch cluster %s: %w", o.cluster, err)
	}
	return func() { store.Close() }, nil
}

func logListening(log *slog.Logger, srv *director.Server, static int, o *directorOpts) {
	if a := srv.HTTPAddr(); a != "" {
		log.Info("director listening", "http", a)
	}
	if a := srv.AdminAddr(); a != "" {
		log.Info("director listening", "admin", a)
	}
	log.Info("director listening", "pb", srv.PBAddr(), "static_nodes", static, "zk", o.zk, "policy", o.policyName)
}

// serveDirector waits for ctx to end or a listener to fail, then shuts
// srv down within directorShutdownTimeout. A listener's failure is the
// error returned, else Shutdown's.
func serveDirector(ctx context.Context, log *slog.Logger, srv *director.Server) error {
	var err error
	select {
	case err = <-srv.Failed():
	case <-ctx.Done():
		log.Info("director shutting down", "grace", directorShutdownTimeout)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), directorShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(sctx); err == nil {
		err = serr
	}
	return err
}

// parseNodes turns --node PBADDR,HTTPADDR values into node specs; the node
// ID is the PB address.
func parseNodes(nodes []string) ([]balancer.NodeSpec, error) {
	var specs []balancer.NodeSpec
	seen := map[string]bool{}
	for _, n := range nodes {
		pb, httpA, _ := strings.Cut(n, ",")
		if _, _, err := net.SplitHostPort(pb); err != nil {
			return nil, usageErrorf("--node %q: PB address: %v", n, err)
		}
		if httpA != "" {
			if _, _, err := net.SplitHostPort(httpA); err != nil {
				return nil, usageErrorf("--node %q: HTTP address: %v", n, err)
			}
		}
		if seen[pb] {
			return nil, usageErrorf("--node %q: PB address given twice", n)
		}
		seen[pb] = true
		specs = append(specs, balancer.NodeSpec{ID: pb, PBAddr: pb, HTTPAddr: httpA})
	}
	return specs, nil
}
