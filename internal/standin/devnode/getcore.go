package devnode

import (
	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
)

// getCore counts a read's replica answers the way Riak's get FSM does
// (riak_kv_get_core): it answers as soon as r replicas (pr of them
// primaries) said "found" or, with notfound_ok, "not found"; it gives up
// once so many replicas failed (or, without notfound_ok, did not have the
// object) that r cannot be met. So a replica that has not yet received its
// data (a node catching up after a restart, a fallback) answers "not
// found" and, with notfound_ok, that answer counts toward r: the window in
// which Riak itself answers "not found" for an acknowledged write.
//
// One member may hold several replicas of a key (fewer members than n_val,
// or a ring that places two of a preference list on one member): its
// answer counts once per replica, as each of Riak's vnodes answers alone.
type getCore struct {
	n, r, pr      uint32
	failThreshold uint32
	notFoundOK    bool

	// onAll: "not found" only once every replica answered (settleOnAll).
	onAll bool

	ok, primaryOK, notFound, failed, deleted uint32
	foundReplicas                            uint32
	found                                    []kv.Object
	lastErr                                  error
}

// newGetCore sets up the counting for a preference list of n replicas.
func newGetCore(n, r, pr uint32, notFoundOK, basicQuorum bool) *getCore {
	fail := n - r + 1 // r can no longer be met
	if basicQuorum && n/2+1 < fail {
		fail = n/2 + 1
	}
	if r > n {
		fail = 1
	}
	return &getCore{n: n, r: r, pr: pr, failThreshold: fail, notFoundOK: notFoundOK}
}

// add books one member's answer for its replicas.
func (g *getCore) add(rep replicaReply) {
	switch {
	case rep.err != nil:
		g.failed += rep.replicas
		g.lastErr = rep.err
	case rep.found:
		g.foundReplicas += rep.replicas
		g.ok += rep.replicas
		g.primaryOK += rep.primaries
		if rep.obj.IsTombstone() {
			g.deleted += rep.replicas
		}
		g.found = append(g.found, rep.obj)
	case g.notFoundOK:
		g.ok += rep.replicas
		g.primaryOK += rep.primaries
	default:
		g.notFound += rep.replicas
	}
}

// settleOnAll makes the read answer "not found" only once every replica
// answered (found ones still answer at r): while the ring moves, a new
// owner may not hold a key its old owners do (ringmove.go).
func (g *getCore) settleOnAll() {
	g.onAll, g.notFoundOK = true, true
}

// enough reports whether the read can be answered now.
func (g *getCore) enough() bool {
	if g.onAll {
		return (g.foundReplicas >= g.r && g.primaryOK >= g.pr) || g.ok+g.notFound+g.failed >= g.n
	}
	switch {
	case g.ok >= g.r && g.primaryOK >= g.pr:
		return true
	case g.notFound+g.failed >= g.failThreshold:
		return true
	default:
		return g.ok+g.notFound+g.failed >= g.n
	}
}

// response is the read's answer from the replies booked so far: the merge
// of what was found (possibly a tombstone, or nothing: "not found"), or the
// error Riak's get FSM gives.
func (g *getCore) response() (kv.Object, error) {
	switch {
	case g.ok >= g.r && g.primaryOK >= g.pr:
		merged := kv.Object{}
		for _, o := range g.found {
			merged = kv.Merge(merged, o)
		}
		return merged, nil
	case g.notFound+g.deleted > 0 && g.ok == g.deleted && g.failed == 0:
		return kv.Object{}, nil // every answer was "not found" or a tombstone
	case g.pr > 0 && g.primaryOK < g.pr && g.ok >= g.r, g.pr >= g.r:
		return kv.Object{}, &service.QuorumError{Name: "pr_val_unsatisfied", Want: g.pr, Got: g.primaryOK, Cause: g.lastErr}
	default:
		return kv.Object{}, &service.QuorumError{Name: "r_val_unsatisfied", Want: g.r, Got: g.ok, Cause: g.lastErr}
	}
}
