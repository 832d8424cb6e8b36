package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/director"
)

// directorShutdownTimeout bounds the graceful part of a director's shutdown.
const directorShutdownTimeout = 30 * time.Second

func newDirectorCmd() *cobra.Command {
	var pbAddr, httpAddr, adminAddr, zk, framework, cluster, policyName string
	var zkAuthF zkAuthFlags
	var nodes []string
	var cfg director.Config
	cmd := &cobra.Command{
		Use:   "director",
		Short: "Run the director: a Riak PB sidecar that balances each request across the cluster",
		Long: `Run the director. Applications point their Riak PB client at --pb; each
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
30s) and exits 0.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case zk != "" && len(nodes) > 0:
				return usageErrorf("director: give either --node or --zk, not both")
			case zk != "" && cluster == "":
				return usageErrorf("director: --zk needs --cluster")
			case zk == "" && len(nodes) == 0:
				return usageErrorf("director: give at least one --node PBADDR,HTTPADDR, or --zk with --cluster")
			}
			specs, err := parseNodes(nodes)
			if err != nil {
				return err
			}
			if cfg.Policy, err = balancer.PolicyByName(policyName); err != nil {
				return usageErrorf("--policy: %v", err)
			}
			if err := cfg.Validate(); err != nil {
				return usageErrorf("%v", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			cfg.Logger = log
			p, err := director.NewProxy(cfg)
			if err != nil {
				return usageErrorf("%v", err)
			}
			ctx := cmd.Context()
			p.SetNodes(specs)
			var disc *director.Discovery
			if zk != "" {
				zkAuth, err := zkAuthF.resolve()
				if err != nil {
					return err
				}
				store, fw, err := connectZK(ctx, log, "director", zk, zkAuth, framework)
				if err != nil {
					return err
				}
				defer store.Close()
				disc = &director.Discovery{}
				if err := disc.WatchZooKeeper(ctx, fw, cluster, p, log); err != nil {
					return fmt.Errorf("director: watch cluster %s: %w", cluster, err)
				}
			}
			ln, err := net.Listen("tcp", pbAddr)
			if err != nil {
				_ = p.Close()
				return fmt.Errorf("director: %w", err)
			}
			var hsrv *http.Server
			var herrc chan error // receives only if the HTTP listener fails
			if httpAddr != "" {
				hln, err := net.Listen("tcp", httpAddr)
				if err != nil {
					_ = ln.Close()
					_ = p.Close()
					return fmt.Errorf("director: %w", err)
				}
				hsrv, herrc = newDirectorHTTPServer(p, log, httpHeaderTimeout), make(chan error, 1)
				go func() {
					if err := hsrv.Serve(hln); !errors.Is(err, http.ErrServerClosed) {
						herrc <- fmt.Errorf("director: http: %w", err)
					}
				}()
				log.Info("director listening", "http", hln.Addr().String())
			}
			if adminAddr != "" {
				aln, err := net.Listen("tcp", adminAddr)
				if err != nil {
					_ = ln.Close()
					_ = p.Close()
					return fmt.Errorf("director: admin: %w", err)
				}
				asrv := &http.Server{Handler: p.AdminHandler(disc), ReadHeaderTimeout: 10 * time.Second}
				go func() { _ = asrv.Serve(aln) }()
				defer asrv.Close()
				log.Info("director listening", "admin", aln.Addr().String())
			}
			log.Info("director listening", "pb", ln.Addr().String(), "static_nodes", len(specs), "zk", zk, "policy", policyName)
			// Serve on a context of its own: the signal (ctx) starts a
			// graceful Shutdown, which then ends Serve.
			errc := make(chan error, 1)
			go func() { errc <- p.Serve(context.WithoutCancel(ctx), ln) }()
			served := false
			select {
			case err = <-errc:
				served = true
			case err = <-herrc:
			case <-ctx.Done():
				log.Info("director shutting down", "grace", directorShutdownTimeout)
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), directorShutdownTimeout)
			defer cancel()
			hdone := make(chan error, 1)
			if hsrv != nil {
				// The HTTP server and the proxy drain together: the proxy
				// waits for the HTTP requests in flight too.
				go func() {
					herr := hsrv.Shutdown(sctx)
					if herr != nil {
						_ = hsrv.Close()
					}
					hdone <- herr
				}()
			} else {
				hdone <- nil
			}
			serr := p.Shutdown(sctx)
			if herr := <-hdone; serr == nil {
				serr = herr
			}
			if !served {
				if perr := <-errc; err == nil { // err: the HTTP listener's failure
					err = perr
				}
			}
			if errors.Is(err, director.ErrProxyClosed) {
				err = nil
			}
			if err == nil {
				err = serr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&pbAddr, "pb", defaultPBAddr, "Protocol Buffers listen address")
	f.StringVar(&httpAddr, "http", defaultHTTPAddr, "Riak HTTP API listen address (empty: no HTTP proxy)")
	f.StringVar(&adminAddr, "admin", defaultAdminAddr, "admin listen address: status page, /status, /metrics, /health (empty: off)")
	f.StringVar(&cfg.AdminToken, "api-token", "", "bearer token required on the admin listener but /health (browsers: ?token=...; empty: none)")
	f.StringArrayVar(&nodes, "node", nil, "static backend node PBADDR,HTTPADDR (repeatable; instead of --zk)")
	f.StringVar(&zk, "zk", "", "ZooKeeper servers host:port[,host:port...] for node discovery (instead of --node)")
	zkAuthF.register(f)
	f.StringVar(&framework, "framework", defaultFramework, "framework name in ZooKeeper")
	f.StringVar(&cluster, "cluster", "", "cluster name in ZooKeeper")
	f.StringVar(&policyName, "policy", balancer.PolicyLeastOutstanding, "balancing policy: least-outstanding, round-robin or p2c")
	f.IntVar(&cfg.MaxConns, "max-conns", 0, "maximum client connections; more wait to be accepted (0: no limit)")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "close client connections idle this long (0: never)")
	f.DurationVar(&cfg.RequestTimeout, "request-timeout", director.DefaultRequestTimeout, "bound on one request, retries included")
	f.DurationVar(&cfg.TryTimeout, "try-timeout", 0, "bound on one attempt's wait for the start of its answer; a retryable request then fails over (0: the request's remaining time)")
	f.DurationVar(&cfg.DialTimeout, "dial-timeout", director.DefaultDialTimeout, "bound on dialing a Riak node")
	f.DurationVar(&cfg.HealthInterval, "health-interval", director.DefaultHealthInterval, "period of the active RpbPingReq check of each node (negative: off)")
	f.IntVar(&cfg.MaxFrameSize, "max-frame-size", 0, "maximum PB frame size in bytes (0: 64 MiB)")
	return annotateEnv(cmd)
}

// Limits of the director's HTTP listener against slow or bloated clients.
const (
	httpHeaderTimeout = 10 * time.Second // a client has this long to send its headers (slowloris)
	httpMaxHeader     = 1 << 20          // larger headers get 431
)

// newDirectorHTTPServer serves p's HTTP proxy. No read or write timeout:
// bodies may be large and listings stream for long (the proxy's
// RequestTimeout bounds each request); slow headers and idle connections
// are bounded.
func newDirectorHTTPServer(p *director.Proxy, log *slog.Logger, headerTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           p.HTTPHandler(),
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    httpMaxHeader,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
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
