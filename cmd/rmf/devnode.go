package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rmf-go/rmf/internal/standin/devnode"
)

// devnodeGCPercent is the devnode's GOGC unless the environment sets one.
// A devnode allocates per request what it encodes and decodes; at Go's
// default of 100 three devnodes under a benchmark's load collect garbage
// many times a second, and that work, which a Riak node (an Erlang VM,
// collecting per process) does not do, competes for the cores with what a
// benchmark measures. 400: 12-30% more throughput, p99 20-28% lower with
// a frozen peer (2026-12-02), for a heap up to five times the live data.
const devnodeGCPercent = 400

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
			if _, set := os.LookupEnv("GOGC"); !set {
				debug.SetGCPercent(devnodeGCPercent)
			}
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
	f.DurationVar(&cfg.HandoffDelay, "handoff-delay", 0, "how long a (re)started node waits before taking its data back from the others; meanwhile it answers not found for what it lacks, as a Riak node does while its partitions are handed back")
	f.StringVar(&cfg.DeleteMode, "delete-mode", "3s", "Riak's delete_mode: keep tombstones for ever (keep), reap them at once (immediate), or after this long")
	f.DurationVar(&cfg.GossipDelay, "gossip-delay", devnode.DefaultGossipDelay, "how long bucket and bucket-type property changes take to reach the other nodes, as Riak's gossip does (0: at once)")
	f.StringArrayVar(&bucketTypes, "bucket-type", nil, `create and activate a bucket type cluster-wide: NAME=JSON, e.g. maps='{"props":{"allow_mult":true}}' (repeatable)`)
	f.BoolVar(&sync, "sync", true, "disk backend: fsync before acknowledging a write (--sync=false trades durability for speed)")
	cmd.AddCommand(newDevnodeLeaveCmd(), newDevnodeAdminCmd())
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

// adminVerbs lists the verbs of "rmf devnode admin", as riak admin spells them.
const adminVerbs = "wait-for-service, ringready, transfers, member-status, aae-status, bucket-type, cluster replace|force-replace|plan|commit"

// newDevnodeAdminCmd is the devnode's "riak admin": the same verbs, the
// same output and exit codes as Riak KV 3.2.3, so the executor drives both
// flavors alike (see docs/devnode.md).
func newDevnodeAdminCmd() *cobra.Command {
	var pb string
	var timeout, interval time.Duration
	cmd := &cobra.Command{
		Use:   "admin VERB [ARGS...]",
		Short: "The devnode's riak admin: wait-for-service, ringready, transfers, member-status, cluster ...",
		Long: `Run a riak admin verb against the devnode at --pb and print what Riak KV
3.2.3's riak admin prints, word for word:

  wait-for-service riak_kv [NODE]     poll until the node (or NODE) serves KV;
                                      exit 1 after --timeout
  ringready                           TRUE when every member has the same ring
  transfers                           "No transfers active", or the nodes
                                      "waiting to handoff N partitions"
  member-status                       the Membership table
  cluster force-replace OLD NEW       retire OLD (down) in favour of NEW
  cluster replace OLD NEW             OLD (up) hands off to the others and leaves
  cluster plan | cluster commit       no staging in the devnode: nothing to plan
  aae-status                          the AAE tables (empty: the devnode has no AAE)
  bucket-type list|status T|activate T|create T [JSON]|update T JSON

As riak admin does (through nodetool), each verb but wait-for-service ends
with the console function's return value, ok or error, and exits 0 either
way; it exits 1 when the node does not answer ("Node is not running!").`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &exitError{code: exitFailure, err: fmt.Errorf("devnode admin needs a verb: %s", adminVerbs)}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runDevnodeAdmin(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), pb, interval, args)
		},
	}
	cmd.Flags().StringVar(&pb, "pb", "127.0.0.1:10017", "PB address of the devnode to ask (HOST:PORT)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long a verb may take (wait-for-service waits this long)")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "wait-for-service: time between polls")
	return annotateEnv(cmd)
}

func runDevnodeAdmin(ctx context.Context, out, errOut io.Writer, pb string, interval time.Duration, args []string) error {
	if _, _, err := net.SplitHostPort(pb); err != nil {
		return usageErrorf("--pb %q: want HOST:PORT", pb)
	}
	fail := func(format string, a ...any) error {
		return &exitError{code: exitFailure, err: fmt.Errorf(format, a...)}
	}
	// notRunning prints riak admin's line for a node that does not answer.
	notRunning := func(err error) error {
		if errors.Is(err, devnode.ErrNotRunning) {
			fmt.Fprint(out, devnode.NotRunning)
		}
		return &exitError{code: exitFailure, err: err}
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "wait-for-service", "wait_for_service":
		if len(rest) < 1 || len(rest) > 2 {
			return fail("usage: devnode admin wait-for-service <service_name> [<target_node>]")
		}
		node := ""
		if len(rest) == 2 {
			if err := devnode.ValidateNodeName(rest[1]); err != nil {
				return fail("%v", err)
			}
			node = rest[1]
		}
		if devnode.WaitForService(ctx, pb, rest[0], node, interval, func(l string) { fmt.Fprint(out, l) }) {
			return nil
		}
		return fail("%s is not up after the --timeout", rest[0])
	case "ringready":
		if len(rest) != 0 {
			return fail("usage: devnode admin ringready")
		}
		rr, err := devnode.CheckRingReady(ctx, pb)
		if err != nil {
			return notRunning(err)
		}
		fmt.Fprint(out, rr.Format())
		return nil
	case "transfers":
		if len(rest) != 0 {
			return fail("usage: devnode admin transfers")
		}
		tr, err := devnode.CheckTransfers(ctx, pb)
		if err != nil {
			return notRunning(err)
		}
		fmt.Fprint(out, tr.Format())
		return nil
	case "member-status", "member_status":
		if len(rest) != 0 {
			return fail("usage: devnode admin member-status")
		}
		rows, err := devnode.MemberStatus(ctx, pb)
		if err != nil {
			return notRunning(err)
		}
		fmt.Fprint(out, devnode.FormatMemberStatus(rows))
		return nil
	case "cluster":
		return runDevnodeAdminCluster(ctx, out, errOut, pb, rest, fail, notRunning)
	case "aae-status", "aae_status", "bucket-type", "bucket_type":
		return runDevnodeAdminOps(ctx, out, pb, verb, rest, fail, notRunning)
	}
	return fail("devnode admin: unknown verb %q (want %s)", verb, adminVerbs)
}

func runDevnodeAdminCluster(ctx context.Context, out, errOut io.Writer, pb string, args []string, fail func(string, ...any) error, notRunning func(error) error) error {
	if len(args) == 0 {
		return fail("usage: devnode admin cluster replace|force-replace OLD NEW | plan | commit")
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "replace", "force-replace":
		if len(rest) != 2 {
			return fail("usage: devnode admin cluster %s <node1> <node2>", sub)
		}
		for _, n := range rest {
			if err := devnode.ValidateNodeName(n); err != nil {
				return fail("%v", err)
			}
		}
		force := sub == "force-replace"
		outcome, reason, err := devnode.Replace(ctx, pb, rest[0], rest[1], force)
		if err != nil {
			return notRunning(err)
		}
		if reason != "" {
			fmt.Fprintln(errOut, "devnode admin cluster", sub+":", reason) // Riak's "see log for details"
		}
		fmt.Fprint(out, devnode.FormatReplace(outcome, rest[0], rest[1], force))
		return nil
	case "plan", "commit":
		if len(rest) != 0 {
			return fail("usage: devnode admin cluster %s", sub)
		}
		if _, err := devnode.AdminStatus(ctx, pb); err != nil {
			return notRunning(err)
		}
		if sub == "plan" {
			fmt.Fprint(out, devnode.FormatPlan())
		} else {
			fmt.Fprint(out, devnode.FormatCommit())
		}
		return nil
	default:
		return fail("devnode admin cluster: unknown verb %q (want replace, force-replace, plan, commit)", sub)
	}
}
