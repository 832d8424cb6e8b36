package director

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// Not-found confirmation. Riak answers a read at r replies, and with
// notfound_ok (the default) a replica that has not yet received its data
// answers "not found" and counts: right after a node restarts, while its
// partitions are handed back (or a fresh fallback stands in for a dead
// node), Riak can answer "not found" for an acknowledged write. An
// application that then re-creates the object, or gives up, loses data.
//
// While any node of the cluster is in transition, the director asks a
// GET answered "not found" once more, of another node (a settled one when
// there is one), with r=1 and notfound_ok=false: Riak then answers "not
// found" only when no replica holds the object. The found answer wins;
// it is Riak's own answer (its siblings and vclock as that node merged
// them). A budget bounds the extra requests.

// Not-found confirmation policies (Config.ConfirmNotFound).
const (
	ConfirmTransitions = "transitions" // while a node is in transition (default)
	ConfirmAlways      = "always"      // every "not found"
	ConfirmNever       = "never"
)

const (
	// DefaultConfirmBudget is Config.ConfirmBudget's default.
	DefaultConfirmBudget = 0.1
	// DefaultTransitionSettle is Config.TransitionSettle's default: how long
	// a node that came back counts as in transition. Riak's fallbacks hand
	// data back once idle for vnode_inactivity_timeout (60 s), and then the
	// transfers take their time: on a 3-node Riak KV 3.2.3 on this machine,
	// the hinted handoffs after a restart took 186 s to drain.
	DefaultTransitionSettle = 5 * time.Minute
	// confirmBurst is how many confirmations the budget allows at once.
	confirmBurst = 50
	// recoverySlowStart bounds the slow start of a node that came back.
	recoverySlowStart = 10 * time.Second
)

// transitions tracks which nodes may lack data that handoff will bring:
// a node is in transition while it fails its checks, and for the settle
// time after it failed a check or a request (refused, reset) or joined
// the set after the first.
type transitions struct {
	settle time.Duration

	mu    sync.Mutex
	until map[string]time.Time // node ID -> end of its settle time
	// latest is the end of the last settle time started (UnixNano): the
	// request path's cheap test that no node can be in transition.
	latest atomic.Int64
}

func newTransitions(settle time.Duration) *transitions {
	return &transitions{settle: settle, until: map[string]time.Time{}}
}

// cameBack starts id's settle time.
func (t *transitions) cameBack(id string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	end := now.Add(t.settle)
	t.until[id] = end
	if e := end.UnixNano(); e > t.latest.Load() {
		t.latest.Store(e) // under mu: no lost update
	}
}

// possible reports whether any of nodes may be in transition at now: one
// fails its checks, or a settle time has not ended. False is certain;
// true says to look closer (inTransition).
func (t *transitions) possible(nodes []*balancer.Node, now time.Time) bool {
	if now.UnixNano() < t.latest.Load() {
		return true
	}
	for _, n := range nodes {
		if !n.Healthy() {
			return true
		}
	}
	return false
}

// inTransition reports whether n may lack data (see transitions).
func (t *transitions) inTransition(n *balancer.Node, now time.Time) bool {
	if !n.Healthy() {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.until[n.ID]
	if ok && !now.Before(until) {
		delete(t.until, n.ID)
		return false
	}
	return ok
}

// confirmer holds the policy, its budget and its counters.
type confirmer struct {
	mode   string
	budget float64
	tokenBudget
	trans *transitions

	corrected atomic.Uint64
}

func validConfirmMode(m string) error {
	switch m {
	case "", ConfirmTransitions, ConfirmAlways, ConfirmNever:
		return nil
	}
	return fmt.Errorf("director: ConfirmNotFound %q is not %s, %s or %s", m, ConfirmTransitions, ConfirmAlways, ConfirmNever)
}

// earn adds one GET's share of the budget.
func (c *confirmer) earn() {
	if c.mode == ConfirmNever {
		return
	}
	if c.tokens.Add(int64(c.budget*hedgeToken)) > confirmBurst*hedgeToken {
		c.tokens.Store(confirmBurst * hedgeToken)
	}
}

// wanted decides whether a "not found" from first should be confirmed, and
// which nodes the confirmation avoids: first and every node in
// transition, as long as an available node is left; else only first; and
// when first is the only node available, none (asked again with r=1 and
// notfound_ok=false, the same coordinator waits for a replica that has
// the object).
func (c *confirmer) wanted(nodes []*balancer.Node, first *balancer.Node, now time.Time) (avoid []*balancer.Node, ok bool) {
	if c.mode == ConfirmNever {
		return nil, false
	}
	avoid = []*balancer.Node{first}
	moving := false
	for _, n := range nodes {
		if c.trans.inTransition(n, now) {
			moving = true
			if n != first {
				avoid = append(avoid, n)
			}
		}
	}
	if !moving && c.mode != ConfirmAlways {
		return nil, false
	}
	for _, keep := range []int{len(avoid), 1, 0} {
		avoid = avoid[:keep]
		for _, n := range nodes {
			if n.Available() && !slices.Contains(avoid, n) {
				return avoid, true
			}
		}
	}
	return nil, true
}

// handleGet serves an RpbGetReq: balanced as any read, and its "not found"
// confirmed as the policy says. It reports whether the connection goes on.
func (c *clientConn) handleGet(raw []byte, sticky bool) bool {
	p := c.p
	p.confirm.earn()
	if m := p.confirm.mode; m == ConfirmNever || (m == ConfirmTransitions && !p.confirm.trans.possible(p.set.Nodes(), c.now)) {
		// Nothing to confirm: the answer may go straight to the client.
		return c.handleBalanced(raw, false, true, sticky, false)
	}
	mark := len(c.out)
	c.hold = true
	goOn := c.handleBalanced(raw, false, true, sticky, false)
	c.hold = false
	first := c.answeredBy
	if !goOn || first == nil || !notFoundAnswer(c.out[mark:]) {
		return goOn
	}
	avoid, ok := p.confirm.wanted(p.set.Nodes(), first, time.Now())
	if !ok || !p.confirm.take() {
		return true
	}
	again, err := protocol.AppendConfirmGetReq(nil, raw[protocol.HeaderSize:])
	if err != nil {
		return true // the node parsed it; not ours to refuse now
	}
	mark2 := len(c.out)
	c.hold, c.avoid = true, avoid
	goOn = c.handleBalanced(again, false, true, false, false)
	c.hold, c.avoid = false, nil
	if !goOn {
		return false
	}
	if c.answeredBy != nil && foundAnswer(c.out[mark2:]) {
		p.confirm.corrected.Add(1)
		c.out = append(c.out[:mark], c.out[mark2:]...)
		return true
	}
	c.out = c.out[:mark2]
	return true
}

// notFoundAnswer reports whether out holds exactly one RpbGetResp frame
// without an object.
func notFoundAnswer(out []byte) bool {
	found, ok := getAnswer(out)
	return ok && !found
}

// foundAnswer reports whether out holds exactly one RpbGetResp frame with
// an object.
func foundAnswer(out []byte) bool {
	found, ok := getAnswer(out)
	return ok && found
}

func getAnswer(out []byte) (found, ok bool) {
	if !oneFrameOf(out, protocol.CodeGetResp) {
		return false, false
	}
	found, err := protocol.GetRespFound(out[protocol.HeaderSize:])
	return found, err == nil
}

// maxNotFoundBody bounds the 404 body kept while a confirmation runs
// (Riak's is "not found\n").
const maxNotFoundBody = 64 << 10

// confirmNotFound is handleGet's HTTP side: a GET of an object answered
// 404 by first is asked again with r=1, notfound_ok=false of another
// node while the policy says so; a 200 or 300 answer replaces the 404.
func (t *httpRoundTripper) confirmNotFound(req *http.Request, hr *httpRequest, resp *http.Response, first *balancer.Node) *http.Response {
	p := t.p
	avoid, ok := p.confirm.wanted(p.set.Nodes(), first, time.Now())
	if !ok {
		return resp
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxNotFoundBody+1))
	_ = resp.Body.Close()
	if err != nil || len(body) > maxNotFoundBody {
		// The 404 itself broke: nothing to give the client but an error.
		resp.Body = io.NopCloser(bytes.NewReader(nil))
		resp.StatusCode, resp.Status = http.StatusBadGateway, "502 Bad Gateway"
		return resp
	}
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	if !p.confirm.take() {
		return resp
	}
	again := req.Clone(req.Context())
	q := again.URL.Query()
	q.Set("r", "1")
	q.Set("notfound_ok", "false")
	q.Set("basic_quorum", "false")
	again.URL.RawQuery = q.Encode()
	hr2 := *hr
	hr2.confirmable, hr2.avoid = false, avoid
	again = again.WithContext(context.WithValue(req.Context(), httpCtxKey{}, &hr2))
	other, err := t.RoundTrip(again)
	if err != nil {
		return resp
	}
	if other.StatusCode == http.StatusOK || other.StatusCode == http.StatusMultipleChoices {
		p.confirm.corrected.Add(1)
		return other
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(other.Body, maxNotFoundBody))
	_ = other.Body.Close()
	return resp
}
