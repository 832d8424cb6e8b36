package executor

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/rmf-go/rmf/protocol"
)

// Ping sends one RpbPingReq to the Riak PB endpoint addr and waits for
// RpbPingResp. It gives up after timeout (or when ctx ends).
func Ping(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("executor: ping %s: %w", addr, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.Write(protocol.AppendFrame(nil, protocol.CodePingReq, nil)); err != nil {
		return fmt.Errorf("executor: ping %s: %w", addr, err)
	}
	f, err := protocol.NewReader(c, 1<<20).ReadFrame()
	if err != nil {
		return fmt.Errorf("executor: ping %s: %w", addr, err)
	}
	if f.Code != protocol.CodePingResp {
		return fmt.Errorf("executor: ping %s: answered %v, want %v", addr, f.Code, protocol.CodePingResp)
	}
	return nil
}
