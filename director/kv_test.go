package director

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	riak "github.com/basho/riak-go-client"

	"github.com/rmf-go/rmf/internal/standin/devnode"
)

func mustRun(t *testing.T, c *riak.Client, b riak.CommandBuilder) riak.Command {
	t.Helper()
	cmd, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Execute(cmd); err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	return cmd
}

func sortedValues(objs []*riak.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, string(o.Value))
	}
	sort.Strings(out)
	return out
}

// TestKVThroughDirector runs every KV operation of riak-go-client through
// the director in front of a 3-node cluster: each request may land on a
// different node, so this also checks the answers do not depend on which.
func TestKVThroughDirector(t *testing.T) {
	nodes := startClusterWith(t, 3, func(i int, c *devnode.Config) {
		if i == 0 {
			c.BucketTypes = map[string]string{"sibs": `{"props":{"allow_mult":true}}`}
		}
	})
	p, addr := startProxy(t, Config{}, nodes)
	c := client(t, addr)

	t.Run("ping and server info", func(t *testing.T) {
		if ok, err := c.Ping(); !ok || err != nil {
			t.Fatalf("ping: %v %v", ok, err)
		}
		info := mustRun(t, c, &pingless{&riak.GetServerInfoCommand{}}).(*riak.GetServerInfoCommand)
		if !strings.HasPrefix(info.Response.Node, "dev") {
			t.Fatalf("server info node %q", info.Response.Node)
		}
	})

	t.Run("put get delete with vclocks", func(t *testing.T) {
		r1 := mustRun(t, c, riak.NewStoreValueCommandBuilder().WithBucket("kv").WithKey("k").WithReturnBody(true).
			WithContent(&riak.Object{ContentType: "text/plain", Value: []byte("v1")})).(*riak.StoreValueCommand).Response
		if len(r1.VClock) == 0 || len(r1.Values) != 1 {
			t.Fatalf("put with return_body: %+v", r1)
		}
		f := mustRun(t, c, riak.NewFetchValueCommandBuilder().WithBucket("kv").WithKey("k")).(*riak.FetchValueCommand).Response
		if string(f.VClock) != string(r1.VClock) || string(f.Values[0].Value) != "v1" {
			t.Fatalf("fetch: %+v", f)
		}
		mustRun(t, c, riak.NewStoreValueCommandBuilder().WithBucket("kv").WithKey("k").WithVClock(f.VClock).
			WithContent(&riak.Object{ContentType: "text/plain", Value: []byte("v2")}))
		f = mustRun(t, c, riak.NewFetchValueCommandBuilder().WithBucket("kv").WithKey("k")).(*riak.FetchValueCommand).Response
		if got := sortedValues(f.Values); !slices.Equal(got, []string{"v2"}) {
			t.Fatalf("after put with vclock: %v", got)
		}
		mustRun(t, c, riak.NewDeleteValueCommandBuilder().WithBucket("kv").WithKey("k").WithVClock(f.VClock))
		f = mustRun(t, c, riak.NewFetchValueCommandBuilder().WithBucket("kv").WithKey("k")).(*riak.FetchValueCommand).Response
		if !f.IsNotFound {
			t.Fatalf("after delete: %+v", f)
		}
	})

	t.Run("siblings", func(t *testing.T) {
		for _, v := range []string{"one", "two"} { // blind writes: siblings
			mustRun(t, c, riak.NewStoreValueCommandBuilder().WithBucketType("sibs").WithBucket("s").WithKey("k").
				WithContent(&riak.Object{ContentType: "text/plain", Value: []byte(v)}))
		}
		f := mustRun(t, c, riak.NewFetchValueCommandBuilder().WithBucketType("sibs").WithBucket("s").WithKey("k")).(*riak.FetchValueCommand).Response
		if got := sortedValues(f.Values); !slices.Equal(got, []string{"one", "two"}) {
			t.Fatalf("siblings %v", got)
		}
		mustRun(t, c, riak.NewStoreValueCommandBuilder().WithBucketType("sibs").WithBucket("s").WithKey("k").WithVClock(f.VClock).
			WithContent(&riak.Object{ContentType: "text/plain", Value: []byte("merged")}))
		f = mustRun(t, c, riak.NewFetchValueCommandBuilder().WithBucketType("sibs").WithBucket("s").WithKey("k")).(*riak.FetchValueCommand).Response
		if got := sortedValues(f.Values); !slices.Equal(got, []string{"merged"}) {
			t.Fatalf("resolved %v", got)
		}
	})

	// Data for listing and 2i.
	var wantKeys []string
	for i := range 40 {
		k := fmt.Sprintf("k%02d", i)
		wantKeys = append(wantKeys, k)
		obj := &riak.Object{ContentType: "text/plain", Value: []byte("v")}
		obj.AddToIntIndex("n_int", i%10)
		mustRun(t, c, riak.NewStoreValueCommandBuilder().WithBucket("ix").WithKey(k).WithContent(obj))
	}

	t.Run("list buckets", func(t *testing.T) {
		lb := mustRun(t, c, riak.NewListBucketsCommandBuilder()).(*riak.ListBucketsCommand).Response
		if !slices.Contains(lb.Buckets, "ix") {
			t.Fatalf("list buckets: %v", lb.Buckets)
		}
		var streamed []string
		mustRun(t, c, riak.NewListBucketsCommandBuilder().WithStreaming(true).WithCallback(func(bs []string) error {
			streamed = append(streamed, bs...)
			return nil
		}))
		if !slices.Contains(streamed, "ix") {
			t.Fatalf("streamed list buckets: %v", streamed)
		}
	})

	t.Run("list keys", func(t *testing.T) {
		lk := mustRun(t, c, riak.NewListKeysCommandBuilder().WithBucket("ix")).(*riak.ListKeysCommand).Response
		got := slices.Sorted(slices.Values(lk.Keys))
		if !slices.Equal(got, wantKeys) {
			t.Fatalf("list keys: %v", got)
		}
		var streamed []string
		mustRun(t, c, riak.NewListKeysCommandBuilder().WithBucket("ix").WithStreaming(true).WithCallback(func(ks []string) error {
			streamed = append(streamed, ks...)
			return nil
		}))
		if got := slices.Sorted(slices.Values(streamed)); !slices.Equal(got, wantKeys) {
			t.Fatalf("streamed list keys: %v", got)
		}
	})

	t.Run("2i", func(t *testing.T) {
		q := func() *riak.SecondaryIndexQueryCommandBuilder {
			return riak.NewSecondaryIndexQueryCommandBuilder().WithBucket("ix").WithIndexName("n_int")
		}
		keys := func(r *riak.SecondaryIndexQueryResponse) []string {
			var out []string
			for _, res := range r.Results {
				out = append(out, string(res.ObjectKey))
			}
			return slices.Sorted(slices.Values(out))
		}
		exact := mustRun(t, c, q().WithIntIndexKey(3)).(*riak.SecondaryIndexQueryCommand).Response
		if got := keys(exact); !slices.Equal(got, []string{"k03", "k13", "k23", "k33"}) {
			t.Fatalf("exact: %v", got)
		}
		rng := mustRun(t, c, q().WithIntRange(8, 9)).(*riak.SecondaryIndexQueryCommand).Response
		if got := keys(rng); len(got) != 8 {
			t.Fatalf("range: %v", got)
		}
		// Pagination: every result once, over several pages.
		seen := map[string]bool{}
		var cont []byte
		for pages := 0; ; pages++ {
			b := q().WithIntRange(0, 9).WithMaxResults(7)
			if cont != nil {
				b.WithContinuation(cont)
			}
			r := mustRun(t, c, b).(*riak.SecondaryIndexQueryCommand).Response
			for _, k := range keys(r) {
				if seen[k] {
					t.Fatalf("%s on two pages", k)
				}
				seen[k] = true
			}
			if cont = r.Continuation; cont == nil {
				break
			}
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
		}
		if len(seen) != 40 {
			t.Fatalf("paginated: %d results", len(seen))
		}
		var streamed []string
		mustRun(t, c, q().WithIntRange(0, 9).WithStreaming(true).WithCallback(func(rs []*riak.SecondaryIndexQueryResult) error {
			for _, r := range rs {
				streamed = append(streamed, string(r.ObjectKey))
			}
			return nil
		}))
		if got := slices.Sorted(slices.Values(streamed)); !slices.Equal(got, wantKeys) {
			t.Fatalf("streamed 2i: %v", got)
		}
	})

	t.Run("bucket props", func(t *testing.T) {
		mustRun(t, c, riak.NewStoreBucketPropsCommandBuilder().WithBucket("props").WithAllowMult(true).WithNVal(2))
		p := mustRun(t, c, riak.NewFetchBucketPropsCommandBuilder().WithBucket("props")).(*riak.FetchBucketPropsCommand).Response
		if !p.AllowMult || p.NVal != 2 {
			t.Fatalf("props: %+v", p)
		}
		tp := mustRun(t, c, riak.NewFetchBucketTypePropsCommandBuilder().WithBucketType("sibs")).(*riak.FetchBucketTypePropsCommand).Response
		if !tp.AllowMult {
			t.Fatalf("type props: %+v", tp)
		}
		mustRun(t, c, riak.NewResetBucketCommandBuilder().WithBucket("props"))
		p = mustRun(t, c, riak.NewFetchBucketPropsCommandBuilder().WithBucket("props")).(*riak.FetchBucketPropsCommand).Response
		if p.AllowMult || p.NVal != 3 {
			t.Fatalf("props after reset: %+v", p)
		}
	})

	t.Run("preflist", func(t *testing.T) {
		r := mustRun(t, c, riak.NewFetchPreflistCommandBuilder().WithBucket("kv").WithKey("k")).(*riak.FetchPreflistCommand).Response
		if len(r.Preflist) != 3 {
			t.Fatalf("preflist: %+v", r.Preflist)
		}
	})

	t.Run("riak error answers", func(t *testing.T) {
		// A Riak error (here a quorum larger than n_val) is relayed as is.
		cmd, _ := riak.NewStoreValueCommandBuilder().WithBucket("kv").WithKey("q").WithW(9).
			WithContent(&riak.Object{Value: []byte("x")}).Build()
		if err := c.Execute(cmd); err == nil || strings.Contains(err.Error(), "director") {
			t.Fatalf("w=9: %v, want Riak's error", err)
		}
		// MapReduce streams; the devnode answers it with RpbErrorResp,
		// which ends the stream.
		mr, _ := riak.NewMapReduceCommandBuilder().WithQuery(`{"inputs":"ix","query":[]}`).Build()
		if err := c.Execute(mr); err == nil || strings.Contains(err.Error(), "director") {
			t.Fatalf("mapreduce: %v, want Riak's error", err)
		}
		if ok, err := c.Ping(); !ok || err != nil {
			t.Fatalf("ping after errors: %v", err)
		}
	})

	s := p.Stats()
	var spread int
	for _, n := range s.Nodes {
		if n.Requests > 0 {
			spread++
		}
	}
	if spread != 3 || s.ErrorsSent != 0 || s.Retries != 0 {
		t.Errorf("stats: %d nodes used, %d director errors, %d retries: %+v", spread, s.ErrorsSent, s.Retries, s)
	}
}

// pingless adapts a command whose builder is a plain struct.
type pingless struct{ cmd riak.Command }

func (pc *pingless) Build() (riak.Command, error) { return pc.cmd, nil }
