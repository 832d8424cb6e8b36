package pbserver

import (
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	rpbRiakKV "github.com/basho/riak-go-client/rpb/riak_kv"

	"github.com/rmf-go/rmf/internal/standin/devnode/service"
	"github.com/rmf-go/rmf/protocol"
)

// benchFrames are a put and a get of a 100-byte value, as riak-go-client
// would send them.
func benchFrames(b *testing.B, key string) (put, get []byte) {
	b.Helper()
	value := make([]byte, 100)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	put = mustFrame(b, protocol.CodePutReq, &rpbRiakKV.RpbPutReq{
		Bucket: []byte("bench"), Key: []byte(key),
		Content: &rpbRiakKV.RpbContent{Value: value, ContentType: []byte("application/octet-stream")},
	})
	get = mustFrame(b, protocol.CodeGetReq, &rpbRiakKV.RpbGetReq{Bucket: []byte("bench"), Key: []byte(key)})
	return put, get
}

// benchConn is a lean raw-PB client: pre-encoded requests, a reused
// reader, one write and (usually) one read per request.
type benchConn struct {
	nc net.Conn
	rd *protocol.Reader
}

func dialBench(b *testing.B, addr string) *benchConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	return &benchConn{nc: nc, rd: protocol.NewReader(nc, 0)}
}

func (c *benchConn) do(req []byte, want protocol.Code) error {
	if _, err := c.nc.Write(req); err != nil {
		return err
	}
	f, err := c.rd.ReadFrame()
	if err != nil {
		return err
	}
	if f.Code != want {
		msg, _, _ := protocol.ParseErrorResp(f.Body)
		return &protocol.Error{Msg: "unexpected " + f.Code.String() + ": " + msg}
	}
	return nil
}

// BenchmarkPBGetPut measures whole requests over loopback TCP against a
// memory engine: client write, server read, decode, engine, encode,
// server write, client read. allocs/op counts client and server.
func BenchmarkPBGetPut(b *testing.B) {
	srv := startServer(b, nil, func(s *Server) { s.Logger = nil })
	put, get := benchFrames(b, "k")
	c := dialBench(b, srv.Addr)
	defer c.nc.Close()
	if err := c.do(put, protocol.CodePutResp); err != nil {
		b.Fatal(err)
	}
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.do(get, protocol.CodeGetResp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("put", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.do(put, protocol.CodePutResp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel-get-put", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(4) // 4 x GOMAXPROCS connections
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			key := "p" + strconv.FormatInt(n.Add(1), 10)
			put, get := benchFrames(b, key)
			c := dialBench(b, srv.Addr)
			defer c.nc.Close()
			for i := 0; pb.Next(); i++ {
				req, want := get, protocol.CodeGetResp
				if i%4 == 0 {
					req, want = put, protocol.CodePutResp
				}
				if err := c.do(req, want); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkHandle measures the server's request handling alone (decode,
// engine, encode), without sockets: allocs/op are the server's.
func BenchmarkHandle(b *testing.B) {
	srv := &Server{Service: service.NewLocal(openEngine(b), testNode)}
	c := newHandler(srv, io.Discard)
	put, get := benchFrames(b, "k")
	c.handle(protocol.CodePutReq, put[protocol.HeaderSize:])
	for _, bc := range []struct {
		name  string
		frame []byte
	}{{"get", get}, {"put", put}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			code, body := protocol.Code(bc.frame[4]), bc.frame[protocol.HeaderSize:]
			for b.Loop() {
				c.handle(code, body)
			}
		})
	}
}
