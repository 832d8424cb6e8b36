package pbserver

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"
	rpbRiak "github.com/basho/riak-go-client/rpb/riak"
	rpbRiakKV "github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
	"github.com/rmf-go/rmf/protocol"
)

// These tests speak the protocol byte by byte: malformed input, frame
// edge cases and per-connection state.

func header(length uint32, code byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, length), code)
}

func TestMalformedInputKeepsConnection(t *testing.T) {
	srv := startServer(t, nil, nil)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"unknown code", protocol.AppendFrame(nil, 150, []byte("whatever")), "Unknown message code: 150"},
		{"embedded-only code", protocol.AppendFrame(nil, protocol.CodeTsRange, nil), "Unknown message code: 103"},
		{"zero-length frame", []byte{0, 0, 0, 0}, "empty frame"},
		{"response code as request", protocol.AppendFrame(nil, protocol.CodeGetResp, nil), "RpbGetResp is a response, not a request"},
		{"error code as request", protocol.AppendFrame(nil, protocol.CodeErrorResp, nil), "RpbErrorResp is a response, not a request"},
		{"undecodable get", protocol.AppendFrame(nil, protocol.CodeGetReq, []byte{0xff, 0xff}), "invalid RpbGetReq: malformed protobuf"},
		{"undecodable put content", protocol.AppendFrame(nil, protocol.CodePutReq, []byte{0x0a, 1, 'b', 0x22, 2, 0x0a, 9}), "invalid RpbPutReq"},
		{"undecodable list keys", protocol.AppendFrame(nil, protocol.CodeListKeysReq, []byte{0x0a, 9, 'x'}), "invalid RpbListKeysReq"},
		{"list keys without bucket", protocol.AppendFrame(nil, protocol.CodeListKeysReq, nil), "invalid RpbListKeysReq"},
		{"get without key", protocol.AppendFrame(nil, protocol.CodeGetReq, []byte{0x0a, 1, 'b'}), "missing required field key"},
		{"get empty bucket", mustFrame(t, protocol.CodeGetReq, &rpbRiakKV.RpbGetReq{Bucket: []byte{}, Key: []byte("k")}), "Bucket cannot be zero-length"},
		{"get empty type", mustFrame(t, protocol.CodeGetReq, &rpbRiakKV.RpbGetReq{Bucket: []byte("b"), Key: []byte("k"), Type: []byte{}}), "Type cannot be zero-length"},
		{"put without content", protocol.AppendFrame(nil, protocol.CodePutReq, []byte{0x0a, 1, 'b'}), "missing required field content"},
		{"put asis", mustFrame(t, protocol.CodePutReq, &rpbRiakKV.RpbPutReq{Bucket: []byte("b"), Key: []byte("k"), Asis: kv.Ptr(true), Content: &rpbRiakKV.RpbContent{Value: []byte("v")}}), "asis is not supported by devnode"},
		{"get bad if_modified", mustFrame(t, protocol.CodeGetReq, &rpbRiakKV.RpbGetReq{Bucket: []byte("b"), Key: []byte("k"), IfModified: []byte{9}}), "if_modified: kv: invalid vclock"},
		{"2i eq without key", mustFrame(t, protocol.CodeIndexReq, &rpbRiakKV.RpbIndexReq{Bucket: []byte("b"), Index: []byte("x_bin"), Qtype: rpbRiakKV.RpbIndexReq_eq.Enum()}), "Invalid equality query"},
		{"2i cover context", mustFrame(t, protocol.CodeIndexReq, &rpbRiakKV.RpbIndexReq{Bucket: []byte("b"), Index: []byte("x_bin"), Key: []byte("a"), Qtype: rpbRiakKV.RpbIndexReq_eq.Enum(), CoverContext: []byte("c")}), "not supported by devnode"},
		{"set consistent prop", mustFrame(t, protocol.CodeSetBucketReq, &rpbRiak.RpbSetBucketReq{Bucket: []byte("b"), Props: &rpbRiak.RpbBucketProps{Consistent: kv.Ptr(true)}}), "unsupported bucket property: consistent"},
		{"auth", protocol.AppendFrame(nil, protocol.CodeAuthReq, nil), "Unknown message code: 253"}, // Riak KV 3.2.3 with security off
		{"starttls", protocol.AppendFrame(nil, protocol.CodeStartTLS, nil), "Security not enabled; STARTTLS not allowed."},
		{"coverage", protocol.AppendFrame(nil, protocol.CodeCoverageReq, nil), "Unknown message code: 70"},
		{"counter get", protocol.AppendFrame(nil, protocol.CodeCounterGetReq, nil), "RpbCounterGetReq is not supported by devnode"},
		{"yokozuna schema", protocol.AppendFrame(nil, protocol.CodeYokozunaSchemaPutReq, nil), "Unknown message code: 60"},
		{"ts ttb", protocol.AppendFrame(nil, protocol.CodeTsTtbMsg, nil), "Unknown message code: 104"},
	}
	r := dialRaw(t, srv.Addr) // one connection for all: each case must leave it usable
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.t = t
			r.write(tc.in)
			r.expectError(tc.want)
			r.ping()
		})
	}
}

func mustFrame(t testing.TB, code protocol.Code, m proto.Message) []byte {
	t.Helper()
	b, err := protocol.MarshalFrame(code, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFatalInputClosesConnection(t *testing.T) {
	srv := startServer(t, nil, func(s *Server) { s.MaxFrameSize = 1 << 10 })
	t.Run("oversized length prefix", func(t *testing.T) {
		r := dialRaw(t, srv.Addr)
		r.write(append(header(1<<20, byte(protocol.CodePutReq)), make([]byte, 5000)...))
		r.expectError("frame too large: the limit is 1024 bytes")
		r.expectClosed()
	})
	t.Run("garbage (HTTP on the PB port)", func(t *testing.T) {
		r := dialRaw(t, srv.Addr)
		r.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		r.expectError("frame too large")
		r.expectClosed()
	})
	t.Run("truncated frame", func(t *testing.T) {
		r := dialRaw(t, srv.Addr)
		r.write(append(header(100, byte(protocol.CodePutReq)), "only a little"...))
		r.nc.(*net.TCPConn).CloseWrite()
		r.expectClosed()
	})
	t.Run("truncated header", func(t *testing.T) {
		r := dialRaw(t, srv.Addr)
		r.write([]byte{0, 0})
		r.nc.(*net.TCPConn).CloseWrite()
		r.expectClosed()
	})
	t.Run("frame at the limit is fine", func(t *testing.T) {
		r := dialRaw(t, srv.Addr)
		body := make([]byte, 1023)
		r.write(protocol.AppendFrame(nil, 150, body))
		r.expectError("Unknown message code: 150")
		r.ping()
	})
}

func TestBadClientDoesNotDisturbGoodClient(t *testing.T) {
	srv := startServer(t, nil, nil)
	c := newClient(t, srv.Addr)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inputs := [][]byte{
				[]byte("GET / HTTP/1.1\r\n\r\n"),
				header(50, byte(protocol.CodePutReq)),
				{0, 0, 0, 0, 0, 0, 0, 1, 150, 0xff, 0xff, 0xff, 0xff},
				protocol.AppendFrame(nil, protocol.CodeGetReq, []byte{0xff}),
				protocol.AppendFrame(nil, protocol.CodeMapRedReq, nil),
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				nc, err := net.Dial("tcp", srv.Addr)
				if err != nil {
					continue
				}
				nc.Write(inputs[i%len(inputs)])
				nc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				buf := make([]byte, 256)
				nc.Read(buf)
				nc.Close()
				bad.Add(1)
			}
		}()
	}
	for i := range 300 {
		key := "k" + string(rune('a'+i%26))
		mustRun(t, c, riak.NewStoreValueCommandBuilder().WithBucket("good").WithKey(key).WithContent(&riak.Object{Value: []byte(key)}))
		f := mustRun(t, c, riak.NewFetchValueCommandBuilder().WithBucket("good").WithKey(key)).(*riak.FetchValueCommand).Response
		if len(f.Values) != 1 || string(f.Values[0].Value) != key {
			t.Fatalf("good client read %v", f.Values)
		}
	}
	close(stop)
	wg.Wait()
	if bad.Load() == 0 {
		t.Fatal("the bad clients never ran")
	}
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	srv := startServer(t, nil, nil)
	r := dialRaw(t, srv.Addr)
	var batch []byte
	batch = append(batch, mustFrame(t, protocol.CodePutReq, &rpbRiakKV.RpbPutReq{Bucket: []byte("b"), Key: []byte("k"), Content: &rpbRiakKV.RpbContent{Value: []byte("v")}})...)
	batch = protocol.AppendFrame(batch, protocol.CodePingReq, nil)
	batch = append(batch, mustFrame(t, protocol.CodeGetReq, &rpbRiakKV.RpbGetReq{Bucket: []byte("b"), Key: []byte("k")})...)
	batch = protocol.AppendFrame(batch, 150, nil)
	batch = append(batch, mustFrame(t, protocol.CodeListKeysReq, &rpbRiakKV.RpbListKeysReq{Bucket: []byte("b")})...)
	batch = append(batch, mustFrame(t, protocol.CodeDelReq, &rpbRiakKV.RpbDelReq{Bucket: []byte("b"), Key: []byte("k")})...)
	r.write(batch)
	r.expect(protocol.CodePutResp, nil)
	r.expect(protocol.CodePingResp, nil)
	var get rpbRiakKV.RpbGetResp
	r.expect(protocol.CodeGetResp, &get)
	if len(get.Content) != 1 || string(get.Content[0].Value) != "v" {
		t.Fatalf("get %v", &get)
	}
	r.expectError("Unknown message code: 150")
	var lk rpbRiakKV.RpbListKeysResp
	r.expect(protocol.CodeListKeysResp, &lk)
	if len(lk.Keys) != 1 || lk.GetDone() {
		t.Fatalf("list keys batch %v", &lk)
	}
	r.expect(protocol.CodeListKeysResp, &lk)
	if len(lk.Keys) != 0 || !lk.GetDone() {
		t.Fatalf("list keys end %v", &lk)
	}
	r.expect(protocol.CodeDelResp, nil)
}

func TestRawAnswerShapes(t *testing.T) {
	srv := startServer(t, nil, nil)
	r := dialRaw(t, srv.Addr)
	// A missing key is an RpbGetResp with no body at all.
	r.send(protocol.CodeGetReq, &rpbRiakKV.RpbGetReq{Bucket: []byte("b"), Key: []byte("nope")})
	if f := r.read(); f.Code != protocol.CodeGetResp || len(f.Body) != 0 {
		t.Fatalf("notfound: %v %x", f.Code, f.Body)
	}
	// A plain put: an empty RpbPutResp.
	r.send(protocol.CodePutReq, &rpbRiakKV.RpbPutReq{Bucket: []byte("b"), Key: []byte("k"), Content: &rpbRiakKV.RpbContent{Value: []byte("v")}})
	if f := r.read(); f.Code != protocol.CodePutResp || len(f.Body) != 0 {
		t.Fatalf("put: %v %x", f.Code, f.Body)
	}
	// Non-streamed list buckets: one frame, no done.
	r.send(protocol.CodeListBucketsReq, &rpbRiakKV.RpbListBucketsReq{})
	var lb rpbRiakKV.RpbListBucketsResp
	r.expect(protocol.CodeListBucketsResp, &lb)
	if len(lb.Buckets) != 1 || lb.Done != nil {
		t.Fatalf("list buckets %v", &lb)
	}
	// Streamed: batches then done.
	r.send(protocol.CodeListBucketsReq, &rpbRiakKV.RpbListBucketsReq{Stream: kv.Ptr(true)})
	r.expect(protocol.CodeListBucketsResp, &lb)
	if len(lb.Buckets) != 1 || lb.GetDone() {
		t.Fatalf("streamed list buckets batch %v", &lb)
	}
	r.expect(protocol.CodeListBucketsResp, &lb)
	if len(lb.Buckets) != 0 || !lb.GetDone() {
		t.Fatalf("streamed list buckets end %v", &lb)
	}
	// Streamed 2i: results then done.
	r.send(protocol.CodeIndexReq, &rpbRiakKV.RpbIndexReq{Bucket: []byte("b"), Index: []byte("$key"), Qtype: rpbRiakKV.RpbIndexReq_range.Enum(),
		RangeMin: []byte("a"), RangeMax: []byte("z"), ReturnTerms: kv.Ptr(true), Stream: kv.Ptr(true)})
	var ir rpbRiakKV.RpbIndexResp
	r.expect(protocol.CodeIndexResp, &ir)
	if len(ir.Results) != 1 || string(ir.Results[0].Key) != "k" || string(ir.Results[0].Value) != "k" || ir.GetDone() {
		t.Fatalf("streamed 2i %v", &ir)
	}
	r.expect(protocol.CodeIndexResp, &ir)
	if !ir.GetDone() || len(ir.Results)+len(ir.Keys) != 0 || ir.Continuation != nil {
		t.Fatalf("streamed 2i end %v", &ir)
	}
	r.send(protocol.CodeGetBucketTypeReq, &rpbRiak.RpbGetBucketTypeReq{Type: []byte("default")})
	var gb rpbRiak.RpbGetBucketResp
	r.expect(protocol.CodeGetBucketResp, &gb)
	if gb.Props.GetNVal() != 3 || gb.Props.GetAllowMult() {
		t.Fatalf("default type props %v", gb.Props)
	}
}

func TestClientID(t *testing.T) {
	srv := startServer(t, nil, nil)
	r1, r2 := dialRaw(t, srv.Addr), dialRaw(t, srv.Addr)
	var id rpbRiakKV.RpbGetClientIdResp
	r1.send(protocol.CodeGetClientIDReq, nil)
	r1.expect(protocol.CodeGetClientIDResp, &id)
	if len(id.ClientId) != 4 {
		t.Fatalf("initial client id %x", id.ClientId)
	}
	r1.send(protocol.CodeSetClientIDReq, &rpbRiakKV.RpbSetClientIdReq{ClientId: []byte("me!")})
	r1.expect(protocol.CodeSetClientIDResp, nil)
	r1.send(protocol.CodeGetClientIDReq, nil)
	r1.expect(protocol.CodeGetClientIDResp, &id)
	if string(id.ClientId) != "me!" {
		t.Fatalf("client id %q after set", id.ClientId)
	}
	// Per connection.
	r2.send(protocol.CodeGetClientIDReq, nil)
	r2.expect(protocol.CodeGetClientIDResp, &id)
	if string(id.ClientId) == "me!" {
		t.Fatal("client id leaked to another connection")
	}
	r2.send(protocol.CodeSetClientIDReq, nil)
	r2.expectError("invalid RpbSetClientIdReq")
}

func TestExtension(t *testing.T) {
	srv := startServer(t, nil, func(s *Server) {
		s.Extension = func(_ context.Context, code protocol.Code, body []byte) (protocol.Code, []byte, bool) {
			switch code {
			case 248:
				return 249, append([]byte("echo:"), body...), true
			case protocol.CodeMapRedReq:
				return protocol.CodeMapRedResp, nil, true
			}
			return 0, nil, false
		}
	})
	r := dialRaw(t, srv.Addr)
	r.write(protocol.AppendFrame(nil, 248, []byte("hi")))
	// 249 is not in the message table: the reader flags it but returns it.
	if f, err := r.readErr(); !errors.Is(err, protocol.ErrUnknownCode) || f.Code != 249 || string(f.Body) != "echo:hi" {
		t.Fatalf("extension answer %v %q (%v)", f.Code, f.Body, err)
	}
	r.send(protocol.CodeMapRedReq, nil)
	r.expect(protocol.CodeMapRedResp, nil)
	r.write(protocol.AppendFrame(nil, 247, nil))
	r.expectError("Unknown message code: 247")
	r.send(protocol.CodeCounterGetReq, nil)
	r.expectError("not supported by devnode")
	r.ping() // served natively, never offered to the extension
}

func TestMaxConnsAndIdleTimeout(t *testing.T) {
	t.Run("max conns", func(t *testing.T) {
		srv := startServer(t, nil, func(s *Server) { s.MaxConns = 1 })
		r1 := dialRaw(t, srv.Addr)
		r1.ping()
		r2 := dialRaw(t, srv.Addr)
		r2.write(protocol.AppendFrame(nil, protocol.CodePingReq, nil))
		r2.expectClosed()
		r1.ping()
		r1.nc.Close()
		// The slot frees once the first connection is gone.
		if !testutil.Eventually(5*time.Second, func() bool {
			r3 := dialRaw(t, srv.Addr)
			r3.write(protocol.AppendFrame(nil, protocol.CodePingReq, nil))
			f, err := r3.readErr()
			return err == nil && f.Code == protocol.CodePingResp
		}) {
			t.Fatal("slot never freed")
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		srv := startServer(t, nil, func(s *Server) { s.IdleTimeout = 100 * time.Millisecond })
		r := dialRaw(t, srv.Addr)
		for range 3 {
			r.ping()
			time.Sleep(30 * time.Millisecond) // deliberate: idle, but for less than the idle timeout
		}
		start := time.Now()
		r.expectClosed()
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("idle connection closed after %v", d)
		}
	})
}

// panicService panics on Get, answers the rest like Local.
type panicService struct{ service.Service }

func (panicService) Get(context.Context, kv.GetRequest, service.Quorum) (kv.GetResult, error) {
	panic("boom")
}

func TestPanicIsRecovered(t *testing.T) {
	srv := startServer(t, panicService{service.NewLocal(openEngine(t), testNode)}, nil)
	r := dialRaw(t, srv.Addr)
	r.send(protocol.CodeGetReq, &rpbRiakKV.RpbGetReq{Bucket: []byte("b"), Key: []byte("k")})
	r.expectError("internal error serving RpbGetReq")
	r.ping()
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{kv.ErrModified, "modified"},
		{kv.ErrExists, "match_found"},
		{kv.ErrNotFound, "notfound"},
		{context.DeadlineExceeded, "timeout"},
		{wrap(service.ErrQuorum, context.DeadlineExceeded), "timeout"},
		{wrap(service.ErrQuorum, nil), "{insufficient_vnodes,1 of 3 replicas answered}"},
		{service.ErrQuorum, "{insufficient_vnodes}"},
		{customMsg{}, "{n_val_violation,3}"},
		{kv.ErrInvalidKey, "kv: invalid key"},
	}
	for _, tc := range tests {
		if got := errorMessage(tc.err); got != tc.want {
			t.Errorf("errorMessage(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

type wrapped struct {
	msg  string
	errs []error
}

func (w wrapped) Error() string   { return w.msg }
func (w wrapped) Unwrap() []error { return w.errs }

func wrap(base, inner error) error {
	if inner != nil {
		return wrapped{base.Error() + ": " + inner.Error(), []error{base, inner}}
	}
	return wrapped{base.Error() + ": 1 of 3 replicas answered", []error{base}}
}

type customMsg struct{}

func (customMsg) Error() string            { return "custom" }
func (customMsg) RiakErrorMessage() string { return "{n_val_violation,3}" }
