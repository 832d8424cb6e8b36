package director

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rmf-go/rmf/balancer"
)

// Proxy is the director's PB proxy, and the home of its HTTP proxy
// (HTTPHandler) and admin views (AdminHandler). Make one with NewProxy.
//
// Feed it nodes with SetNodes (static list, discovery), serve listeners with
// Serve, and end it with Shutdown (graceful) or Close (immediate), which
// also stop its health checkers and close its backend connections.
type Proxy struct {
	cfg Config // with defaults resolved (NewProxy)
	set *balancer.Set
	log *slog.Logger

	// base lives until Close or a forced Shutdown: it bounds dials and
	// health checks.
	base       context.Context
	cancelBase context.CancelFunc
	done       chan struct{} // closed by Shutdown/Close
	closing    atomic.Bool
	sem        chan struct{} // MaxConns slots, nil without a cap

	// states maps each current node to its pool and health checker. Read
	// per request without a lock; replaced under mu.
	states atomic.Pointer[map[*balancer.Node]*nodeState]

	home  metaHome // where cluster-metadata requests go (sticky.go)
	hedge hedger   // hedged reads (hedge.go)
	// confirm is not-found confirmation (confirm.go).
	confirm confirmer
	// seeded: the first node set is in; nodes added later are new to the
	// cluster (in transition until settled).
	seeded bool

	mu        sync.Mutex
	running   bool // health checkers run from the first Serve until Shutdown
	listeners map[net.Listener]struct{}
	conns     map[*clientConn]struct{}
	drained   []*nodeState // removed nodes whose busy connections may linger
	clientWG  sync.WaitGroup
	healthWG  sync.WaitGroup
	// tuneCancel ends tuneLoop (health.go); set with running.
	tuneCancel context.CancelFunc

	// Counters (see Stats). Per-request counts live on each connection and
	// are folded in here when it closes, so the hot path touches no shared
	// cache line.
	accepted, closedRequests                         atomic.Uint64
	retries, failovers, errorsSent, noNode, timeouts atomic.Uint64
	ejections, writeRepeats                          atomic.Uint64
	typeSettleWaits, typeUnsettled                   atomic.Uint64
	protocolErrors, clientAborts, midStreamCloses    atomic.Uint64
	pinnedNow, tunnelsNow                            atomic.Int64

	// http is the Riak HTTP proxy (httpproxy.go, HTTPHandler).
	http httpProxy

	// table is the connection table (table.go); nil when disabled.
	table *Table
	// lat holds each node's request latencies by node ID (guarded by mu;
	// the histograms themselves are atomic).
	lat map[string]*nodeLatency
}

// nodeState is what the proxy keeps per node besides the balancer's Node.
type nodeState struct {
	node   *balancer.Node
	lat    *nodeLatency // request latency through this node (atomic)
	pool   *pool
	cancel context.CancelFunc // stops the health checker
	health healthStatus
	// checkFailed: the last active check failed (checkLoop only).
	checkFailed bool
	http        httpBackend // the HTTP proxy's connections (httpproxy.go)
}

// NewProxy validates cfg, resolves its defaults and returns a proxy with
// no nodes, serving nothing yet. It is the only way to make a Proxy.
func NewProxy(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Proxy{
		cfg:       cfg.withDefaults(),
		done:      make(chan struct{}),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*clientConn]struct{}{},
		lat:       map[string]*nodeLatency{},
	}
	p.log = p.cfg.Logger
	user := p.cfg.Breaker.OnStateChange
	p.cfg.Breaker.OnStateChange = func(node string, from, to balancer.BreakerState) {
		if to == balancer.BreakerOpen {
			p.log.Warn("director: circuit breaker open", "node", node, "from", from)
		} else {
			p.log.Info("director: circuit breaker "+to.String(), "node", node, "from", from)
		}
		if user != nil {
			user(node, from, to)
		}
	}
	p.set = balancer.NewSet(p.cfg.Policy, p.cfg.Breaker)
	if err := p.set.SetOutlierSettings(p.cfg.Outliers); err != nil {
		return nil, err
	}
	p.hedge.floor, p.hedge.budget = p.cfg.HedgeDelay, p.cfg.HedgeBudget
	p.hedge.tokens.Store(hedgeBurst * hedgeToken)
	if p.hedge.enabled() {
		// Until the tune loop's first pass: hedging is on from the first
		// request, not from whenever that goroutine first runs.
		p.hedge.delay.Store(int64(p.cfg.HedgeDelay))
	}
	p.confirm.mode, p.confirm.budget = p.cfg.ConfirmNotFound, p.cfg.ConfirmBudget
	p.confirm.trans = newTransitions(p.cfg.TransitionSettle)
	p.confirm.tokens.Store(confirmBurst * hedgeToken)
	p.base, p.cancelBase = context.WithCancel(context.Background())
	if p.cfg.MaxConns > 0 {
		p.sem = make(chan struct{}, p.cfg.MaxConns)
	}
	empty := map[*balancer.Node]*nodeState{}
	p.states.Store(&empty)
	if !p.cfg.DisableConnTable {
		p.table = newTable()
	}
	p.http.setup(p)
	return p, nil
}

// Nodes returns the current nodes (for status and tests). Do not modify it.
func (p *Proxy) Nodes() []*balancer.Node {
	return p.set.Nodes()
}

// nodeHealthy reports whether the node with this ID is in the set and
// passes its health checks.
func (p *Proxy) nodeHealthy(id string) bool {
	for _, n := range p.set.Nodes() {
		if n.ID == id {
			return n.Healthy()
		}
	}
	return false
}

// SetNodes makes specs the backend set (node ID = PB address for static
// lists; the Riak node name with discovery). A node whose ID and addresses
// are unchanged keeps its breaker, health and pool. Removed nodes are
// drained: no new requests; in-flight ones finish; idle connections close
// now and busy ones when their request ends.
func (p *Proxy) SetNodes(specs []balancer.NodeSpec) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing.Load() {
		return
	}
	added, removed := p.set.Update(specs)
	if len(added) == 0 && len(removed) == 0 {
		return
	}
	old := *p.states.Load()
	next := make(map[*balancer.Node]*nodeState, len(old)+len(added))
	for n, st := range old {
		next[n] = st
	}
	for _, n := range removed {
		if st := next[n]; st != nil {
			delete(next, n)
			if st.cancel != nil {
				st.cancel()
			}
			st.pool.drain()
			st.http.close(false)
			p.drained = append(p.drained, st)
			p.table.setNode(NodeRow{ID: n.ID, PBAddr: n.PBAddr, HTTPAddr: n.HTTPAddr, State: NodeDraining})
		}
	}
	now := time.Now()
	for _, n := range added {
		if p.seeded {
			p.confirm.trans.cameBack(n.ID, now)
		}
		st := &nodeState{node: n, pool: newPool(n, &p.cfg)}
		st.pool.table = p.table
		if st.lat = p.lat[n.ID]; st.lat == nil {
			st.lat = &nodeLatency{}
			p.lat[n.ID] = st.lat
		}
		p.table.setNode(NodeRow{ID: n.ID, PBAddr: n.PBAddr, HTTPAddr: n.HTTPAddr, State: tableNodeState(n.Available())})
		next[n] = st
		if p.running {
			p.startCheckerLocked(st)
		}
	}
	p.states.Store(&next)
	p.seeded = true
	p.pruneDrainedLocked()
}

// pruneDrainedLocked forgets drained pools whose last connection has
// closed, and their table rows unless a node with the same ID is back.
// p.mu is held.
func (p *Proxy) pruneDrainedLocked() {
	if len(p.drained) == 0 {
		return
	}
	current := map[string]bool{}
	for n := range *p.states.Load() {
		current[n.ID] = true
	}
	var gone []string
	kept := p.drained[:0]
	for _, st := range p.drained {
		if open, _ := st.pool.counts(); open > 0 {
			kept = append(kept, st)
			current[st.node.ID] = true // still draining
		} else {
			gone = append(gone, st.node.ID)
		}
	}
	clear(p.drained[len(kept):])
	p.drained = kept
	for _, id := range gone {
		if !current[id] {
			p.table.dropNode(id)
		}
	}
}

// state returns the proxy's state of n, nil if n was removed meanwhile.
func (p *Proxy) state(n *balancer.Node) *nodeState { return (*p.states.Load())[n] }

// Serve accepts client connections on ln and serves each on its own
// goroutine until ctx ends (the listener and the connections it accepted
// are closed at once), or Shutdown or Close (ErrProxyClosed). Serve may be
// called for several listeners. The first call starts the health checkers.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	p.mu.Lock()
	if p.closing.Load() {
		p.mu.Unlock()
		_ = ln.Close()
		return ErrProxyClosed
	}
	p.listeners[ln] = struct{}{}
	p.startHealthLocked()
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.listeners, ln)
		p.mu.Unlock()
	}()
	// Connections are tied to ctx, not to this call: after Shutdown, Serve
	// returns while they finish their requests.
	sctx := ctx
	stop := context.AfterFunc(sctx, func() { _ = ln.Close() })
	defer stop()

	var backoff time.Duration
	for {
		if p.sem != nil {
			select {
			case p.sem <- struct{}{}:
			case <-sctx.Done():
				return nil
			case <-p.done:
				return ErrProxyClosed
			}
		}
		nc, err := ln.Accept()
		if err != nil {
			p.release()
			switch {
			case p.closing.Load():
				return ErrProxyClosed
			case sctx.Err() != nil:
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of file descriptors or a transient error: back off
				// like net/http instead of spinning.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				p.log.Warn("director: accept failed; retrying", "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-sctx.Done():
				}
				continue
			}
			return err
		}
		backoff = 0
		cc := newClientConn(p, nc)
		p.mu.Lock()
		if p.closing.Load() {
			p.mu.Unlock()
			p.release()
			_ = nc.Close()
			return ErrProxyClosed
		}
		p.conns[cc] = struct{}{}
		cc.tableID = p.table.addClient(nc.RemoteAddr().String())
		p.clientWG.Add(1)
		p.mu.Unlock()
		p.accepted.Add(1)
		go p.runClient(sctx, cc)
	}
}

// runClient is a client connection's goroutine, labelled for profiles and
// goroutine dumps.
func (p *Proxy) runClient(ctx context.Context, cc *clientConn) {
	defer p.clientWG.Done()
	defer p.release()
	stop := context.AfterFunc(ctx, func() { _ = cc.nc.Close() })
	defer stop()
	pprof.Do(ctx, pprof.Labels("director", "pb-client"), func(context.Context) { cc.serve() })
	p.mu.Lock()
	delete(p.conns, cc)
	p.mu.Unlock()
	p.closedRequests.Add(cc.requests.Load())
}

func (p *Proxy) release() {
	if p.sem != nil {
		<-p.sem
	}
}

// Shutdown stops the proxy gracefully: listeners close, idle client
// connections close, and each busy one closes once its current request
// has been answered. If ctx ends first, everything is closed at once and
// ctx's error returned. Health checkers stop and backend connections close.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.beginClose()
	wait := make(chan struct{})
	go func() { p.clientWG.Wait(); p.http.wg.Wait(); close(wait) }()
	var err error
	select {
	case <-wait:
	case <-ctx.Done():
		err = ctx.Err()
		p.forceClose()
		<-wait
	}
	p.finishClose()
	return err
}

// Close stops the proxy at once: every connection closes, in-flight
// requests fail.
func (p *Proxy) Close() error {
	p.beginClose()
	p.forceClose()
	p.clientWG.Wait()
	p.http.wg.Wait()
	p.finishClose()
	return nil
}

func (p *Proxy) beginClose() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closing.Swap(true) {
		close(p.done)
	}
	for ln := range p.listeners {
		_ = ln.Close()
	}
	// A connection waiting for its next request wakes up and sees closing;
	// one in a request answers it first (it does not read the client
	// meanwhile).
	now := time.Now()
	for cc := range p.conns {
		_ = cc.nc.SetReadDeadline(now)
	}
}

func (p *Proxy) forceClose() {
	p.mu.Lock()
	for cc := range p.conns {
		_ = cc.nc.Close()
	}
	states := *p.states.Load()
	drained := append([]*nodeState(nil), p.drained...)
	p.mu.Unlock()
	for _, st := range states {
		st.pool.closeAll()
	}
	for _, st := range drained {
		st.pool.closeAll()
	}
	p.cancelBase()
}

func (p *Proxy) finishClose() {
	p.mu.Lock()
	states := *p.states.Load()
	for _, st := range states {
		if st.cancel != nil {
			st.cancel()
		}
	}
	if p.tuneCancel != nil {
		p.tuneCancel()
	}
	drained := p.drained
	p.drained = nil
	p.mu.Unlock()
	p.healthWG.Wait()
	for _, st := range states {
		st.pool.closeAll()
	}
	for _, st := range drained {
		st.pool.closeAll()
	}
	p.http.closeAll()
	p.cancelBase()
}

// Stats is a snapshot of the proxy's counters.
type Stats struct {
	ClientConns      int    // open client connections
	ClientConnsTotal uint64 // accepted since start
	PinnedConns      int64  // client connections pinned to a backend connection
	Tunnels          int64  // pinned connections relaying raw bytes after RpbStartTls
	Requests         uint64 // requests read from clients
	Retries          uint64 // attempts after a request's first (failovers and stale-connection retries)
	Failovers        uint64 // requests answered by another node than the first one tried
	WriteRepeats     uint64 // writes sent to another node after their connection broke (Config.RetryWrites)
	TypeSettleWaits  uint64 // polls of a node that did not show a bucket-type change yet (PB handleSetBucketType, HTTP holdTypeChange)
	TypeUnsettled    uint64 // bucket-type changes answered before their node showed them (2 s passed, the home moved, a poll failed)
	ErrorsSent       uint64 // RpbErrorResp made by the director (not relayed from Riak)
	NoNode           uint64 // requests answered "no available Riak node"
	Timeouts         uint64 // attempts that hit TryTimeout or RequestTimeout
	ProtocolErrors   uint64 // bad client frames (unknown code, oversized, not a request, ...)
	ClientAborts     uint64 // client connections lost in the middle of an answer
	MidStreamCloses  uint64 // client connections closed because a node failed after part of an answer was relayed
	HedgesSent       uint64 // reads also sent to a second node after the hedge delay
	HedgeWins        uint64 // hedged reads the second node answered first
	HedgesDenied     uint64 // hedges the budget refused
	Ejections        uint64 // outlier ejections of any node
	Confirms         uint64 // "not found" answers asked again of another node (confirm.go)
	ConfirmsFound    uint64 // of which another node found the object: false "not found" kept from the client
	ConfirmsDenied   uint64 // confirmations the budget refused
	HTTPRequests     uint64 // HTTP requests received (HTTPHandler)
	HTTPRetries      uint64 // HTTP attempts after a request's first
	HTTPFailovers    uint64 // HTTP requests answered by another node than the first one tried
	HTTPWriteRepeats uint64 // HTTP writes sent to another node after their connection broke
	HTTPErrors       uint64 // HTTP error responses made by the director (400, 413, 502, 503, 504; not relayed from Riak)
	HTTPNoNode       uint64 // HTTP requests no node answered (503 or 502)
	HTTPAborts       uint64 // HTTP responses cut short because a node failed after the status was relayed
	Nodes            []NodeStats
}

// NodeStats is one node's state and counters.
type NodeStats struct {
	ID, PBAddr, HTTPAddr string
	Available            bool // selectable: healthy and breaker not open
	Healthy              bool
	Breaker              balancer.BreakerState
	Outstanding          int64
	Requests, Failures   uint64 // finished requests and transport failures (breaker input)
	ConnsOpen, ConnsIdle int
	Dials, DialErrors    uint64
	Reused, StaleDropped uint64 // pooled connections reused; found dead by the liveness peek
	LastCheck            time.Time
	LastCheckOK          bool
	LastCheckErr         string
	LastCheckRTT         time.Duration
	LatencyEWMA          time.Duration // peak-sensitive moving average (0: no answer yet)
	Ejected              bool          // taken out as an outlier until EjectedUntil
	EjectedUntil         time.Time
	Ejections            uint64  // outlier ejections so far
	Weight               float64 // 1 normally, 0 ejected, the slow-start ramp after
	InTransition         bool    // may lack data handoff will bring (confirm.go)
}

// Stats returns a snapshot of the counters and of every current node.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	s := Stats{ClientConns: len(p.conns)}
	reqs := p.closedRequests.Load()
	for cc := range p.conns {
		reqs += cc.requests.Load()
	}
	p.mu.Unlock()
	s.ClientConnsTotal = p.accepted.Load()
	s.PinnedConns, s.Tunnels = p.pinnedNow.Load(), p.tunnelsNow.Load()
	s.Requests, s.Retries, s.Failovers = reqs, p.retries.Load(), p.failovers.Load()
	s.ErrorsSent, s.NoNode, s.Timeouts = p.errorsSent.Load(), p.noNode.Load(), p.timeouts.Load()
	s.ProtocolErrors, s.ClientAborts, s.MidStreamCloses = p.protocolErrors.Load(), p.clientAborts.Load(), p.midStreamCloses.Load()
	s.HedgesSent, s.HedgeWins, s.HedgesDenied = p.hedge.sent.Load(), p.hedge.wins.Load(), p.hedge.denied.Load()
	s.Ejections, s.WriteRepeats = p.ejections.Load(), p.writeRepeats.Load()
	s.TypeSettleWaits, s.TypeUnsettled = p.typeSettleWaits.Load(), p.typeUnsettled.Load()
	s.Confirms, s.ConfirmsFound, s.ConfirmsDenied = p.confirm.sent.Load(), p.confirm.corrected.Load(), p.confirm.denied.Load()
	p.http.stats(&s)
	states := *p.states.Load()
	for _, n := range p.set.Nodes() {
		ns := NodeStats{
			ID: n.ID, PBAddr: n.PBAddr, HTTPAddr: n.HTTPAddr,
			Available: n.Available(), Healthy: n.Healthy(), Breaker: n.Breaker(),
			Outstanding: n.Outstanding(), Requests: n.Requests(), Failures: n.Failures(),
			LatencyEWMA: n.LatencyEWMA(), Ejected: n.Ejected(), EjectedUntil: n.EjectedUntil(), Ejections: n.Ejections(), Weight: n.Weight(),
			InTransition: p.confirm.trans.inTransition(n, time.Now()),
		}
		if st := states[n]; st != nil {
			ns.ConnsOpen, ns.ConnsIdle = st.pool.counts()
			ns.Dials, ns.DialErrors = st.pool.dials.Load(), st.pool.dialErrors.Load()
			ns.Reused, ns.StaleDropped = st.pool.reused.Load(), st.pool.staleDropped.Load()
			h := st.health.snapshot()
			ns.LastCheck, ns.LastCheckOK, ns.LastCheckErr, ns.LastCheckRTT = h.at, h.ok, h.err, h.rtt
		}
		s.Nodes = append(s.Nodes, ns)
	}
	return s
}

// ConnInfo describes one client connection (for the admin page and the
// connection table).
type ConnInfo struct {
	Remote   string
	Since    time.Time
	Requests uint64
	Pinned   string // node ID of the pinned backend connection, if any
	Tunnel   bool
}

// Conns returns the open client connections.
func (p *Proxy) Conns() []ConnInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ConnInfo, 0, len(p.conns))
	for cc := range p.conns {
		ci := ConnInfo{Remote: cc.nc.RemoteAddr().String(), Since: cc.since, Requests: cc.requests.Load(), Tunnel: cc.tunnel.Load()}
		if n := cc.pinNode.Load(); n != nil {
			ci.Pinned = n.ID
		}
		out = append(out, ci)
	}
	return out
}
