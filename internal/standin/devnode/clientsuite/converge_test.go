package clientsuite

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	riak "github.com/basho/riak-go-client"
)

func client(t *testing.T, addr string) *riak.Client {
	t.Helper()
	c, err := riak.NewClient(&riak.NewClientOptions{RemoteAddresses: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func execute(c *riak.Client, b interface{ Build() (riak.Command, error) }) (riak.Command, error) {
	cmd, err := b.Build()
	if err != nil {
		return nil, err
	}
	return cmd, c.Execute(cmd)
}

// Concurrent updates of one key through different nodes make siblings;
// reads merge them by CRDT merge and the next write resolves them, so no
// update is lost and every node converges on the same value.
func TestConcurrentDataTypeUpdatesConverge(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a devnode cluster")
	}
	nodes := threeNodes(t)
	var clients []*riak.Client
	for _, n := range nodes {
		clients = append(clients, client(t, n.PBAddr()))
	}
	const perNode = 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(clients)*perNode)
	for i, c := range clients {
		wg.Go(func() {
			for j := range perNode {
				_, err := execute(c, riak.NewUpdateCounterCommandBuilder().WithBucketType("counters").
					WithBucket("converge").WithKey("c").WithIncrement(int64(i+1)))
				if err != nil {
					errs <- err
				}
				_, err = execute(c, riak.NewUpdateSetCommandBuilder().WithBucketType("sets").
					WithBucket("converge").WithKey("s").WithAdditions(fmt.Appendf(nil, "n%d-%d", i, j)))
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("update: %v", err)
	}
	wantCounter := int64(perNode * (1 + 2 + 3))
	var want []string
	for i := range clients {
		for j := range perNode {
			want = append(want, fmt.Sprintf("n%d-%d", i, j))
		}
	}
	slices.Sort(want)
	for i, c := range clients {
		cmd, err := execute(c, riak.NewFetchCounterCommandBuilder().WithBucketType("counters").WithBucket("converge").WithKey("c"))
		if err != nil {
			t.Fatal(err)
		}
		if got := cmd.(*riak.FetchCounterCommand).Response.CounterValue; got != wantCounter {
			t.Errorf("node %d: counter %d, want %d", i+1, got, wantCounter)
		}
		cmd, err = execute(c, riak.NewFetchSetCommandBuilder().WithBucketType("sets").WithBucket("converge").WithKey("s"))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range cmd.(*riak.FetchSetCommand).Response.SetValue {
			got = append(got, string(v))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("node %d: set has %d elements, want %d", i+1, len(got), len(want))
		}
	}
}
