package devnode

import (
	"context"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"
)

// TestMetadataGossipDelay: with a gossip delay, bucket properties set on
// one node are read back there at once but come back stale from another
// node until the delay has passed, as with Riak; then every node agrees.
func TestMetadataGossipDelay(t *testing.T) {
	const delay = 400 * time.Millisecond
	start := func(name, join string) *Node {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		n, err := Start(ctx, Config{Name: name, PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: t.TempDir(),
			Join: join, RingSize: 16, GossipDelay: delay, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
		return n
	}
	n1 := start("dev1@127.0.0.1", "")
	n2 := start("dev2@127.0.0.1", n1.PBAddr())
	waitMembers(t, n1, n2)
	c1, c2 := newClient(t, n1.PBAddr()), newClient(t, n2.PBAddr())
	allowMult := func(c *riak.Client) bool {
		t.Helper()
		cmd, _ := riak.NewFetchBucketPropsCommandBuilder().WithBucket("g").Build()
		if err := c.Execute(cmd); err != nil {
			t.Fatal(err)
		}
		return cmd.(*riak.FetchBucketPropsCommand).Response.AllowMult
	}
	set, _ := riak.NewStoreBucketPropsCommandBuilder().WithBucket("g").WithAllowMult(true).Build()
	at := time.Now()
	if err := c1.Execute(set); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(at); took >= delay {
		t.Fatalf("the set was answered after %v: it waited for the gossip", took)
	}
	if !allowMult(c1) {
		t.Fatal("the node that took the change does not show it")
	}
	if allowMult(c2) && time.Since(at) < delay {
		t.Fatal("the other node showed the change before the gossip delay")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !allowMult(c2) {
		if time.Now().After(deadline) {
			t.Fatal("the change never reached the other node")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(at); took < delay {
		t.Errorf("the change reached the other node after %v, before the %v delay", took, delay)
	}
}
