package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/director"
	"github.com/rmf-go/rmf/internal/zkstate"
)

func newDirectorCmd() *cobra.Command {
	var pbAddr, httpAddr, adminAddr, zk, framework, cluster, policyName string
	var nodes []string
	var cfg director.Config
	cmd := &cobra.Command{
		Use:   "director",
		Short: "Run the director: a Riak PB sidecar that balances each request across the cluster",
		Long: `Run the director. Applications point their Riak PB client at --pb; each
request is balanced onto a healthy node (per request, not per connection),
with circuit breakers, active health checks and safe retries. See
docs/director.md.

Nodes come from --node (static) or from ZooKeeper (--zk, --framework,
--cluster: the cluster's live nodes, as executors register them). In this
build the HTTP proxy (--http) and the admin listener (--admin) are not
available yet.`,
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
			var specs []balancer.NodeSpec
			for _, n := range nodes {
				pb, httpA, _ := strings.Cut(n, ",")
				if _, _, err := net.SplitHostPort(pb); err != nil {
					return usageErrorf("--node %q: PB address: %v", n, err)
				}
				specs = append(specs, balancer.NodeSpec{ID: pb, PBAddr: pb, HTTPAddr: httpA})
			}
			policy, err := balancer.PolicyByName(policyName)
			if err != nil {
				return usageErrorf("%v", err)
			}
			if err := cfg.Validate(); err != nil {
				return usageErrorf("%v", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			cfg.Logger = log
			p, err := director.NewProxy(cfg, policy, balancer.BreakerSettings{
				OnStateChange: func(node string, from, to balancer.BreakerState) {
					log.Info("breaker", "node", node, "from", from, "to", to)
				},
			})
			if err != nil {
				return err
			}
			p.SetNodes(specs)
			ctx := cmd.Context()
			if zk != "" {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				store, err := zkstate.Connect(cctx, strings.Split(zk, ","), zkstate.WithLogger(log))
				cancel()
				if err != nil {
					return fmt.Errorf("director: connect to ZooKeeper %s: %w", zk, err)
				}
				defer store.Close()
				fw, err := store.Framework(framework)
				if err != nil {
					return usageErrorf("--framework: %v", err)
				}
				var d director.Discovery
				if err := d.WatchZooKeeper(ctx, fw, cluster, p, log); err != nil {
					return fmt.Errorf("director: watch cluster %s: %w", cluster, err)
				}
			}
			ln, err := net.Listen("tcp", pbAddr)
			if err != nil {
				return fmt.Errorf("director: %w", err)
			}
			log.Info("director listening", "pb", ln.Addr().String(), "static_nodes", len(specs), "zk", zk, "policy", policyName)
			errc := make(chan error, 1)
			go func() { errc <- p.Serve(ctx, ln) }()
			select {
			case err = <-errc:
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if serr := p.Shutdown(sctx); err == nil {
				err = serr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&pbAddr, "pb", defaultPBAddr, "Protocol Buffers listen address")
	f.StringVar(&httpAddr, "http", defaultHTTPAddr, "HTTP listen address (HTTP proxy not available yet)")
	f.StringVar(&adminAddr, "admin", defaultAdminAddr, "admin listen address (not available yet)")
	f.StringArrayVar(&nodes, "node", nil, "static backend node PBADDR,HTTPADDR (repeatable; instead of --zk)")
	f.StringVar(&zk, "zk", "", "ZooKeeper servers host:port[,host:port...] for node discovery")
	f.StringVar(&framework, "framework", defaultFramework, "framework name in ZooKeeper")
	f.StringVar(&cluster, "cluster", "", "cluster name in ZooKeeper")
	f.StringVar(&policyName, "policy", balancer.PolicyLeastOutstanding, "balancing policy: least-outstanding, round-robin or p2c")
	f.IntVar(&cfg.MaxConns, "max-conns", 0, "maximum client connections (0: no limit)")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "close client connections idle this long (0: never)")
	f.DurationVar(&cfg.RequestTimeout, "request-timeout", 10*time.Second, "bound on one request, retries included")
	f.IntVar(&cfg.MaxFrameSize, "max-frame-size", 0, "maximum PB frame size in bytes (0: 64 MiB)")
	return annotateEnv(cmd)
}
