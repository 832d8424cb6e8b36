package director

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
)

// lateTypeNode is a fake Riak HTTP node that serves bucket-type
// properties as a Riak node other than the claimant does: it answers
// PUT /types/T/props with 204 at once and shows the change to
// GET /types/T/props only after delay (never if delay returns < 0). It
// answers 204 to any PUT body, valid or not, so that a test sees what the
// director does with the body, not with a refusal.
type lateTypeNode struct {
	delay     func() time.Duration
	getStatus int // non-zero: GET answers this status

	mu    sync.Mutex
	props map[string]any // what GET shows
	puts  []string       // the PUT bodies as received
	gets  atomic.Int64
	srv   *httptest.Server
}

func startLateTypeNode(t *testing.T, delay func() time.Duration, getStatus int) *lateTypeNode {
	t.Helper()
	f := &lateTypeNode{delay: delay, getStatus: getStatus, props: map[string]any{"name": "t", "n_val": 3.0, "allow_mult": true, "young_vclock": 20.0}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *lateTypeNode) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/types/t/props" {
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.puts = append(f.puts, string(b))
		f.mu.Unlock()
		var doc struct{ Props map[string]any }
		if json.Unmarshal(b, &doc) == nil && doc.Props != nil {
			if d := f.delay(); d >= 0 {
				time.AfterFunc(d, func() {
					f.mu.Lock()
					defer f.mu.Unlock()
					for k, v := range doc.Props {
						f.props[k] = v
					}
				})
			}
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodGet:
		f.gets.Add(1)
		if f.getStatus != 0 {
			http.Error(w, "fake: no", f.getStatus)
			return
		}
		f.mu.Lock()
		b, _ := json.Marshal(map[string]any{"props": f.props})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
	}
}

func (f *lateTypeNode) putBodies() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.puts...)
}

// startTypeDirector starts a director over the fake node alone and its
// HTTP listener.
func startTypeDirector(t *testing.T, f *lateTypeNode) (*Proxy, string, *http.Client) {
	t.Helper()
	specs := []balancer.NodeSpec{{ID: "n0", PBAddr: deadAddr(t), HTTPAddr: hostOf(f.srv)}}
	p, _ := startProxySpecs(t, Config{HealthInterval: -1}, specs)
	return p, startHTTP(t, p), httpClient(t)
}

// putTypeProps sends a PUT /types/t/props through the director and
// returns its answer and how long it took.
func putTypeProps(t *testing.T, c *http.Client, url, body string) (httpResult, time.Duration) {
	t.Helper()
	start := time.Now()
	r := do(t, c, "PUT", url+"/types/t/props", strings.NewReader(body), "Content-Type", "application/json")
	return r, time.Since(start)
}

// TestHTTPBucketTypeReadYourWrites: the HTTP twin of
// TestBucketTypeReadYourWrites. The node shows a bucket-type change 30 to
// 80 ms after it answered the PUT, as a non-claimant Riak node does; the
// director holds the answer until the node shows it, so a read right
// after the PUT sees the new properties, and the node gets the PUT's body
// as sent.
func TestHTTPBucketTypeReadYourWrites(t *testing.T) {
	f := startLateTypeNode(t, func() time.Duration { return time.Duration(30+rand.IntN(51)) * time.Millisecond }, 0)
	p, url, c := startTypeDirector(t, f)
	changes := []string{
		`{"props":{"n_val":4,"allow_mult":false}}`,
		`{"props":{"n_val":3}}`,
		`{"props":{"r":"quorum","n_val":5,"allow_mult":true}}`,
		`{"props":{"n_val":3.0}}`,
	}
	for i, body := range changes {
		r, took := putTypeProps(t, c, url, body)
		wantStatus(t, "put type props", r, http.StatusNoContent)
		if took > time.Second {
			t.Errorf("put %d took %v: the hold is bounded by the node's delay, at most 80 ms", i, took)
		}
		got := do(t, c, "GET", url+"/types/t/props", nil)
		wantStatus(t, "get type props", got, http.StatusOK)
		if want := typePropsWant([]byte(body)); !propsShow([]byte(got.body), want) {
			t.Fatalf("put %d %s: read back %s (stale)", i, body, got.body)
		}
	}
	if puts := f.putBodies(); strings.Join(puts, "\n") != strings.Join(changes, "\n") {
		t.Errorf("the node got the PUT bodies %q, want %q", puts, changes)
	}
	if st := p.Stats(); st.TypeSettleWaits == 0 || st.TypeUnsettled != 0 {
		t.Errorf("type settle waits %d, unsettled %d: want some and none", st.TypeSettleWaits, st.TypeUnsettled)
	}
}

// shortTypeHold sets typeHoldMax to d for the test.
func shortTypeHold(t *testing.T, d time.Duration) {
	old := typeHoldMax
	typeHoldMax = d
	t.Cleanup(func() { typeHoldMax = old })
}

// TestHTTPBucketTypeHoldBounded: a node that never shows the change holds
// the answer for the bound only, and the answer is the node's.
func TestHTTPBucketTypeHoldBounded(t *testing.T) {
	shortTypeHold(t, 150*time.Millisecond)
	f := startLateTypeNode(t, func() time.Duration { return -1 }, 0)
	p, url, c := startTypeDirector(t, f)
	r, took := putTypeProps(t, c, url, `{"props":{"n_val":5}}`)
	wantStatus(t, "put type props", r, http.StatusNoContent)
	// Polls at about 0, 2, 6, 14, 30, 62 and 126 ms: the next would come
	// after the bound.
	if took < 100*time.Millisecond || took > time.Second {
		t.Errorf("put took %v: want the bound, 150 ms, less the last backoff", took)
	}
	if st := p.Stats(); st.TypeUnsettled != 1 || st.TypeSettleWaits < 5 {
		t.Errorf("type settle waits %d, unsettled %d: want several and 1", st.TypeSettleWaits, st.TypeUnsettled)
	}
	if n := f.gets.Load(); n < 5 {
		t.Errorf("%d polls of the node, want several", n)
	}
}

// TestHTTPBucketTypePollFails: when the node fails the poll the hold
// stops at once and the PUT's answer goes out unchanged.
func TestHTTPBucketTypePollFails(t *testing.T) {
	f := startLateTypeNode(t, func() time.Duration { return -1 }, http.StatusInternalServerError)
	p, url, c := startTypeDirector(t, f)
	r, took := putTypeProps(t, c, url, `{"props":{"n_val":5}}`)
	wantStatus(t, "put type props", r, http.StatusNoContent)
	if took > 500*time.Millisecond {
		t.Errorf("put took %v: the hold should stop at the failed poll", took)
	}
	if st := p.Stats(); st.TypeUnsettled != 1 || st.TypeSettleWaits != 0 || f.gets.Load() != 1 {
		t.Errorf("type settle waits %d, unsettled %d, polls %d: want 0, 1 and 1", st.TypeSettleWaits, st.TypeUnsettled, f.gets.Load())
	}
}

// TestHTTPBucketTypeNotJSON: a body that sets no properties (not JSON, no
// "props" object, an empty one) is not held: it reaches the node as sent
// and the node's answer comes back with no poll.
func TestHTTPBucketTypeNotJSON(t *testing.T) {
	f := startLateTypeNode(t, func() time.Duration { return -1 }, 0)
	p, url, c := startTypeDirector(t, f)
	bodies := []string{`not json {"props":{"n_val":4}}`, `{"nprops":{"n_val":4}}`, `{"props":[1]}`, `{"props":{}}`, `{"props":{"n_val":4}`}
	for _, b := range bodies {
		r, _ := putTypeProps(t, c, url, b)
		wantStatus(t, "put "+b, r, http.StatusNoContent)
	}
	if puts := f.putBodies(); strings.Join(puts, "\n") != strings.Join(bodies, "\n") {
		t.Errorf("the node got the PUT bodies %q, want %q", puts, bodies)
	}
	if st := p.Stats(); st.TypeSettleWaits != 0 || st.TypeUnsettled != 0 || f.gets.Load() != 0 {
		t.Errorf("type settle waits %d, unsettled %d, polls %d: want none", st.TypeSettleWaits, st.TypeUnsettled, f.gets.Load())
	}
}

func TestHTTPTypePropsWant(t *testing.T) {
	for _, tc := range []struct {
		body string
		want int // properties; -1: nil
	}{
		{`{"props":{"n_val":3,"allow_mult":true}}`, 2},
		{`{"props":{"n_val":3},"other":1}`, 1},
		{`{"props":{}}`, -1},
		{`{"props":null}`, -1},
		{`{"props":[]}`, -1},
		{`{"props":"n_val"}`, -1},
		{`{"n_val":3}`, -1},
		{`[]`, -1},
		{`not json`, -1},
		{``, -1},
		{`{"props":{"n_val":3}} trailing`, -1},
	} {
		got := typePropsWant([]byte(tc.body))
		if (got == nil) != (tc.want < 0) || (got != nil && len(got) != tc.want) {
			t.Errorf("typePropsWant(%s) = %v, want %d properties", tc.body, got, tc.want)
		}
	}
}

func TestHTTPPropsShow(t *testing.T) {
	for _, tc := range []struct {
		get, put string
		want     bool
	}{
		{`{"props":{"n_val":3,"allow_mult":true}}`, `{"props":{"n_val":3}}`, true},
		{`{"props":{"n_val":3.0}}`, `{"props":{"n_val":3}}`, true},
		{`{"props":{"n_val":3}}`, `{"props":{"n_val":3e0}}`, true},
		{`{"props":{"n_val":3}}`, `{"props":{"n_val":4}}`, false},
		{`{"props":{"n_val":3}}`, `{"props":{"n_val":"3"}}`, false},
		{`{"props":{"n_val":3}}`, `{"props":{"n_val":3,"allow_mult":true}}`, false},
		{`{"props":{"allow_mult":false}}`, `{"props":{"allow_mult":false}}`, true},
		{`{"props":{"r":"quorum"}}`, `{"props":{"r":"quorum"}}`, true},
		{`{"props":{"r":"quorum"}}`, `{"props":{"r":"all"}}`, false},
		{`{"props":{"backend":null}}`, `{"props":{"backend":null}}`, true},
		{`{"props":{}}`, `{"props":{"backend":null}}`, false},
		{`{"props":{"chash_keyfun":{"mod":"riak_core_util","fun":"chash_std_keyfun"}}}`,
			`{"props":{"chash_keyfun":{"fun":"chash_std_keyfun","mod":"riak_core_util"}}}`, true},
		{`{"props":{"chash_keyfun":{"mod":"riak_core_util","fun":"chash_std_keyfun"}}}`,
			`{"props":{"chash_keyfun":{"mod":"riak_core_util"}}}`, false},
		{`{"props":{"precommit":[{"mod":"m","fun":"f"}]}}`, `{"props":{"precommit":[{"fun":"f","mod":"m"}]}}`, true},
		{`{"props":{"precommit":[]}}`, `{"props":{"precommit":[{"fun":"f","mod":"m"}]}}`, false},
		{`{"props":{"precommit":[1,2]}}`, `{"props":{"precommit":[2,1]}}`, false},
		{`not json`, `{"props":{"n_val":3}}`, false},
		{`{"n_val":3}`, `{"props":{"n_val":3}}`, false},
		{`{"props":[3]}`, `{"props":{"n_val":3}}`, false},
	} {
		want := typePropsWant([]byte(tc.put))
		if want == nil {
			t.Fatalf("bad case: %s sets nothing", tc.put)
		}
		if got := propsShow([]byte(tc.get), want); got != tc.want {
			t.Errorf("propsShow(%s, %s) = %v, want %v", tc.get, tc.put, got, tc.want)
		}
	}
}

func TestHTTPTypeSettleNext(t *testing.T) {
	now := time.Now()
	deadline := now.Add(100 * time.Millisecond)
	for _, tc := range []struct {
		shown, gone   bool
		wait          time.Duration
		stop, settled bool
	}{
		{true, false, time.Millisecond, true, true},
		{true, false, time.Hour, true, true}, // seen: whatever the time
		{false, true, time.Millisecond, true, false},
		{false, false, time.Millisecond, false, false},
		{false, false, 100 * time.Millisecond, false, false},
		{false, false, 101 * time.Millisecond, true, false},
	} {
		stop, settled := settleNext(tc.shown, tc.gone, now, deadline, tc.wait)
		if stop != tc.stop || settled != tc.settled {
			t.Errorf("settleNext(shown %v, gone %v, wait %v) = %v, %v, want %v, %v", tc.shown, tc.gone, tc.wait, stop, settled, tc.stop, tc.settled)
		}
	}
}
