package director

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// TestSlowWriteWaitsPastTryTimeout: a write, which is not sent again once
// it may have reached its node, waits for a slow node's answer past
// --try-timeout (until --request-timeout) and succeeds; a read on the
// same node gives up at the try timeout and is answered by the other.
func TestSlowWriteWaitsPastTryTimeout(t *testing.T) {
	const slow = 400 * time.Millisecond
	a := startFake(t, func(fc *fakeConn, code protocol.Code, body []byte) bool {
		if code == protocol.CodePutReq || code == protocol.CodeGetReq {
			time.Sleep(slow)
		}
		return riakLike(fc, code, body)
	})
	b := startFake(t, nil)
	_, addr := startProxySpecs(t, Config{HealthInterval: -1, HedgeDelay: -1, TryTimeout: 100 * time.Millisecond, Policy: prefer(a.addr)},
		[]balancer.NodeSpec{a.spec(), b.spec()})
	c := dialRaw(t, addr)
	start := time.Now()
	if f := c.do(putReq(t, "b", "k", "v")); f.Code != protocol.CodePutResp {
		t.Fatalf("put through a node slower than the try timeout: %v %q", f.Code, f.Body)
	}
	if d := time.Since(start); d < slow {
		t.Fatalf("put answered after %v, before its node could", d)
	}
	if a.requests.Load() != 1 || b.requests.Load() != 0 {
		t.Fatalf("requests: slow node %d, other %d; want the put on the slow node only", a.requests.Load(), b.requests.Load())
	}
	start = time.Now()
	if f := c.do(getReq(t, "b", "k")); f.Code != protocol.CodeGetResp {
		t.Fatalf("get: %v", f.Code)
	}
	if d := time.Since(start); d >= slow || b.requests.Load() != 1 {
		t.Fatalf("get answered after %v, %d requests on the other node; want it there after the try timeout", d, b.requests.Load())
	}
}

// TestHTTPSlowWriteWaitsPastTryTimeout: the HTTP proxy's counterpart. A
// PUT waits for a node slower than --try-timeout and gets its answer; a
// GET to the same node moves to the other one at the try timeout.
func TestHTTPSlowWriteWaitsPastTryTimeout(t *testing.T) {
	checkGoroutines(t)
	const slow = 400 * time.Millisecond
	var slowCount, okCount atomic.Int64
	slowSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		slowCount.Add(1)
		time.Sleep(slow)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(slowSrv.Close)
	ok := countingBackend(t, &okCount)
	dead := deadAddr(t)
	specs := []balancer.NodeSpec{
		{ID: "a-slow", PBAddr: dead, HTTPAddr: hostOf(slowSrv)},
		{ID: "b-ok", PBAddr: dead, HTTPAddr: hostOf(ok)},
	}
	p, _ := startProxySpecs(t, Config{Policy: firstPolicy{}, HealthInterval: -1, HedgeDelay: -1, TryTimeout: 100 * time.Millisecond,
		Breaker: balancer.BreakerSettings{ConsecutiveFailures: 100}}, specs)
	url, c := startHTTP(t, p), httpClient(t)

	start := time.Now()
	r := do(t, c, "PUT", url+"/buckets/b/keys/k", strings.NewReader("v"), "Content-Type", "text/plain")
	wantStatus(t, "put", r, http.StatusNoContent)
	if d := time.Since(start); d < slow || slowCount.Load() != 1 || okCount.Load() != 0 {
		t.Fatalf("put answered after %v; slow node %d requests, other %d; want the slow node's answer", d, slowCount.Load(), okCount.Load())
	}
	start = time.Now()
	r = do(t, c, "GET", url+"/buckets/b/keys/k", nil)
	wantStatus(t, "get", r, http.StatusOK)
	if d := time.Since(start); d >= slow || okCount.Load() != 1 {
		t.Fatalf("get answered after %v, other node %d requests; want it there after the try timeout", d, okCount.Load())
	}
}

// TestSlowListingWaitsPastTryTimeout: a listing takes as long as the data
// it walks, so neither --try-timeout nor a hedge bounds it: real Riak KV
// 3.2.3 took over 500 ms to begin a bucket listing, and at a try timeout
// of 500 ms each node timed out in turn and had its breaker opened. The
// listing, streamed or not (a one-frame read, which gets are hedged as),
// gets its answer from the node asked, which counts no failure.
func TestSlowListingWaitsPastTryTimeout(t *testing.T) {
	const slow = 400 * time.Millisecond
	a := startFake(t, func(fc *fakeConn, code protocol.Code, body []byte) bool {
		switch code {
		case protocol.CodeListKeysReq:
			time.Sleep(slow)
			fc.reply(marshal(t, protocol.CodeListKeysResp, &riak_kv.RpbListKeysResp{Keys: [][]byte{[]byte("k")}}),
				marshal(t, protocol.CodeListKeysResp, &riak_kv.RpbListKeysResp{Done: proto.Bool(true)}))
			return true
		case protocol.CodeListBucketsReq:
			time.Sleep(slow)
			fc.reply(marshal(t, protocol.CodeListBucketsResp, &riak_kv.RpbListBucketsResp{Buckets: [][]byte{[]byte("b")}}))
			return true
		}
		return riakLike(fc, code, body)
	})
	b := startFake(t, nil)
	p, addr := startProxySpecs(t, Config{HealthInterval: -1, HedgeDelay: time.Millisecond, TryTimeout: 100 * time.Millisecond, Policy: prefer(a.addr)},
		[]balancer.NodeSpec{a.spec(), b.spec()})
	c := dialRaw(t, addr)
	for range 20 { // answered gets: a hedge delay to go by
		if f := c.do(getReq(t, "b", "k")); f.Code != protocol.CodeGetResp {
			t.Fatalf("get: %v", f.Code)
		}
	}
	before := b.requests.Load()
	c.send(marshal(t, protocol.CodeListKeysReq, &riak_kv.RpbListKeysReq{Bucket: []byte("b")}))
	for i := range 2 {
		f, err := c.recv()
		if err != nil || f.Code != protocol.CodeListKeysResp {
			t.Fatalf("key listing frame %d: %v %v %q", i, err, f.Code, f.Body)
		}
	}
	if f := c.do(marshal(t, protocol.CodeListBucketsReq, &riak_kv.RpbListBucketsReq{})); f.Code != protocol.CodeListBucketsResp {
		t.Fatalf("bucket listing: %v %q", f.Code, f.Body)
	}
	for _, n := range p.set.Nodes() {
		if n.Failures() != 0 {
			t.Fatalf("node %s: %d failures booked for listings slower than the try timeout", n.ID, n.Failures())
		}
	}
	if got := b.requests.Load() - before; got != 0 {
		t.Fatalf("the other node got %d of the listings (hedged or retried)", got)
	}
}

// TestListingOutOfTimeIsNoNodeFailure: a listing that runs past
// --request-timeout fails for its client, but counts no failure against
// its node (breaker, ejection): the node may be walking a large bucket.
// An object read that times out does count.
func TestListingOutOfTimeIsNoNodeFailure(t *testing.T) {
	const slow = 500 * time.Millisecond
	a := startFake(t, func(fc *fakeConn, code protocol.Code, body []byte) bool {
		switch code {
		case protocol.CodeListBucketsReq:
			time.Sleep(slow)
			fc.reply(marshal(t, protocol.CodeListBucketsResp, &riak_kv.RpbListBucketsResp{}))
			return true
		case protocol.CodeGetReq:
			time.Sleep(slow)
		}
		return riakLike(fc, code, body)
	})
	p, addr := startProxySpecs(t, Config{HealthInterval: -1, HedgeDelay: -1, RequestTimeout: 200 * time.Millisecond},
		[]balancer.NodeSpec{a.spec()})
	n := p.set.Nodes()[0]
	c := dialRaw(t, addr)
	if msg := errMsg(t, c.do(marshal(t, protocol.CodeListBucketsReq, &riak_kv.RpbListBucketsReq{}))); !strings.Contains(msg, "timed out") {
		t.Fatalf("listing: %q, want a timeout", msg)
	}
	if n.Failures() != 0 {
		t.Fatalf("%d failures booked for a listing out of time", n.Failures())
	}
	c = dialRaw(t, addr)
	if msg := errMsg(t, c.do(getReq(t, "b", "k"))); !strings.Contains(msg, "timed out") {
		t.Fatalf("get: %q, want a timeout", msg)
	}
	if n.Failures() != 1 {
		t.Fatalf("%d failures booked for a get out of time, want 1", n.Failures())
	}
}

// TestHTTPListingOutOfTimeIsNoNodeFailure: the HTTP proxy's counterpart.
func TestHTTPListingOutOfTimeIsNoNodeFailure(t *testing.T) {
	slowSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(slowSrv.Close)
	p, _ := startProxySpecs(t, Config{HealthInterval: -1, HedgeDelay: -1, RequestTimeout: 200 * time.Millisecond},
		[]balancer.NodeSpec{{ID: "a", PBAddr: deadAddr(t), HTTPAddr: hostOf(slowSrv)}})
	url, c := startHTTP(t, p), httpClient(t)
	wantStatus(t, "listing", do(t, c, "GET", url+"/buckets?buckets=true", nil), http.StatusGatewayTimeout)
	n := p.set.Nodes()[0]
	if n.Failures() != 0 {
		t.Fatalf("%d failures booked for a listing out of time", n.Failures())
	}
	wantStatus(t, "get", do(t, c, "GET", url+"/buckets/b/keys/k", nil), http.StatusGatewayTimeout)
	if n.Failures() != 1 {
		t.Fatalf("%d failures booked for a get out of time, want 1", n.Failures())
	}
}
