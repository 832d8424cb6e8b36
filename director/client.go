package director

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// reqInfo is the protocol table reduced to what the hot path needs.
type reqInfo struct {
	request, retryable, streaming, streamFlag, connScoped, metadata bool
	// timed: the answer's time says how fast the node is, so it feeds the
	// node's latency estimate (and through it the policy and the outlier
	// checks): objects, counters, data types and ping, as on the HTTP side.
	// Not cluster metadata (Riak creates a search index on every node
	// before it answers: 1.5 s against real Riak, which ejected the node
	// that took it), searches (Solr's time) or queries and listings.
	timed bool
	name  string
}

// timedCodes are the requests whose answer time is the node's (reqInfo.timed).
var timedCodes = []protocol.Code{protocol.CodeGetReq, protocol.CodePutReq, protocol.CodeDelReq,
	protocol.CodeCounterGetReq, protocol.CodeCounterUpdateReq, protocol.CodeDtFetchReq, protocol.CodeDtUpdateReq,
	protocol.CodePingReq}

var reqTable = func() (t [256]reqInfo) {
	for _, m := range protocol.Messages() {
		t[m.Code] = reqInfo{request: m.Request, retryable: m.Retryable, streaming: m.Streaming,
			streamFlag: m.StreamFlag, connScoped: m.ConnScoped, metadata: m.Metadata, name: m.Name}
	}
	for _, c := range timedCodes {
		t[c].timed = true
	}
	return t
}()

const (
	initialOut = 4 << 10
	// pendingFlush: answers to pipelined requests are collected and
	// written together, at the latest once this much is pending.
	pendingFlush = 64 << 10
	// streamFlush: a streamed answer is written once this much is
	// pending, or whenever the node has nothing more buffered.
	streamFlush = 32 << 10
	// maxRetainedOut: a write buffer grown past this by a big answer is
	// dropped after the write.
	maxRetainedOut = 1 << 20
	// lingerTime and lingerBytes bound how long, and how much, a client
	// connection closed after an oversized frame is drained so that the
	// error reaches it instead of a reset.
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

// clientConn is one application connection, served by one goroutine that
// reads a request, does the backend round trip itself and writes the
// answer: no hand-off between goroutines per request.
type clientConn struct {
	p     *Proxy
	nc    net.Conn
	io    fastConn // reads and writes nc
	rd    *protocol.Reader
	out   []byte // answers not yet written, in request order
	since time.Time

	requests atomic.Uint64

	// now is when the current frame was read: the one clock reading of a
	// request (time.Now costs a vDSO call, more in a VM).
	now time.Time
	// Deadlines last set on nc; refreshed only when they get close, so
	// most requests set none.
	readDL, writeDL time.Time

	// fo is the attempt engine of the current request (retry.go); its
	// tried list is reused from request to request.
	fo failover
	// relayed: part of the current answer has been written to the client,
	// so it can no longer be retried or replaced by an error.
	relayed bool
	// lastCode is the code of the last frame relayed; reqCode is the
	// current request's.
	lastCode, reqCode protocol.Code

	// tableID is the connection's row in the connection table.
	tableID string

	// hold keeps the current answer in out (not written straight from the
	// node's buffer), so it can be looked at and replaced (handleGet).
	hold bool
	// avoid lists nodes the current request is not sent to (handleGet's
	// confirmation); answeredBy is the node that answered it, or nil.
	avoid      []*balancer.Node
	answeredBy *balancer.Node
	// refusal is the last "Unknown message code" answer of a node to the
	// current request (errNotServed), relayed as it came when every node
	// tried gave it.
	refusal []byte

	// after runs once serving ends, before the connection closes: what
	// reads the client itself (a tunnel, a linger), which it cannot do
	// inside pollRead.
	after func()

	pinned  *backendConn // set by the first connection-scoped request
	pinNode atomic.Pointer[balancer.Node]
	tunnel  atomic.Bool
}

func newClientConn(p *Proxy, nc net.Conn) *clientConn {
	c := &clientConn{
		p: p, nc: nc, since: time.Now(),
		out: make([]byte, 0, initialOut),
		fo:  failover{tried: make([]*balancer.Node, 0, p.cfg.MaxAttempts+1)},
	}
	c.io.init(nc)
	c.rd = protocol.NewReader(&c.io, p.cfg.MaxFrameSize)
	return c
}

// serve runs the connection until the client leaves, a fatal protocol
// error, a failure after part of an answer was relayed, or shutdown.
func (c *clientConn) serve() {
	defer c.close()
	// Inside the socket's own read where it can (fastConn.pollRead), so
	// that waiting for the next request costs no read that finds nothing.
	// An idle timeout needs to know when each wait begins, so with one
	// the socket is read until it is empty, as a plain read does.
	skip := c.p.cfg.IdleTimeout <= 0
	for {
		// err is nil when serving ended by its own decision (step).
		polled, err := c.io.pollRead(skip, c.serveReady)
		if !polled {
			for c.step() == stepOn {
			}
			break
		}
		if err == nil {
			break
		}
		if skip && isTimeout(err) && !c.p.closing.Load() {
			// endCheck's deadline: read again, with no deadline.
			c.readDL = time.Time{}
			_ = c.nc.SetReadDeadline(c.readDL)
			if !c.p.closing.Load() { // Shutdown's deadline may have just been cleared
				continue
			}
		}
		c.readError(nil, err) // the wait ended: idle, shutdown, closed
		break
	}
	if c.after != nil {
		c.after()
	}
}

// endCheck bounds a wait that follows a read skipped after a short one
// (errReadSkipped). A short read proves that no data was left, not that
// no end of stream or reset was: a FIN that came with the request, its
// wakeup spent before the read, would otherwise wait unseen for good.
// Such a wait therefore has a read deadline between endCheck and 1.1 x
// endCheck after the request came; when it passes, the socket is read
// again and the next wait has none. A busy connection moves its deadline
// every 0.1 x endCheck; an idle one wakes once.
const endCheck = time.Second

// armEndCheck keeps the read deadline of a wait after a skipped read
// within endCheck of the current request (see endCheck).
func (c *clientConn) armEndCheck() {
	if !c.readDL.IsZero() && c.readDL.Sub(c.now) >= endCheck {
		return
	}
	c.readDL = c.now.Add(endCheck * 11 / 10)
	_ = c.nc.SetReadDeadline(c.readDL)
}

// serveReady serves what the client has sent until it must wait for
// more (false) or the connection ends (true): pollRead's step.
func (c *clientConn) serveReady() bool {
	for {
		switch c.step() {
		case stepWait:
			return false
		case stepEnd:
			return true
		}
	}
}

// stepResult says how serving goes on after one step.
type stepResult int

const (
	stepOn   stepResult = iota // serve the next request
	stepWait                   // wait until the client's socket is readable (polled only)
	stepEnd                    // close the connection
)

// errWouldBlock: the client's socket has nothing to read now (polled
// serving, fastConn.pollRead); the frame so far stays buffered.
// errReadSkipped: the same, learned from a short read without reading
// again, so the wait must be bounded (endCheck).
var (
	errWouldBlock  = errors.New("director: nothing to read yet")
	errReadSkipped = errors.New("director: nothing to read yet (the last read was short)")
)

// step serves one request: it writes the pending answers when no whole
// request is buffered, reads the next request and handles it.
func (c *clientConn) step() stepResult {
	p := c.p
	if !c.frameBuffered() {
		// About to wait for the client: write what is pending first.
		if c.flush() != nil {
			return stepEnd
		}
		if p.closing.Load() {
			return stepEnd
		}
		if p.cfg.IdleTimeout > 0 {
			c.refreshReadDeadline()
			// Shutdown may have set its past deadline just before ours.
			if p.closing.Load() {
				return stepEnd
			}
		}
	} else if p.closing.Load() {
		return stepEnd
	}
	raw, code, err := c.rd.ReadRaw()
	switch err {
	case errReadSkipped:
		c.armEndCheck()
		if p.closing.Load() { // Shutdown's deadline may have been moved
			return stepEnd
		}
		return stepWait
	case errWouldBlock:
		return stepWait
	}
	c.now = time.Now()
	if err != nil {
		if !c.readError(raw, err) {
			return stepEnd
		}
		return stepOn
	}
	c.requests.Add(1)
	if !c.handle(raw, code) {
		return stepEnd
	}
	if len(c.out) >= pendingFlush && c.flush() != nil {
		return stepEnd
	}
	return stepOn
}

// frameBuffered reports whether a whole request frame is already buffered
// (the client pipelines), so answers can wait to be written together.
func (c *clientConn) frameBuffered() bool {
	b := c.rd.Buffered()
	return len(b) >= 4 && uint64(len(b)-4) >= uint64(binary.BigEndian.Uint32(b))
}

// readError handles a frame the client sent that cannot be proxied. It
// reports whether the connection goes on.
func (c *clientConn) readError(raw []byte, err error) bool {
	p := c.p
	switch {
	case errors.Is(err, protocol.ErrUnknownCode):
		// The whole frame was consumed: answer and go on, in Riak's own
		// words for a code no service handles (riak_api_pb_server), as a
		// client of one node hears them.
		p.protocolErrors.Add(1)
		c.errorResp(protocol.UnknownCodeMsg(protocol.Code(raw[4])))
		return true
	case errors.Is(err, protocol.ErrEmptyFrame):
		p.protocolErrors.Add(1)
		c.errorResp("director: empty frame: a message needs at least a code byte")
		return true
	case errors.Is(err, protocol.ErrFrameTooLarge):
		// The body was not read, so the stream is no longer aligned.
		p.protocolErrors.Add(1)
		c.errorResp(fmt.Sprintf("director: frame too large: the limit is %d bytes", p.cfg.MaxFrameSize))
		if c.flush() == nil {
			c.after = c.linger // it reads the client: not inside pollRead
		}
		return false
	case errors.Is(err, protocol.ErrTruncatedFrame):
		p.protocolErrors.Add(1)
		p.log.Debug("director: truncated frame from client", "remote", c.nc.RemoteAddr(), "err", err)
	case err == io.EOF || p.closing.Load():
	default:
		p.log.Debug("director: client connection ends", "remote", c.nc.RemoteAddr(), "err", err)
	}
	return false
}

// linger half-closes the connection and discards what the client still
// sends for a moment, so that closing does not reset the connection before
// the client has read the last answer.
func (c *clientConn) linger() {
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, c.nc, lingerBytes)
}

// handle answers one request. It reports whether the connection goes on.
func (c *clientConn) handle(raw []byte, code protocol.Code) bool {
	c.reqCode = code
	info := &reqTable[code]
	if !info.request {
		c.p.protocolErrors.Add(1)
		c.errorResp("director: " + info.name + " is not a request")
		return true
	}
	streams := info.streaming
	if info.streamFlag {
		s, err := protocol.RequestStreams(code, raw[protocol.HeaderSize:])
		if err != nil {
			c.p.protocolErrors.Add(1)
			c.errorResp("director: malformed " + info.name + ": " + err.Error())
			return true
		}
		streams = s
	}
	if c.pinned != nil || info.connScoped {
		return c.handlePinned(raw, code, streams)
	}
	sticky := c.p.home.sticky(info.metadata, c.now)
	switch code {
	case protocol.CodeGetReq:
		return c.handleGet(raw, sticky)
	case protocol.CodeSetBucketTypeReq:
		return c.handleSetBucketType(raw)
	}
	return c.handleBalanced(raw, streams, info.retryable, sticky, info.metadata && !info.retryable)
}

// startFailover resets c.fo for a request with the given budget.
func (c *clientConn) startFailover(idempotent bool, deadline time.Time, counted bool) *failover {
	f := &c.fo
	*f = failover{p: c.p, idempotent: idempotent, deadline: deadline, tried: f.tried[:0]}
	if counted {
		f.retries, f.failovers, f.repeats = &c.p.retries, &c.p.failovers, &c.p.writeRepeats
	}
	return f
}

// clientGoneError: the client connection failed while its answer was
// being written. It ends the connection; it is no verdict on the node.
type clientGoneError struct{ err error }

func (e *clientGoneError) Error() string { return e.err.Error() }

// handleBalanced sends a request to a node chosen by the policy and, when
// that fails before any byte of the answer reached the client, to others,
// as the attempt engine decides (failover, retry.go). A sticky request
// goes to the director's metadata home first (metaHome). It reports
// whether the connection goes on.
func (c *clientConn) handleBalanced(raw []byte, streams, retryable, sticky, changesMeta bool) bool {
	p := c.p
	f := c.startFailover(retryable, c.now.Add(p.cfg.RequestTimeout), true)
	if !retryable {
		f.repeat = writeRule(p.cfg.RetryWrites, protocol.RepeatableWrite(c.reqCode, raw[protocol.HeaderSize:]))
	}
	if sticky {
		f.home = p.home.node.Load()
	}
	for _, n := range c.avoid {
		f.exclude(n)
	}
	c.answeredBy = nil
	mark := len(c.out)
	c.relayed = false
	// Nodes that refused the request (errNotServed): the refusal is the
	// node's own (Riak stopping) when another node then serves it, and
	// the request's when every node refuses it (a message Riak KV 3 has
	// no service for, such as Yokozuna's).
	var refusedBy [4]*balancer.Node
	refused := refusedBy[:0]
	timed := !streams && reqTable[c.reqCode].timed
	f.untimed = !timed
	for n, st, lease := f.next(); n != nil; n, st, lease = f.next() {
		if sticky {
			p.home.trying(n, changesMeta, c.now, p.cfg.MetadataSettle)
		}
		began := c.now
		if f.attempts > 1 {
			began = time.Now()
		}
		var err error
		// A sticky read is not hedged: its second leg would go to a node
		// that may not have the metadata change yet. Nor an untimed one:
		// the delay is the node's speed at objects, and a listing or an
		// index query, which walks data on many nodes, would be sent
		// twice every time, and end at the try timeout (tryDeadline).
		if delay := time.Duration(p.hedge.delay.Load()); delay > 0 && retryable && timed && !sticky && f.attempts == 1 {
			// Booked by attemptHedged, both legs: outcome, latency.
			err = c.attemptHedged(f, hedgeLeg{req: c.reqCode, n: n, st: st, lease: lease, began: began}, raw, delay)
		} else {
			// A pooled connection is checked alive first (a syscall) only
			// for a write that a dead connection must not swallow: a
			// repeatable one goes to a new connection if it meets one.
			var outcome balancer.Outcome
			outcome, err = c.attempt(st, raw, streams, p.tryDeadline(f), f.deadline, f.fresh, !retryable && f.repeat != repeatBroken)
			if outcome == balancer.Success {
				now := time.Now()
				lease.EndAt(outcome, now)
				took := now.Sub(began)
				st.lat.record(took, timed)
				if timed {
					n.ObserveLatencyAt(took, now)
				}
			} else {
				lease.End(untimedTimeout(outcome, timed, err))
				if timed && isTimeout(err) {
					n.ObserveLatency(time.Since(began))
				}
			}
		}
		if err == nil {
			f.succeeded(n)
			c.answeredBy = n
			for _, r := range refused {
				r.BookFailure()
			}
			return true
		}
		if errors.Is(err, errNotServed) {
			refused = append(refused, n)
		}
		if _, ok := err.(*clientGoneError); ok {
			p.clientAborts.Add(1)
			return false
		}
		if c.relayed {
			// Part of the answer already reached the client: no retry, no
			// error frame can follow it. Closing is the only honest signal.
			p.midStreamCloses.Add(1)
			p.log.Debug("director: node failed in the middle of an answer; closing the client connection", "node", n.ID, "err", err)
			return false
		}
		c.out = c.out[:mark]
		if isTimeout(err) {
			p.timeouts.Add(1)
		} else {
			p.confirm.trans.cameBack(n.ID, time.Now()) // refused, reset: it may be restarting
		}
		if !f.tryAgain(n, err) {
			break
		}
	}
	switch {
	case len(refused) > 0 && len(refused) == f.attempts && len(c.refusal) > 0:
		// Every node tried has no service for it: Riak's own answer, as
		// a client of one node gets it.
		c.out = append(c.out, c.refusal...)
	case f.notRetried:
		c.errorResp(fmt.Sprintf("director: node %s failed after the request was sent; not retried because it is not idempotent and %s: %v", f.lastNode.ID, f.whyNot, f.lastErr))
	case f.timedOut && f.expired():
		c.errorResp(fmt.Sprintf("director: request timed out after %v (last node %s)", p.cfg.RequestTimeout, f.lastNode.ID))
	case f.lastErr == nil:
		p.noNode.Add(1)
		c.errorResp(msgNoNode)
	default:
		p.noNode.Add(1)
		c.errorResp(fmt.Sprintf("%s (%d tried; last: %s: %v)", msgNoNode, f.attempts, f.lastNode.ID, f.lastErr))
	}
	return true
}

// untimedTimeout is the outcome booked for a failed attempt: a request
// whose time is not the node's (a listing, a query, a MapReduce job) that
// ran out of time says nothing about the node, which may still be walking
// a large bucket, so it is no failure against the node's breaker or its
// ejection (Abandoned). A hung node still fails its object requests and
// its health checks.
func untimedTimeout(o balancer.Outcome, timed bool, err error) balancer.Outcome {
	if o == balancer.Failure && !timed && isTimeout(err) {
		return balancer.Abandoned
	}
	return o
}

// tryDeadline is when an attempt of f stops waiting for the first frame
// of its answer: --try-timeout from now for a request that may go to
// another node after a timeout and whose answer's time is the node's
// (reqInfo.timed), the request's own deadline otherwise.
//
// Ending a write's wait early cannot move it to a healthier node; it only
// turns a late answer into an error that says the write may have run, and
// an application that then writes again races the late one. A node slow
// for a second (a SIGSTOP just over, a disk behind on handoff) then
// delays its writes instead of failing them. And a listing, an index
// query or a MapReduce job takes as long as the data it walks: real Riak
// KV 3.2.3 took over 500 ms to begin answering a bucket listing, and at a
// try timeout of 500 ms every node timed out in turn, its breaker opened,
// and the requests after it found no node.
func (p *Proxy) tryDeadline(f *failover) time.Time {
	if p.cfg.TryTimeout <= 0 || !f.tryBound() {
		return f.deadline
	}
	if t := time.Now().Add(p.cfg.TryTimeout); t.Before(f.deadline) {
		return t
	}
	return f.deadline
}

// attempt is one attempt: it sends raw to st's node on a pooled
// connection (a new one with fresh) and relays the answer, waiting for
// its first frame until tryDL (tryDeadline) and for the rest until
// deadline, the request's. check asks the
// pool to make sure a reused connection is alive (for requests that must
// not be sent twice). It returns the outcome for the node's breaker and
// nil when the answer is complete (pending in out or written), a
// *clientGoneError when the client failed, or the node's failure, typed
// for the retry policy (retry.go).
func (c *clientConn) attempt(st *nodeState, raw []byte, streams bool, tryDL, deadline time.Time, fresh, check bool) (balancer.Outcome, error) {
	p := c.p
	bc, reused, err := st.pool.get(p.base, deadline, fresh, check)
	if err != nil {
		if err == errPoolClosed {
			return balancer.Abandoned, &notSentError{err}
		}
		return balancer.Failure, &notSentError{err}
	}
	bc.setDeadline(tryDL, tryDL == deadline, p.cfg.RequestTimeout/10)
	var complete bool
	berr := bc.send(raw)
	var cerr error
	if berr == nil {
		complete, berr, cerr = c.relay(bc, streams, tryDL, deadline)
	}
	switch {
	case berr == errNotServed:
		// Booked as neither: handleBalanced learns whose the refusal was.
		bc.close()
		st.pool.closeIdle()
		return balancer.Abandoned, &notSentError{berr}
	case berr != nil:
		noAnswer := len(bc.rd.Buffered()) == 0 && !c.relayed
		bc.close()
		st.pool.closeIdle()
		return balancer.Failure, typedFailure(berr, reused && !c.relayed, noAnswer)
	case !complete:
		// The client went away in the middle of the answer: the rest is
		// still on its way from the node, so this connection is spent.
		bc.close()
		return balancer.Abandoned, &clientGoneError{cerr}
	case cerr != nil:
		// The node answered completely; the client went while the last
		// frame was written: not the node's fault.
		st.pool.put(bc, c.now)
		return balancer.Success, &clientGoneError{cerr}
	}
	st.pool.put(bc, c.now)
	return balancer.Success, nil
}

// relay copies one answer (all frames of a stream) from bc to the client.
// Frames are relayed as read, without re-encoding. An answer that is
// complete with nothing else pending is written straight from the node
// connection's buffer in one Write; otherwise it joins out, and a long
// stream is written whenever streamFlush bytes are pending or the node has
// nothing more buffered. complete reports that the whole answer was read
// from the node; berr is a failure of the node, cerr of the client.
func (c *clientConn) relay(bc *backendConn, streams bool, tryDL, deadline time.Time) (complete bool, berr, cerr error) {
	firstFrame := true
	for {
		raw, code, err := bc.rd.ReadRaw()
		if err != nil && !errors.Is(err, protocol.ErrUnknownCode) {
			return false, err, nil
		}
		if firstFrame {
			firstFrame = false
			if code == protocol.CodeErrorResp && notServed(raw, c.reqCode) {
				c.refusal = append(c.refusal[:0], raw...)
				return false, errNotServed, nil
			}
			if tryDL != deadline { // the answer started: the request's own deadline applies now
				bc.setDeadline(deadline, false, 0)
			}
		}
		c.lastCode = code
		last := true
		if streams {
			if last, err = protocol.StreamDone(code, raw[protocol.HeaderSize:]); err != nil {
				return false, fmt.Errorf("director: bad streamed frame from node: %w", err), nil
			}
		}
		if last && c.writeDirect() {
			return true, nil, c.write(raw)
		}
		c.out = append(c.out, raw...)
		if last {
			return true, nil, nil
		}
		if len(c.out) >= streamFlush || len(bc.rd.Buffered()) == 0 {
			if c.writeDL != deadline {
				_ = c.nc.SetWriteDeadline(deadline)
				c.writeDL = deadline
			}
			c.relayed = true
			if err := c.flush(); err != nil {
				return false, nil, err
			}
		}
	}
}

// handlePinned serves a connection-scoped request, and every later request
// of the same client, on one dedicated backend connection: the client id,
// TLS and authentication live in that connection's state. It reports
// whether the connection goes on.
func (c *clientConn) handlePinned(raw []byte, code protocol.Code, streams bool) bool {
	p := c.p
	deadline := c.now.Add(p.cfg.RequestTimeout)
	if c.pinned == nil && !c.pin(deadline) {
		return true
	}
	bc, n := c.pinned, c.pinNode.Load()
	// The request can go nowhere else: it is sent even if the node's
	// breaker refuses new requests, and then not counted.
	lease, _ := begin(n, !streams && reqTable[code].timed) // a refused one is the zero Lease: End does nothing
	mark := len(c.out)
	c.relayed = false
	bc.setDeadline(deadline, false, 0)
	if err := bc.send(raw); err != nil {
		lease.End(balancer.Failure)
		return c.pinnedFailed(mark, err)
	}
	_, berr, cerr := c.relay(bc, streams, deadline, deadline)
	switch {
	case berr == errNotServed:
		// A pinned request has nowhere else to go: Riak's answer, as it
		// came, as a client of that node gets it.
		c.out = append(c.out, c.refusal...)
	case berr != nil:
		lease.End(balancer.Failure)
		if isTimeout(berr) {
			p.timeouts.Add(1)
		}
		return c.pinnedFailed(mark, berr)
	case cerr != nil:
		lease.End(balancer.Abandoned)
		p.clientAborts.Add(1)
		return false
	}
	lease.End(balancer.Success)
	if code == protocol.CodeStartTLS && c.lastCode == protocol.CodeStartTLS {
		c.after = c.runTunnel // it reads the client: not inside pollRead
		return false
	}
	return true
}

// pin takes a backend connection for this client for good, through the
// attempt engine (a failed pool get was never sent: another node is
// tried). On failure it answers the request with an error and returns
// false.
func (c *clientConn) pin(deadline time.Time) bool {
	p := c.p
	f := c.startFailover(false, deadline, false)
	for n, st, lease := f.next(); n != nil; n, st, lease = f.next() {
		bc, _, err := st.pool.get(p.base, deadline, false, true)
		if err != nil {
			lease.End(balancer.Failure)
			f.tryAgain(n, &notSentError{err})
			continue
		}
		lease.End(balancer.Abandoned) // a connection, not yet an answer: no verdict
		c.pinned = bc
		c.pinNode.Store(n)
		p.pinnedNow.Add(1)
		p.table.pin(c.tableID, bc.tableID, n.ID) // once per client connection
		return true
	}
	p.noNode.Add(1)
	if f.failErr != nil {
		c.errorResp(fmt.Sprintf("%s (pinning: %v)", msgNoNode, f.failErr))
	} else {
		c.errorResp(msgNoNode)
	}
	return false
}

// pinnedFailed ends a pinned client whose backend connection failed: the
// connection's state (client id, TLS, authentication) is gone, so the
// client must reconnect. When nothing of the answer was relayed it gets an
// RpbErrorResp first.
func (c *clientConn) pinnedFailed(mark int, err error) bool {
	c.pinned.pool.closeIdle()
	if c.relayed {
		c.p.midStreamCloses.Add(1)
		return false
	}
	c.out = c.out[:mark]
	c.errorResp(fmt.Sprintf("director: the pinned connection to node %s failed: %v; reconnect", c.pinNode.Load().ID, err))
	_ = c.flush()
	return false
}

// runTunnel turns a pinned connection into a byte pipe after RpbStartTls
// was answered: the TLS session (and the RpbAuthReq inside it) is between
// the client and the node. It returns when either side closes.
func (c *clientConn) runTunnel() {
	bc := c.pinned
	if c.flush() != nil {
		return
	}
	if b := c.rd.Buffered(); len(b) > 0 { // the client's first TLS bytes
		if _, err := bc.nc.Write(b); err != nil {
			return
		}
	}
	if b := bc.rd.Buffered(); len(b) > 0 {
		if _, err := c.nc.Write(b); err != nil {
			return
		}
	}
	var zero time.Time
	bc.setDeadline(zero, false, 0)
	_ = c.nc.SetDeadline(zero)
	if c.p.closing.Load() { // Shutdown's deadline may have just been cleared
		return
	}
	c.tunnel.Store(true)
	c.p.table.tunnel(c.tableID)
	c.p.tunnelsNow.Add(1)
	defer c.p.tunnelsNow.Add(-1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tunnelCopy(c.nc, bc.nc)
	}()
	tunnelCopy(bc.nc, c.nc)
	<-done
}

// tunnelCopy copies src to dst until either fails, then closes both so the
// other direction ends too.
func tunnelCopy(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

// writeDirect reports whether an answer may be written straight to the
// client: nothing is pending before it, no request follows it in the
// buffer, and it is not held for a look (hold).
func (c *clientConn) writeDirect() bool {
	return !c.hold && len(c.out) == 0 && !c.frameBuffered()
}

// errorResp queues the director's own RpbErrorResp.
func (c *clientConn) errorResp(msg string) {
	c.p.errorsSent.Add(1)
	c.out = protocol.AppendErrorResp(c.out, msg, 0)
}

// flush writes the pending answers.
func (c *clientConn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	err := c.write(c.out)
	if cap(c.out) > maxRetainedOut {
		c.out = make([]byte, 0, initialOut)
	} else {
		c.out = c.out[:0]
	}
	return err
}

// write writes b to the client in one Write. The write deadline is kept
// between 1.8 and 2 x RequestTimeout after the request came (refreshed
// only when it gets closer), so an answer, even an error written when the
// request timed out, has about RequestTimeout to be taken by the client; a
// client that does not read its answers fails the write after that.
func (c *clientConn) write(b []byte) error {
	if rt := c.p.cfg.RequestTimeout; c.writeDL.Sub(c.now) < rt*18/10 {
		c.writeDL = c.now.Add(2 * rt)
		_ = c.nc.SetWriteDeadline(c.writeDL)
	}
	_, err := c.io.Write(b)
	return err
}

// refreshReadDeadline keeps the idle deadline between IdleTimeout and
// 1.1 x IdleTimeout ahead, setting it only when it gets closer than that.
func (c *clientConn) refreshReadDeadline() {
	idle := c.p.cfg.IdleTimeout
	now := time.Now()
	if c.readDL.Sub(now) < idle {
		c.readDL = now.Add(idle + idle/10)
		_ = c.nc.SetReadDeadline(c.readDL)
	}
}

func (c *clientConn) close() {
	_ = c.flush()
	// The table row goes first: once the pinned backend closes its node may
	// leave the table, and no view should show a client pinned to it.
	c.p.table.removeClient(c.tableID)
	if c.pinned != nil {
		c.pinned.close()
		c.pinned = nil
		c.p.pinnedNow.Add(-1)
	}
	_ = c.nc.Close()
}

func isTimeout(err error) bool {
	if err == nil { // before ne, which errors.As moves to the heap
		return false
	}
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// isDeadConn: the error a connection closed by its peer gives.
func isDeadConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}
