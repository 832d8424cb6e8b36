// Package scheduler is the Riak Mesos framework on the Mesos v1 HTTP API:
// the cluster and node model with its desired state in ZooKeeper, the
// scheduler HTTP API, offer evaluation (resource fit and placement
// constraints, filters apart from scores), RESERVE/CREATE/LAUNCH,
// reconciliation, failover, and cluster join/leave. Placement depends on
// small interfaces declared here, not on mesos-go or ZooKeeper directly.
//
// Not built yet: see the project's issues ("scheduler, executor and CLI").
package scheduler
