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

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/tlsconf"
	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

func newSchedulerCmd() *cobra.Command {
	var cfg scheduler.Config
	var zk, executorZK, framework, api, advertise, staticDir, secretFile string
	var zkAuthF zkAuthFlags
	var relaunchF relaunchFlags
	var tlsF tlsFlags
	var masterCA string
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Run the Riak Mesos framework scheduler",
		Long: `Run the Riak Mesos framework scheduler. It keeps clusters' desired state in
ZooKeeper, places nodes on Mesos offers (resources, constraints, spread across
agents), reserves resources, creates persistent volumes, launches executors
and relaunches failed nodes on their data. Several schedulers may run: one
leads (ZooKeeper election), the others stand by and take over.

The HTTP API (--api) is served by every instance; see docs/http-api.md. Its
URL is published in ZooKeeper for the rmf CLI. /static/rmf serves this binary,
which executors fetch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if zk == "" {
				return usageErrorf("--zk is required")
			}
			if err := zkstate.ValidateName(framework); err != nil {
				return usageErrorf("--framework: %v", err)
			}
			if err := scheduler.ValidateMaster(cfg.Master); err != nil {
				return usageErrorf("--master: %v", err)
			}
			if cfg.Flavor != nodetask.FlavorDevnode && cfg.Flavor != nodetask.FlavorRiak {
				return usageErrorf("--flavor %q: want devnode or riak", cfg.Flavor)
			}
			if cfg.Fencing != nodetask.FencingVolume && cfg.Fencing != nodetask.FencingStrict {
				return usageErrorf("--fencing %q: want %s or %s", cfg.Fencing, nodetask.FencingVolume, nodetask.FencingStrict)
			}
			if err := relaunchF.apply(&cfg); err != nil {
				return err
			}
			tlsCfg, err := tlsF.config()
			if err != nil {
				return err
			}
			if masterCA != "" {
				if cfg.MasterTLS, err = tlsconf.Client(masterCA); err != nil {
					return usageErrorf("--master-ca-file: %v", err)
				}
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			ctx := cmd.Context()
			zkAuth, err := zkAuthF.resolve()
			if err != nil {
				return err
			}
			if secretFile != "" {
				secret, err := readSecretFile(secretFile)
				if err != nil {
					return usageErrorf("--secret-file: %v", err)
				}
				cfg.Secret = secret
			}
			store, fw, err := connectZK(ctx, log, "scheduler", zk, zkAuth, framework)
			if err != nil {
				return err
			}
			defer store.Close()
			ln, err := net.Listen("tcp", api)
			if err != nil {
				return fmt.Errorf("scheduler: %w", err)
			}
			apiURL := scheme(tlsCfg) + "://" + ln.Addr().String()
			if advertise != "" {
				apiURL = strings.TrimRight(advertise, "/")
			}
			host, _ := os.Hostname()
			cfg.Framework, cfg.ZooKeeper, cfg.ZKAuth, cfg.Logger = fw, zk, zkAuth, log
			if executorZK != "" {
				cfg.ZooKeeper = executorZK
			}
			cfg.ID = fmt.Sprintf("%s:%d@%s", host, os.Getpid(), apiURL)
			cfg.WebUIURL = apiURL + "/"
			if cfg.ExecutorURI == "" && cfg.ExecutorCommand == "" {
				cfg.ExecutorURI = apiURL + "/static/rmf"
			}
			s, err := scheduler.New(cfg)
			if err != nil {
				ln.Close()
				return usageErrorf("%v", err)
			}
			srv := &http.Server{Handler: s.Handler(staticDir), ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg,
				ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
			go func() { _ = serveHTTP(srv, ln) }()
			if err := fw.SetURI(ctx, apiURL); err != nil {
				log.Warn("publish API URL", "err", err)
			}
			log.Info("scheduler API listening", "url", apiURL, "master", cfg.Master, "framework", framework)
			err = s.Run(ctx)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Master, "master", "http://"+defaultMesosAddr, "Mesos master: a URL, a comma-separated list of URLs, or zk://host:port[,host:port]/mesos (the masters' --zk); the scheduler follows the leader")
	f.StringVar(&zk, "zk", "", "ZooKeeper servers host:port[,host:port...] (required)")
	f.StringVar(&executorZK, "executor-zk", "", "ZooKeeper servers as executors on the agents reach them (default --zk)")
	zkAuthF.register(f)
	f.StringVar(&framework, "framework", defaultFramework, "framework name")
	f.StringVar(&api, "api", defaultAPIAddr, "scheduler HTTP API listen address")
	f.StringVar(&advertise, "advertise-api", "", "API URL to publish in ZooKeeper and give executors (default http://<--api>)")
	f.StringVar(&cfg.Role, "role", scheduler.DefaultRole, "Mesos role of reservations")
	f.StringVar(&cfg.Principal, "principal", "riak", "Mesos principal")
	f.StringVar(&secretFile, "secret-file", "", "file (not readable by others) with --principal's secret, sent to the Mesos master as HTTP Basic authentication on every call; one trailing newline is ignored (default: none sent)")
	f.DurationVar(&cfg.FailoverTimeout, "failover-timeout", scheduler.DefaultFailoverTimeout, "framework failover timeout")
	f.StringVar(&cfg.APIToken, "api-token", "", "bearer token required on the API's mutating endpoints (empty: none)")
	f.DurationVar(&cfg.AgentTimeout, "agent-timeout", scheduler.DefaultAgentTimeout, "place a node elsewhere when its agent offers nothing this long")
	f.DurationVar(&cfg.LeaveTimeout, "leave-timeout", scheduler.DefaultLeaveTimeout, "kill a removed node that has not left its cluster (handed off its data) in this time")
	relaunchF.register(f)
	tlsF.register(f, "the API and its page")
	f.StringVar(&masterCA, "master-ca-file", "", "PEM file of CA certificates to trust for https:// Mesos masters, besides the system's")
	f.DurationVar(&cfg.ConfigCheckTimeout, "config-check-timeout", scheduler.DefaultConfigCheckTimeout, "rolling restart: restart a node anyway (with a warning) whose executor has not answered the configuration check in this time")
	f.StringVar(&cfg.Flavor, "flavor", nodetask.FlavorDevnode, "node flavor: devnode or riak")
	f.StringVar(&cfg.Fencing, "fencing", nodetask.FencingVolume,
		"what executors do when ZooKeeper is out of reach: volume (keep the node running; stop it only if another executor took its lock; for local persistent volumes) or strict (stop it before the session can expire; for shared storage)")
	f.StringVar(&cfg.RiakTarball, "riak-tarball", "", "Riak tarball URI (flavor riak); may be served from --static-dir")
	f.StringVar(&staticDir, "static-dir", "", "directory served under /static/ (e.g. a Riak tarball)")
	f.StringVar(&cfg.ExecutorURI, "executor-uri", "", "URI executors fetch the rmf binary from (default <api>/static/rmf)")
	f.StringVar(&cfg.ExecutorZKAuthFile, "executor-zk-auth-file", "", "file on every agent with the executors' ZooKeeper credential: executors read it (--zk-auth-file) instead of getting --zk-auth in their task's environment")
	f.StringVar(&cfg.ExecutorCommand, "executor-command", "", `command that starts the executor in its sandbox, split on spaces, no shell (default "./rmf executor")`)
	return annotateEnv(cmd)
}
