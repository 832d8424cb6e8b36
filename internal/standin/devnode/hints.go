package devnode

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/ring"
)

// Hinted handoff, as Riak does it: a primary replica that misses a write
// (it was believed down, so a fallback or nobody took its copy, or its
// store failed) is owed that key. The coordinator keeps the hint and hands
// the key over when the member answers again. Without it, a copy written
// to a fallback while a primary blinked stayed there, and the primary
// never got it (a leave then handed off everything but that key).
//
// Hints live in the coordinator's memory (Riak keeps them as the fallback
// vnode's data); a restart loses them, and the restarted primary's
// catch-up covers that case.

// maxHintsPerMember bounds the keys owed to one member; past it, further
// misses are dropped (read repair and catch-up remain).
const maxHintsPerMember = 100_000

// hintDeliveryTimeout bounds one store of a hinted key.
const hintDeliveryTimeout = 5 * time.Second

type hintKey struct{ typ, bucket, key string }

type hints struct {
	mu      sync.Mutex
	owed    map[string]map[hintKey]struct{} // member -> keys it missed
	sending map[string]bool                 // members being handed their keys
}

// add records that member missed key.
func (h *hints) add(member string, k hintKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.owed == nil {
		h.owed = map[string]map[hintKey]struct{}{}
	}
	keys := h.owed[member]
	if keys == nil {
		keys = map[hintKey]struct{}{}
		h.owed[member] = keys
	}
	if len(keys) < maxHintsPerMember {
		keys[k] = struct{}{}
	}
}

// take removes and returns the keys owed to member, unless a delivery to
// it is already running.
func (h *hints) take(member string) []hintKey {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sending[member] || len(h.owed[member]) == 0 {
		return nil
	}
	if h.sending == nil {
		h.sending = map[string]bool{}
	}
	h.sending[member] = true
	keys := make([]hintKey, 0, len(h.owed[member]))
	for k := range h.owed[member] {
		keys = append(keys, k)
	}
	delete(h.owed, member)
	return keys
}

func (h *hints) done(member string) {
	h.mu.Lock()
	delete(h.sending, member)
	h.mu.Unlock()
}

// retain forgets the keys owed to members that keep reports are gone (they
// left or were replaced: their share of the ring went to others, and a
// key owed to them would keep `riak admin transfers` busy for ever).
func (h *hints) retain(keep func(member string) bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for m := range h.owed {
		if !keep(m) {
			delete(h.owed, m)
		}
	}
}

// pending returns the number of keys owed to member.
func (h *hints) pending(member string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.owed[member])
}

// missedPrimaries returns the key's n primaries on the ring that pl (the
// preference list a write used) leaves out: believed down when it was
// built (pl may be shorter than n when no fallback was free).
func missedPrimaries(r *ring.Ring, n int, pl []ring.Entry, typ, bucket, key string) []string {
	if len(pl) >= n && !slices.ContainsFunc(pl, func(e ring.Entry) bool { return !e.Primary }) {
		return nil // every primary is in the list: nobody missed the write
	}
	var out []string
	for _, e := range r.Preflist([]byte(typ), []byte(bucket), []byte(key), n, nil) {
		if !slices.ContainsFunc(pl, func(x ring.Entry) bool { return x.Node == e.Node }) && !slices.Contains(out, e.Node) {
			out = append(out, e.Node)
		}
	}
	return out
}

// handOffHints stores on member every key it is owed, from this node's
// copy; a key whose store fails stays owed.
func (c *Cluster) handOffHints(ctx context.Context, member string) {
	keys := c.hints.take(member)
	if keys == nil {
		return
	}
	defer c.hints.done(member)
	sent := 0
	for i, k := range keys {
		if ctx.Err() != nil || !c.up(member) {
			for _, rest := range keys[i:] {
				c.hints.add(member, rest)
			}
			break
		}
		obj, found, err := c.engine.FetchReplica(ctx, k.typ, k.bucket, k.key)
		if err != nil || !found {
			continue // gone here too (deleted and reaped): nothing to hand over
		}
		sctx, cancel := context.WithTimeout(ctx, hintDeliveryTimeout)
		err = c.storeOn(sctx, member, k.typ, k.bucket, k.key, obj)
		cancel()
		if err != nil {
			c.hints.add(member, k)
			continue
		}
		sent++
	}
	c.stats.hintedHandoffs.Add(uint64(sent))
	c.log.Info("hinted handoff", "member", member, "objects", sent, "still_owed", c.hints.pending(member))
}
