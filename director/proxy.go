// Package director is the sidecar: it makes a changing set of Riak nodes look
// like one always-up localhost endpoint. This file is its PB proxy core:
// each request (not each connection) is balanced onto a pooled backend
// connection, streamed responses stay on one backend connection until done,
// and a request that failed before any byte reached the client is retried
// on another node when the protocol table says it is safe.
//
// Connection-scoped requests (RpbSetClientIdReq, RpbGetClientIdReq,
// RpbStartTls, RpbAuthReq) pin the client connection to one dedicated
// backend connection for the rest of its life: their effect lives in the
// backend connection's state.
package director

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// Config holds the PB proxy's settings. Zero values are the documented defaults.
type Config struct {
	// MaxFrameSize bounds a frame in either direction. Default protocol.DefaultMaxFrameSize.
	MaxFrameSize int
	// MaxConns caps client connections; more are closed at accept. Default 0: no cap.
	MaxConns int
	// IdleTimeout closes a client connection idle this long. Default 0: never.
	IdleTimeout time.Duration
	// RequestTimeout bounds one request, retries included. Default 10s.
	RequestTimeout time.Duration
	// DialTimeout bounds a backend dial. Default 2s.
	DialTimeout time.Duration
	// MaxIdlePerNode is the idle backend connections kept per node. Default 64.
	MaxIdlePerNode int
	// HealthInterval is the period of active RpbPingReq checks. Default 1s; negative disables.
	HealthInterval time.Duration
	// Health thresholds for active checks.
	Health balancer.HealthThresholds
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Dial, if set, replaces net.Dialer (tests).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if c.MaxFrameSize < 0 || c.MaxConns < 0 || c.MaxIdlePerNode < 0 {
		return errors.New("director: negative size or count in config")
	}
	if c.IdleTimeout < 0 || c.RequestTimeout < 0 || c.DialTimeout < 0 {
		return errors.New("director: negative timeout in config")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = protocol.DefaultMaxFrameSize
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.MaxIdlePerNode == 0 {
		c.MaxIdlePerNode = 64
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Dial == nil {
		d := &net.Dialer{Timeout: c.DialTimeout}
		c.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return c
}

// Proxy is the PB proxy. Create with NewProxy; feed it nodes with SetNodes.
type Proxy struct {
	cfg   Config
	nodes *balancer.Set

	mu      sync.Mutex
	pools   map[*balancer.Node]*pool
	conns   map[net.Conn]struct{}
	closing bool
	wg      sync.WaitGroup

	clients  atomic.Int64
	requests atomic.Uint64
	retries  atomic.Uint64
}

// NewProxy returns a proxy that balances with policy (nil: least outstanding).
func NewProxy(cfg Config, policy balancer.Policy, bs balancer.BreakerSettings) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Proxy{cfg: cfg.withDefaults(), nodes: balancer.NewSet(policy, bs), pools: map[*balancer.Node]*pool{}, conns: map[net.Conn]struct{}{}}, nil
}

// Nodes returns the current backend nodes (for status).
func (p *Proxy) Nodes() []*balancer.Node { return p.nodes.Nodes() }

// SetNodes replaces the backend set. Removed nodes are drained: no new
// requests; in-flight ones finish; their idle connections close.
func (p *Proxy) SetNodes(specs []balancer.NodeSpec) {
	added, removed := p.nodes.Update(specs)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range added {
		p.pools[n] = &pool{addr: n.PBAddr, dial: p.cfg.Dial, maxIdle: p.cfg.MaxIdlePerNode, maxFrame: p.cfg.MaxFrameSize}
	}
	for _, n := range removed {
		if pl := p.pools[n]; pl != nil {
			pl.close()
			delete(p.pools, n)
		}
	}
}

func (p *Proxy) pool(n *balancer.Node) *pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pools[n]
}

// Stats are the proxy's counters.
type Stats struct {
	Clients  int64
	Requests uint64
	Retries  uint64
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	return Stats{Clients: p.clients.Load(), Requests: p.requests.Load(), Retries: p.retries.Load()}
}

// Serve accepts client connections on ln until ctx ends or Shutdown.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	if p.cfg.HealthInterval > 0 {
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.healthLoop(ctx) }()
	}
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || p.isClosing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if p.cfg.MaxConns > 0 && p.clients.Load() >= int64(p.cfg.MaxConns) {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closing {
			p.mu.Unlock()
			c.Close()
			return nil
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		p.clients.Add(1)
		go p.serveClient(ctx, c)
	}
}

func (p *Proxy) isClosing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closing
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
// then closes everything.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	// Idle clients are waiting in a read: wake them; busy ones finish their request first.
	for c := range p.conns {
		_ = c.SetReadDeadline(time.Now())
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		<-done
	}
	p.mu.Lock()
	for n, pl := range p.pools {
		pl.close()
		delete(p.pools, n)
	}
	p.mu.Unlock()
	return err
}

// clientConn is one application connection.
type clientConn struct {
	net.Conn
	r      *protocol.Reader
	w      *bufio.Writer
	pinned *backendConn // set by a connection-scoped request
	node   *balancer.Node
}

func (p *Proxy) serveClient(ctx context.Context, c net.Conn) {
	defer p.wg.Done()
	cc := &clientConn{Conn: c, r: protocol.NewReader(c, p.cfg.MaxFrameSize), w: bufio.NewWriterSize(c, 16<<10)}
	defer func() {
		if cc.pinned != nil {
			cc.pinned.Close()
		}
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		p.clients.Add(-1)
		c.Close()
	}()
	for !p.isClosing() {
		if p.cfg.IdleTimeout > 0 {
			_ = c.SetReadDeadline(time.Now().Add(p.cfg.IdleTimeout))
		}
		f, err := cc.r.ReadFrame()
		switch {
		case err == nil:
		case errors.Is(err, protocol.ErrUnknownCode), errors.Is(err, protocol.ErrEmptyFrame):
			_, _ = c.Write(protocol.ErrorResp(err.Error(), 0))
			continue
		case errors.Is(err, protocol.ErrFrameTooLarge):
			_, _ = c.Write(protocol.ErrorResp(err.Error(), 0))
			return
		default:
			return // EOF, truncated frame, timeout: this connection only
		}
		_ = c.SetReadDeadline(time.Time{})
		msg, _ := protocol.Lookup(f.Code)
		if !msg.Request {
			_, _ = c.Write(protocol.ErrorResp(fmt.Sprintf("director: %s is not a request", f.Code), 0))
			continue
		}
		p.requests.Add(1)
		rctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
		ok := p.handle(rctx, cc, f, msg)
		cancel()
		if !ok {
			return
		}
	}
}

// handle proxies one request. It returns false when the client connection
// must close (a response failed after bytes reached the client).
func (p *Proxy) handle(ctx context.Context, cc *clientConn, f protocol.Frame, msg protocol.Message) bool {
	raw := cc.r.Raw()
	streams := msg.Streaming
	if msg.StreamFlag {
		streams, _ = protocol.RequestStreams(f.Code, f.Body)
	}
	if msg.ConnScoped || cc.pinned != nil {
		return p.handlePinned(ctx, cc, raw, streams)
	}
	var tried []*balancer.Node
	var lastErr error
	for attempt := 0; ; attempt++ {
		if ctx.Err() != nil {
			break
		}
		n := p.nodes.Pick(tried...)
		if n == nil {
			break
		}
		tried = append(tried, n)
		if attempt > 0 {
			p.retries.Add(1)
		}
		sent, relayed, err := p.roundTrip(ctx, n, cc, raw, streams)
		if err == nil {
			return cc.w.Flush() == nil
		}
		lastErr = err
		if relayed {
			return false // never a half-sent or duplicated response
		}
		cc.w.Reset(cc.Conn) // drop what this attempt buffered: the client saw none of it
		if sent && !msg.Retryable {
			break // the node may have applied a write: do not repeat it
		}
	}
	msgText := "director: no available Riak node"
	if lastErr != nil {
		msgText = "director: " + lastErr.Error()
	}
	cc.w.Reset(cc.Conn)
	_, err := cc.Write(protocol.ErrorResp(msgText, 0))
	return err == nil
}

// roundTrip sends raw to node n and relays the response into cc's buffer.
// sent reports that request bytes reached the backend; relayed that
// response bytes reached the client.
func (p *Proxy) roundTrip(ctx context.Context, n *balancer.Node, cc *clientConn, raw []byte, streams bool) (sent, relayed bool, err error) {
	done, err := n.Begin()
	if err != nil {
		return false, false, err
	}
	pl := p.pool(n)
	if pl == nil {
		done(balancer.Abandoned)
		return false, false, fmt.Errorf("node %s removed", n.ID)
	}
	bc, err := pl.get(ctx)
	if err != nil {
		done(balancer.Failure)
		return false, false, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = bc.SetDeadline(dl)
	}
	if _, err := bc.Write(raw); err != nil {
		bc.Close()
		done(balancer.Failure)
		return true, false, err
	}
	relayedBytes, err := relay(bc.r, cc.w, streams)
	if err != nil {
		bc.Close()
		done(balancer.Failure)
		return true, relayedBytes, err
	}
	done(balancer.Success)
	pl.put(bc)
	return true, relayedBytes, nil
}

// relay copies one response (all frames of a stream) from the backend to
// the client's buffer. Bytes only reach the client when the buffer fills
// (long streams) or on the caller's Flush; relayed reports the former.
func relay(br *protocol.Reader, w *bufio.Writer, streams bool) (relayed bool, err error) {
	for {
		f, err := br.ReadFrame()
		if err != nil && !errors.Is(err, protocol.ErrUnknownCode) {
			return relayed, err
		}
		before := w.Buffered()
		if _, err := w.Write(br.Raw()); err != nil {
			return true, err
		}
		if w.Buffered() < before+len(br.Raw()) {
			relayed = true // the buffer was flushed to the client
		}
		if !streams {
			return relayed, nil
		}
		last, err := protocol.StreamDone(f.Code, f.Body)
		if err != nil {
			return relayed, err
		}
		if last {
			return relayed, nil
		}
	}
}

// handlePinned serves a connection-scoped client on its dedicated backend connection.
func (p *Proxy) handlePinned(ctx context.Context, cc *clientConn, raw []byte, streams bool) bool {
	if cc.pinned == nil {
		n := p.nodes.Pick()
		if n == nil {
			_, err := cc.Write(protocol.ErrorResp("director: no available Riak node", 0))
			return err == nil
		}
		c, err := p.cfg.Dial(ctx, n.PBAddr)
		if err != nil {
			_, err := cc.Write(protocol.ErrorResp("director: "+err.Error(), 0))
			return err == nil
		}
		cc.pinned, cc.node = &backendConn{Conn: c, r: protocol.NewReader(c, p.cfg.MaxFrameSize)}, n
	}
	if _, err := cc.pinned.Write(raw); err != nil {
		return false
	}
	if _, err := relay(cc.pinned.r, cc.w, streams); err != nil {
		return false // the pinned state is gone with the backend: so is the client's
	}
	return cc.w.Flush() == nil
}

var pingFrame = protocol.AppendFrame(nil, protocol.CodePingReq, nil)

// healthLoop pings every node each HealthInterval and records the result.
func (p *Proxy) healthLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p.isClosing() {
			return
		}
		for _, n := range p.nodes.Nodes() {
			ok := p.ping(ctx, n)
			if n.RecordCheck(ok, p.cfg.Health) {
				p.cfg.Logger.Info("node health changed", "node", n.ID, "healthy", ok)
			}
		}
	}
}

func (p *Proxy) ping(ctx context.Context, n *balancer.Node) bool {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.HealthInterval)
	defer cancel()
	c, err := p.cfg.Dial(ctx, n.PBAddr)
	if err != nil {
		return false
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	if _, err := c.Write(pingFrame); err != nil {
		return false
	}
	f, err := protocol.NewReader(c, 1024).ReadFrame()
	return err == nil && f.Code == protocol.CodePingResp
}
