package director

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// httpBufferSize is the size of the buffers of backend HTTP connections and
// of the response copy buffers.
const httpBufferSize = 32 << 10

// httpProxy is the Proxy's Riak HTTP side (Proxy.http). It shares the PB
// proxy's nodes, breakers, health and settings; each node has its own
// pooled http.Transport (nodeState.http).
type httpProxy struct {
	p    *Proxy
	rp   *httputil.ReverseProxy
	bufs chan []byte // free copy buffers

	// wg counts requests in flight; Add happens under p.mu while the
	// proxy is not closing, so Shutdown can wait for them.
	wg sync.WaitGroup

	mu       sync.Mutex
	backends map[*httpBackend]struct{} // backends that may hold connections

	requests, retries, failovers, writeRepeats, errorsSent, noNode, aborts atomic.Uint64
}

// HTTPHandler returns the director's Riak HTTP proxy: serve it with an
// http.Server on the --http address. Every request is balanced onto one of
// the nodes the PB proxy uses (those with an HTTPAddr), with the same
// breakers, health, Logger, RequestTimeout, TryTimeout, MaxAttempts and
// DialTimeout; see docs/director.md, "HTTP proxy". Every call
// returns the same handler.
//
// Shutdown waits for the handler's requests in flight (new ones get 503),
// Close aborts them; both close the backend HTTP connections. The
// http.Server serving the handler is the caller's to shut down.
func (p *Proxy) HTTPHandler() http.Handler { return &p.http }

func (h *httpProxy) setup(p *Proxy) {
	h.p = p
	h.bufs = make(chan []byte, 64)
	h.backends = map[*httpBackend]struct{}{}
	h.rp = &httputil.ReverseProxy{
		Rewrite:   h.rewrite,
		Transport: (*httpRoundTripper)(h),
		// Streamed answers (listings and 2i queries: chunked, no
		// Content-Length) are flushed on every write by ReverseProxy
		// itself, so they reach the client as the node sends them; an
		// answer of known length is written through the server's
		// buffer, not flushed write by write.
		FlushInterval: 0,
		BufferPool:    (*httpBufferPool)(h),
		ErrorLog:      slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
		ErrorHandler:  h.errorHandler,
	}
}

type httpCtxKey struct{}

// httpRequest is one client request's state, shared by the handler, the
// round tripper and the error handler through the request context.
type httpRequest struct {
	retryable bool
	// repeat: the rule for sending a write again after an attempt that
	// may have run it (protocol.HTTPRepeatableWrite, Config.RetryWrites).
	repeat   repeatRule
	metadata bool // protocol.HTTPMetadata: goes to the metadata home
	// timed: the response's time says how fast the node is (objects,
	// data types, ping), unlike a listing's or a query's.
	timed bool
	// buf holds the body of a retryable request, of a write that may be
	// repeated, or of a PUT /types/T/props (read whole before the first
	// attempt, so each attempt can send it again and the hold can read it).
	buf    []byte
	hasBuf bool
	client context.Context // the inbound request's context
	// confirmable: a GET of one object, whose 404 may be confirmed
	// (confirm.go); avoid: nodes a confirmation is not sent to.
	confirmable bool
	avoid       []*balancer.Node
	// typeWant: the properties a PUT /types/T/props sets, whose answer
	// is held until its node shows them (httptypes.go); nil: no hold.
	typeWant map[string]any
}

// httpError is a response the director makes itself.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// ServeHTTP implements http.Handler.
func (h *httpProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := h.p
	h.requests.Add(1)
	rt, err := protocol.ParseHTTPPath(r.URL.EscapedPath())
	if err != nil {
		h.fail(w, http.StatusBadRequest, "director: "+err.Error())
		return
	}
	limit := int64(p.cfg.MaxFrameSize)
	if r.ContentLength > limit {
		w.Header().Set("Connection", "close")
		h.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("director: request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, limit))
		return
	}
	if !h.enter() {
		w.Header().Set("Connection", "close")
		h.fail(w, http.StatusServiceUnavailable, msgShuttingDown)
		return
	}
	defer h.wg.Done()
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.RequestTimeout)
	defer cancel()
	// Close or a forced Shutdown: abort the backend request, and unblock
	// a write to a client that does not read.
	rc := http.NewResponseController(w)
	stop := context.AfterFunc(p.base, func() {
		cancel()
		_ = rc.SetWriteDeadline(time.Now())
	})
	defer stop()

	hr := &httpRequest{retryable: protocol.HTTPRetryable(r.Method, rt), metadata: protocol.HTTPMetadata(rt),
		timed: rt.Kind == protocol.HTTPObject || rt.Kind == protocol.HTTPDatatype || rt.Kind == protocol.HTTPPing, client: r.Context(),
		confirmable: r.Method == http.MethodGet && rt.Kind == protocol.HTTPObject && rt.Key != ""}
	if !hr.retryable {
		hr.repeat = writeRule(p.cfg.RetryWrites, protocol.HTTPRepeatableWrite(r.Method, rt, r.Header))
	}
	if hr.confirmable {
		p.confirm.earn()
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		typeChange := holdsTypeChange(r.Method, rt)
		if hr.retryable || hr.repeat == repeatBroken || typeChange {
			buf, err := io.ReadAll(r.Body)
			if err != nil {
				h.fail(w, bodyErrStatus(err), msgReadingBody+err.Error())
				return
			}
			hr.buf, hr.hasBuf = buf, true
			if typeChange {
				hr.typeWant = typePropsWant(buf)
			}
		}
	}
	h.rp.ServeHTTP(w, r.WithContext(context.WithValue(ctx, httpCtxKey{}, hr)))
}

// enter admits a request unless the proxy is closing.
func (h *httpProxy) enter() bool {
	p := h.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing.Load() {
		return false
	}
	h.wg.Add(1)
	return true
}

// rewrite prepares the outbound request; its host is set per attempt.
// ReverseProxy has already removed hop-by-hop headers.
func (h *httpProxy) rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = "riak" // replaced by the node's HTTPAddr per attempt
	pr.Out.Host = ""         // Host: the node's address
	pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
	pr.SetXForwarded()
	// The director's own server answers the client's 100-continue.
	pr.Out.Header.Del("Expect")
}

func (h *httpProxy) fail(w http.ResponseWriter, code int, msg string) {
	h.errorsSent.Add(1)
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	http.Error(w, msg, code)
}

func (h *httpProxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if errors.As(err, &he) {
		h.fail(w, he.status, he.msg)
		return
	}
	if hr, _ := r.Context().Value(httpCtxKey{}).(*httpRequest); hr != nil && hr.client.Err() != nil {
		// The client went away: nobody reads this.
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	h.fail(w, http.StatusBadGateway, "director: "+err.Error())
}

func bodyErrStatus(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// httpRoundTripper sends a request to a node picked by the balancer and
// fails over, through the attempt engine (failover, retry.go). It returns
// before anything of the response reached the client, so every retry
// happens before that.
type httpRoundTripper httpProxy

// RoundTrip implements http.RoundTripper.
func (t *httpRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	h := (*httpProxy)(t)
	p := h.p
	ctx := req.Context()
	start := time.Now()
	hr, _ := ctx.Value(httpCtxKey{}).(*httpRequest)
	if hr == nil {
		hr = &httpRequest{client: ctx}
	}
	var scratch [8]*balancer.Node
	f := failover{p: p, idempotent: hr.retryable, untimed: !hr.timed, repeat: hr.repeat, ctx: ctx, retries: &h.retries, failovers: &h.failovers,
		repeats: &h.writeRepeats, tried: scratch[:0]}
	sticky := p.home.sticky(hr.metadata, start)
	if sticky {
		f.home = p.home.node.Load()
	}
	for _, n := range p.set.Nodes() {
		if n.HTTPAddr == "" { // never picked
			f.exclude(n)
		}
	}
	for _, n := range hr.avoid {
		f.exclude(n)
	}
	var shared *sharedBody
	if !hr.hasBuf && req.Body != nil && req.Body != http.NoBody {
		shared = &sharedBody{r: req.Body}
	}
	for n, st, lease := f.next(); n != nil; n, st, lease = f.next() {
		if sticky {
			p.home.trying(n, hr.metadata && !hr.retryable, start, p.cfg.MetadataSettle)
		}
		resp, err := h.attempt(req, hr, shared, n, st, lease, start, f.tryBound())
		if err == nil {
			f.succeeded(n)
			if hr.confirmable && resp.StatusCode == http.StatusNotFound {
				return t.confirmNotFound(req, hr, resp, n), nil
			}
			if hr.typeWant != nil {
				h.holdTypeChange(req, hr, resp, n)
			}
			return resp, nil
		}
		if stop, ok := err.(*httpStop); ok {
			return nil, stop.err
		}
		if err == errBodyConsumed { // the failure of an earlier attempt stands
			f.notRetried, f.whyNot = true, "part of its body was sent already"
			break
		}
		p.log.Debug("director: http attempt failed", "node", n.ID, "method", req.Method, "path", req.URL.Path, "err", err)
		if !f.tryAgain(n, err) {
			break
		}
	}
	return nil, h.verdict(&f, hr, req)
}

// httpStop ends an HTTP request at once with err, whatever the retry
// policy: the client went away, its body could not be read, the director
// is shutting down, or the body cannot be sent again.
type httpStop struct{ err error }

func (e *httpStop) Error() string { return e.err.Error() }

// attempt is one HTTP attempt on n (reserved by failover.next: the lease
// ends with its outcome). It returns the response, whose body reports the outcome
// when it ends; an *httpStop; errBodyConsumed; or the node's failure,
// typed for the retry policy (a failed dial is a *notSentError).
func (h *httpProxy) attempt(req *http.Request, hr *httpRequest, shared *sharedBody, n *balancer.Node, st *nodeState, lease balancer.Lease, start time.Time, tryBound bool) (*http.Response, error) {
	p := h.p
	b := &st.http
	tr := b.transport(h, tryBound)
	if tr == nil { // drained since Pick
		lease.End(balancer.Abandoned)
		return nil, &notSentError{errPoolClosed}
	}
	out := new(http.Request)
	*out = *req
	u := *req.URL
	u.Host = n.HTTPAddr
	out.URL = &u
	switch {
	case hr.hasBuf:
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(hr.buf)), int64(len(hr.buf))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(hr.buf)), nil }
	case shared != nil:
		ab := shared.next()
		if ab == nil { // an earlier attempt consumed part of it
			lease.End(balancer.Abandoned)
			return nil, errBodyConsumed
		}
		out.Body = ab
		// The transport rewinds a body when it resends a request that
		// never left on a reused connection: possible only if nothing of
		// it was read yet.
		out.GetBody = func() (io.ReadCloser, error) {
			if nb := shared.next(); nb != nil {
				return nb, nil
			}
			return nil, errBodyDetached
		}
	}
	resp, err := tr.RoundTrip(out)
	if err == nil {
		// Latency through the node: from the request to the end of the
		// response body, as for PB requests.
		lat := st.lat
		measured := func(o balancer.Outcome) {
			if o == balancer.Success {
				took := time.Since(start)
				lat.record(took, hr.timed)
				if hr.timed {
					n.ObserveLatency(took)
				}
			}
			lease.End(o)
		}
		return h.watch(resp, measured, b, hr, req.Context()), nil
	}
	switch {
	case shared != nil && shared.failed() != nil:
		lease.End(balancer.Abandoned)
		berr := shared.failed()
		return nil, &httpStop{&httpError{bodyErrStatus(berr), msgReadingBody + berr.Error()}}
	case hr.client.Err() != nil:
		lease.End(balancer.Abandoned)
		return nil, &httpStop{hr.client.Err()}
	case p.base.Err() != nil:
		lease.End(balancer.Abandoned)
		return nil, &httpStop{&httpError{http.StatusServiceUnavailable, msgShuttingDown}}
	}
	o := untimedTimeout(balancer.Failure, hr.timed, err)
	lease.End(o)
	if o == balancer.Failure {
		b.closeIdle() // most likely dead too (not after a listing out of time)
	}
	var de *httpDialError
	switch {
	case errors.As(err, &de):
		return nil, &notSentError{err}
	case brokenByNode(err):
		// The transport returns before the response's headers: the
		// node closed the connection before any byte of them (a cut
		// in the middle is io.ErrUnexpectedEOF).
		return nil, &brokenConnError{err}
	}
	return nil, err
}

// verdict is the answer to an HTTP request no attempt answered.
func (h *httpProxy) verdict(f *failover, hr *httpRequest, req *http.Request) error {
	p := h.p
	switch {
	case hr.client.Err() != nil:
		return hr.client.Err()
	case p.base.Err() != nil:
		return &httpError{http.StatusServiceUnavailable, msgShuttingDown}
	case f.expired():
		last := ""
		if f.failNode != nil {
			last = fmt.Sprintf(" (last node %s)", f.failNode.ID)
		}
		return &httpError{http.StatusGatewayTimeout, fmt.Sprintf("director: request timed out after %v%s", p.cfg.RequestTimeout, last)}
	case f.notRetried && f.failNode != nil:
		return &httpError{http.StatusBadGateway, fmt.Sprintf("director: Riak node %s failed after the request was sent; not retried because %s is not idempotent and %s: %v", f.failNode.ID, req.Method, f.whyNot, f.failErr)}
	case f.notRetried:
		return &httpError{http.StatusBadGateway, fmt.Sprintf("director: no Riak node answered and the request body cannot be sent again (%d tried)", f.attempts-1)}
	case f.failErr == nil:
		h.noNode.Add(1)
		return &httpError{http.StatusServiceUnavailable, msgNoNode + " with an HTTP address"}
	default:
		h.noNode.Add(1)
		return &httpError{http.StatusBadGateway, fmt.Sprintf("director: no Riak node answered (%d tried; last: %s: %v)", f.attempts, f.failNode.ID, f.failErr)}
	}
}

// watch reports the attempt's outcome when the response body ends.
func (h *httpProxy) watch(resp *http.Response, done func(balancer.Outcome), b *httpBackend, hr *httpRequest, ctx context.Context) *http.Response {
	if resp.Body == nil || resp.Body == http.NoBody {
		done(balancer.Success)
		b.released()
		return resp
	}
	resp.Body = &watchedBody{ReadCloser: resp.Body, h: h, b: b, hr: hr, ctx: ctx, done: done}
	return resp
}

// watchedBody is a response body that reports its attempt's outcome: a
// complete body is a success (whatever the status: a Riak answer), a read
// error a transport failure, a body closed early (the client went away)
// no verdict.
type watchedBody struct {
	io.ReadCloser
	h        *httpProxy
	b        *httpBackend
	hr       *httpRequest
	ctx      context.Context
	done     func(balancer.Outcome)
	finished bool
}

func (w *watchedBody) Read(buf []byte) (int, error) {
	n, err := w.ReadCloser.Read(buf)
	if err != nil && !w.finished {
		w.finished = true
		switch {
		case err == io.EOF:
			w.done(balancer.Success)
		case w.hr.client.Err() != nil || w.h.p.base.Err() != nil || errors.Is(w.ctx.Err(), context.Canceled):
			w.done(balancer.Abandoned)
		default:
			// A node failure (or RequestTimeout) after the status line
			// reached the client: the response is cut short.
			w.done(balancer.Failure)
			w.h.aborts.Add(1)
			w.b.closeIdle()
			w.h.p.log.Debug("director: http response cut short", "err", err)
		}
		w.b.released()
	}
	return n, err
}

func (w *watchedBody) Close() error {
	err := w.ReadCloser.Close()
	if !w.finished {
		w.finished = true
		w.done(balancer.Abandoned)
		w.b.released()
	}
	return err
}

// sharedBody hands a client's request body to successive attempts, as long
// as none of it was read: a write is sent again only if the node never got
// any of it.
type sharedBody struct {
	r    io.Reader
	cur  atomic.Pointer[attemptBody]
	used atomic.Bool
	err  atomic.Pointer[error]
}

// next returns a view of the body for a new attempt, and detaches the
// previous one; nil once some of the body was read.
func (s *sharedBody) next() *attemptBody {
	if s.used.Load() || s.err.Load() != nil {
		return nil
	}
	ab := &attemptBody{s: s}
	s.cur.Store(ab)
	return ab
}

// failed returns the error reading the client's body, if any.
func (s *sharedBody) failed() error {
	if e := s.err.Load(); e != nil {
		return *e
	}
	return nil
}

// attemptBody is one attempt's view of a sharedBody. Closing it does
// nothing: the client's body belongs to the server.
type attemptBody struct{ s *sharedBody }

func (a *attemptBody) Read(b []byte) (int, error) {
	if a.s.cur.Load() != a {
		return 0, errBodyDetached
	}
	n, err := a.s.r.Read(b)
	if n > 0 {
		a.s.used.Store(true)
	}
	if err != nil && err != io.EOF {
		a.s.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

func (a *attemptBody) Close() error { return nil }

// httpDialError marks a failed dial: the node never got the request.
type httpDialError struct{ err error }

func (e *httpDialError) Error() string { return "dial: " + e.err.Error() }
func (e *httpDialError) Unwrap() error { return e.err }

// httpBackend is a node's HTTP connection pool (nodeState.http): an
// http.Transport made on first use, whose connections are tracked so that
// the proxy's end closes them all. The zero value is ready.
type httpBackend struct {
	once sync.Once
	h    *httpProxy
	// tr waits --try-timeout for a response's headers; untried, for the
	// requests the try timeout does not bound (failover.tryBound), waits
	// as long as the request may: a second pool, made only when there is
	// a try timeout (else it is tr).
	tr, untried *http.Transport
	closed      atomic.Bool

	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

// transport returns the node's transport for a request bound by the try
// timeout or not (failover.tryBound); nil once the node was drained.
func (b *httpBackend) transport(h *httpProxy, tryBound bool) *http.Transport {
	b.once.Do(func() {
		if b.closed.Load() {
			return
		}
		p := h.p
		b.h = h
		b.conns = map[*trackedConn]struct{}{}
		idle := p.cfg.BackendIdleTimeout
		if idle < 0 {
			idle = 0
		}
		b.tr = &http.Transport{
			DialContext:           b.dial,
			MaxIdleConnsPerHost:   p.cfg.MaxIdlePerNode,
			IdleConnTimeout:       idle,
			ResponseHeaderTimeout: p.cfg.TryTimeout,
			// Relay Accept-Encoding and compressed bodies untouched.
			DisableCompression: true,
			WriteBufferSize:    httpBufferSize,
			ReadBufferSize:     httpBufferSize,
		}
		b.untried = b.tr
		if p.cfg.TryTimeout > 0 {
			b.untried = b.tr.Clone()
			b.untried.ResponseHeaderTimeout = 0
		}
		h.remember(b)
	})
	if !tryBound {
		return b.untried
	}
	return b.tr
}

// closeIdleConns closes both pools' idle connections.
func (b *httpBackend) closeIdleConns() {
	b.tr.CloseIdleConnections()
	if b.untried != b.tr {
		b.untried.CloseIdleConnections()
	}
}

func (b *httpBackend) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	p := b.h.p
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	stop := context.AfterFunc(p.base, cancel)
	defer stop()
	nc, err := p.cfg.Dial(ctx, network, addr)
	if err != nil {
		return nil, &httpDialError{err}
	}
	c := &trackedConn{Conn: nc, b: b}
	b.mu.Lock()
	b.conns[c] = struct{}{}
	b.mu.Unlock()
	b.h.remember(b)
	return c, nil
}

// closeIdle closes the idle connections (after a transport failure).
func (b *httpBackend) closeIdle() {
	if b.tr != nil {
		b.closeIdleConns()
	}
}

// released is called when a response ends: a connection that went back
// to the pool of a drained node is closed. (The transport pools a
// connection before the end of its body reaches the reader.)
func (b *httpBackend) released() {
	if b.closed.Load() {
		b.closeIdle()
		b.forgetIfEmpty()
	}
}

// close drains the backend: no new attempts, idle connections close now,
// busy ones when their response ends (released). With force every
// connection closes now.
func (b *httpBackend) close(force bool) {
	b.closed.Store(true)
	b.once.Do(func() {}) // a backend never used stays without transport
	if b.tr == nil {
		return
	}
	b.closeIdleConns()
	if force {
		b.mu.Lock()
		conns := make([]*trackedConn, 0, len(b.conns))
		for c := range b.conns {
			conns = append(conns, c)
		}
		b.mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}
	b.forgetIfEmpty()
}

func (b *httpBackend) forgetIfEmpty() {
	b.mu.Lock()
	empty := len(b.conns) == 0
	b.mu.Unlock()
	if empty && b.closed.Load() {
		b.h.mu.Lock()
		delete(b.h.backends, b)
		b.h.mu.Unlock()
	}
}

// trackedConn is a backend HTTP connection known to its httpBackend.
type trackedConn struct {
	net.Conn
	b    *httpBackend
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.b.mu.Lock()
		delete(c.b.conns, c)
		c.b.mu.Unlock()
		if c.b.closed.Load() {
			c.b.forgetIfEmpty()
		}
	})
	return err
}

// remember records b as possibly holding connections.
func (h *httpProxy) remember(b *httpBackend) {
	h.mu.Lock()
	if h.backends != nil {
		h.backends[b] = struct{}{}
	}
	h.mu.Unlock()
}

// closeAll closes every backend HTTP connection (end of Shutdown, Close).
func (h *httpProxy) closeAll() {
	h.mu.Lock()
	bs := make([]*httpBackend, 0, len(h.backends))
	for b := range h.backends {
		bs = append(bs, b)
	}
	h.mu.Unlock()
	for _, b := range bs {
		b.close(true)
	}
}

// stats fills the HTTP fields of s.
func (h *httpProxy) stats(s *Stats) {
	s.HTTPRequests, s.HTTPRetries, s.HTTPFailovers = h.requests.Load(), h.retries.Load(), h.failovers.Load()
	s.HTTPWriteRepeats = h.writeRepeats.Load()
	s.HTTPErrors, s.HTTPNoNode, s.HTTPAborts = h.errorsSent.Load(), h.noNode.Load(), h.aborts.Load()
}

// httpBufferPool recycles ReverseProxy's copy buffers without allocating.
type httpBufferPool httpProxy

func (bp *httpBufferPool) Get() []byte {
	select {
	case b := <-bp.bufs:
		return b
	default:
		return make([]byte, httpBufferSize)
	}
}

func (bp *httpBufferPool) Put(b []byte) {
	if cap(b) < httpBufferSize {
		return
	}
	select {
	case bp.bufs <- b[:httpBufferSize]:
	default:
	}
}
