// Package executor is the Mesos executor that runs one Riak node: it prepares
// the node directory on the persistent volume, renders riak.conf and
// advanced.config from the scheduler's templates, starts erlpmd and the Riak
// node (real Riak from a tarball, or the devnode), health-checks it, registers
// its live endpoint in ZooKeeper and stops it gracefully.
//
// Not built yet: see the project's issues ("scheduler, executor and CLI").
package executor
