package director

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/protocol"
)

// stallingNode answers like riakLike, each request after stall.
func stallingNode(t *testing.T, stall time.Duration) *fakeNode {
	return startFake(t, func(fc *fakeConn, code protocol.Code, body []byte) bool {
		if code != protocol.CodePingReq {
			time.Sleep(stall)
		}
		return riakLike(fc, code, body)
	})
}

// TestHedgedReads: a get whose node stalls is answered by a second node
// after the hedge delay, not after the stall; the stalled leg is read to
// its end and its connection reused; puts are never hedged; hedges stay
// within the budget.
func TestHedgedReads(t *testing.T) {
	checkGoroutines(t)
	slow, fast := stallingNode(t, 300*time.Millisecond), startFake(t, nil)
	specs := []balancer.NodeSpec{{ID: "a-slow", PBAddr: slow.addr}, {ID: "b-fast", PBAddr: fast.addr}}
	p, addr := startProxySpecs(t, Config{Policy: firstPolicy{}, HedgeDelay: 20 * time.Millisecond, HedgeBudget: 0.01, HealthInterval: -1}, specs)
	c := dialRaw(t, addr)

	start := time.Now()
	if f := c.do(getReq(t, "b", "k")); f.Code != protocol.CodeGetResp {
		t.Fatalf("get: %v %q", f.Code, errMsg(t, f))
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("a get on a stalled node took %v: not hedged", took)
	}
	st := p.Stats()
	if st.HedgesSent != 1 || st.HedgeWins != 1 {
		t.Errorf("hedges sent %d, won %d; want 1 and 1", st.HedgesSent, st.HedgeWins)
	}
	if fast.requests.Load() != 1 {
		t.Errorf("the fast node got %d requests, want the one hedge", fast.requests.Load())
	}

	// A put is not hedged: it waits for the stalled node.
	start = time.Now()
	if f := c.do(putReq(t, "b", "k", "v")); f.Code != protocol.CodePutResp {
		t.Fatalf("put: %v %q", f.Code, errMsg(t, f))
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("put answered in %v: it cannot have waited for the stalled node", took)
	}
	if fast.requests.Load() != 1 || p.Stats().HedgesSent != 1 {
		t.Errorf("a put was hedged (fast node %d requests, hedges %d)", fast.requests.Load(), p.Stats().HedgesSent)
	}

	// The budget: 1% of requests plus a burst of 10, so 30 stalled gets
	// in quick succession are not all hedged.
	for range 30 {
		if f := c.do(getReq(t, "b", "k")); f.Code != protocol.CodeGetResp {
			t.Fatalf("get: %v", f.Code)
		}
	}
	st = p.Stats()
	if st.HedgesSent > hedgeBurst+2 || st.HedgesDenied == 0 {
		t.Errorf("hedges sent %d, denied %d: the budget did not hold", st.HedgesSent, st.HedgesDenied)
	}
	// The stalled legs finish in the background and give their
	// connections back: the slow node's pool holds idle connections.
	testutil.WaitFor(t, 2*time.Second, "the stalled legs' connections back in the pool", func() bool {
		for _, n := range p.Stats().Nodes {
			if n.ID == "a-slow" {
				return n.ConnsIdle >= 1 && n.Outstanding == 0
			}
		}
		return false
	})
}

// TestOutlierEjection: a node answering 60 ms slower than its peers is
// ejected by the director's tune loop (not available, shown in /status,
// /metrics and the page with its addresses), and let back in by slow
// start once its ejection ends.
func TestOutlierEjection(t *testing.T) {
	slow := stallingNode(t, 60*time.Millisecond)
	a, b := startFake(t, nil), startFake(t, nil)
	specs := []balancer.NodeSpec{{ID: "a", PBAddr: a.addr, HTTPAddr: "127.0.0.1:1"}, {ID: "b", PBAddr: b.addr}, {ID: "slow", PBAddr: slow.addr}}
	p, addr := startProxySpecs(t, Config{Policy: &balancer.RoundRobin{}, HedgeDelay: -1, HealthInterval: -1,
		Outliers: balancer.OutlierSettings{Interval: 100 * time.Millisecond, BaseEjection: time.Second, SlowStart: time.Second}}, specs)
	admin := httptest.NewServer(p.AdminHandler(nil))
	defer admin.Close()
	c := dialRaw(t, addr)
	slowNode := func() NodeStats {
		for _, n := range p.Stats().Nodes {
			if n.ID == "slow" {
				return n
			}
		}
		t.Fatal("slow node missing")
		return NodeStats{}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !slowNode().Ejected {
		if time.Now().After(deadline) {
			t.Fatalf("the slow node was never ejected: %+v", slowNode())
		}
		if f := c.do(getReq(t, "b", "k")); f.Code != protocol.CodeGetResp {
			t.Fatalf("get: %v", f.Code)
		}
	}
	if n := slowNode(); n.Available || n.Ejections != 1 || n.Weight != 0 || p.Stats().Ejections != 1 {
		t.Errorf("ejected node %+v (proxy ejections %d)", n, p.Stats().Ejections)
	}
	// While it is out, no request reaches it.
	before := slow.requests.Load()
	for range 20 {
		c.do(getReq(t, "b", "k"))
	}
	if got := slow.requests.Load() - before; got != 0 {
		t.Errorf("the ejected node got %d requests", got)
	}
	doc := getStatus(t, admin.URL)
	for _, n := range doc.Nodes {
		if n.ID == "slow" && (!n.Ejected || n.EjectedUntil == "" || n.Weight != 0 || n.LatencyMs < 50) {
			t.Errorf("/status of the ejected node %+v", n)
		}
	}
	page := httpBody(t, admin.URL+"/")
	for _, want := range []string{"ejected until", "pb " + slow.addr, "pb " + a.addr + " · http 127.0.0.1:1", "outlier ejections 1"} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if m := httpBody(t, admin.URL+"/metrics"); !strings.Contains(m, `rmf_director_node_ejected{node="slow"} 1`) ||
		!strings.Contains(m, `rmf_director_events_total{event="ejections"} 1`) {
		t.Errorf("metrics lack the ejection:\n%s", m)
	}
	// After the ejection the node is back, at a reduced weight first.
	testutil.WaitFor(t, 5*time.Second, "the slow node let back in", func() bool {
		n := slowNode()
		return !n.Ejected && n.Available
	})
}

func httpBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestHedgeDelayPassedBeforeSend: a hedge delay that has already passed
// when the request reaches its node's connection (a loaded machine, or a
// tiny delay) still sends the request and waits for its answer, rather
// than waiting on a request never written.
func TestHedgeDelayPassedBeforeSend(t *testing.T) {
	checkGoroutines(t)
	a := startFake(t, nil)
	_, addr := startProxySpecs(t, Config{HedgeDelay: time.Nanosecond, HealthInterval: -1, RequestTimeout: 3 * time.Second},
		[]balancer.NodeSpec{{ID: "a", PBAddr: a.addr}})
	c := dialRaw(t, addr)
	for i := range 20 {
		start := time.Now()
		if f := c.do(getReq(t, "b", "k")); f.Code != protocol.CodeGetResp {
			t.Fatalf("get %d: %v %q", i, f.Code, errMsg(t, f))
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("get %d took %v: its request waited for the request timeout", i, took)
		}
	}
}

// TestHedgedReadLeavesConnReusable: a connection that served a hedged-path
// read (whose read deadline was the hedge's, long passed) is reused by the
// next write, which checks that pooled connections are alive: the check
// must not mistake a passed deadline for a dead connection (it did, and
// every write after a read dialed a new connection).
func TestHedgedReadLeavesConnReusable(t *testing.T) {
	checkGoroutines(t)
	a := startFake(t, nil)
	p, addr := startProxySpecs(t, Config{HedgeDelay: time.Millisecond, HealthInterval: -1},
		[]balancer.NodeSpec{{ID: "a", PBAddr: a.addr}})
	c := dialRaw(t, addr)
	for i := range 5 {
		if f := c.do(getReq(t, "b", "k")); f.Code != protocol.CodeGetResp {
			t.Fatalf("get: %v %q", f.Code, errMsg(t, f))
		}
		time.Sleep(10 * time.Millisecond) // idle past the hedge deadline
		if f := c.do(putReq(t, "b", "k", "v")); f.Code != protocol.CodePutResp {
			t.Fatalf("put %d: %v %q", i, f.Code, errMsg(t, f))
		}
	}
	n := p.Stats().Nodes[0]
	if n.Dials != 1 || n.StaleDropped != 0 {
		t.Errorf("10 requests one after another dialed %d connections and found %d dead; want 1 and 0", n.Dials, n.StaleDropped)
	}
}

// TestHedgedPathBooksOnce: a read on the hedged path is booked once: one
// latency in its node's histogram, whether it answered or failed, so the
// hedge delay and /metrics count requests, not twice some of them.
func TestHedgedPathBooksOnce(t *testing.T) {
	var fail atomic.Bool
	n := startFake(t, func(fc *fakeConn, code protocol.Code, body []byte) bool {
		if code == protocol.CodeGetReq && fail.Load() {
			return false // reset: a failed attempt
		}
		return riakLike(fc, code, body)
	})
	p, addr := startProxySpecs(t, Config{HedgeDelay: 50 * time.Millisecond, HealthInterval: -1, MaxAttempts: 1}, []balancer.NodeSpec{n.spec()})
	c := dialRaw(t, addr)
	const gets = 30
	for i := range gets {
		if f := c.do(getReq(t, "b", "k")); f.Code != protocol.CodeGetResp {
			t.Fatalf("get %d: %v %q", i, f.Code, errMsg(t, f))
		}
	}
	recorded := func() uint64 {
		p.mu.Lock()
		defer p.mu.Unlock()
		h := p.lat[n.spec().ID].snapshot()
		return h.total
	}
	// The answer reaches the client just before its leg is booked (the
	// backend connection goes back to the pool only after the answer is
	// written from its buffer): wait for the last booking.
	for deadline := time.Now().Add(2 * time.Second); recorded() < gets && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := recorded(); got != gets {
		t.Fatalf("%d latencies recorded for %d answered gets, want one each", got, gets)
	}
	fail.Store(true)
	if f := c.do(getReq(t, "b", "k")); f.Code != protocol.CodeErrorResp {
		t.Fatalf("get on a failing node: %v, want RpbErrorResp", f.Code)
	}
	if got := recorded(); got != gets {
		t.Fatalf("%d latencies recorded after a failed get, want %d: a failure is no answer's latency", got, gets)
	}
}

// TestHedgeDeadlineKeptWithinItsQuarter: a backend connection's read
// deadline already between a hedge's due time and a quarter of its delay
// later is kept; one outside is moved to the latest time allowed.
func TestHedgeDeadlineKeptWithinItsQuarter(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	bc := &backendConn{nc: a}
	due := time.Now().Add(time.Hour)
	by := due.Add(time.Millisecond)
	bc.setReadDeadlineWithin(due, by)
	if !bc.rdl.Equal(by) {
		t.Fatalf("deadline %v, want the latest allowed %v", bc.rdl, by)
	}
	// The next read, 300us on: its window still holds the deadline.
	bc.setReadDeadlineWithin(due.Add(300*time.Microsecond), by.Add(300*time.Microsecond))
	if !bc.rdl.Equal(by) {
		t.Fatalf("deadline moved to %v though it was in the window", bc.rdl)
	}
	// 2ms on, it is before the hedge is due: moved.
	bc.setReadDeadlineWithin(due.Add(2*time.Millisecond), by.Add(2*time.Millisecond))
	if !bc.rdl.Equal(by.Add(2 * time.Millisecond)) {
		t.Fatalf("deadline %v, want it moved to %v", bc.rdl, by.Add(2*time.Millisecond))
	}
	// A later one (a plain attempt's) is brought in.
	bc.setReadDeadline(due.Add(time.Minute))
	bc.setReadDeadlineWithin(due, by)
	if !bc.rdl.Equal(by) {
		t.Fatalf("deadline %v, want %v", bc.rdl, by)
	}
	// And the connection has it: a read times out at once once it passed.
	past := time.Now().Add(-time.Millisecond)
	bc.setReadDeadlineWithin(past.Add(-time.Millisecond), past)
	if _, err := a.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("read with a passed deadline: %v, want a timeout", err)
	}
}
