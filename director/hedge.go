package director

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// Hedged reads: a read that is safe to send twice and has not begun to
// answer after a delay, its node having answered nothing meanwhile
// (stalled), or after twice the delay in any case, is sent to a second
// node as well; the first answer
// goes to the client and the other is read to its end in the background
// (its connection goes back to the pool) or dropped with its connection.
// A stalled node then costs a read the delay, not the stall. (The delay
// is kept to within a quarter: hedgeSlack.) Hedges are
// bounded by a budget: at most HedgeBudget extra requests, over the
// requests of the last tuning period, plus a small burst.

const (
	// hedgeQuantile: the delay is this quantile of the latency of the
	// requests of the last hedgeWindow tuning periods, over every node.
	hedgeQuantile = 0.9
	// hedgeWindow tuning periods make the window of that quantile (1 s).
	hedgeWindow = 10
	// hedgeMinSamples: a window with fewer requests keeps the delay it has.
	hedgeMinSamples = 50
	// hedgeBurst hedges may go ahead of the budget.
	hedgeBurst = 10
	// hedgeToken is one hedge in hedger.tokens.
	hedgeToken = 1000
	// tunePeriod is how often the delay and the budget are recomputed.
	tunePeriod = 100 * time.Millisecond
	// hedgeSlack: a hedge goes out between its delay and delay/hedgeSlack
	// after it, so that a connection's read deadline serves the reads of
	// that time, not one each.
	hedgeSlack = 4
)

// hedger holds the hedging state of a Proxy. The hot path reads delay
// and takes a token; tune, on a timer, does the arithmetic.
type hedger struct {
	floor  time.Duration // Config.HedgeDelay: the least delay; negative: off
	budget float64       // Config.HedgeBudget

	delay atomic.Int64 // nanoseconds; 0: off
	tokenBudget

	// tune only:
	lastRequests uint64                    // sum of the nodes' Requests at the last tune
	past         [hedgeWindow]histSnapshot // the latency histograms' sum at the last tunes, a ring
	head         int                       // the oldest of past
	stallAfter   time.Duration             // the nodes' stall threshold

	wins atomic.Uint64
}

func (h *hedger) enabled() bool { return h.floor >= 0 && h.budget > 0 }

// tune recomputes, from lat (the sum of the nodes' latency histograms),
// the quantile of the last second's latencies; it makes the hedge delay
// (at least the floor) and each node's stall threshold (at least
// DefaultHedgeDelay): a node with requests in flight that answers none for
// longer than most requests take is stalled (balancer.Node.Stalled). It
// also refills the budget from the requests since the last call.
func (h *hedger) tune(nodes []*balancer.Node, lat *histSnapshot) {
	window := lat.since(&h.past[h.head])
	h.past[h.head] = *lat
	h.head = (h.head + 1) % hedgeWindow
	if window.total >= hedgeMinSamples {
		q := window.quantile(hedgeQuantile)
		h.stallAfter = max(DefaultHedgeDelay, q)
		if h.enabled() {
			h.delay.Store(int64(max(h.floor, q)))
		}
	}
	var requests uint64
	for _, n := range nodes {
		requests += n.Requests()
		n.SetStallAfter(h.stallAfter)
	}
	if !h.enabled() {
		return
	}
	fresh := int64(float64(requests-min(requests, h.lastRequests)) * h.budget * hedgeToken)
	h.lastRequests = requests
	// Unused tokens carry over up to the burst.
	h.tokens.Store(min(h.tokens.Load()+fresh, hedgeBurst*hedgeToken+fresh))
}

// tokenBudget bounds extra requests (hedges, not-found confirmations) to
// a share of the requests: tokens in thousandths of one extra request, so
// small shares add up.
type tokenBudget struct {
	tokens       atomic.Int64
	sent, denied atomic.Uint64
}

// take reports whether the budget allows one more extra request, and
// spends it.
func (b *tokenBudget) take() bool {
	if b.tokens.Add(-hedgeToken) >= 0 {
		b.sent.Add(1)
		return true
	}
	b.tokens.Add(hedgeToken)
	b.denied.Add(1)
	return false
}

// hedgeLeg is one node's side of a hedged read. Hedged reads are timed
// (handleBalanced): each leg is begun, booked and bounded as one.
type hedgeLeg struct {
	req   protocol.Code // the request's code
	n     *balancer.Node
	st    *nodeState
	bc    *backendConn
	lease balancer.Lease
	began time.Time
	raw   []byte
	err   error
	// refusal: the node's answer when it was errNotServed.
	refusal []byte
}

// readAnswer reads the leg's answer (one frame) until dl, or until the
// proxy closes.
func (l *hedgeLeg) readAnswer(ctx context.Context, dl time.Time) {
	l.bc.setDeadline(dl, false, 0)
	stop := context.AfterFunc(ctx, func() { _ = l.bc.nc.SetReadDeadline(time.Now()) })
	defer stop()
	raw, _, err := l.bc.rd.ReadRaw()
	switch {
	case err != nil && !errors.Is(err, protocol.ErrUnknownCode):
		l.err = err
	case notServed(raw, l.req):
		l.err = errNotServed
		l.refusal = append(l.refusal[:0], raw...)
	default:
		l.raw = raw
	}
}

// read is readAnswer reporting the leg on results.
func (l *hedgeLeg) read(ctx context.Context, dl time.Time, results chan<- *hedgeLeg) {
	l.readAnswer(ctx, dl)
	results <- l
}

// finish books the leg's outcome on its node and returns its connection
// to the pool (answered) or closes it.
func (l *hedgeLeg) finish(now time.Time) {
	if l.err != nil {
		l.bc.close()
		if isTimeout(l.err) {
			l.n.ObserveLatencyAt(now.Sub(l.began), now)
		}
		if l.err == errNotServed { // whose refusal it was is learned later (handleBalanced)
			l.lease.End(balancer.Abandoned)
		} else {
			l.lease.End(balancer.Failure)
		}
		return
	}
	took := now.Sub(l.began)
	l.st.lat.record(took, true)
	l.n.ObserveLatencyAt(took, now)
	l.st.pool.put(l.bc, now)
	l.lease.EndAt(balancer.Success, now)
}

// attemptHedged is the first attempt of a read with a one-frame answer
// when hedging is on: like attempt, but if no answer has begun after the
// hedge delay it also sends raw to a second node and relays whichever
// answers first. It books both legs itself (their done, latency and
// connection); the caller only learns the error of the first leg (nil:
// answered).
func (c *clientConn) attemptHedged(f *failover, leg hedgeLeg, raw []byte, delay time.Duration) error {
	p := c.p
	// The leg stays on the stack unless the hedge fires (heap, below): the
	// common case allocates nothing.
	first := &leg
	bc, reused, err := first.st.pool.get(p.base, f.deadline, f.fresh, false)
	if err != nil {
		if err == errPoolClosed {
			first.lease.End(balancer.Abandoned)
		} else {
			first.lease.End(balancer.Failure)
		}
		return &notSentError{err}
	}
	first.bc = bc
	tryDL := f.deadline
	if p.cfg.TryTimeout > 0 {
		if t := time.Now().Add(p.cfg.TryTimeout); t.Before(tryDL) {
			tryDL = t
		}
	}
	hedgeAt := first.began.Add(delay)
	if hedgeAt.After(tryDL) {
		hedgeAt = tryDL
	}
	// The hedge goes out between hedgeAt and delay/hedgeSlack later.
	hedgeBy := hedgeAt.Add(delay / hedgeSlack)
	if hedgeBy.After(tryDL) {
		hedgeBy = tryDL
	}
	// The request is written by the read that waits for its answer
	// (fastConn.send: no read attempt before the answer can be there),
	// under the hedge's read deadline; any write that must wait has the
	// attempt's. At most one deadline set per read: the hedge's, kept
	// from an earlier read when it falls in the hedge's time.
	bc.setWriteDeadline(tryDL, p.cfg.RequestTimeout/10)
	bc.setReadDeadlineWithin(hedgeAt, hedgeBy)
	if err := bc.send(raw); err != nil {
		return c.legFailed(first, reused, err)
	}
	answer, _, err := bc.rd.ReadRaw()
	if err != nil { // (se, which errors.As moves to the heap, only then)
		if se := (*sendError)(nil); errors.As(err, &se) && isTimeout(se.err) && time.Now().Before(tryDL) {
			// The hedge's deadline passed before the request was all
			// written (a loaded machine, a tiny delay): write the rest
			// now; the hedge is due.
			n, werr := bc.io.Write(raw[se.written:])
			if werr != nil {
				return c.legFailed(first, reused, &sendError{written: se.written + n, err: werr})
			}
			err = se.err
		}
	}
	if isTimeout(err) && first.n.StallAfter() > 0 && !first.n.Stalled() && time.Now().Before(tryDL) {
		// Its node answers other requests: this read is slow, the node is
		// not stalled. Hedge it only at twice the delay, so that a
		// healthy cluster's slower reads do not spend the budget. (Until
		// the first second of answers sets the stall threshold, every
		// slow read is hedged at the delay.)
		later := first.began.Add(2 * delay)
		if later.After(tryDL) {
			later = tryDL
		}
		bc.setReadDeadline(later)
		answer, _, err = bc.rd.ReadRaw()
	}
	if err == nil && notServed(answer, c.reqCode) {
		c.refusal = append(c.refusal[:0], answer...)
		err = errNotServed
	}
	if err == nil || errors.Is(err, protocol.ErrUnknownCode) {
		first.raw = answer
		return c.legWon(first, time.Now())
	}
	if !isTimeout(err) || !time.Now().Before(tryDL) {
		return c.legFailed(first, reused, err)
	}
	hl := new(hedgeLeg)
	*hl = leg
	second := c.startHedge(f, raw)
	if second == nil {
		// No second node, or no budget: wait on the first leg as usual.
		hl.readAnswer(p.base, tryDL)
		if hl.err != nil {
			c.keepRefusal(hl)
			return c.legFailed(hl, reused, hl.err)
		}
		return c.legWon(hl, time.Now())
	}
	results := make(chan *hedgeLeg, 2)
	go hl.read(p.base, tryDL, results)
	secondDL := f.deadline
	if p.cfg.TryTimeout > 0 {
		if t := second.began.Add(p.cfg.TryTimeout); t.Before(secondDL) {
			secondDL = t
		}
	}
	go second.read(p.base, secondDL, results)
	a := <-results
	if a.err != nil {
		now := time.Now()
		b := <-results
		a.finish(now)
		if b.err != nil {
			b.finish(now)
			c.keepRefusal(b)
			c.keepRefusal(a)
			return a.err
		}
		return c.hedgeWon(b, hl, now)
	}
	// The other leg is read to its end in the background.
	go func() { (<-results).finish(time.Now()) }()
	return c.hedgeWon(a, hl, time.Now())
}

// keepRefusal keeps l's refusal, if it had one, as the request's.
func (c *clientConn) keepRefusal(l *hedgeLeg) {
	if l.err == errNotServed && len(l.refusal) > 0 {
		c.refusal = append(c.refusal[:0], l.refusal...)
	}
}

// startHedge sends raw to a second node, if the budget allows and one is
// available: the node is reserved and the request written. Nil when not.
func (c *clientConn) startHedge(f *failover, raw []byte) *hedgeLeg {
	p := c.p
	n := p.set.Pick(f.tried...)
	if n == nil {
		return nil
	}
	st := p.state(n)
	if st == nil || !p.hedge.take() {
		return nil
	}
	lease, err := n.Begin()
	if err != nil {
		return nil
	}
	leg := &hedgeLeg{req: c.reqCode, n: n, st: st, lease: lease, began: time.Now()}
	bc, _, err := st.pool.get(p.base, f.deadline, false, false)
	if err != nil {
		leg.lease.End(balancer.Failure)
		return nil
	}
	leg.bc = bc
	bc.setDeadline(f.deadline, false, 0)
	if err := bc.send(raw); err != nil {
		bc.close()
		leg.lease.End(balancer.Failure)
		return nil
	}
	f.tried = append(f.tried, n)
	return leg
}

// hedgeWon relays the answer of w, which answered first (first is the
// original leg: if w is not it, the hedge won).
func (c *clientConn) hedgeWon(w, first *hedgeLeg, now time.Time) error {
	if w != first {
		c.p.hedge.wins.Add(1)
	}
	return c.legWon(w, now)
}

// legWon relays l's answer to the client and books l.
func (c *clientConn) legWon(l *hedgeLeg, now time.Time) error {
	c.lastCode = protocol.Code(l.raw[4])
	var cerr error
	if c.writeDirect() {
		cerr = c.write(l.raw)
	} else {
		c.out = append(c.out, l.raw...)
	}
	l.finish(now)
	if cerr != nil {
		return &clientGoneError{cerr}
	}
	return nil
}

// legFailed books a failed first leg and types its error for the retry
// policy, as attempt does.
func (c *clientConn) legFailed(l *hedgeLeg, reused bool, err error) error {
	l.err = err
	l.finish(time.Now())
	l.st.pool.closeIdle()
	return typedFailure(err, reused, false) // a read: repeatable whatever broke
}
