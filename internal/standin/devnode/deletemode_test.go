package devnode

import (
	"context"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

// TestDeleteMode: a deleted key's tombstone (its vclock, read with
// deletedvclock) stays for delete_mode and is reaped after it; with keep
// it stays. As in Riak, a get with deletedvclock of a tombstone answers
// its clock only (riak-go-client: a tombstone value).
func TestDeleteMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode    string
		reaped  bool
		waitFor time.Duration
	}{{"200ms", true, 5 * time.Second}, {"keep", false, time.Second}} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n, err := Start(ctx, Config{Name: "dev1@127.0.0.1", PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(),
				RingSize: 8, DeleteMode: tc.mode, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
			c := newClient(t, n.PBAddr())
			if err := store(c, "default", "b", "k", "v"); err != nil {
				t.Fatal(err)
			}
			del, _ := riak.NewDeleteValueCommandBuilder().WithBucket("b").WithKey("k").Build()
			if err := c.Execute(del); err != nil {
				t.Fatal(err)
			}
			tombstone := func() bool {
				cmd, _ := riak.NewFetchValueCommandBuilder().WithBucket("b").WithKey("k").WithReturnDeletedVClock(true).Build()
				if err := c.Execute(cmd); err != nil {
					t.Fatal(err)
				}
				r := cmd.(*riak.FetchValueCommand).Response
				if r.IsNotFound {
					return false // nothing left, not even the tombstone
				}
				if len(r.Values) != 1 || !r.Values[0].IsTombstone || len(r.VClock) == 0 {
					t.Fatalf("deleted key read as %+v, want its tombstone's vclock only", r)
				}
				return true
			}
			if !tombstone() {
				t.Fatal("no tombstone vclock right after the delete")
			}
			if tc.reaped {
				testutil.WaitFor(t, tc.waitFor, "the tombstone reaped", func() bool { return !tombstone() })
				return
			}
			if testutil.Eventually(tc.waitFor, func() bool { return !tombstone() }) {
				t.Fatal("delete_mode keep reaped the tombstone")
			}
		})
	}
	if err := (Config{Name: "a@h", PBAddr: "x", HTTPAddr: "y", DataDir: "d", DeleteMode: "sometimes"}).Validate(); err == nil {
		t.Error("delete_mode sometimes accepted")
	}
}
