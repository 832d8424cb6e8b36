package zkstate_test

import (
	"context"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

func TestCampaign(t *testing.T) {
	z := testutil.StartZooKeeper(t)
	s1, s2 := connect(t, z.Addr), connect(t, z.Addr)
	f1, f2 := framework(t, s1), framework(t, s2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l1, err := f1.Campaign(ctx, "sched-1")
	if err != nil {
		t.Fatal(err)
	}
	if id, err := f2.Leader(ctx); err != nil || id != "sched-1" {
		t.Fatalf("Leader = %q, %v", id, err)
	}
	won := make(chan error, 1)
	var l2 interface{ Resign() }
	go func() {
		l, err := f2.Campaign(ctx, "sched-2")
		if err == nil {
			l2 = l
		}
		won <- err
	}()
	select {
	case <-won:
		t.Fatal("second scheduler won while the first leads")
	case <-time.After(300 * time.Millisecond):
	}
	select {
	case <-l1.Lost:
		t.Fatal("leadership lost without cause")
	default:
	}
	start := time.Now()
	s1.Close() // the leader's session ends, as when it dies
	select {
	case err := <-won:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("standby did not take over")
	}
	t.Logf("takeover after %v", time.Since(start))
	if id, _ := f2.Leader(ctx); id != "sched-2" {
		t.Errorf("Leader after takeover = %q", id)
	}
	select {
	case <-l1.Lost:
	case <-time.After(5 * time.Second):
		t.Error("Lost not closed after Close")
	}
	l2.Resign()
	if !testutil.Eventually(5*time.Second, func() bool { id, _ := f2.Leader(ctx); return id == "" }) {
		t.Fatal("Resign left the leader znode")
	}
}
