package director

import (
	"net"
	"runtime"
	"testing"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// TestBalancedGetAllocatesNothing: a get balanced over three nodes
// allocates nothing in the director once its connections are warm (the
// fake nodes and the client here allocate nothing either), so the cost of
// a request does not include the garbage collector's. It counted two
// allocations a request when a node's reservation was a closure.
func TestBalancedGetAllocatesNothing(t *testing.T) {
	answer := frame(protocol.CodeGetResp, nil)
	lean := func(fc *fakeConn, code protocol.Code, _ []byte) bool {
		if code == protocol.CodeGetReq {
			_, _ = fc.nc.Write(answer)
			return true
		}
		return riakLike(fc, code, nil)
	}
	var specs []balancer.NodeSpec
	for range 3 {
		specs = append(specs, startFake(t, lean).spec())
	}
	_, addr := startProxySpecs(t, Config{}, specs)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req, rd := getReq(t, "b", "k"), protocol.NewReader(nc, 0)
	get := func() {
		if _, err := nc.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, code, err := rd.ReadRaw(); err != nil || code != protocol.CodeGetResp {
			t.Fatalf("answer %v, %v", code, err)
		}
	}
	for range 500 { // every node's connection pooled, the hedge delay known
		get()
	}
	const requests = 2000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range requests {
		get()
	}
	runtime.ReadMemStats(&after)
	// The health checks and the tuning loop allocate a little meanwhile.
	if per := float64(after.Mallocs-before.Mallocs) / requests; per > 0.1 {
		t.Fatalf("%.2f allocations a request in the process, want none from the director", per)
	}
}
