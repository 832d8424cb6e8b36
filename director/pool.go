package director

import (
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rmf-go/rmf/balancer"
)

// pool keeps the connections to one node: a LIFO list of idle ones, so the
// warmest connection is reused first and surplus ones age out, and the set
// of all open ones, so a forced shutdown can close busy ones too.
type pool struct {
	table    *Table // nil when disabled
	node     *balancer.Node
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	dialTO   time.Duration
	maxIdle  int
	maxFrame int

	mu     sync.Mutex
	idle   []*backendConn
	all    map[*backendConn]struct{}
	closed bool

	dials, dialErrors, reused, staleDropped atomic.Uint64
}

func newPool(n *balancer.Node, cfg *Config) *pool {
	return &pool{
		node: n, dial: cfg.Dial, dialTO: cfg.DialTimeout, maxIdle: cfg.MaxIdlePerNode, maxFrame: cfg.MaxFrameSize,
		all: make(map[*backendConn]struct{}),
	}
}

// get returns an idle connection (reused = true) or dials a new one.
// fresh skips the idle list. check makes sure a reused connection has not
// been closed by the node while idle (one non-blocking peek), so that a
// request that must not be sent twice is not sent on a dead connection.
func (pl *pool) get(ctx context.Context, deadline time.Time, fresh, check bool) (bc *backendConn, reused bool, err error) {
	for !fresh {
		pl.mu.Lock()
		n := len(pl.idle)
		if n == 0 {
			pl.mu.Unlock()
			break
		}
		bc = pl.idle[n-1]
		pl.idle[n-1] = nil
		pl.idle = pl.idle[:n-1]
		pl.mu.Unlock()
		if check && !bc.alive() {
			pl.staleDropped.Add(1)
			bc.close()
			continue
		}
		pl.reused.Add(1)
		return bc, true, nil
	}
	bc, err = pl.dialConn(ctx, deadline)
	return bc, false, err
}

func (pl *pool) dialConn(ctx context.Context, deadline time.Time) (*backendConn, error) {
	pl.mu.Lock()
	closed := pl.closed
	pl.mu.Unlock()
	if closed {
		return nil, errPoolClosed
	}
	if dl := time.Now().Add(pl.dialTO); dl.Before(deadline) {
		deadline = dl
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	pl.dials.Add(1)
	nc, err := pl.dial(dctx, "tcp", pl.node.PBAddr)
	cancel()
	if err != nil {
		pl.dialErrors.Add(1)
		return nil, err
	}
	bc := newBackendConn(nc, pl)
	pl.mu.Lock()
	if pl.closed {
		pl.mu.Unlock()
		_ = nc.Close()
		return nil, errPoolClosed
	}
	pl.all[bc] = struct{}{}
	pl.mu.Unlock()
	bc.tableID = pl.table.addBackend(pl.node.ID)
	return bc, nil
}

// put returns a connection after a complete exchange. It is closed instead
// when the pool is closed or full, or bytes nobody asked for are buffered.
func (pl *pool) put(bc *backendConn, now time.Time) {
	if len(bc.rd.Buffered()) > 0 {
		bc.close()
		return
	}
	bc.idleSince = now
	pl.mu.Lock()
	if pl.closed || len(pl.idle) >= pl.maxIdle {
		pl.mu.Unlock()
		bc.close()
		return
	}
	pl.idle = append(pl.idle, bc)
	pl.mu.Unlock()
}

// forget drops a closed connection from the open set.
func (pl *pool) forget(bc *backendConn) {
	pl.mu.Lock()
	delete(pl.all, bc)
	pl.mu.Unlock()
}

// closeIdle closes every idle connection: after a transport failure they
// are most likely dead too (the node crashed or restarted).
func (pl *pool) closeIdle() {
	pl.mu.Lock()
	idle := pl.idle
	pl.idle = nil
	pl.mu.Unlock()
	for _, bc := range idle {
		bc.close()
	}
}

// expireIdle closes idle connections unused since before cutoff. The idle
// list is LIFO, so the oldest are at the front.
func (pl *pool) expireIdle(cutoff time.Time) {
	pl.mu.Lock()
	i := 0
	for i < len(pl.idle) && pl.idle[i].idleSince.Before(cutoff) {
		i++
	}
	old := slices.Clone(pl.idle[:i])
	pl.idle = slices.Delete(pl.idle, 0, i)
	pl.mu.Unlock()
	for _, bc := range old {
		bc.close()
	}
}

// drain stops the pool: no new connections, idle ones close now, busy ones
// when their request ends (put closes them).
func (pl *pool) drain() {
	pl.mu.Lock()
	pl.closed = true
	pl.mu.Unlock()
	pl.closeIdle()
}

// closeAll closes every connection, busy ones included (forced shutdown).
func (pl *pool) closeAll() {
	pl.mu.Lock()
	pl.closed = true
	all := make([]*backendConn, 0, len(pl.all))
	for bc := range pl.all {
		all = append(all, bc)
	}
	pl.idle = nil
	pl.mu.Unlock()
	for _, bc := range all {
		bc.close()
	}
}

// idleIDs returns the table row IDs of the idle connections.
func (pl *pool) idleIDs() map[string]bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	ids := make(map[string]bool, len(pl.idle))
	for _, bc := range pl.idle {
		ids[bc.tableID] = true
	}
	return ids
}

// counts returns the open and idle connection counts.
func (pl *pool) counts() (open, idle int) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return len(pl.all), len(pl.idle)
}
