package zkstate

import "path"

// RootPath is the parent of every framework's tree.
const RootPath = "/riak/frameworks"

// Path components below a framework root.
const (
	frameworkIDNode = "framework_id"
	uriNode         = "uri"
	clustersNode    = "clusters"
	nodesNode       = "nodes"
	liveNode        = "live"
	locksNode       = "locks"
	erlpmdNode      = "erlpmd"
	leaderNode      = "leader"
)

// Every path helper validates each name it is given (ErrInvalidName) and
// returns a clean absolute path.

// FrameworkRoot is /riak/frameworks/<fw>.
func FrameworkRoot(fw string) (string, error) { return join([]string{fw}) }

// FrameworkIDPath is <root>/framework_id: the Mesos framework ID, plain text,
// written by the scheduler on first registration and read on failover.
func FrameworkIDPath(fw string) (string, error) { return join([]string{fw}, frameworkIDNode) }

// URIPath is <root>/uri: the scheduler API URL, plain text, written by the
// scheduler, read by the CLI when --api is absent.
func URIPath(fw string) (string, error) { return join([]string{fw}, uriNode) }

// ClustersPath is <root>/clusters.
func ClustersPath(fw string) (string, error) { return join([]string{fw}, clustersNode) }

// ClusterPath is <root>/clusters/<c>: a ClusterRecord.
func ClusterPath(fw, c string) (string, error) {
	return join([]string{fw, c}, clustersNode, c)
}

// NodesPath is <root>/clusters/<c>/nodes.
func NodesPath(fw, c string) (string, error) {
	return join([]string{fw, c}, clustersNode, c, nodesNode)
}

// NodePath is <root>/clusters/<c>/nodes/<n>: a NodeRecord.
func NodePath(fw, c, n string) (string, error) {
	return join([]string{fw, c, n}, clustersNode, c, nodesNode, n)
}

// LivePath is <root>/clusters/<c>/live, whose children the director watches.
func LivePath(fw, c string) (string, error) {
	return join([]string{fw, c}, clustersNode, c, liveNode)
}

// LiveNodePath is <root>/clusters/<c>/live/<n>: an ephemeral LiveRecord.
func LiveNodePath(fw, c, n string) (string, error) {
	return join([]string{fw, c, n}, clustersNode, c, liveNode, n)
}

// LocksPath is <root>/clusters/<c>/locks.
func LocksPath(fw, c string) (string, error) {
	return join([]string{fw, c}, clustersNode, c, locksNode)
}

// LockPath is <root>/clusters/<c>/locks/<n>: the directory of node n's
// lock (Framework.LockNode). Its children are ephemeral sequential znodes
// lock-<10-digit seq>, each holding a LockRecord; the lowest sequence holds
// the lock, the others wait in line.
func LockPath(fw, c, n string) (string, error) {
	return join([]string{fw, c, n}, clustersNode, c, locksNode, n)
}

// ErlpmdPath is <root>/erlpmd.
func ErlpmdPath(fw string) (string, error) { return join([]string{fw}, erlpmdNode) }

// ErlpmdNodePath is <root>/erlpmd/<name>: an ephemeral ErlpmdRecord.
func ErlpmdNodePath(fw, name string) (string, error) {
	return join([]string{fw, name}, erlpmdNode, name)
}

// LeaderPath is <root>/leader: the scheduler leader election directory.
// The leader holds the ephemeral znode "current" under it (Framework.Campaign).
func LeaderPath(fw string) (string, error) { return join([]string{fw}, leaderNode) }

// join validates names and returns RootPath/<fw>/<elems...>; names[0] is
// the framework.
func join(names []string, elems ...string) (string, error) {
	if err := validateNames(names...); err != nil {
		return "", err
	}
	return path.Join(append([]string{RootPath, names[0]}, elems...)...), nil
}
