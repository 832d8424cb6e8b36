package director

import (
	"context"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode"
)

// TestNodeStopUnderLoad: one of three in-process devnodes stops during a
// 16-worker read/write load through the director: no failed read, no lost
// acknowledged write, the node out of rotation within 2 s; restarted on its
// data and address, it rejoins rotation without a client error.
func TestNodeStopUnderLoad(t *testing.T) {
	cfgs := make([]devnode.Config, 3)
	nodes := startClusterWith(t, 3, func(i int, c *devnode.Config) {
		c.Backend, c.NoSync = "disk", true
		cfgs[i] = *c
	})
	p, addr := startProxy(t, Config{HealthInterval: 200 * time.Millisecond}, nodes)
	l := startLoad(t, client(t, addr), 16, "s")
	time.Sleep(time.Second)

	victim := nodes[2]
	victimPB := victim.PBAddr()
	go func() { _ = victim.Shutdown(context.Background()) }()
	down := waitDown(p, victimPB, 3*time.Second)
	time.Sleep(time.Second)
	errsBefore := l.errors()

	cfg := cfgs[2]
	cfg.PBAddr, cfg.HTTPAddr, cfg.Join = victimPB, victim.HTTPAddr(), ""
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	restarted, err := devnode.Start(ctx, cfg)
	cancel()
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { _ = restarted.Shutdown(context.Background()) })
	back := waitUp(p, victimPB, 5*time.Second)
	time.Sleep(time.Second)
	l.stop()

	s := p.Stats()
	t.Logf("writes %d (errors %d), reads %d (errors %d); node down after %v; retries %d, failovers %d",
		l.writes.Load(), l.writeErrs.Load(), l.reads.Load(), l.readErrs.Load(), down, s.Retries, s.Failovers)
	if down == 0 || down > 2*time.Second {
		t.Errorf("stopped node out of rotation after %v, want within 2s", down)
	}
	if !back {
		t.Error("restarted node not back in rotation within 5s")
	}
	if l.readErrs.Load() != 0 {
		t.Errorf("%d failed reads", l.readErrs.Load())
	}
	if after := l.errors(); after != errsBefore {
		t.Errorf("%d client errors after the restart", after-errsBefore)
	}
	if lost := l.lost(); lost != 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}
}
