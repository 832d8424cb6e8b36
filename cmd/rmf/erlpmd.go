package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
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
	return annotateEnv(cmd)
}
