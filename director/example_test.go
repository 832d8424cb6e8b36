package director_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/director"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/protocol"
)

// A Server in front of one Riak node (here a stand-in that answers pings)
// proxies a ping.
func Example() {
	node := pingNode()
	defer node.Close()

	s, err := director.NewServer(director.ServerConfig{PBAddr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	addr := node.Addr().String()
	s.Proxy().SetNodes([]balancer.NodeSpec{{ID: addr, PBAddr: addr}})
	if err := s.Start(); err != nil {
		panic(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	}()

	c, err := net.Dial("tcp", s.PBAddr())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_, _ = c.Write(protocol.AppendFrame(nil, protocol.CodePingReq, nil))
	f, err := protocol.NewReader(c, 0).ReadFrame()
	fmt.Println(f.Code, err)
	// Output: RpbPingResp <nil>
}

// pingNode answers every PB frame with RpbPingResp.
func pingNode() net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	testutil.ServeConns(ln, func(c net.Conn) {
		rd := protocol.NewReader(c, 0)
		for {
			if _, err := rd.ReadFrame(); err != nil {
				return
			}
			_, _ = c.Write(protocol.AppendFrame(nil, protocol.CodePingResp, nil))
		}
	})
	return ln
}
