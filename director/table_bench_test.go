package director

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

var noTable struct {
	once sync.Once
	addr string
	err  error
}

// BenchmarkDirectorLeanNoTable is BenchmarkDirectorLean with the
// connection table disabled: compare the two (same run) to see the
// table's cost on the request path. It writes only when connections open
// and close, so the two should match within noise.
func BenchmarkDirectorLeanNoTable(b *testing.B) {
	benchSetup(b)
	noTable.once.Do(func() {
		p, err := NewProxy(Config{Logger: quietLogger(), DisableConnTable: true})
		if err != nil {
			noTable.err = err
			return
		}
		p.SetNodes([]balancer.NodeSpec{{ID: bench.fake, PBAddr: bench.fake}})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			noTable.err = err
			return
		}
		go func() { _ = p.Serve(context.Background(), ln) }()
		noTable.addr = ln.Addr().String()
	})
	if noTable.err != nil {
		b.Fatal(noTable.err)
	}
	runGetPut(b, noTable.addr, 0)
}

// BenchmarkConnTableClientChurn measures what the table does cost: one
// insert and one delete per client connection (connect, ping, close).
func BenchmarkConnTableClientChurn(b *testing.B) {
	t := newTable()
	b.ReportAllocs()
	for b.Loop() {
		id := t.addClient("127.0.0.1:50000")
		t.removeClient(id)
	}
}

// BenchmarkConnectPingClose: a whole short-lived client connection through
// the director (table on), for scale next to BenchmarkConnTableClientChurn.
func BenchmarkConnectPingClose(b *testing.B) {
	benchSetup(b)
	ping := protocol.AppendFrame(nil, protocol.CodePingReq, nil)
	buf := make([]byte, 16)
	for b.Loop() {
		c, err := net.Dial("tcp", bench.fakeDirAddr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(ping); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
