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

	"github.com/rmf-go/rmf/erlpmd"
	"github.com/rmf-go/rmf/internal/zkstate"
)

func newErlpmdCmd() *cobra.Command {
	var listen, zkServers, framework, host string
	var zkAuthF zkAuthFlags
	var allowStop bool
	cmd := &cobra.Command{
		Use:   "erlpmd",
		Short: "Run an EPMD replacement whose registry is ZooKeeper",
		Long: `Run an EPMD (Erlang Port Mapper Daemon) replacement. Erlang nodes register
with it as with epmd (point them at it with ERL_EPMD_PORT); registrations live
in ZooKeeper as ephemeral znodes, so a node registered through one erlpmd is
found through any other. See docs/erlpmd.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if zkServers == "" {
				return usageErrorf("--zk is required")
			}
			if err := zkstate.ValidateName(framework); err != nil {
				return usageErrorf("--framework: %v", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			ctx := cmd.Context()
			zkAuth, err := zkAuthF.resolve()
			if err != nil {
				return err
			}
			store, fw, err := connectZK(ctx, log, "erlpmd", zkServers, zkAuth, framework)
			if err != nil {
				return err
			}
			defer store.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("erlpmd: %w", err)
			}
			srv := &erlpmd.Server{Registry: fw, Host: host, AllowStop: allowStop, Logger: log}
			log.Info("erlpmd listening", "addr", ln.Addr().String(), "framework", framework)
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ctx, ln) }()
			select {
			case err = <-errc:
			case <-ctx.Done():
			}
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			if serr := srv.Shutdown(sctx); err == nil {
				err = serr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:4369", "EPMD listen address")
	f.StringVar(&zkServers, "zk", "", "ZooKeeper servers host:port[,host:port...] (required)")
	zkAuthF.register(f)
	f.StringVar(&framework, "framework", defaultFramework, "framework name in ZooKeeper")
	f.StringVar(&host, "host", "", "host published for nodes registered here (default: the listen IP)")
	f.BoolVar(&allowStop, "allow-stop", false, "accept KILL_REQ and STOP_REQ (refused by default, as epmd does)")
	cmd.AddCommand(newErlFlagsCmd())
	return annotateEnv(cmd)
}

// newErlFlagsCmd is `rmf erlpmd erl-flags`: the erl flags that route an
// Erlang node's registration and every lookup through a local erlpmd.
func newErlFlagsCmd() *cobra.Command {
	var port int
	var dir, erlc string
	cmd := &cobra.Command{
		Use:   "erl-flags --port P --dir D",
		Short: "Print the erl flags that make a node register with and look every node up through the erlpmd at 127.0.0.1:P",
		Long: `Write the rmf_epmd Erlang module into D, compile it there with erlc, and
print on one line the erl flags that make an Erlang node register with the
erlpmd at 127.0.0.1:P and look every other node up through it (erl's
-epmd_module): Erlang then finds nodes on other hosts, each with an erlpmd
of its own on its own port, through the registry they share. See
docs/erlpmd.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if port < 1 || port > 65535 {
				return usageErrorf("--port %d: want the local erlpmd's port (1-65535)", port)
			}
			if dir == "" {
				return usageErrorf("--dir is required")
			}
			flags, err := erlpmd.ErlFlags(cmd.Context(), erlc, dir, port)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.Join(flags, " "))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 0, "the local erlpmd's port (required)")
	f.StringVar(&dir, "dir", "", "directory for the compiled module (required)")
	f.StringVar(&erlc, "erlc", "", "the Erlang compiler to use (default: erlc in $PATH; for Riak, the release's erts-*/bin/erlc)")
	return annotateEnv(cmd)
}
