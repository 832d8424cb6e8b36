package devnode

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/ring"
)

// TestHintedHandoff: a write whose preference list leaves a primary out
// (it was believed down) is acknowledged by the others, and the missed
// primary gets the key once it answers again, as Riak's hinted handoff
// hands a fallback's data back. Without it, a copy written while a
// primary blinked never reached it (TestLeaveHandsOffUnderLoad then
// found a key missing on a primary after a leave).
func TestHintedHandoff(t *testing.T) {
	n1 := startNode(t, "dev1@127.0.0.1", t.TempDir(), "", nil)
	n2 := startNode(t, "dev2@127.0.0.1", t.TempDir(), n1.PBAddr(), nil)
	n3 := startNode(t, "dev3@127.0.0.1", t.TempDir(), n1.PBAddr(), nil)
	waitMembers(t, n1, n2, n3)
	c := n1.Cluster()
	ctx := context.Background()
	// n_val 3 on three members: each member is a primary of the keys
	// whose preference list holds three distinct members (most; as in
	// Riak, a few lists hold a member twice). The write goes to dev1 and
	// dev3 only, as when dev2 was down.
	var keys []string
	for i := 0; len(keys) < 20; i++ {
		key := fmt.Sprint("k", i)
		_, r := c.snapshot()
		var pl []ring.Entry
		for _, e := range r.Preflist([]byte("default"), []byte("hinted"), []byte(key), 3, nil) {
			if e.Node != "dev2@127.0.0.1" {
				pl = append(pl, e)
			}
		}
		if len(pl) != 2 || pl[0].Node == pl[1].Node {
			continue // dev2 is not one of three distinct primaries
		}
		req := kv.PutRequest{Type: "default", Bucket: "hinted", Key: key, Content: kv.Content{Value: []byte("v"), ContentType: "text/plain"}}
		if _, err := c.coordinatePut(ctx, req, pl, writeQuorum{w: 2, n: 3}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		keys = append(keys, key)
	}
	// dev2 answers (the monitor pings it twice a second; any request
	// counts): it is handed every key it missed, and only that way, since
	// nothing reads the keys (no read repair).
	c.markUp("dev2@127.0.0.1")
	var missing []string
	if !testutil.Eventually(10*time.Second, func() bool {
		missing = missing[:0]
		for _, k := range keys {
			if _, found, err := n2.engine.FetchReplica(ctx, "default", "hinted", k); err != nil || !found {
				missing = append(missing, k)
			}
		}
		return len(missing) == 0
	}) {
		t.Fatalf("dev2 lacks %v of the keys it missed; %d still owed, %v handed over", missing, c.hints.pending("dev2@127.0.0.1"), c.Stats()["hinted_handoff_objects_total"])
	}
	testutil.WaitFor(t, 10*time.Second, "no key owed to dev2, each handed over once", func() bool {
		return c.hints.pending("dev2@127.0.0.1") == 0 && fmt.Sprint(c.Stats()["hinted_handoff_objects_total"]) == fmt.Sprint(len(keys))
	})
}
