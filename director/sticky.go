package director

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
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

// typeSettleMax bounds how long a bucket-type change waits for its node
// to show it; the polls back off from typeSettlePoll, doubling.
const (
	typeSettleMax  = 2 * time.Second
	typeSettlePoll = 2 * time.Millisecond
)

// handleSetBucketType runs an RpbSetBucketTypeReq on the metadata home
// and, once it is acknowledged, holds the acknowledgement until that node
// answers RpbGetBucketTypeReq with the change (protocol.SetBucketTypeWant),
// for at most typeSettleMax, and not past a poll the node fails
// (settleNext decides, as for the HTTP hold). Riak runs a bucket-type
// change on its claimant and gossips it, so the node that acknowledged it
// may still serve the old properties: without the wait the client's next
// read, sent to the same node, comes back stale (Riak KV 3.2.3, riak-go-client's
// TestSetAndResetBucketTypeProperties through a node other than the
// claimant: 5 and 6 failures in 6).
func (c *clientConn) handleSetBucketType(raw []byte) bool {
	p := c.p
	mark := len(c.out)
	c.hold = true
	goOn := c.handleBalanced(raw, false, false, true, true)
	c.hold = false
	node := c.answeredBy
	if !goOn || node == nil || !oneFrameOf(c.out[mark:], protocol.CodeSetBucketResp) {
		return goOn
	}
	want, err := protocol.SetBucketTypeWant(raw[protocol.HeaderSize:])
	if err != nil || len(want.Fields) == 0 {
		return true
	}
	get := protocol.AppendGetBucketTypeReq(nil, want.Type)
	deadline := time.Now().Add(typeSettleMax)
	for wait := typeSettlePoll; ; wait *= 2 {
		mark2 := len(c.out)
		c.hold = true
		goOn = c.handleBalanced(get, false, true, true, false) // sticky: the home, node
		c.hold = false
		if !goOn {
			return false
		}
		out := c.out[mark2:]
		// The home failed over (nothing left to wait for) or the node
		// failed the poll (an error frame): the hold ends, as over HTTP.
		answered := c.answeredBy == node && oneFrameOf(out, protocol.CodeGetBucketResp)
		has := false
		if answered {
			has, _ = protocol.GetBucketRespHas(out[protocol.HeaderSize:], want)
		}
		c.out = c.out[:mark2]
		if stop, settled := settleNext(has, !answered, time.Now(), deadline, wait); stop {
			if !settled {
				p.typeUnsettled.Add(1)
			}
			return true
		}
		p.typeSettleWaits.Add(1)
		time.Sleep(wait)
	}
}

// oneFrameOf reports whether out is exactly one frame with the code.
func oneFrameOf(out []byte, code protocol.Code) bool {
	return len(out) >= protocol.HeaderSize && protocol.Code(out[4]) == code &&
		uint64(binary.BigEndian.Uint32(out))+4 == uint64(len(out))
}
