//go:build linux

package director

import (
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// clientReads sums the read system calls of p's client connections made
// inside pollRead.
func clientReads(p *Proxy) (reads uint64, conns int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for cc := range p.conns {
		reads += cc.io.reads.Load()
		conns++
	}
	return reads, conns
}

// TestPolledServingOneReadPerRequest: a client that sends a request and
// waits for its answer costs the director one read of its socket per
// request. The read that would find the next request not there yet is
// not made: the short read already said the socket was empty, and the
// poller wakes the connection when the next one comes.
func TestPolledServingOneReadPerRequest(t *testing.T) {
	n := startFake(t, nil)
	p, addr := startProxySpecs(t, Config{HealthInterval: -1}, []balancer.NodeSpec{n.spec()})
	c := dialRaw(t, addr)
	const requests = 200
	for i := range requests {
		if f := c.do(pingReq); f.Code != protocol.CodePingResp {
			t.Fatalf("ping %d: %v", i, f.Code)
		}
	}
	reads, conns := clientReads(p)
	if conns != 1 {
		t.Fatalf("%d client connections, want 1", conns)
	}
	// One per request, plus the first attempt, which may come before the
	// first request does.
	if reads < requests || reads > requests+2 {
		t.Fatalf("%d reads of the client's socket for %d requests; want one each", reads, requests)
	}
}

// TestPolledServingPipelinedWhileBusy: a request that arrives while the
// director is busy with the one before (waiting on the node) is served
// when that one is answered: the wait that follows does not miss it,
// though no read saw it come.
func TestPolledServingPipelinedWhileBusy(t *testing.T) {
	n, free := holdingGets(t)
	_, addr := startProxySpecs(t, Config{HealthInterval: -1}, []balancer.NodeSpec{n.spec()})
	c := dialRaw(t, addr)
	c.do(pingReq) // the connection is served and waiting
	c.send(getReq(t, "b", "k"))
	for deadline := time.Now().Add(5 * time.Second); n.requests.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the get never reached the node")
		}
	}
	c.send(pingReq) // while the director waits on the node
	time.Sleep(20 * time.Millisecond)
	free()
	_ = c.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	for _, want := range []protocol.Code{protocol.CodeGetResp, protocol.CodePingResp} {
		f, err := c.recv()
		if err != nil || f.Code != want {
			t.Fatalf("answer: %v %v, want %v", f.Code, err, want)
		}
	}
}

// TestPolledServingSplitFrame: a request that comes a few bytes at a time
// is put together across waits and answered.
func TestPolledServingSplitFrame(t *testing.T) {
	n := startFake(t, nil)
	_, addr := startProxySpecs(t, Config{HealthInterval: -1}, []balancer.NodeSpec{n.spec()})
	c := dialRaw(t, addr)
	req := getReq(t, "b", "k")
	for i := range req {
		if _, err := c.nc.Write(req[i : i+1]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	if f, err := c.recv(); err != nil || f.Code != protocol.CodeGetResp {
		t.Fatalf("answer: %v %v, want RpbGetResp", f.Code, err)
	}
	// And the connection goes on.
	if f := c.do(pingReq); f.Code != protocol.CodePingResp {
		t.Fatalf("ping after: %v", f.Code)
	}
}

// TestPolledServingSeesEndAfterRequest: a client that sends a request and
// at once half-closes gets its answer, then the director's close, though
// the read that took the request also took the end of stream unseen
// (endCheck). Repeated, since the FIN does not always beat the read.
func TestPolledServingSeesEndAfterRequest(t *testing.T) {
	n := startFake(t, nil)
	_, addr := startProxySpecs(t, Config{HealthInterval: -1}, []balancer.NodeSpec{n.spec()})
	for i := range 5 {
		c := dialRaw(t, addr)
		c.do(pingReq) // served: the next read is one that may be skipped
		c.send(pingReq)
		_ = c.nc.(interface{ CloseWrite() error }).CloseWrite()
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if f, err := c.recv(); err != nil || f.Code != protocol.CodePingResp {
			t.Fatalf("round %d: answer %v %v", i, f.Code, err)
		}
		start := time.Now()
		if !c.closed() {
			t.Fatalf("round %d: the director did not close the connection after the client's end", i)
		}
		if d := time.Since(start); d > 2*endCheck {
			t.Fatalf("round %d: closed after %v", i, d)
		}
	}
}
