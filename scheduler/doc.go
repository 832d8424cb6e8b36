// Package scheduler is the Riak Mesos framework on the Mesos v1 HTTP API:
// the cluster and node model with its desired state in ZooKeeper, the
// scheduler HTTP API, offer evaluation (resource fit and placement
// constraints, filters apart from scores), RESERVE/CREATE/LAUNCH,
// reconciliation, failover, and cluster join/leave.
//
// The leader decides, then acts: each round of offers, each tick and each
// task update is read into a snapshot, a pure function decides (planOffers,
// planTick, observeUpdate), and a thin step applies the decision,
// recording in ZooKeeper before it tells Mesos. Placement is a stack of
// small feasibility checkers, one per constraint kind and one for the
// resource fit, each saying why it refused a host, then a rank. The
// scheduler reaches ZooKeeper through stateStore, the interface of the
// zkstate.Framework methods it uses. See docs/scheduler.md.
package scheduler
