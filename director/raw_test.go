package director

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/protocol"
)

// unknownCode is a code the message table does not know.
var unknownCode = func() protocol.Code {
	for c := 255; c > 0; c-- {
		if !protocol.Code(c).Known() {
			return protocol.Code(c)
		}
	}
	panic("no unknown code")
}()

func marshal(t testing.TB, code protocol.Code, m proto.Message) []byte {
	t.Helper()
	b, err := protocol.MarshalFrame(code, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func putReq(t testing.TB, bucket, key, value string) []byte {
	return marshal(t, protocol.CodePutReq, &riak_kv.RpbPutReq{Bucket: []byte(bucket), Key: []byte(key),
		Content: &riak_kv.RpbContent{Value: []byte(value), ContentType: []byte("text/plain")}})
}

func getReq(t testing.TB, bucket, key string) []byte {
	return marshal(t, protocol.CodeGetReq, &riak_kv.RpbGetReq{Bucket: []byte(bucket), Key: []byte(key)})
}

func getValue(t testing.TB, f protocol.Frame) string {
	t.Helper()
	if f.Code != protocol.CodeGetResp {
		t.Fatalf("got %v, want RpbGetResp", f.Code)
	}
	var m riak_kv.RpbGetResp
	if err := proto.Unmarshal(f.Body, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Content) == 0 {
		return "<notfound>"
	}
	return string(m.Content[0].Value)
}

// TestPipelinedInOrder: requests sent in one write, spread over three
// nodes, are answered in order (each get sees the put before it).
func TestPipelinedInOrder(t *testing.T) {
	nodes := startCluster(t, 3)
	p, addr := startProxy(t, Config{}, nodes)
	c := dialRaw(t, addr)
	var frames [][]byte
	var want []string // "" = put, "ping", else the value a get must see
	for i := range 40 {
		key, val := fmt.Sprint("p", i), fmt.Sprint("v", i)
		frames = append(frames, putReq(t, "pl", key, val), getReq(t, "pl", key), pingReq)
		want = append(want, "", val, "ping")
	}
	frames = append(frames, getReq(t, "pl", "missing"))
	want = append(want, "<notfound>")
	c.send(frames...)
	for i, w := range want {
		f, err := c.recv()
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		switch w {
		case "":
			if f.Code != protocol.CodePutResp {
				t.Fatalf("answer %d: %v, want RpbPutResp", i, f.Code)
			}
		case "ping":
			if f.Code != protocol.CodePingResp {
				t.Fatalf("answer %d: %v, want RpbPingResp", i, f.Code)
			}
		default:
			if got := getValue(t, f); got != w {
				t.Fatalf("answer %d: %q, want %q", i, got, w)
			}
		}
	}
	var used int
	for _, n := range p.Stats().Nodes {
		if n.Requests > 0 {
			used++
		}
	}
	if used < 2 {
		t.Errorf("pipelined requests went to %d node(s); want them balanced", used)
	}
}

// TestClientIDPinned: RpbSetClientIdReq pins the client connection to one
// backend connection, so RpbGetClientIdReq keeps answering the id it set
// while other requests go on; other clients are not affected.
func TestClientIDPinned(t *testing.T) {
	nodes := startCluster(t, 3)
	p, addr := startProxy(t, Config{}, nodes)
	a := dialRaw(t, addr)
	id := []byte("client-a")
	if f := a.do(marshal(t, protocol.CodeSetClientIDReq, &riak_kv.RpbSetClientIdReq{ClientId: id})); f.Code != protocol.CodeSetClientIDResp {
		t.Fatalf("set client id: %v", f.Code)
	}
	for i := range 20 {
		if f := a.do(putReq(t, "pin", fmt.Sprint(i), "v")); f.Code != protocol.CodePutResp {
			t.Fatalf("put on pinned connection: %v", f.Code)
		}
		f := a.do(frame(protocol.CodeGetClientIDReq, nil))
		var m riak_kv.RpbGetClientIdResp
		if err := proto.Unmarshal(f.Body, &m); err != nil || string(m.ClientId) != string(id) {
			t.Fatalf("get client id #%d: %q %v, want %q", i, m.ClientId, err, id)
		}
	}
	if s := p.Stats(); s.PinnedConns != 1 {
		t.Fatalf("pinned connections %d, want 1", s.PinnedConns)
	}
	if ci := p.Conns(); len(ci) != 1 || ci[0].Pinned == "" || ci[0].Requests != 41 {
		t.Fatalf("conns %+v", ci)
	}
	b := dialRaw(t, addr)
	f := b.do(frame(protocol.CodeGetClientIDReq, nil))
	var m riak_kv.RpbGetClientIdResp
	if err := proto.Unmarshal(f.Body, &m); err != nil || string(m.ClientId) == string(id) {
		t.Fatalf("another client sees client id %q (%v)", m.ClientId, err)
	}
	a.nc.Close()
	b.nc.Close()
	testutil.WaitFor(t, 2*time.Second, "pinned connections released", func() bool { return p.Stats().PinnedConns == 0 })
}

// TestPinnedBackendFails: when the pinned backend connection dies, the
// client gets an RpbErrorResp and its connection closes (its state is gone).
func TestPinnedBackendFails(t *testing.T) {
	fake := startFake(t, nil)
	_, addr := startProxySpecs(t, Config{HealthInterval: -1}, []balancer.NodeSpec{fake.spec()})
	c := dialRaw(t, addr)
	if f := c.do(marshal(t, protocol.CodeSetClientIDReq, &riak_kv.RpbSetClientIdReq{ClientId: []byte("x")})); f.Code != protocol.CodeSetClientIDResp {
		t.Fatalf("set client id: %v", f.Code)
	}
	fake.dropConns()
	time.Sleep(50 * time.Millisecond)
	if msg := errMsg(t, c.do(pingReq)); !strings.Contains(msg, "pinned connection") {
		t.Fatalf("after the pinned connection died: %q", msg)
	}
	if !c.closed() {
		t.Fatal("client connection still open after its pinned backend connection died")
	}
}

// TestBadInput: frames that cannot be proxied get RpbErrorResp (and the
// connection goes on) or close that connection only; a concurrent client
// sees no error.
func TestBadInput(t *testing.T) {
	nodes := startCluster(t, 1)
	p, addr := startProxy(t, Config{MaxFrameSize: 1024}, nodes)

	// A good client works throughout.
	good := client(t, addr)
	stop := make(chan struct{})
	var goodOps, goodErrs atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprint("good", i)
			if err := put(good, key, key); err != nil {
				goodErrs.Add(1)
				continue
			}
			if v, err := get(good, key); err != nil || v != key {
				goodErrs.Add(1)
				continue
			}
			goodOps.Add(1)
		}
	}()

	tests := []struct {
		name      string
		send      []byte
		closeSend bool     // half-close after sending
		want      []string // error message fragments of answers before the ping's answer
		closes    bool     // the director closes the connection after the answers
	}{
		{name: "unknown code then ping", send: frame(unknownCode, []byte("x")), want: []string{fmt.Sprintf("Unknown message code: %d", unknownCode)}},
		{name: "empty frame then ping", send: []byte{0, 0, 0, 0}, want: []string{"empty frame"}},
		{name: "response code then ping", send: frame(protocol.CodePingResp, nil), want: []string{"RpbPingResp is not a request"}},
		{name: "malformed stream flag then ping", send: frame(protocol.CodeListBucketsReq, []byte{0x10}), want: []string{"malformed RpbListBucketsReq"}},
		{name: "oversized length prefix", send: []byte{0, 1, 0, 0, 9, 1, 2, 3}, want: []string{"frame too large"}, closes: true},
		{name: "garbage", send: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), want: []string{"frame too large"}, closes: true},
		{name: "truncated frame", send: []byte{0, 0, 0, 9, byte(protocol.CodeGetReq), 1}, closeSend: true, closes: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			c.send(tc.send)
			if !tc.closes {
				c.send(pingReq)
			}
			if tc.closeSend {
				_ = c.nc.(interface{ CloseWrite() error }).CloseWrite()
			}
			for _, w := range tc.want {
				f, err := c.recv()
				if err != nil {
					t.Fatalf("want an error answer %q: %v", w, err)
				}
				if msg := errMsg(t, f); !strings.Contains(msg, w) {
					t.Fatalf("answer %q, want %q", msg, w)
				}
			}
			if tc.closes {
				if !c.closed() {
					t.Fatal("connection not closed")
				}
				return
			}
			if f, err := c.recv(); err != nil || f.Code != protocol.CodePingResp {
				t.Fatalf("ping after bad input: %v %v", f.Code, err)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if goodErrs.Load() != 0 || goodOps.Load() == 0 {
		t.Errorf("good client: %d ok, %d errors", goodOps.Load(), goodErrs.Load())
	}
	if s := p.Stats(); s.ProtocolErrors < 6 {
		t.Errorf("protocol errors counted: %d", s.ProtocolErrors)
	}
}

// TestNoNode: without a usable node the answer is RpbErrorResp, at once.
func TestNoNode(t *testing.T) {
	dead := startFake(t, nil)
	deadAddr := dead.addr
	dead.close() // nothing listens there any more
	tests := []struct {
		name  string
		specs []balancer.NodeSpec
	}{
		{"no nodes", nil},
		{"only a dead node", []balancer.NodeSpec{{ID: deadAddr, PBAddr: deadAddr}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := startProxySpecs(t, Config{}, tc.specs)
			c := dialRaw(t, addr)
			for _, req := range [][]byte{pingReq, getReq(t, "b", "k"), putReq(t, "b", "k", "v"), pingReq} {
				start := time.Now()
				if msg := errMsg(t, c.do(req)); !strings.HasPrefix(msg, "director: no available Riak node") {
					t.Fatalf("answer %q", msg)
				}
				if d := time.Since(start); d > 500*time.Millisecond {
					t.Fatalf("answered after %v", d)
				}
			}
		})
	}
}
