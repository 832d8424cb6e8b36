// Package zkstate is RMF-Go's ZooKeeper layer: every znode path, every record
// stored there, and typed, context-aware reads, writes, ephemeral
// registrations and watches. No other package knows a znode path.
//
// Layout, rooted at /riak/frameworks/<framework> (see docs/zookeeper.md):
//
//	framework_id                   plain text, Mesos framework ID
//	uri                            plain text, scheduler API URL
//	leader/current                 ephemeral, the leading scheduler
//	clusters/<cluster>             ClusterRecord
//	clusters/<cluster>/nodes/<n>   NodeRecord
//	clusters/<cluster>/live/<n>    LiveRecord, ephemeral (executor)
//	clusters/<cluster>/locks/<n>/lock-<seq>  LockRecord, ephemeral sequential: node lock (executor)
//	erlpmd/<erlang-node-name>      ErlpmdRecord, ephemeral (erlpmd)
//
// Outside this tree, mesos.go reads (and, for mesos-local, writes) the
// Mesos masters' election under the user's own path, given as a zk://
// URL (ParseMesosZK): <path>/json.info_<seq>, the lowest leading.
//
// Records are JSON objects with "version": 1. Readers reject a missing or
// unknown version (ErrUnknownVersion) and validate every record, because
// ZooKeeper data is input from outside the process (ErrInvalidRecord).
// Names used as path components are checked by ValidateName (ErrInvalidName).
//
// A Store owns one ZooKeeper session. go-zookeeper reconnects on its own and,
// after the server expires a session, starts a new one; the Store fans its
// session events out to Registrations (which re-create their ephemeral znodes
// on the new session) and watches (which re-arm).
package zkstate
