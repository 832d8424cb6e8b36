package director

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rmf-go/rmf/balancer"
)

// errPoolClosed: the node was removed (or the proxy shut down) while a
// request was choosing it. Not the node's fault.
var errPoolClosed = errors.New("director: node removed")

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
func (p *pool) get(ctx context.Context, deadline time.Time, fresh, check bool) (bc *backendConn, reused bool, err error) {
	for !fresh {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		bc = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if check && !bc.alive() {
			p.staleDropped.Add(1)
			bc.close()
			continue
		}
		p.reused.Add(1)
		return bc, true, nil
	}
	bc, err = p.dialConn(ctx, deadline)
	return bc, false, err
}

func (p *pool) dialConn(ctx context.Context, deadline time.Time) (*backendConn, error) {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, errPoolClosed
	}
	if dl := time.Now().Add(p.dialTO); dl.Before(deadline) {
		deadline = dl
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	p.dials.Add(1)
	nc, err := p.dial(dctx, "tcp", p.node.PBAddr)
	cancel()
	if err != nil {
		p.dialErrors.Add(1)
		return nil, err
	}
	bc := newBackendConn(nc, p)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = nc.Close()
		return nil, errPoolClosed
	}
	p.all[bc] = struct{}{}
	p.mu.Unlock()
	bc.tableID = p.table.addBackend(p.node.ID)
	return bc, nil
}

// put returns a connection after a complete exchange. It is closed instead
// when the pool is closed or full, or bytes nobody asked for are buffered.
func (p *pool) put(bc *backendConn, now time.Time) {
	if len(bc.rd.Buffered()) > 0 {
		bc.close()
		return
	}
	bc.idleSince = now
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		bc.close()
		return
	}
	p.idle = append(p.idle, bc)
	p.mu.Unlock()
}

// forget drops a closed connection from the open set.
func (p *pool) forget(bc *backendConn) {
	p.mu.Lock()
	delete(p.all, bc)
	p.mu.Unlock()
}

// closeIdle closes every idle connection: after a transport failure they
// are most likely dead too (the node crashed or restarted).
func (p *pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, bc := range idle {
		bc.close()
	}
}

// expireIdle closes idle connections unused since before cutoff. The idle
// list is LIFO, so the oldest are at the front.
func (p *pool) expireIdle(cutoff time.Time) {
	p.mu.Lock()
	i := 0
	for i < len(p.idle) && p.idle[i].idleSince.Before(cutoff) {
		i++
	}
	old := slices.Clone(p.idle[:i])
	p.idle = slices.Delete(p.idle, 0, i)
	p.mu.Unlock()
	for _, bc := range old {
		bc.close()
	}
}

// drain stops the pool: no new connections, idle ones close now, busy ones
// when their request ends (put closes them).
func (p *pool) drain() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.closeIdle()
}

// closeAll closes every connection, busy ones included (forced shutdown).
func (p *pool) closeAll() {
	p.mu.Lock()
	p.closed = true
	all := make([]*backendConn, 0, len(p.all))
	for bc := range p.all {
		all = append(all, bc)
	}
	p.idle = nil
	p.mu.Unlock()
	for _, bc := range all {
		bc.close()
	}
}

// idleIDs returns the table row IDs of the idle connections.
func (p *pool) idleIDs() map[string]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make(map[string]bool, len(p.idle))
	for _, bc := range p.idle {
		ids[bc.tableID] = true
	}
	return ids
}

// counts returns the open and idle connection counts.
func (p *pool) counts() (open, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.all), len(p.idle)
}
