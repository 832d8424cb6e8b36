package director

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/standin/devnode"
	"github.com/rmf-go/rmf/protocol"
)

// Benchmarks compare the same workload straight to a backend and through
// the director in front of it: the ratio of their ops/s is the director's
// cost. Client, director and backend share this process's cores, as a
// sidecar shares its host. Run with:
//
//	go test -run XXX -bench 'Direct' -benchmem ./director
//
// benchConns is the number of parallel client connections.
const benchConns = 16

var bench struct {
	once              sync.Once
	err               error
	node              *devnode.Node
	directorAddr      string // director in front of node
	fake, fakeDirAddr string // lean fake backend, and the director in front of it
}

// benchSetup starts, once per process, one memory devnode, a lean fake
// backend, and a director in front of each. They live until the process
// exits.
func benchSetup(b *testing.B) {
	bench.once.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			bench.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		bench.node, bench.err = devnode.Start(ctx, devnode.Config{Name: "bench@127.0.0.1", PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			DataDir: dir, Backend: "memory", RingSize: 16, Logger: quietLogger()})
		if bench.err != nil {
			return
		}
		bench.directorAddr, bench.err = serveBenchProxy(balancer.NodeSpec{ID: bench.node.PBAddr(), PBAddr: bench.node.PBAddr()})
		if bench.err != nil {
			return
		}
		bench.fake, bench.err = startLeanBackend()
		if bench.err != nil {
			return
		}
		bench.fakeDirAddr, bench.err = serveBenchProxy(balancer.NodeSpec{ID: bench.fake, PBAddr: bench.fake})
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
}

func serveBenchProxy(spec balancer.NodeSpec) (string, error) {
	p, err := NewProxy(Config{Logger: quietLogger()})
	if err != nil {
		return "", err
	}
	p.SetNodes([]balancer.NodeSpec{spec})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() { _ = p.Serve(context.Background(), ln) }()
	return ln.Addr().String(), nil
}

// startLeanBackend answers pings, and every other request with a fixed RpbGetResp carrying
// a 100-byte value, without allocating: the floor of a backend's cost.
func startLeanBackend() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	resp, pong := getRespFrame(), protocol.AppendFrame(nil, protocol.CodePingResp, nil)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				rd := protocol.NewReader(nc, 0)
				for {
					_, code, err := rd.ReadRaw()
					if err != nil {
						return
					}
					out := resp
					if code == protocol.CodePingReq { // health checks
						out = pong
					}
					if _, err := nc.Write(out); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), nil
}

func getRespFrame() []byte {
	// RpbGetResp{content: [{value: 100 bytes, content_type: "text/plain"}], vclock: 8 bytes}
	value := strings.Repeat("v", 100)
	content := append([]byte{0x0a, byte(len(value))}, value...)
	content = append(content, 0x12, 10)
	content = append(content, "text/plain"...)
	body := append([]byte{0x0a, byte(len(content))}, content...)
	body = append(body, 0x12, 8, 1, 2, 3, 4, 5, 6, 7, 8)
	return protocol.AppendFrame(nil, protocol.CodeGetResp, body)
}

// runGetPut drives benchConns raw-PB connections (pre-encoded requests, one
// Write and usually one Read per request): 3 gets of a 100-byte value for
// every put, each connection on its own key.
func runGetPut(b *testing.B, addr string, putEvery int) {
	var ids atomic.Int64
	value := strings.Repeat("x", 100)
	b.ReportAllocs()
	b.SetParallelism((benchConns + 1) / 2) // x GOMAXPROCS (2 here)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := fmt.Sprint("key", ids.Add(1))
		put, get := putReq(b, "bench", key, value), getReq(b, "bench", key)
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer nc.Close()
		rd := protocol.NewReader(nc, 0)
		do := func(req []byte, want protocol.Code) bool {
			if _, err := nc.Write(req); err != nil {
				b.Error(err)
				return false
			}
			f, err := rd.ReadFrame()
			if err != nil || f.Code != want {
				b.Errorf("answer %v %v", f.Code, err)
				return false
			}
			return true
		}
		if putEvery > 0 && !do(put, protocol.CodePutResp) {
			return
		}
		for i := 1; pb.Next(); i++ {
			req, want := get, protocol.CodeGetResp
			if putEvery > 0 && i%putEvery == 0 {
				req, want = put, protocol.CodePutResp
			}
			if !do(req, want) {
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkDirectGetPut: the get/put workload straight to a memory devnode.
func BenchmarkDirectGetPut(b *testing.B) {
	benchSetup(b)
	runGetPut(b, bench.node.PBAddr(), 4)
}

// BenchmarkDirectorGetPut: the same workload through the director.
func BenchmarkDirectorGetPut(b *testing.B) {
	benchSetup(b)
	runGetPut(b, bench.directorAddr, 4)
}

// BenchmarkDirectLean: gets straight to the lean backend.
func BenchmarkDirectLean(b *testing.B) {
	benchSetup(b)
	runGetPut(b, bench.fake, 0)
}

// BenchmarkDirectorLean: gets through the director to the lean backend;
// allocs/op here are the director's own (the client and the lean backend
// do not allocate).
func BenchmarkDirectorLean(b *testing.B) {
	benchSetup(b)
	runGetPut(b, bench.fakeDirAddr, 0)
}
