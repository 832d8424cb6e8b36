package director

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"
	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

func delReq(t testing.TB, bucket, key string) []byte {
	return marshal(t, protocol.CodeDelReq, &riak_kv.RpbDelReq{Bucket: []byte(bucket), Key: []byte(key)})
}

// condPutReq is an if_none_match put: not repeatable.
func condPutReq(t testing.TB, bucket, key, value string) []byte {
	return marshal(t, protocol.CodePutReq, &riak_kv.RpbPutReq{Bucket: []byte(bucket), Key: []byte(key), IfNoneMatch: proto.Bool(true),
		Content: &riak_kv.RpbContent{Value: []byte(value), ContentType: []byte("text/plain")}})
}

// closeOnWrites drops the connection, unanswered, once it has read a put
// or a delete: a node killed with the write in flight.
func closeOnWrites(fc *fakeConn, c protocol.Code, body []byte) bool {
	if c == protocol.CodePutReq || c == protocol.CodeDelReq {
		return false
	}
	return riakLike(fc, c, body)
}

// hangOnWrites reads a put or a delete and never answers: a frozen node.
func hangOnWrites(fc *fakeConn, c protocol.Code, body []byte) bool {
	if c == protocol.CodePutReq || c == protocol.CodeDelReq {
		_, _ = io.Copy(io.Discard, fc.nc) // until the director gives up
		return false
	}
	return riakLike(fc, c, body)
}

// TestRepeatableWrites: a write whose first node broke the connection
// after reading it goes to the next node (a devnode) when repeating it is
// safe; a conditional write, a write that timed out, and any write under
// RetryWrites "never" get the error instead and reach no other node.
func TestRepeatableWrites(t *testing.T) {
	dev := startCluster(t, 1)[0]
	direct := client(t, dev.PBAddr())
	devSpec := balancer.NodeSpec{ID: dev.PBAddr(), PBAddr: dev.PBAddr()}
	conditional := condPutReq(t, "b", "cond", "c")
	tests := []struct {
		name     string
		node     func(*fakeConn, protocol.Code, []byte) bool // the first node
		cfg      Config
		setup    func(t *testing.T) // before the request, straight to the devnode
		req      []byte
		wantCode protocol.Code      // the answer, or
		wantErr  []string           // fragments of the director's error
		check    func(t *testing.T) // the devnode's data afterwards
	}{
		{name: "put is repeated", node: closeOnWrites, req: putReq(t, "b", "put", "v1"), wantCode: protocol.CodePutResp,
			check: func(t *testing.T) {
				if v, err := get(direct, "put"); err != nil || v != "v1" {
					t.Fatalf("the repeated put is not stored: %q %v", v, err)
				}
			}},
		{name: "delete is repeated", node: closeOnWrites, req: delReq(t, "b", "del"), wantCode: protocol.CodeDelResp,
			setup: func(t *testing.T) {
				if err := put(direct, "del", "doomed"); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T) {
				if v, err := get(direct, "del"); err == nil || !strings.Contains(err.Error(), "notfound=true") {
					t.Fatalf("the repeated delete did not delete: %q %v", v, err)
				}
			}},
		{name: "conditional put is not repeated", node: closeOnWrites, req: conditional,
			wantErr: []string{"not retried because it is not idempotent and not a repeatable write"},
			check:   notStored(direct, "cond")},
		{name: "timed-out put is not repeated", node: hangOnWrites, cfg: Config{TryTimeout: 200 * time.Millisecond, RequestTimeout: 700 * time.Millisecond},
			req: putReq(t, "b", "late", "v"), wantErr: []string{"not retried because it is not idempotent and it timed out", "timeout"},
			check: notStored(direct, "late")},
		{name: "put answered in part is not repeated", node: func(fc *fakeConn, c protocol.Code, body []byte) bool {
			if c == protocol.CodePutReq {
				fc.reply([]byte{0, 0, 0, 50, byte(protocol.CodePutResp), 1, 2})
				return false
			}
			return riakLike(fc, c, body)
		}, req: putReq(t, "b", "half", "v"), wantErr: []string{"not retried because it is not idempotent and its node did not just break the connection"},
			check: notStored(direct, "half")},
		{name: "never: put is not repeated", node: closeOnWrites, cfg: Config{RetryWrites: RetryWritesNever},
			req: putReq(t, "b", "never", "v"), wantErr: []string{"not retried because it is not idempotent and retry-writes is never"},
			check: notStored(direct, "never")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			a := startFake(t, tc.node)
			cfg := tc.cfg
			cfg.HealthInterval, cfg.Policy, cfg.HedgeDelay, cfg.ConfirmNotFound = -1, prefer(a.addr), -1, ConfirmNever
			p, addr := startProxySpecs(t, cfg, []balancer.NodeSpec{a.spec(), devSpec})
			c := dialRaw(t, addr)
			start := time.Now()
			f := c.do(tc.req)
			if a.requests.Load() != 1 {
				t.Fatalf("first node saw %d requests, want 1", a.requests.Load())
			}
			if tc.wantErr != nil {
				msg := errMsg(t, f)
				for _, w := range tc.wantErr {
					if !strings.Contains(msg, w) {
						t.Fatalf("answer %q, want %q", msg, w)
					}
				}
			} else if f.Code != tc.wantCode {
				t.Fatalf("answer %v (%q), want %v", f.Code, f.Body, tc.wantCode)
			}
			// A write that may not be sent again after a timeout waits
			// for its node past TryTimeout, to the request's deadline.
			if tc.cfg.TryTimeout > 0 {
				if d := time.Since(start); d < tc.cfg.RequestTimeout || d > tc.cfg.RequestTimeout+time.Second {
					t.Fatalf("answered after %v, want about RequestTimeout", d)
				}
			}
			tc.check(t)
			// The connection goes on. (And the counters of the write,
			// whose answer may reach the client before they are
			// updated, are complete.)
			if f := c.do(pingReq); f.Code != protocol.CodePingResp {
				t.Fatalf("ping: %v", f.Code)
			}
			s := p.Stats()
			want := uint64(1)
			if tc.wantErr != nil {
				want = 0
			}
			if s.WriteRepeats != want || s.Retries != want || s.Failovers != want {
				t.Fatalf("write repeats %d, retries %d, failovers %d, want %d each", s.WriteRepeats, s.Retries, s.Failovers, want)
			}
			rec := httptest.NewRecorder()
			p.AdminHandler(nil).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			if line := fmt.Sprintf(`rmf_director_events_total{event="write_repeats"} %d`, want); !strings.Contains(rec.Body.String(), line+"\n") {
				t.Fatalf("/metrics has no %s", line)
			}
		})
	}
}

// notStored checks that key is not on the devnode behind c.
func notStored(c *riak.Client, key string) func(t *testing.T) {
	return func(t *testing.T) {
		t.Helper()
		if v, err := get(c, key); err == nil || !strings.Contains(err.Error(), "notfound=true") {
			t.Fatalf("%s reached the other node: %q %v", key, v, err)
		}
	}
}

// TestHTTPRepeatableWrites: a PUT or DELETE of a key whose first node
// closed the connection after reading it is answered by the next node (a
// devnode), body and all; a conditional PUT and a POST are not repeated.
func TestHTTPRepeatableWrites(t *testing.T) {
	checkGoroutines(t)
	dev := startCluster(t, 1)[0]
	dying := startDyingBackend(t)
	specs := []balancer.NodeSpec{
		{ID: "a-dying", PBAddr: deadAddr(t), HTTPAddr: dying.ln.Addr().String()},
		{ID: dev.PBAddr(), PBAddr: dev.PBAddr(), HTTPAddr: dev.HTTPAddr()},
	}
	p, _ := startProxySpecs(t, Config{Policy: prefer("a-dying"), HealthInterval: -1, HedgeDelay: -1, ConfirmNotFound: ConfirmNever,
		Breaker: balancer.BreakerSettings{ConsecutiveFailures: 100}, Outliers: balancer.OutlierSettings{ConsecutiveFailures: -1}}, specs)
	url, c := startHTTP(t, p), httpClient(t)
	direct := "http://" + dev.HTTPAddr()
	sent := func(want string) {
		t.Helper()
		if got := <-dying.bodies; got != want {
			t.Fatalf("dying node got %q, want %q", got, want)
		}
	}

	for i, obj := range []string{"/types/default/buckets/b/keys/h1", "/buckets/b/keys/h2", "/riak/b/h3"} {
		wantStatus(t, "put "+obj, do(t, c, "PUT", url+obj, strings.NewReader("v"+obj), "Content-Type", "text/plain"), http.StatusNoContent)
		sent("PUT v" + obj)
		r := do(t, c, "GET", direct+"/buckets/b/keys/"+obj[len(obj)-2:], nil)
		if r.status != http.StatusOK || r.body != "v"+obj {
			t.Fatalf("after the repeated put %d: %d %q", i, r.status, r.body)
		}
	}
	wantStatus(t, "delete", do(t, c, "DELETE", url+"/buckets/b/keys/h1", nil), http.StatusNoContent)
	sent("DELETE ")
	wantStatus(t, "get deleted", do(t, c, "GET", direct+"/buckets/b/keys/h1", nil), http.StatusNotFound)
	if s := p.Stats(); s.HTTPWriteRepeats != 4 || s.HTTPRetries != 4 || s.HTTPErrors != 0 {
		t.Fatalf("write repeats %d, retries %d, errors %d, want 4, 4, 0", s.HTTPWriteRepeats, s.HTTPRetries, s.HTTPErrors)
	}

	r := do(t, c, "PUT", url+"/buckets/b/keys/h4", strings.NewReader("cond"), "Content-Type", "text/plain", "If-None-Match", "*")
	wantStatus(t, "conditional put", r, http.StatusBadGateway)
	if !strings.Contains(r.body, "not retried because PUT is not idempotent and not a repeatable write") {
		t.Errorf("conditional put: %q", r.body)
	}
	sent("PUT cond")
	wantStatus(t, "get conditional", do(t, c, "GET", direct+"/buckets/b/keys/h4", nil), http.StatusNotFound)

	// A POST to a bucket makes a new key each time: never repeated.
	r = do(t, c, "POST", url+"/buckets/p/keys", strings.NewReader("posted"), "Content-Type", "text/plain")
	wantStatus(t, "post", r, http.StatusBadGateway)
	sent("POST posted")
	r = do(t, c, "GET", direct+"/buckets/p/keys?keys=true", nil)
	if r.status != http.StatusOK || strings.Contains(r.body, `"keys":["`) {
		t.Fatalf("the POST reached the devnode: %d %q", r.status, r.body)
	}
	if s := p.Stats(); s.HTTPWriteRepeats != 4 || s.HTTPRetries != 4 || s.HTTPErrors != 2 {
		t.Fatalf("write repeats %d, retries %d, errors %d, want 4, 4, 2", s.HTTPWriteRepeats, s.HTTPRetries, s.HTTPErrors)
	}
}
