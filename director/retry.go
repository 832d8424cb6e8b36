package director

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// Retry meaning travels in the error of a failed attempt, not in flags
// beside it (caddy's DialError):
//
//   - *notSentError: the node never received any of the request (the dial
//     failed, the pool was closed, not one byte could be written): safe to
//     send elsewhere whatever the request;
//   - *staleConnError: a reused pooled connection failed before any answer,
//     so it most likely died while idle: worth once more on the same node
//     over a new connection;
//   - *brokenConnError: the node closed or reset the connection before
//     any byte of an answer came (a node killed under the request): the
//     request may have run, and a repeatable write (an unconditional put,
//     a delete: protocol.RepeatableWrite) is sent to another node, as
//     riak-go-client itself would (Config.RetryWrites);
//   - any other error: the request may have reached the node; only an
//     idempotent request is sent again. A write that timed out is never
//     repeated: its node may be frozen and run it later, after the
//     client's next write to the key, which the late one would undo.
//
// Failures that end a request whatever the policy (the client went away,
// the director shuts down, part of the answer already reached the client)
// are the callers' own and never reach tryAgain.

// notSentError wraps the failure of an attempt whose request never left.
type notSentError struct{ err error }

func (e *notSentError) Error() string { return e.err.Error() }
func (e *notSentError) Unwrap() error { return e.err }

// staleConnError wraps the failure of a reused connection before any
// answer.
type staleConnError struct{ err error }

func (e *staleConnError) Error() string { return e.err.Error() }
func (e *staleConnError) Unwrap() error { return e.err }

// brokenConnError wraps the failure of an attempt whose connection the
// node broke (end of stream, reset) before any byte of the answer.
type brokenConnError struct{ err error }

func (e *brokenConnError) Error() string { return e.err.Error() }
func (e *brokenConnError) Unwrap() error { return e.err }

// typedFailure types a failed attempt's backend error for the retry
// policy: a *notSentError when none of the request was written, else a
// *brokenConnError when the node broke the connection before any byte of
// the answer (noAnswer: none was read); either wrapped in a
// *staleConnError when the connection was a reused pooled one (and
// nothing was relayed yet) that most likely died while idle.
func typedFailure(err error, reusedUnrelayed, noAnswer bool) error {
	unsent := notWritten(err)
	if unsent {
		err = &notSentError{err}
	} else if noAnswer && brokenByNode(err) {
		err = &brokenConnError{err}
	}
	if reusedUnrelayed && (unsent || isDeadConn(err)) {
		err = &staleConnError{err}
	}
	return err
}

// brokenByNode reports whether err is the node's end of a connection:
// end of stream, reset, broken pipe. Not a timeout, and not the director
// closing the connection itself (net.ErrClosed: the node may still be
// running the request).
func brokenByNode(err error) bool {
	return !isTimeout(err) && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED))
}

// repeatRule says whether a request that is not idempotent may be sent
// again after an attempt that may have run it.
type repeatRule uint8

const (
	repeatNo     repeatRule = iota // not a repeatable write
	repeatOff                      // a repeatable write, but RetryWrites is never
	repeatBroken                   // a repeatable write: again after a broken connection
)

// writeRule is the repeat rule of a write under the RetryWrites setting
// mode; repeatable: protocol.RepeatableWrite or HTTPRepeatableWrite.
func writeRule(mode string, repeatable bool) repeatRule {
	switch {
	case !repeatable:
		return repeatNo
	case mode == RetryWritesNever:
		return repeatOff
	}
	return repeatBroken
}

// noRepeat returns why a request that is not idempotent, and may have
// run on its node (err), is not sent again; "" when it is.
func (f *failover) noRepeat(err error) string {
	var be *brokenConnError
	switch {
	case f.repeat == repeatNo:
		return "not a repeatable write (an unconditional put or a delete)"
	case f.repeat == repeatOff:
		return "retry-writes is never"
	case isTimeout(err):
		return "it timed out, so its node may still run it"
	case !errors.As(err, &be):
		return "its node did not just break the connection before any answer"
	}
	return ""
}

// reachedNode reports whether a failed attempt's request may have reached
// its node.
func reachedNode(err error) bool {
	var ns *notSentError
	return !errors.As(err, &ns)
}

// failover is the attempt and retry engine: every PB request
// (clientConn.handleBalanced), every pinning (clientConn.pin) and every
// HTTP request (httpRoundTripper.RoundTrip) reaches a node through one.
// The caller runs the attempts; failover picks the node of each and
// decides whether there is another:
//
//	for n, st, done := f.next(); n != nil; n, st, done = f.next() {
//		err := attempt(st, done) // one attempt; it reports its outcome with done
//		if err == nil {
//			f.succeeded(n)
//			return
//		}
//		if !f.tryAgain(n, err) {
//			break
//		}
//	}
//	// no answer: render f's verdict (notRetried, timedOut, lastErr, ...)
//
// next holds the budgets (MaxAttempts attempts, the request's time) and
// the choice of node (the policy, never a node already tried, or the same
// node again over a new connection); tryAgain holds which failures are
// safe to retry. Hedged reads and latency-aware picks belong here too.
//
// A failover is a value with no allocation of its own: clientConn keeps
// one for its requests, RoundTrip one on its stack.
type failover struct {
	p *Proxy
	// idempotent: the request may be sent to a node again after it may
	// have reached one.
	idempotent bool
	// untimed: the answer's time is not the node's (a listing, metadata,
	// a search): its attempts are begun as such (begin).
	untimed bool
	// The time budget: the PB request's deadline, or the HTTP request's
	// context (whose deadline is RequestTimeout).
	deadline time.Time
	ctx      context.Context
	// retries and failovers count attempts after the first and answers
	// from another node than the first tried; nil: not counted.
	retries, failovers *atomic.Uint64

	// home, if set and available, is the first attempt's node instead of
	// the policy's pick (a connection's sticky requests, client.go).
	home     *balancer.Node
	tried    []*balancer.Node // nodes the policy must not pick again
	first    *balancer.Node   // of the first attempt
	same     *balancer.Node   // set by tryAgain: try this node once more
	fresh    bool             // this attempt is that retry: over a new connection
	stale    bool             // the retry on a new connection was used
	attempts int              // attempts begun

	// lastErr and lastNode: the last failure or breaker refusal;
	// failErr and failNode: the last failed attempt.
	lastErr, failErr   error
	lastNode, failNode *balancer.Node
	// repeat: whether the request, if it is not idempotent, may be sent
	// again after an attempt that may have run it; repeats counts such
	// requests (nil: not counted).
	repeat  repeatRule
	repeats *atomic.Uint64
	// repeating: an attempt that may have run the write failed and the
	// write goes on; repeated: it was counted.
	repeating, repeated bool
	// notRetried: the last attempt may have reached its node and the
	// request is not idempotent; whyNot says why it is not repeated.
	notRetried bool
	whyNot     string
	timedOut   bool // an attempt timed out
}

// exclude keeps n from being picked (HTTP: nodes without an HTTP address).
func (f *failover) exclude(n *balancer.Node) { f.tried = append(f.tried, n) }

// expired reports whether the request's time is up.
func (f *failover) expired() bool {
	if f.ctx != nil {
		return f.ctx.Err() != nil
	}
	return !time.Now().Before(f.deadline)
}

// tryBound reports whether the request's attempts are bound by
// --try-timeout (Proxy.tryDeadline, the HTTP backend's transport): an
// object read, which may go to another node after a timeout and whose
// time is the node's.
func (f *failover) tryBound() bool { return f.idempotent && !f.untimed }

// begin reserves a request on n: with Begin when its answer's time is the
// node's (reqInfo.timed), else with BeginUntimed, so that a long listing
// or a metadata change in flight does not make the node look stalled.
func begin(n *balancer.Node, timed bool) (balancer.Lease, error) {
	if timed {
		return n.Begin()
	}
	return n.BeginUntimed()
}

// next reserves the node of the next attempt (balancer.Node.Begin: the
// lease must be ended with the attempt's outcome) and returns it with its
// state; nil when the attempts or the time are used up or no node is
// left. Nodes removed since the pick are skipped, and nodes whose breaker
// refuses, without counting as an attempt.
func (f *failover) next() (n *balancer.Node, st *nodeState, lease balancer.Lease) {
	// A PB request's first attempt is never late: its deadline was set
	// from its arrival moments ago, and checking would read the clock on
	// every request.
	for f.attempts < f.p.cfg.MaxAttempts && (f.attempts == 0 && f.ctx == nil || !f.expired()) {
		n, f.same, f.fresh = f.same, nil, f.same != nil
		if n == nil && f.attempts == 0 && f.home != nil && f.home.Available() && !slices.Contains(f.tried, f.home) {
			n = f.home
			f.tried = append(f.tried, n)
		} else if n == nil {
			if n = f.p.set.Pick(f.tried...); n == nil {
				return nil, nil, balancer.Lease{}
			}
			f.tried = append(f.tried, n)
		}
		if st = f.p.state(n); st == nil { // removed since Pick
			continue
		}
		lease, err := begin(n, !f.untimed)
		if err != nil { // its breaker opened since Pick
			f.lastErr, f.lastNode = err, n
			continue
		}
		if f.attempts == 0 {
			f.first = n
		} else if f.retries != nil {
			f.retries.Add(1)
		}
		if f.repeating && !f.repeated {
			f.repeated = true
			if f.repeats != nil {
				f.repeats.Add(1)
			}
		}
		f.attempts++
		return n, st, lease
	}
	return nil, nil, balancer.Lease{}
}

// succeeded records that n answered.
func (f *failover) succeeded(n *balancer.Node) {
	if n != f.first && f.failovers != nil {
		f.failovers.Add(1)
	}
}

// tryAgain records the failed attempt on n and reports whether the
// request may go on to another attempt (next still holds the budgets): the
// whole retry policy.
func (f *failover) tryAgain(n *balancer.Node, err error) bool {
	f.lastErr, f.lastNode = err, n
	f.failErr, f.failNode = err, n
	if isTimeout(err) {
		f.timedOut = true
	}
	if !f.idempotent && reachedNode(err) {
		if why := f.noRepeat(err); why != "" {
			f.notRetried, f.whyNot = true, why
			return false
		}
		f.repeating = true
	}
	var se *staleConnError
	if !f.stale && errors.As(err, &se) {
		f.stale, f.same = true, n
	}
	return true
}

// errNotServed: the node answered that it serves no such request. Riak
// does so (RpbErrorResp "Unknown message code: N") for about a second
// while it stops: it has unregistered its PB services but still accepts
// connections (seen on Riak KV 3.2.3 at `riak stop`). The request was not
// run, so any request, a write too, may go to another node.
var errNotServed = errors.New("director: the node no longer serves this request (Riak stopping)")

// notServed reports whether answer (a whole frame) is Riak's refusal of a
// request with code req that it has no service for.
func notServed(answer []byte, req protocol.Code) bool {
	if len(answer) <= protocol.HeaderSize || protocol.Code(answer[4]) != protocol.CodeErrorResp {
		return false
	}
	msg, _, err := protocol.ParseErrorResp(answer[protocol.HeaderSize:])
	return err == nil && msg == protocol.UnknownCodeMsg(req)
}
