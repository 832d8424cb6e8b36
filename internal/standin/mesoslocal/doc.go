// Package mesoslocal is a local Mesos master and agents in one process,
// speaking the Mesos v1 scheduler API (POST /api/v1/scheduler) and executor
// API (POST /api/v1/executor on each agent) in protobuf and JSON, with
// mesos-go's own codecs and RecordIO framing. It is a development and test
// stand-in for Apache Mesos, which cannot be installed here; it is not
// Mesos.
//
// What it does as Mesos does: SUBSCRIBE streams (Mesos-Stream-Id,
// SUBSCRIBED, OFFERS, HEARTBEAT), framework failover within
// failover_timeout, ACCEPT with
// RESERVE/UNRESERVE/CREATE/DESTROY/GROW_VOLUME/SHRINK_VOLUME/LAUNCH,
// DECLINE with refuse_seconds, REVIVE, SUPPRESS, KILL, SHUTDOWN,
// ACKNOWLEDGE, RECONCILE (explicit and implicit), MESSAGE, TEARDOWN;
// dynamic reservations and persistent volumes offered back only to their
// role; executors run as local processes (own process group) in sandboxes
// with the MESOS_* environment, fetched URIs, and volumes linked at their
// container path; status updates flow executor → agent → scheduler with
// UUIDs and are resent until acknowledged; an executor that dies turns its
// tasks TASK_FAILED and sends FAILURE. Each agent has its own loopback
// address (127.0.0.2, 127.0.0.3, ... by default), offered as its hostname
// and IP and bound by its executor API and, through LIBPROCESS_IP, by its
// executors, so tasks of different agents bind different addresses as on a
// real cluster.
//
// With Config.Credentials (Mesos' --credentials) the scheduler API
// requires HTTP Basic authentication, as Mesos' default HTTP framework
// authenticator does: 401 with WWW-Authenticate: Basic
// realm="mesos-master-scheduler" without a valid credential, 400 for a
// call whose authenticated principal is not the framework's.
//
// Several masters (masters.go): ServeStandby serves a second master on
// the same state; the one that does not lead redirects the scheduler API
// (307, Location //leader/api/v1/scheduler) as Mesos does; MoveLeader
// hands leadership over, ending every scheduler stream; a Contender
// publishes the masters as Mesos does in ZooKeeper (json.info_<seq>).
//
// Where it differs (see docs/mesos-local.md): one role per framework;
// custom executors only (no command tasks, no LAUNCH_GROUP); no
// authorization (ACLs), no agent or executor authentication; frameworks
// and tasks are in memory, while the master ID and agents' reservations
// and volumes are checkpointed in the work dir.
package mesoslocal
