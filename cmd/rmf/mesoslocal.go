package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// zkContender publishes mesos-local's masters in ZooKeeper as Mesos does.
type zkContender struct {
	ctx  context.Context
	st   *zkstate.Store
	path string
}

func (c zkContender) Contend(info []byte) (func() error, error) {
	return c.st.ContendMesosMaster(c.ctx, c.path, info)
}

func newMesosLocalCmd() *cobra.Command {
	var cfg mesoslocal.Config
	var listen, credentials, standby, zkURL string
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

With --standby-listen a second master serves there, sharing the first one's
state; the first leads. The one that does not lead answers the scheduler API
with 307 Temporary Redirect to the leader, as Mesos does; POST
/faults/leader/move (on either) hands leadership to the other, ending every
scheduler stream. With --zk zk://host:port[,host:port]/path the masters are
published in ZooKeeper as Mesos publishes them (json.info_<seq>, the lowest
leads), so "rmf scheduler --master zk://..." finds the leader.

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
			ctx := cmd.Context()
			if zkURL != "" {
				z, err := zkstate.ParseMesosZK(zkURL)
				if err != nil {
					return usageErrorf("--zk: %v", err)
				}
				opts := []zkstate.Option{zkstate.WithLogger(log)}
				if z.Auth != "" {
					opts = append(opts, zkstate.WithDigestAuth(z.Auth))
				}
				st, err := zkstate.Connect(ctx, z.Servers, opts...)
				if err != nil {
					return fmt.Errorf("mesos-local: %w", err)
				}
				defer st.Close()
				cfg.Contender = zkContender{ctx: context.WithoutCancel(ctx), st: st, path: z.Path}
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
			errc := make(chan error, 2)
			go func() { errc <- m.Serve(ln) }()
			if standby != "" {
				sln, err := net.Listen("tcp", standby)
				if err != nil {
					_ = m.Close()
					<-errc
					return fmt.Errorf("mesos-local: standby master: %w", err)
				}
				go func() { errc <- m.ServeStandby(sln) }()
			}
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
	f.StringVar(&standby, "standby-listen", "", "listen address of a second, standby master sharing the first one's state (default: none)")
	f.StringVar(&zkURL, "zk", "", "publish the masters in ZooKeeper as Mesos does: zk://host:port[,host:port]/path (default: not published)")
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
