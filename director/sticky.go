package director

import (
	"sync/atomic"
	"time"

	"github.com/rmf-go/rmf/balancer"
)

// metaHome keeps cluster-metadata requests on one node: Riak spreads
// bucket and bucket-type properties (and search indexes and schemas) by
// gossip, so a property set on one node and read on another milliseconds
// later comes back stale, and a put that relies on a new allow_mult or
// n_val can land where the change has not arrived. A client of one Riak
// node never sees that; through the director it would.
//
// The home is the director's, not a connection's: a director serves the
// application next to it, and clients such as riak-go-client spread their
// commands over a pool of connections, so a set on one connection and the
// read back on another must meet on one node too. Metadata requests go to
// the home while it is available (another node becomes the home when it
// is not); after a metadata change every request goes there for
// Config.MetadataSettle, since data requests depend on the change too.
type metaHome struct {
	node  atomic.Pointer[balancer.Node]
	until atomic.Int64 // UnixNano: every request goes home until then
}

// sticky reports whether a request goes to the home first: metadata
// requests always, others during the settle time after a change.
func (h *metaHome) sticky(metadata bool, now time.Time) bool {
	return metadata || now.UnixNano() < h.until.Load()
}

// trying records that a sticky request is being sent to n, and a
// metadata change (changes) starts the settle time. It runs before the
// attempt, not after the answer: once the answer is written the client may
// send its next request on another connection at once, and that one must
// find the home already set.
func (h *metaHome) trying(n *balancer.Node, changes bool, now time.Time, settle time.Duration) {
	if h.node.Load() != n {
		h.node.Store(n)
	}
	if changes && settle > 0 {
		h.until.Store(now.Add(settle).UnixNano())
	}
}
