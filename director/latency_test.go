package director

import (
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// TestHistBucketsCoverEveryValue: each value falls in the bucket whose
// bounds hold it, buckets are contiguous, and a bucket is at most a
// quarter octave wide.
func TestHistBucketsCoverEveryValue(t *testing.T) {
	for _, us := range []uint64{0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 100, 1000, 4095, 4096, 1 << 20, 1<<31 - 1} {
		i := histIndex(us)
		if us >= histUpper(i) || (i > 0 && us < histUpper(i-1)) {
			t.Errorf("%d µs in bucket %d [%d, %d)", us, i, histUpper(max(i-1, 0)), histUpper(i))
		}
	}
	for i := 1; i < histBuckets; i++ {
		lo, hi := histUpper(i-1), histUpper(i)
		if hi <= lo || (lo >= 4 && float64(hi)/float64(lo) > 1.26) {
			t.Errorf("bucket %d is [%d, %d)", i, lo, hi)
		}
		if histIndex(lo) != i || histIndex(hi-1) != i {
			t.Errorf("bucket %d [%d, %d): its bounds index %d and %d", i, lo, hi, histIndex(lo), histIndex(hi-1))
		}
	}
	if histIndex(1<<40) != histBuckets-1 {
		t.Error("a huge value is not in the last bucket")
	}
}

// TestHistQuantileAndWindow: quantiles are within a bucket of the truth,
// and since keeps only what was recorded after a snapshot.
func TestHistQuantileAndWindow(t *testing.T) {
	var h latencyHist
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * 10 * time.Microsecond) // 10 µs .. 10 ms
	}
	s := h.snapshot()
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.9, 9 * time.Millisecond}, {0.99, 9900 * time.Microsecond}} {
		got := s.quantile(c.q)
		if got < c.want || float64(got) > 1.26*float64(c.want) {
			t.Errorf("q%.2f = %v, want %v to %v", c.q, got, c.want, time.Duration(1.26*float64(c.want)))
		}
	}
	for range 100 {
		h.record(time.Second)
	}
	w := h.snapshot().since(&s)
	if w.total != 100 {
		t.Fatalf("window holds %d samples, want 100", w.total)
	}
	if got := w.quantile(0.5); got < time.Second || got > 1260*time.Millisecond {
		t.Errorf("window median %v, want about 1s", got)
	}
	var sum histSnapshot
	sum.add(&s)
	sum.add(&w)
	if sum.total != 1100 {
		t.Errorf("sum of snapshots holds %d, want 1100", sum.total)
	}
	if (histSnapshot{}).quantile(0.5) != 0 {
		t.Error("the quantile of nothing is not 0")
	}
}

// TestHistPromBuckets: the Prometheus view counts each sample in the
// power-of-two buckets at and above it.
func TestHistPromBuckets(t *testing.T) {
	var h latencyHist
	for _, d := range []time.Duration{time.Microsecond, 3 * time.Microsecond, 5 * time.Millisecond, 5 * time.Millisecond} {
		h.record(d)
	}
	s := h.snapshot()
	b, sum := s.promBuckets()
	for le, want := range map[float64]uint64{1e-6: 0, 2e-6: 1, 4e-6: 2, 4096e-6: 2, 8192e-6: 4, float64(uint64(1)<<31) / 1e6: 4} {
		if b[le] != want {
			t.Errorf("bucket le=%g holds %d, want %d", le, b[le], want)
		}
	}
	if sum < 0.009 || sum > 0.011 { // midpoints: within a quarter octave
		t.Errorf("sum %v s, want about 0.01", sum)
	}
}

// TestOnlyNodeSpeedIsTimed: a request whose answer time is the cluster's
// or another program's (a search index created on every node: 1.5 s
// against real Riak, which made the director eject the node that took
// it) leaves the node's latency estimate alone; a data-type fetch as
// slow raises it.
func TestOnlyNodeSpeedIsTimed(t *testing.T) {
	const slow = 150 * time.Millisecond
	node := startFake(t, func(fc *fakeConn, code protocol.Code, body []byte) bool {
		switch code {
		case protocol.CodeYokozunaIndexPutReq:
			time.Sleep(slow)
			fc.reply(frame(protocol.CodePutResp, nil))
			return true
		case protocol.CodeDtFetchReq:
			time.Sleep(slow)
			fc.reply(frame(protocol.CodeDtFetchResp, nil))
			return true
		}
		return riakLike(fc, code, body)
	})
	p, addr := startProxySpecs(t, Config{HedgeDelay: -1, HealthInterval: -1}, []balancer.NodeSpec{{ID: "n", PBAddr: node.addr}})
	n := p.set.Nodes()[0]
	c := dialRaw(t, addr)
	if f := c.do(frame(protocol.CodeGetReq, nil)); f.Code != protocol.CodeGetResp {
		t.Fatalf("get: %v", f.Code)
	}
	// The director books a request after its answer reached the client,
	// and serves a connection's requests one at a time: once a ping's
	// answer is back, the request before it is booked.
	booked := func() {
		t.Helper()
		if f := c.do(frame(protocol.CodePingReq, nil)); f.Code != protocol.CodePingResp {
			t.Fatalf("ping: %v", f.Code)
		}
	}
	booked()
	fast := n.LatencyEWMA()
	if f := c.do(frame(protocol.CodeYokozunaIndexPutReq, nil)); f.Code != protocol.CodePutResp {
		t.Fatalf("index put: %v", f.Code)
	}
	booked()
	if got := n.LatencyEWMA(); got >= slow/2 {
		t.Errorf("estimate %v after a %v search index put (%v before): it was timed", got, slow, fast)
	}
	if f := c.do(frame(protocol.CodeDtFetchReq, nil)); f.Code != protocol.CodeDtFetchResp {
		t.Fatalf("data-type fetch: %v", f.Code)
	}
	booked()
	if got := n.LatencyEWMA(); got < slow/2 {
		t.Errorf("estimate %v after a %v data-type fetch: it was not timed", got, slow)
	}

	// Stalls: with a stall threshold set (from a hundred fast gets), the
	// node is stalled while a fetch goes unanswered, but not while an
	// index put does.
	for range 100 {
		c.do(frame(protocol.CodeGetReq, nil))
	}
	for deadline := time.Now().Add(5 * time.Second); n.StallAfter() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no stall threshold after 100 gets")
		}
	}
	stalledDuring := func(code protocol.Code) bool {
		c.send(frame(code, nil))
		time.Sleep(slow / 2)
		stalled := n.Stalled()
		if _, err := c.recv(); err != nil {
			t.Fatal(err)
		}
		return stalled
	}
	if stalledDuring(protocol.CodeYokozunaIndexPutReq) {
		t.Errorf("stalled during a %v index put (threshold %v)", slow, n.StallAfter())
	}
	if !stalledDuring(protocol.CodeDtFetchReq) {
		t.Errorf("not stalled during a %v data-type fetch (threshold %v)", slow, n.StallAfter())
	}
}

// TestStallThresholdFromObjectsOnly: the stall threshold and the hedge
// delay come from the last second's object requests. A client that also
// puts search indexes (untimed: Riak creates one on every node before it
// answers) does not raise them, yet /metrics' histogram counts every
// request.
func TestStallThresholdFromObjectsOnly(t *testing.T) {
	const slow = 20 * time.Millisecond
	node := startFake(t, func(fc *fakeConn, code protocol.Code, body []byte) bool {
		if code == protocol.CodeYokozunaIndexPutReq {
			time.Sleep(slow)
			fc.reply(frame(protocol.CodePutResp, nil))
			return true
		}
		return riakLike(fc, code, body)
	})
	p, addr := startProxySpecs(t, Config{HedgeDelay: time.Millisecond, HealthInterval: -1}, []balancer.NodeSpec{{ID: "n", PBAddr: node.addr}})
	n := p.set.Nodes()[0]
	c := dialRaw(t, addr)
	for range 40 { // a quarter of the requests are slow index puts
		for range 3 {
			if f := c.do(frame(protocol.CodeGetReq, nil)); f.Code != protocol.CodeGetResp {
				t.Fatalf("get: %v", f.Code)
			}
		}
		if f := c.do(frame(protocol.CodeYokozunaIndexPutReq, nil)); f.Code != protocol.CodePutResp {
			t.Fatalf("index put: %v", f.Code)
		}
	}
	c.do(frame(protocol.CodePingReq, nil)) // the last put is booked (TestOnlyNodeSpeedIsTimed)
	time.Sleep(3 * tunePeriod)             // tuned with all of them in its one-second window
	if got := n.StallAfter(); got == 0 || got >= slow/2 {
		t.Errorf("stall threshold %v: want the gets' (at least %v), not the index puts' %v", got, DefaultHedgeDelay, slow)
	}
	if got := time.Duration(p.hedge.delay.Load()); got >= slow/2 {
		t.Errorf("hedge delay %v: want the gets', not the index puts' %v", got, slow)
	}
	if got := p.latencies()["n"].snapshot().total; got < 161 {
		t.Errorf("latency histogram counts %d requests, want all 161", got)
	}
}
