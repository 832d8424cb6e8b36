// Package executor is the Mesos executor that runs one Riak node (`rmf
// executor`, started by a Mesos agent). It speaks the Mesos v1 executor HTTP
// API with mesos-go (httpexec, configured by config.FromEnv):
//
//   - SUBSCRIBE carries the tasks and updates not acknowledged yet, so they
//     survive a lost connection (resubscribing with backoff while the
//     framework checkpoints, up to MESOS_RECOVERY_TIMEOUT);
//   - LAUNCH: the task data (internal/nodetask) is parsed and validated; the
//     node directory on the persistent volume ($MESOS_SANDBOX/riak-data) is
//     prepared; riak.conf and advanced.config are rendered from the cluster's
//     templates (Vars); the node's exclusive ZooKeeper lock is taken
//     (TASK_STARTING names the holder while another executor has it; the
//     task fails after Config.LockTimeout); erlpmd is started in-process with ZooKeeper as its
//     registry; the node is started (the devnode, or Riak from the tarball the
//     agent extracted: see Plan, DevnodeCommands, RiakCommands); TASK_STARTING
//     is sent, then TASK_RUNNING once the node answers a Riak PB ping (and,
//     for Riak, has joined its cluster) and its live record is registered in
//     ZooKeeper;
//   - KILL and SHUTDOWN: the live record is withdrawn first (so directors
//     drain the node), then SIGTERM to the node's process group, SIGKILL
//     after the grace period (the kill policy or
//     MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD), then TASK_KILLED;
//   - a node that exits on its own gives TASK_FAILED with the exit reason
//     and the last lines of its output;
//   - fencing: when ZooKeeper has not confirmed the lock for
//     Config.LockLossFraction of the negotiated session timeout (or the
//     session expired), the node is stopped at once, before the session can
//     expire and another executor get the lock, and the task fails ("lost
//     the ZooKeeper lock ..."). The lock is released only after the node
//     process is gone: a node never runs twice.
//
// One task per executor: it exits once the task is terminal and that update
// is acknowledged (or after Config.AckWait). See docs/executor.md.
package executor
