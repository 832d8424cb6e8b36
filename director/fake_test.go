package director

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// fakeNode is a scriptable Riak PB server for fault injection: handle
// answers each request frame, and returns false to close the connection
// without (or after) answering.
type fakeNode struct {
	ln     net.Listener
	addr   string
	handle func(fc *fakeConn, code protocol.Code, body []byte) bool

	requests atomic.Int64 // request frames received
	accepted atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

type fakeConn struct {
	nc       net.Conn
	node     *fakeNode
	clientID []byte
}

// reply writes frames to the client.
func (fc *fakeConn) reply(frames ...[]byte) {
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	_, _ = fc.nc.Write(b)
}

// riakLike answers like a Riak node with nothing stored.
func riakLike(fc *fakeConn, code protocol.Code, body []byte) bool {
	switch code {
	case protocol.CodePingReq:
		fc.reply(frame(protocol.CodePingResp, nil))
	case protocol.CodeGetReq:
		fc.reply(frame(protocol.CodeGetResp, nil))
	case protocol.CodePutReq:
		fc.reply(frame(protocol.CodePutResp, nil))
	case protocol.CodeDelReq:
		fc.reply(frame(protocol.CodeDelResp, nil))
	case protocol.CodeSetClientIDReq:
		fc.clientID = append([]byte(nil), body...)
		fc.reply(frame(protocol.CodeSetClientIDResp, nil))
	case protocol.CodeGetClientIDReq:
		fc.reply(frame(protocol.CodeGetClientIDResp, fc.clientID))
	default:
		fc.reply(protocol.ErrorResp("fake: unsupported", 0))
	}
	return true
}

func startFake(t testing.TB, handle func(fc *fakeConn, code protocol.Code, body []byte) bool) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if handle == nil {
		handle = riakLike
	}
	f := &fakeNode{ln: ln, addr: ln.Addr().String(), handle: handle, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

// holdingGets starts a node that answers like riakLike but holds every
// RpbGetReq until release is called (at the latest when the test ends).
func holdingGets(t testing.TB) (n *fakeNode, release func()) {
	held := make(chan struct{})
	n = startFake(t, func(fc *fakeConn, code protocol.Code, body []byte) bool {
		if code == protocol.CodeGetReq {
			<-held
		}
		return riakLike(fc, code, body)
	})
	return n, releaser(t, held) // after startFake: its cleanup runs first
}

func (f *fakeNode) spec() balancer.NodeSpec {
	return balancer.NodeSpec{ID: f.addr, PBAddr: f.addr}
}

func (f *fakeNode) accept() {
	defer f.wg.Done()
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.accepted.Add(1)
		f.mu.Lock()
		f.conns[nc] = struct{}{}
		f.mu.Unlock()
		f.wg.Add(1)
		go f.serve(nc)
	}
}

func (f *fakeNode) serve(nc net.Conn) {
	defer f.wg.Done()
	defer func() {
		nc.Close()
		f.mu.Lock()
		delete(f.conns, nc)
		f.mu.Unlock()
	}()
	fc := &fakeConn{nc: nc, node: f}
	rd := protocol.NewReader(nc, 0)
	for {
		fr, err := rd.ReadFrame()
		if err != nil {
			return
		}
		f.requests.Add(1)
		if !f.handle(fc, fr.Code, fr.Body) {
			return
		}
	}
}

// dropConns closes every open connection (the node "restarts" under them).
func (f *fakeNode) dropConns() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for nc := range f.conns {
		nc.Close()
	}
}

func (f *fakeNode) close() {
	f.ln.Close()
	f.dropConns()
	f.wg.Wait()
}
