package director

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"
	rpb "github.com/basho/riak-go-client/rpb/riak"
	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/standin/devnode"
	"github.com/rmf-go/rmf/protocol"
)

// gossipCluster is fake Riak nodes whose bucket properties spread as real
// Riak's cluster metadata does: a change is visible on the node that took
// it at once and on the others only after delay. An RpbGetReq answers the
// name of the node that served it.
type gossipCluster struct {
	delay time.Duration
	// typeGetFails: an RpbGetBucketTypeReq answers an RpbErrorResp.
	typeGetFails atomic.Bool
	mu           sync.Mutex
	props        []map[string]*rpb.RpbBucketProps // per node: bucket -> props
	types        []map[string]*rpb.RpbBucketProps // per node: bucket type -> props
	nodes        []*fakeNode
}

func startGossipCluster(t *testing.T, n int, delay time.Duration) *gossipCluster {
	g := &gossipCluster{delay: delay}
	for i := range n {
		g.props = append(g.props, map[string]*rpb.RpbBucketProps{})
		g.types = append(g.types, map[string]*rpb.RpbBucketProps{})
		g.nodes = append(g.nodes, startFake(t, func(fc *fakeConn, code protocol.Code, body []byte) bool {
			return g.handle(i, fc, code, body)
		}))
	}
	return g
}

func (g *gossipCluster) specs() []balancer.NodeSpec {
	var s []balancer.NodeSpec
	for _, n := range g.nodes {
		s = append(s, n.spec())
	}
	return s
}

// apply sets bucket's props on node i now and on the others after delay
// (nil: reset to defaults).
func (g *gossipCluster) apply(i int, bucket string, props *rpb.RpbBucketProps) {
	set := func(j int) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if props == nil {
			delete(g.props[j], bucket)
		} else {
			g.props[j][bucket] = props
		}
	}
	set(i)
	for j := range g.props {
		if j != i {
			time.AfterFunc(g.delay, func() { set(j) })
		}
	}
}

// applyType sets a bucket type's props as Riak does: on the claimant
// (node 0) at once, on every other node, the one that took the change
// included, after delay.
func (g *gossipCluster) applyType(typ string, props *rpb.RpbBucketProps) {
	set := func(j int) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.types[j][typ] = props
	}
	set(0)
	for j := 1; j < len(g.types); j++ {
		time.AfterFunc(g.delay, func() { set(j) })
	}
}

// decodeReq decodes a request body into m, or answers the client an
// RpbErrorResp naming the message and reports false.
func decodeReq(fc *fakeConn, body []byte, m proto.Message) bool {
	if proto.Unmarshal(body, m) != nil {
		fc.reply(protocol.ErrorResp(fmt.Sprintf("fake: bad %T", m), 0))
		return false
	}
	return true
}

func (g *gossipCluster) handle(i int, fc *fakeConn, code protocol.Code, body []byte) bool {
	switch code {
	case protocol.CodeSetBucketTypeReq:
		var req rpb.RpbSetBucketTypeReq
		if !decodeReq(fc, body, &req) {
			return true
		}
		g.mu.Lock()
		merged := &rpb.RpbBucketProps{NVal: proto.Uint32(3)}
		if cur := g.types[0][string(req.Type)]; cur != nil {
			merged = proto.Clone(cur).(*rpb.RpbBucketProps)
		}
		g.mu.Unlock()
		proto.Merge(merged, req.Props)
		g.applyType(string(req.Type), merged)
		fc.reply(frame(protocol.CodeSetBucketResp, nil))
	case protocol.CodeGetBucketTypeReq:
		var req rpb.RpbGetBucketTypeReq
		if !decodeReq(fc, body, &req) {
			return true
		}
		if g.typeGetFails.Load() {
			fc.reply(protocol.ErrorResp("fake: no", 0))
			return true
		}
		g.mu.Lock()
		props := g.types[i][string(req.Type)]
		g.mu.Unlock()
		if props == nil {
			props = &rpb.RpbBucketProps{NVal: proto.Uint32(3)}
		}
		b, _ := proto.Marshal(&rpb.RpbGetBucketResp{Props: props})
		fc.reply(frame(protocol.CodeGetBucketResp, b))
	case protocol.CodeSetBucketReq:
		var req rpb.RpbSetBucketReq
		if !decodeReq(fc, body, &req) {
			return true
		}
		g.mu.Lock()
		merged := &rpb.RpbBucketProps{NVal: proto.Uint32(3), AllowMult: proto.Bool(false)}
		if cur := g.props[i][string(req.Bucket)]; cur != nil {
			merged = proto.Clone(cur).(*rpb.RpbBucketProps)
		}
		g.mu.Unlock()
		proto.Merge(merged, req.Props)
		g.apply(i, string(req.Bucket), merged)
		fc.reply(frame(protocol.CodeSetBucketResp, nil))
	case protocol.CodeResetBucketReq:
		var req rpb.RpbResetBucketReq
		if !decodeReq(fc, body, &req) {
			return true
		}
		g.apply(i, string(req.Bucket), nil)
		fc.reply(frame(protocol.CodeResetBucketResp, nil))
	case protocol.CodeGetBucketReq:
		var req rpb.RpbGetBucketReq
		if !decodeReq(fc, body, &req) {
			return true
		}
		g.mu.Lock()
		props := g.props[i][string(req.Bucket)]
		g.mu.Unlock()
		if props == nil {
			props = &rpb.RpbBucketProps{NVal: proto.Uint32(3), AllowMult: proto.Bool(false)}
		}
		b, _ := proto.Marshal(&rpb.RpbGetBucketResp{Props: props})
		fc.reply(frame(protocol.CodeGetBucketResp, b))
	case protocol.CodeGetReq:
		b, _ := proto.Marshal(&riak_kv.RpbGetResp{Content: []*riak_kv.RpbContent{{Value: fmt.Appendf(nil, "node%d", i)}}})
		fc.reply(frame(protocol.CodeGetResp, b))
	default:
		return riakLike(fc, code, body)
	}
	return true
}

func storeProps(t *testing.T, c *riak.Client, bucket string, nVal uint32, allowMult bool) {
	t.Helper()
	cmd, err := riak.NewStoreBucketPropsCommandBuilder().WithBucket(bucket).WithNVal(nVal).WithAllowMult(allowMult).Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Execute(cmd); err != nil {
		t.Fatalf("store props of %s: %v", bucket, err)
	}
}

func fetchProps(t *testing.T, c *riak.Client, bucket string) *riak.FetchBucketPropsResponse {
	t.Helper()
	cmd, err := riak.NewFetchBucketPropsCommandBuilder().WithBucket(bucket).Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Execute(cmd); err != nil {
		t.Fatalf("fetch props of %s: %v", bucket, err)
	}
	return cmd.(*riak.FetchBucketPropsCommand).Response
}

func resetProps(t *testing.T, c *riak.Client, bucket string) {
	t.Helper()
	cmd, err := riak.NewResetBucketCommandBuilder().WithBucket(bucket).Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Execute(cmd); err != nil {
		t.Fatalf("reset props of %s: %v", bucket, err)
	}
}

// servedBy asks for a key and returns the name of the fake node that
// answered it.
func servedBy(t *testing.T, c *riak.Client) string {
	t.Helper()
	cmd, err := riak.NewFetchValueCommandBuilder().WithBucket("b").WithKey("k").Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Execute(cmd); err != nil {
		t.Fatal(err)
	}
	vs := cmd.(*riak.FetchValueCommand).Response.Values
	if len(vs) != 1 {
		t.Fatalf("fetch: %d values", len(vs))
	}
	return string(vs[0].Value)
}

// TestBucketTypeReadYourWrites is riak-go-client's
// TestSetAndResetBucketTypeProperties through the director, whose home is
// a node other than the claimant: Riak runs a bucket-type change on the
// claimant and gossips it, so the node that acknowledged it serves the old
// properties for a while (real Riak fails the test 5 times in 6 through
// such a node). The director holds the acknowledgement until its node
// shows the change, so every read back is the client's own.
func TestBucketTypeReadYourWrites(t *testing.T) {
	g := startGossipCluster(t, 3, 30*time.Millisecond)
	p, addr := startProxySpecs(t, Config{HealthInterval: -1, Policy: prefer(g.nodes[1].addr)}, g.specs())
	c := client(t, addr)
	nval := func() uint32 {
		cmd, err := riak.NewFetchBucketTypePropsCommandBuilder().WithBucketType("plain").Build()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Execute(cmd); err != nil {
			t.Fatal(err)
		}
		return cmd.(*riak.FetchBucketTypePropsCommand).Response.NVal
	}
	for i, want := range []uint32{4, 3, 5, 3} {
		cmd, err := riak.NewStoreBucketTypePropsCommandBuilder().WithBucketType("plain").WithNVal(want).Build()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := c.Execute(cmd); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("set %d took %v: the wait is bounded by the gossip delay, 30 ms", i, took)
		}
		if got := nval(); got != want {
			t.Fatalf("set %d: read back n_val %d, want %d (stale)", i, got, want)
		}
	}
	if st := p.Stats(); st.TypeSettleWaits == 0 || st.TypeUnsettled != 0 {
		t.Errorf("type settle waits %d, unsettled %d: want some and none (the fake is late; the test would pass without the wait otherwise)", st.TypeSettleWaits, st.TypeUnsettled)
	}
	if served := g.nodes[1].requests.Load(); served == 0 || g.nodes[0].requests.Load()+g.nodes[2].requests.Load() != 0 {
		t.Errorf("requests on the nodes %d, %d, %d: want all on node 1 (the home, not the claimant)",
			g.nodes[0].requests.Load(), served, g.nodes[2].requests.Load())
	}
}

// TestBucketTypePollFails: when the node answers the hold's poll with an
// RpbErrorResp, the hold stops at once and the set's answer goes out
// unchanged, as over HTTP (TestHTTPBucketTypePollFails).
func TestBucketTypePollFails(t *testing.T) {
	g := startGossipCluster(t, 3, 30*time.Millisecond)
	g.typeGetFails.Store(true)
	p, addr := startProxySpecs(t, Config{HealthInterval: -1, Policy: prefer(g.nodes[1].addr)}, g.specs())
	cmd, err := riak.NewStoreBucketTypePropsCommandBuilder().WithBucketType("plain").WithNVal(4).Build()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := client(t, addr).Execute(cmd); err != nil {
		t.Fatalf("set: %v, want the node's success", err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("set took %v: the hold should stop at the failed poll", took)
	}
	if st := p.Stats(); st.TypeSettleWaits != 0 || st.TypeUnsettled != 1 {
		t.Errorf("type settle waits %d, unsettled %d: want 0 and 1", st.TypeSettleWaits, st.TypeUnsettled)
	}
}

// TestMetadataReadYourWrites is riak-go-client's TestSetAndResetBucket-
// Properties through the director, against nodes whose properties spread
// late (as real Riak's do): each set, read back and reset is seen at once
// by the connection that made it, for the settle time its data requests
// stay on that node too, and afterwards they are balanced again.
func TestMetadataReadYourWrites(t *testing.T) {
	g := startGossipCluster(t, 3, 2*time.Second)
	_, addr := startProxySpecs(t, Config{MetadataSettle: 300 * time.Millisecond}, g.specs())
	// One connection, as a client of one node has.
	c, err := riak.NewClient(&riak.NewClientOptions{RemoteAddresses: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	for i := range 10 {
		bucket := fmt.Sprintf("props%d", i)
		storeProps(t, c, bucket, 2, true)
		if got := fetchProps(t, c, bucket); got.NVal != 2 || !got.AllowMult {
			t.Fatalf("%s after set: n_val %d allow_mult %v, want 2 and true (read from a node the change has not reached)", bucket, got.NVal, got.AllowMult)
		}
		// The data requests that depend on allow_mult go there too.
		home := servedBy(t, c)
		for range 5 {
			if n := servedBy(t, c); n != home {
				t.Fatalf("%s: a get within the settle time went to %s, the change was made on %s", bucket, n, home)
			}
		}
		resetProps(t, c, bucket)
		if got := fetchProps(t, c, bucket); got.NVal != 3 || got.AllowMult {
			t.Fatalf("%s after reset: n_val %d allow_mult %v, want the defaults", bucket, got.NVal, got.AllowMult)
		}
	}
	// Past the settle time data requests are balanced again.
	time.Sleep(400 * time.Millisecond)
	seen := map[string]bool{}
	for range 60 {
		seen[servedBy(t, c)] = true
	}
	if len(seen) < 2 {
		t.Errorf("after the settle time every get went to %v: not balanced", seen)
	}
}

// TestMetadataHomeFailsOver: when the home node goes, metadata requests
// move to another node, which becomes the new home.
func TestMetadataHomeFailsOver(t *testing.T) {
	g := startGossipCluster(t, 2, time.Hour) // never spreads
	_, addr := startProxySpecs(t, Config{MetadataSettle: -1, HealthInterval: 50 * time.Millisecond}, g.specs())
	c, err := riak.NewClient(&riak.NewClientOptions{RemoteAddresses: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	storeProps(t, c, "fo", 1, true)
	first := -1
	for i, n := range g.nodes {
		if n.requests.Load() > 0 {
			first = i
		}
	}
	if first < 0 {
		t.Fatal("no node got the set")
	}
	g.nodes[first].close()
	other := 1 - first
	// The old home is gone: the next set lands on the other node and stays.
	storeProps(t, c, "fo", 4, false)
	for range 10 {
		if got := fetchProps(t, c, "fo"); got.NVal != 4 {
			t.Fatalf("after failover: n_val %d, want 4 (node%d is the new home)", got.NVal, other)
		}
	}
}

// TestHTTPMetadataReadYourWrites: the same over the HTTP API, where every
// request may come on a connection of its own: properties put through
// the director read back as put, and an object get within the settle time
// goes to the node that took the change.
func TestHTTPMetadataReadYourWrites(t *testing.T) {
	var specs []balancer.NodeSpec
	dead := deadAddr(t)
	for i := range 3 {
		var mu sync.Mutex
		props := map[string]string{} // this node's view only: never spread
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case strings.HasSuffix(r.URL.Path, "/props") && r.Method == "PUT":
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				props[r.URL.Path] = string(b)
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			case strings.HasSuffix(r.URL.Path, "/props"):
				mu.Lock()
				v, ok := props[r.URL.Path]
				mu.Unlock()
				if !ok {
					v = `{"props":{"n_val":3}}`
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, v)
			default:
				_, _ = fmt.Fprintf(w, "node%d", i)
			}
		}))
		t.Cleanup(srv.Close)
		specs = append(specs, balancer.NodeSpec{ID: fmt.Sprintf("n%d", i), PBAddr: dead, HTTPAddr: hostOf(srv)})
	}
	p, _ := startProxySpecs(t, Config{HealthInterval: -1, MetadataSettle: 300 * time.Millisecond}, specs)
	url := startHTTP(t, p)
	for i := range 10 {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // a connection per request
		path := fmt.Sprintf("%s/types/t/buckets/b%d/props", url, i)
		want := fmt.Sprintf(`{"props":{"n_val":%d}}`, i+1)
		wantStatus(t, "put props", do(t, c, "PUT", path, strings.NewReader(want), "Content-Type", "application/json"), http.StatusNoContent)
		if r := do(t, c, "GET", path, nil); r.body != want {
			t.Fatalf("props of b%d read back %s, want %s", i, r.body, want)
		}
		home := do(t, c, "GET", url+"/buckets/b/keys/k", nil).body
		for range 5 {
			if got := do(t, c, "GET", url+"/buckets/b/keys/k", nil).body; got != home {
				t.Fatalf("an object get within the settle time went to %s, the change was made on %s", got, home)
			}
		}
	}
}

// TestMetadataReadYourWritesDevnodes: the same with devnodes whose
// properties spread by gossip 300 ms late, and riak-go-client's own pool
// (several connections): every property read through the director after
// a set sees the set.
func TestMetadataReadYourWritesDevnodes(t *testing.T) {
	nodes := startClusterWith(t, 3, func(_ int, c *devnode.Config) { c.GossipDelay = 300 * time.Millisecond })
	_, addr := startProxy(t, Config{}, nodes)
	c := client(t, addr)
	for i := range 8 {
		bucket := fmt.Sprintf("gossip%d", i)
		storeProps(t, c, bucket, uint32(1+i%3), i%2 == 0)
		if got := fetchProps(t, c, bucket); got.NVal != uint32(1+i%3) || got.AllowMult != (i%2 == 0) {
			t.Fatalf("%s read back n_val %d allow_mult %v right after the set", bucket, got.NVal, got.AllowMult)
		}
	}
}
