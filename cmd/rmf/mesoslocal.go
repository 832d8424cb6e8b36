package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
)

func newMesosLocalCmd() *cobra.Command {
	var cfg mesoslocal.Config
	var listen, credentials string
	cmd := &cobra.Command{
		Use:   "mesos-local",
		Short: "Run a local Mesos master and agents on the v1 HTTP API (a stand-in for Mesos; not Mesos)",
		Long: `Run a Mesos master and --agents agents in one process, speaking the Mesos v1
scheduler API (POST /api/v1/scheduler on --listen) and the v1 executor API (one
listener per agent), in protobuf and JSON. Each agent has its own loopback
address (agent N is 127.0.0.(N+1) unless --agent-addresses says otherwise),
offered as its hostname and IP, so nodes of different agents bind different
addresses as on a real cluster; each also has its own port range (some
listeners, such as Erlang distribution, bind every address). Agents run
executors as local processes in sandboxes under --work-dir, where persistent
volumes also live. GET /state shows frameworks,
agents, tasks, reservations and volumes; POST /faults/... injects failures.

With --credentials (a file in the format of Mesos' --credentials: JSON
{"credentials":[{"principal":"p","secret":"s"}]} or "principal secret" lines)
the scheduler API requires HTTP Basic authentication, as Mesos' does with
--authenticate_http_frameworks: 401 without a valid credential, 400 for a
SUBSCRIBE whose FrameworkInfo.principal is not the authenticated principal.

It is a development and test stand-in for Apache Mesos, not Mesos. See
docs/mesos-local.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.WorkDir == "" {
				return usageErrorf("--work-dir is required")
			}
			if cfg.Agents < 1 {
				return usageErrorf("--agents must be at least 1")
			}
			if credentials != "" {
				creds, err := mesoslocal.ReadCredentials(credentials)
				if err != nil {
					return usageErrorf("--credentials: %v", err)
				}
				cfg.Credentials = creds
			}
			if err := cfg.Validate(); err != nil {
				return usageErrorf("%v", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			cfg.Logger = log
			if fi, err := os.Stat(credentials); err == nil && fi.Mode().Perm()&0o004 != 0 {
				log.Warn("credentials file is readable by everyone; chmod 600 it", "file", credentials)
			}
			if len(cfg.Credentials) > 0 {
				log.Info("scheduler API requires HTTP Basic authentication", "principals", len(cfg.Credentials))
			}
			m, err := mesoslocal.New(cfg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				_ = m.Close()
				return fmt.Errorf("mesos-local: %w", err)
			}
			errc := make(chan error, 1)
			go func() { errc <- m.Serve(ln) }()
			ctx := cmd.Context()
			select {
			case err = <-errc:
			case <-ctx.Done():
				log.Info("mesos-local shutting down: killing executors")
			}
			cerr := m.Close()
			if err == nil {
				err = <-errc
			}
			if errors.Is(err, mesoslocal.ErrClosed) {
				err = nil
			}
			if err == nil {
				err = cerr
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", defaultMesosAddr, "master listen address")
	f.IntVar(&cfg.Agents, "agents", mesoslocal.DefaultAgents, "number of agents")
	f.StringVar(&cfg.WorkDir, "work-dir", "", "work directory for agents, sandboxes and volumes (required)")
	f.StringVar(&cfg.AgentResources, "agent-resources", mesoslocal.DefaultAgentResources, "resources of each agent, Mesos syntax; agent N's port ranges are shifted down by N-1 widths")
	f.StringSliceVar(&cfg.AgentAddresses, "agent-addresses", nil, "the agents' own IP addresses, one per agent in order, comma-separated (default 127.0.0.2, 127.0.0.3, ...)")
	f.StringArrayVar(&cfg.AgentAttributes, "agent-attributes", nil, "agent attributes, e.g. rack:r1;zone:a (once for all agents, or once per agent in order)")
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat-interval", mesoslocal.DefaultHeartbeatInterval, "HEARTBEAT period on scheduler streams")
	f.StringVar(&credentials, "credentials", "", `file of credentials the scheduler API requires (HTTP Basic), Mesos' format: JSON {"credentials":[{"principal":"p","secret":"s"}]} or "principal secret" lines (default: no authentication)`)
	f.DurationVar(&cfg.StatusRetryInterval, "status-retry-interval", mesoslocal.DefaultStatusRetryInterval, "resend an unacknowledged status update after this long")
	return annotateEnv(cmd)
}
