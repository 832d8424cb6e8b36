package devnode

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

// Ring changes. When a member joins, leaves or is replaced, Riak moves a
// partition's ownership only once its data is handed to the new owner, so
// reads never land on owners that do not hold the data yet. The devnode's
// ring changes at once (every member computes it from the membership);
// instead, every member then takes its new share from the others in the
// background (resyncAfterRingChange), and until that is done here and for
// ringSettle after, a read coordinated here answers "not found" only once
// every replica said so (getCore.settleOnAll): the old owners still hold
// what the new ones are being sent.
//
// A member that restarts does not change the ring: its replicas answer
// "not found" for what it lacks, counted at r, as in Riak (catch-up).

// ringSettle is how long reads stay careful after this member's own
// resync, for the others' to end too.
const ringSettle = 5 * time.Second

// membersChanged reports whether next has other members than prev.
func membersChanged(prev, next Membership) bool {
	return !slices.Equal(prev.Names(), next.Names())
}

// noteRingChange records that the ring moved (or a resync after it ended).
func (c *Cluster) noteRingChange() { c.ringMovedAt.Store(time.Now().UnixNano()) }

// ringMoving reports whether reads coordinated here must wait for every
// replica before answering "not found".
func (c *Cluster) ringMoving() bool {
	if c.syncing.Load() > 0 {
		return true
	}
	at := c.ringMovedAt.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < ringSettle
}

// resyncAfterRingChange takes this member's new share of the ring from
// the others in the background (a catch-up pass), unless it is catching
// up already.
func (c *Cluster) resyncAfterRingChange() {
	c.noteRingChange()
	if !c.ready.Load() {
		return // catching up already, with the new membership
	}
	c.mu.Lock()
	ctx := c.runCtx
	if ctx != nil {
		c.bg.Add(1)
	}
	c.mu.Unlock()
	if ctx == nil {
		return
	}
	c.syncing.Add(1) // counted from now, so transfers shows it at once
	go func() {
		defer c.bg.Done()
		defer c.noteRingChange()
		defer c.syncing.Add(-1)
		if err := c.catchUp(ctx); err != nil {
			c.log.Warn("resync after a ring change", "err", err)
		}
	}()
}

// oldOwners are the stores of a write on the owners of the previous ring
// (see oldOwnersStore); wait waits for them, bounded by ctx.
type oldOwners struct{ done chan struct{} }

func (o oldOwners) wait(ctx context.Context) {
	if o.done == nil {
		return
	}
	select {
	case <-o.done:
	case <-ctx.Done():
	}
}

// oldOwnersStore, while the ring moves, also sends a write to the members
// that held one of the key's n replicas on the previous ring and hold
// none now: a member that has not adopted the new ring yet reads from them (in
// Riak, the old owner keeps a partition's writes until it has handed it
// off). Their answers do not count toward w; the write waits for them
// (wait) so that a read right after it finds it either way.
func (c *Cluster) oldOwnersStore(ctx context.Context, now []replicaNode, n int, typ, bucket, key string, obj kv.Object, wg *sync.WaitGroup) oldOwners {
	c.mu.RLock()
	prev := c.prevRing
	c.mu.RUnlock()
	if prev == nil || !c.ringMoving() {
		return oldOwners{}
	}
	var targets []string
	for _, e := range prev.Preflist([]byte(typ), []byte(bucket), []byte(key), n, c.up) {
		if e.Node != c.self.Name && !slices.ContainsFunc(now, func(r replicaNode) bool { return r.node == e.Node }) && !slices.Contains(targets, e.Node) {
			targets = append(targets, e.Node)
		}
	}
	if len(targets) == 0 {
		return oldOwners{}
	}
	done := make(chan struct{})
	var mine sync.WaitGroup
	for _, node := range targets {
		mine.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer mine.Done()
			if err := c.storeOn(ctx, node, typ, bucket, key, obj); err != nil {
				c.log.Debug("write to a previous owner failed", "member", node, "err", err)
			}
		}()
	}
	go func() { mine.Wait(); close(done) }()
	return oldOwners{done: done}
}
