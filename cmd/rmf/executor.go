package main

import (
	"log/slog"
	"os"

	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/spf13/cobra"

	"github.com/rmf-go/rmf/executor"
	"github.com/rmf-go/rmf/internal/zkstate"
)

func newExecutorCmd() *cobra.Command {
	var cfg executor.Config
	var zkAuthF zkAuthFlags
	cmd := &cobra.Command{
		Use:   "executor",
		Short: "Run the Riak executor (started by a Mesos agent; configured by MESOS_* variables)",
		Long: `Run the Mesos executor of one Riak node. A Mesos agent starts it with the
MESOS_* environment (MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, MESOS_SANDBOX,
MESOS_AGENT_ENDPOINT, MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, ...); the node to
run comes in the task's data. It prepares the node directory on the persistent
volume, renders riak.conf and advanced.config, starts erlpmd and the node
(real Riak or the devnode), reports TASK_RUNNING once the node answers a PB
ping, registers its live endpoint in ZooKeeper and stops it gracefully on
KILL or SHUTDOWN. It runs the node only while it holds the node's lock in
ZooKeeper, so that a node never runs twice. See docs/executor.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mc, err := config.FromEnv()
			if err != nil {
				return usageErrorf("executor: %v (it is started by a Mesos agent)", err)
			}
			cfg.Mesos = mc
			if cfg.ZKAuth, err = zkAuthF.resolve(); err != nil {
				return err
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			return executor.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&cfg.StartTimeout, "start-timeout", executor.DefaultStartTimeout, "how long the node may take to answer a PB ping")
	f.StringVar(&zkAuthF.value, "zk-auth", "", "ZooKeeper digest credential USER:PASSWORD (the scheduler passes its own in RMF_ZK_AUTH, or --zk-auth-file with --executor-zk-auth-file)")
	f.StringVar(&zkAuthF.file, "zk-auth-file", "", "read the --zk-auth credential from this file on the agent (not readable by others)")
	f.DurationVar(&cfg.HealthInterval, "health-interval", executor.DefaultHealthInterval, "PB ping period once the node runs")
	f.DurationVar(&cfg.RingReadyWait, "ring-ready-wait", executor.DefaultRingReadyWait, "how long a starting node waits for ringready before it is reported running, not ready")
	f.DurationVar(&cfg.TransfersInterval, "transfers-interval", executor.DefaultTransfersInterval, "period of the transfers check (riak admin transfers) once the node runs")
	f.DurationVar(&cfg.LockTimeout, "lock-timeout", executor.DefaultLockTimeout, "how long to wait for the node's ZooKeeper lock held by another executor")
	f.DurationVar(&cfg.ZKSessionTimeout, "zk-session-timeout", zkstate.DefaultSessionTimeout, "ZooKeeper session timeout to ask for (the server may clamp it)")
	f.Float64Var(&cfg.LockLossFraction, "lock-loss-fraction", zkstate.DefaultLockLossFraction,
		"stop the node once ZooKeeper has not confirmed its lock for this fraction of the session timeout (0 < f < 1)")
	f.DurationVar(&cfg.FenceGrace, "fence-grace", executor.DefaultFenceGrace, "SIGTERM-to-SIGKILL grace when the node lock is lost (capped to fit in the session timeout)")
	return annotateEnv(cmd)
}
