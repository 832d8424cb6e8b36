package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmf-go/rmf/internal/standin/devnode"
)

func newDevnodeCmd() *cobra.Command {
	var cfg devnode.Config
	var bucketTypes []string
	var sync bool
	cmd := &cobra.Command{
		Use:   "devnode",
		Short: "Run a Riak-protocol development node (a stand-in for Riak KV; not Riak)",
		Long: `Run a development node that speaks Riak KV's Protocol Buffers and HTTP APIs
with Riak KV's semantics, so Riak clients work against it unchanged. It stands
in for Riak KV where Riak is not installed; it is not Riak (see docs/devnode.md).

The node is ready when its PB port answers RpbPingReq. SIGTERM or SIGINT
finishes in-flight requests, flushes and exits 0. "rmf devnode leave" hands
the node's data to the other members, removes it from the cluster, and the
node then exits 0 (as "riak admin cluster leave" does).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.NoSync = !sync
			cfg.BucketTypes = map[string]string{}
			for _, bt := range bucketTypes {
				name, props, ok := strings.Cut(bt, "=")
				if !ok || name == "" {
					return usageErrorf("--bucket-type %q: want NAME=JSON", bt)
				}
				cfg.BucketTypes[name] = props
			}
			if err := cfg.Validate(); err != nil {
				return usageErrorf("%v", err)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			ctx := cmd.Context()
			node, err := devnode.Start(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "devnode %s ready: pb %s http %s\n", cfg.Name, node.PBAddr(), node.HTTPAddr())
			select {
			case <-ctx.Done():
			case <-node.Cluster().Left():
				fmt.Fprintf(cmd.OutOrStdout(), "devnode %s left its cluster; stopping\n", cfg.Name)
			}
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return node.Shutdown(sctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Name, "name", "dev1@127.0.0.1", "Riak node name (name@host)")
	f.StringVar(&cfg.PBAddr, "pb", "127.0.0.1:10017", "Protocol Buffers listen address")
	f.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:10018", "HTTP listen address")
	f.StringVar(&cfg.DataDir, "data", "", "data directory: identity, membership and data (required)")
	f.StringVar(&cfg.Backend, "backend", "memory", "storage backend: memory or disk (bbolt)")
	f.StringVar(&cfg.Join, "join", "", "PB address of a node of the cluster to join")
	f.IntVar(&cfg.RingSize, "ring-size", 64, "number of ring partitions of a new cluster (power of two)")
	f.StringArrayVar(&bucketTypes, "bucket-type", nil, `create and activate a bucket type cluster-wide: NAME=JSON, e.g. maps='{"props":{"allow_mult":true}}' (repeatable)`)
	f.BoolVar(&sync, "sync", true, "disk backend: fsync before acknowledging a write (--sync=false trades durability for speed)")
	cmd.AddCommand(newDevnodeLeaveCmd())
	return annotateEnv(cmd)
}

// newDevnodeLeaveCmd is the devnode's "riak admin cluster leave".
func newDevnodeLeaveCmd() *cobra.Command {
	var pb string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "leave",
		Short: "Make a devnode leave its cluster: hand off its data, then it exits",
		Long: `Ask the devnode at --pb to leave its cluster. It sends every object it holds
to the members that own it without it, records itself as left with every
member, then exits; the command returns when the handoff is done. The last
member of a cluster cannot leave. A node that left refuses to start again on
the same data directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, err := devnode.RequestLeave(ctx, pb)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "left: %d objects handed off", res.HandedOff)
			if len(res.Unreachable) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "; not confirmed by %s (they learn it when back)", strings.Join(res.Unreachable, ", "))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().StringVar(&pb, "pb", "127.0.0.1:10017", "PB address of the devnode that leaves")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait for the handoff")
	return annotateEnv(cmd)
}
