package devnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	riak "github.com/basho/riak-go-client"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/ring"
)

// threeNodes starts a 3-node cluster and waits until every node sees all members.
func threeNodes(t *testing.T, bucketTypes map[string]string) []*Node {
	t.Helper()
	n1 := startNode(t, "dev1@127.0.0.1", t.TempDir(), "", bucketTypes)
	n2 := startNode(t, "dev2@127.0.0.1", t.TempDir(), n1.PBAddr(), nil)
	n3 := startNode(t, "dev3@127.0.0.1", t.TempDir(), n1.PBAddr(), nil)
	nodes := []*Node{n1, n2, n3}
	waitMembers(t, nodes...)
	return nodes
}

func TestClusterSiblingsResolvedWithVClock(t *testing.T) {
	nodes := threeNodes(t, map[string]string{"mult": `{"props":{"allow_mult":true}}`})
	c1, c2, c3 := newClient(t, nodes[0].PBAddr()), newClient(t, nodes[1].PBAddr()), newClient(t, nodes[2].PBAddr())
	// Two blind writes through different coordinators are concurrent: siblings.
	if err := store(c1, "mult", "b", "k", "one"); err != nil {
		t.Fatal(err)
	}
	if err := store(c2, "mult", "b", "k", "two"); err != nil {
		t.Fatal(err)
	}
	fetchCmd, _ := riak.NewFetchValueCommandBuilder().WithBucketType("mult").WithBucket("b").WithKey("k").Build()
	if err := c3.Execute(fetchCmd); err != nil {
		t.Fatal(err)
	}
	resp := fetchCmd.(*riak.FetchValueCommand).Response
	if len(resp.Values) != 2 {
		t.Fatalf("fetch through node 3: %d values, want 2 siblings", len(resp.Values))
	}
	// Writing with the fetched clock replaces both.
	obj := &riak.Object{ContentType: "text/plain", Value: []byte("resolved"), VClock: resp.VClock}
	put, _ := riak.NewStoreValueCommandBuilder().WithBucketType("mult").WithBucket("b").WithKey("k").WithContent(obj).Build()
	if err := c3.Execute(put); err != nil {
		t.Fatal(err)
	}
	for i, c := range []*riak.Client{c1, c2, c3} {
		vals, err := fetch(c, "mult", "b", "k")
		if err != nil || len(vals) != 1 || vals[0] != "resolved" {
			t.Errorf("node %d after resolution: %v %v, want [resolved]", i+1, vals, err)
		}
	}
}

func TestClusterDelete(t *testing.T) {
	nodes := threeNodes(t, nil)
	c1, c3 := newClient(t, nodes[0].PBAddr()), newClient(t, nodes[2].PBAddr())
	if err := store(c1, "default", "b", "gone", "v"); err != nil {
		t.Fatal(err)
	}
	del, _ := riak.NewDeleteValueCommandBuilder().WithBucket("b").WithKey("gone").Build()
	if err := c3.Execute(del); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		vals, err := fetch(newClient(t, n.PBAddr()), "default", "b", "gone")
		if err != nil || vals != nil {
			t.Errorf("node %d after delete: %v %v, want not found", i+1, vals, err)
		}
	}
}

func TestClusterIndexPaginationAcrossNodes(t *testing.T) {
	nodes := threeNodes(t, nil)
	c := newClient(t, nodes[0].PBAddr())
	const total = 47
	for i := 0; i < total; i++ {
		obj := &riak.Object{ContentType: "text/plain", Value: []byte("x")}
		obj.AddToIntIndex("age_int", i%10)
		put, _ := riak.NewStoreValueCommandBuilder().WithBucket("people").WithKey(fmt.Sprintf("p%02d", i)).WithContent(obj).Build()
		// Spread the coordinators over the nodes.
		if err := newClientCached(t, nodes[i%3].PBAddr()).Execute(put); err != nil {
			t.Fatal(err)
		}
	}
	// Page through a range query via node 2: every key exactly once, in (term, key) order.
	c2 := newClient(t, nodes[1].PBAddr())
	var got []string
	var cont []byte
	for page := 0; page < 20; page++ {
		b := riak.NewSecondaryIndexQueryCommandBuilder().WithBucket("people").WithIndexName("age_int").WithIntRange(0, 9).WithMaxResults(10)
		if cont != nil {
			b = b.WithContinuation(cont)
		}
		q, _ := b.Build()
		if err := c2.Execute(q); err != nil {
			t.Fatal(err)
		}
		resp := q.(*riak.SecondaryIndexQueryCommand).Response
		for _, r := range resp.Results {
			got = append(got, string(r.ObjectKey))
		}
		if cont = resp.Continuation; cont == nil {
			break
		}
	}
	if len(got) != total {
		t.Fatalf("paginated 2i returned %d keys, want %d: %v", len(got), total, got)
	}
	seen := map[string]bool{}
	for _, k := range got {
		if seen[k] {
			t.Fatalf("key %s returned twice across pages", k)
		}
		seen[k] = true
	}
	// List buckets through node 3 and the preflist through node 1.
	lb, _ := riak.NewListBucketsCommandBuilder().WithStreaming(false).Build()
	if err := newClient(t, nodes[2].PBAddr()).Execute(lb); err != nil {
		t.Fatal(err)
	}
	if b := lb.(*riak.ListBucketsCommand).Response.Buckets; !slices.Contains(b, "people") {
		t.Errorf("list buckets through node 3: %v, want people", b)
	}
	pf, _ := riak.NewFetchPreflistCommandBuilder().WithBucket("people").WithKey("p01").Build()
	if err := c.Execute(pf); err != nil {
		t.Fatal(err)
	}
	pl := pf.(*riak.FetchPreflistCommand).Response.Preflist
	if len(pl) != 3 {
		t.Fatalf("preflist %v, want 3 entries", pl)
	}
	owners := map[string]bool{}
	for _, e := range pl {
		owners[e.Node] = true
		if !e.Primary {
			t.Errorf("preflist entry %+v is a fallback with every node up", e)
		}
	}
	if len(owners) != 3 {
		t.Errorf("preflist on 3 nodes uses %d distinct nodes, want 3", len(owners))
	}
}

var clientCache = map[string]*riak.Client{}

// newClientCached reuses one client per address within a test binary run.
func newClientCached(t *testing.T, addr string) *riak.Client {
	if c, ok := clientCache[addr]; ok {
		return c
	}
	c := newClient(t, addr)
	clientCache[addr] = c
	t.Cleanup(func() { delete(clientCache, addr) })
	return c
}

// BenchmarkNodePB measures PB get and put through a single devnode's full
// stack (PB server, cluster service, engine) for both backends.
func BenchmarkNodePB(b *testing.B) {
	for _, backend := range []string{"memory", "disk"} {
		dir := b.TempDir()
		ctx := context.Background()
		n, err := Start(ctx, Config{Name: "bench@127.0.0.1", PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", DataDir: dir, Backend: backend, Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		c, err := riak.NewClient(&riak.NewClientOptions{RemoteAddresses: []string{n.PBAddr()}})
		if err != nil {
			b.Fatal(err)
		}
		value := make([]byte, 1024)
		b.Run(backend+"/put", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				put, _ := riak.NewStoreValueCommandBuilder().WithBucket("bench").WithKey(fmt.Sprint(i % 10000)).
					WithContent(&riak.Object{ContentType: "application/octet-stream", Value: value}).Build()
				if err := c.Execute(put); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
		b.Run(backend+"/get", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				get, _ := riak.NewFetchValueCommandBuilder().WithBucket("bench").WithKey(fmt.Sprint(i % 100)).Build()
				if err := c.Execute(get); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
		_ = c.Stop()
		_ = n.Shutdown(ctx)
	}
}

func TestClusterHTTP(t *testing.T) {
	nodes := threeNodes(t, nil)
	put, err := http.NewRequest("PUT", "http://"+nodes[0].HTTPAddr()+"/buckets/web/keys/page?returnbody=true", strings.NewReader("<p>hi</p>"))
	if err != nil {
		t.Fatal(err)
	}
	put.Header.Set("Content-Type", "text/html")
	put.Header.Set("X-Riak-Meta-Author", "ann")
	resp, err := http.DefaultClient.Do(put)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT through node 1: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + nodes[2].HTTPAddr() + "/types/default/buckets/web/keys/page")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "<p>hi</p>" || resp.Header.Get("X-Riak-Meta-Author") != "ann" {
		t.Fatalf("GET through node 3: %d %q meta %q", resp.StatusCode, body, resp.Header.Get("X-Riak-Meta-Author"))
	}
	// A PB write is visible over HTTP on another node.
	if err := store(newClient(t, nodes[1].PBAddr()), "default", "web", "pb", "from-pb"); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get("http://" + nodes[0].HTTPAddr() + "/buckets/web/keys?keys=true")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"pb"`) || !strings.Contains(string(body), `"page"`) {
		t.Fatalf("keys through node 1: %s", body)
	}
}

// TestForwardWriteTriesNextCoordinator: a write forwarded to a coordinator
// that cannot be reached goes to the next member of the preference list,
// as Riak's put FSM does (retry_put_coordinator_failure); an answer, an
// error answer included, ends it; a node in the list coordinates itself.
func TestForwardWriteTriesNextCoordinator(t *testing.T) {
	nodes := threeNodes(t, nil)
	c := nodes[2].Cluster() // dev3
	pl := []ring.Entry{{Node: "dev1@127.0.0.1", Primary: true}, {Node: "dev1@127.0.0.1", Primary: true}, {Node: "dev2@127.0.0.1", Primary: true}}
	var tried []string
	remote := func(answer map[string]error) func(string) error {
		tried = nil
		return func(coord string) error {
			tried = append(tried, coord)
			return answer[coord]
		}
	}
	local := func() error { t.Fatal("dev3 is not in the list but coordinated"); return nil }
	unreachable := &transportError{io.EOF}
	if err := c.forwardWrite(pl, local, remote(map[string]error{"dev1@127.0.0.1": unreachable})); err != nil || !slices.Equal(tried, []string{"dev1@127.0.0.1", "dev2@127.0.0.1"}) {
		t.Errorf("unreachable first coordinator: err %v, tried %v; want nil after dev1, dev2", err, tried)
	}
	if err := c.forwardWrite(pl, local, remote(map[string]error{"dev1@127.0.0.1": kv.ErrModified})); !errors.Is(err, kv.ErrModified) || len(tried) != 1 {
		t.Errorf("an error answer: err %v, tried %v; want it from dev1 alone", err, tried)
	}
	if err := c.forwardWrite(pl, local, remote(map[string]error{"dev1@127.0.0.1": unreachable, "dev2@127.0.0.1": unreachable})); !isTransport(err) || len(tried) != 2 {
		t.Errorf("every coordinator unreachable: err %v, tried %v; want the transport error after both", err, tried)
	}
	ran := false
	withSelf := append(slices.Clone(pl), ring.Entry{Node: "dev3@127.0.0.1", Primary: true})
	if err := c.forwardWrite(withSelf, func() error { ran = true; return nil }, remote(nil)); err != nil || !ran || len(tried) != 0 {
		t.Errorf("dev3 in the list: err %v, coordinated itself %v, forwarded to %v", err, ran, tried)
	}
}
