package director

import (
	"net"
	"testing"

	"github.com/basho/riak-go-client/rpb/riak_kv"

	"github.com/rmf-go/rmf/protocol"
)

// benchGet issues raw RpbGetReq frames (one connection per goroutine) to addr.
func benchGet(b *testing.B, addr string) {
	req, err := protocol.MarshalFrame(protocol.CodeGetReq, &riak_kv.RpbGetReq{Bucket: []byte("b"), Key: []byte("k1")})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		r := protocol.NewReader(c, 0)
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			if f, err := r.ReadFrame(); err != nil || f.Code != protocol.CodeGetResp {
				b.Errorf("response %v %v", f.Code, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkGet compares the same get workload straight to one memory
// devnode and through the director in front of it, in one run.
func BenchmarkGet(b *testing.B) {
	nodes := startCluster(b, 1)
	_, addr := startProxy(b, Config{Logger: logger()}, nodes)
	if err := put(client(b, nodes[0].PBAddr()), "k1", "value"); err != nil {
		b.Fatal(err)
	}
	b.Run("direct", func(b *testing.B) { benchGet(b, nodes[0].PBAddr()) })
	b.Run("director", func(b *testing.B) { benchGet(b, addr) })
}
