package testutil

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// proxyMode is what a Proxy does with traffic.
type proxyMode int

const (
	proxyOpen      proxyMode = iota // forward
	proxyBlocked                    // drop connections, refuse new ones
	proxyBlackhole                  // stall: forward nothing, close nothing
)

// Proxy is a fault-injecting TCP proxy on 127.0.0.1 for one target address.
//
// Typical use is simulating ZooKeeper session expiry: connect a client
// through the proxy with a short session timeout, Block for longer than the
// timeout (the server expires the session meanwhile), Unblock; the client
// reconnects, is told its session expired and starts a new one.
//
// The proxy is closed by a t.Cleanup registered in NewProxy (StartProxy,
// for a caller that is not a test, leaves Close to it).
type Proxy struct {
	// Addr is the proxy's listen address, "127.0.0.1:PORT".
	Addr   string
	target string
	ln     net.Listener

	mu      sync.Mutex
	mode    proxyMode
	changed chan struct{} // closed and replaced on every mode change
	closed  bool
	conns   map[net.Conn]struct{} // both sides of every live connection
	clients map[net.Conn]struct{} // the client side of each
	refuse  func(client net.Conn) bool
	wg      sync.WaitGroup
}

// NewProxy starts a proxy forwarding 127.0.0.1:0 to target.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := StartProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// StartProxy is NewProxy for a caller that is not a test (the fault
// suite): it closes the proxy itself.
func StartProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testutil: proxy listen: %w", err)
	}
	p := &Proxy{
		Addr:    ln.Addr().String(),
		target:  target,
		ln:      ln,
		changed: make(chan struct{}),
		conns:   make(map[net.Conn]struct{}),
		clients: make(map[net.Conn]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Block drops every existing connection and, until Unblock, closes new
// connections as soon as they are accepted: the target looks unreachable.
func (p *Proxy) Block() {
	p.setMode(proxyBlocked)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
}

// Blackhole stalls all traffic without closing anything: existing
// connections stop forwarding and new connections are accepted but not
// connected to the target, like a silent network partition. Unblock resumes
// forwarding (data read meanwhile is delivered late).
func (p *Proxy) Blackhole() { p.setMode(proxyBlackhole) }

// BlockClients cuts off only the clients refuse picks (a partition of one
// host while the target stays up for the others): their connections are
// dropped and, until Unblock, their new ones closed at once.
func (p *Proxy) BlockClients(refuse func(client net.Conn) bool) {
	p.mu.Lock()
	p.refuse = refuse
	var cut []net.Conn
	for c := range p.clients {
		cut = append(cut, c)
	}
	p.mu.Unlock()
	for _, c := range cut {
		if refuse(c) {
			_ = c.Close() // serve tears the target side down
		}
	}
}

// Unblock returns to forwarding, for every client.
func (p *Proxy) Unblock() {
	p.mu.Lock()
	p.refuse = nil
	p.mu.Unlock()
	p.setMode(proxyOpen)
}

// Close stops the proxy, closes every connection and waits for its
// goroutines. It is idempotent.
func (p *Proxy) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.changed)
		_ = p.ln.Close()
		for c := range p.conns {
			_ = c.Close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) setMode(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == m {
		return
	}
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
}

// pass blocks while the proxy is blackholed and reports whether traffic may
// flow (false: blocked or closed, the caller drops its connection).
func (p *Proxy) pass() bool {
	for {
		p.mu.Lock()
		mode, closed, changed := p.mode, p.closed, p.changed
		p.mu.Unlock()
		switch {
		case closed || mode == proxyBlocked:
			return false
		case mode == proxyOpen:
			return true
		}
		<-changed
	}
}

// track registers c for Block/Close; it reports false (and closes c) when
// the proxy is already closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	p.mu.Lock()
	p.clients[client] = struct{}{}
	refuse := p.refuse
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.clients, client)
		p.mu.Unlock()
	}()
	if refuse != nil && refuse(client) || !p.pass() {
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	go p.pump(server, client, done) // client -> server
	go p.pump(client, server, done) // server -> client
	<-done
	// One direction ended: tear down both so the peer sees it promptly.
	_ = client.Close()
	_ = server.Close()
	<-done
}

// pump copies src to dst, consulting the proxy mode before every write.
func (p *Proxy) pump(dst, src net.Conn, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.pass() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
