package director

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/rmf-go/rmf/protocol"
)

// backendConn is a pooled connection to one Riak node, with its own buffers.
type backendConn struct {
	net.Conn
	r *protocol.Reader
}

// pool keeps idle connections to one node (LIFO, so warm connections are
// reused first) and dials new ones on demand.
type pool struct {
	addr     string
	dial     func(ctx context.Context, addr string) (net.Conn, error)
	maxIdle  int
	maxFrame int

	mu     sync.Mutex
	idle   []*backendConn
	closed bool
}

func (p *pool) get(ctx context.Context) (*backendConn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	c, err := p.dial(ctx, p.addr)
	if err != nil {
		return nil, err
	}
	return &backendConn{Conn: c, r: protocol.NewReader(c, p.maxFrame)}, nil
}

// put returns a healthy connection; it is closed if the pool is full or closed.
func (p *pool) put(c *backendConn) {
	_ = c.SetDeadline(time.Time{})
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.maxIdle || len(c.r.Buffered()) > 0 {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// close drains the pool: idle connections close now, busy ones when returned.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}
