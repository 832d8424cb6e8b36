package director

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/devnode"
	"github.com/rmf-go/rmf/protocol"
)

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func startCluster(t testing.TB, n int) []*devnode.Node {
	t.Helper()
	var nodes []*devnode.Node
	for i := 0; i < n; i++ {
		join := ""
		if i > 0 {
			join = nodes[0].PBAddr()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		node, err := devnode.Start(ctx, devnode.Config{Name: fmt.Sprintf("dev%d@127.0.0.1", i+1), PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			DataDir: t.TempDir(), Join: join, RingSize: 16, Logger: logger()})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = node.Shutdown(context.Background()) })
		nodes = append(nodes, node)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, node := range nodes {
		for len(node.Cluster().Membership().Members) != n {
			if time.Now().After(deadline) {
				t.Fatal("cluster did not converge")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nodes
}

func startProxy(t testing.TB, cfg Config, nodes []*devnode.Node) (*Proxy, string) {
	t.Helper()
	var specs []balancer.NodeSpec
	for _, n := range nodes {
		specs = append(specs, balancer.NodeSpec{ID: n.PBAddr(), PBAddr: n.PBAddr(), HTTPAddr: n.HTTPAddr()})
	}
	return startProxySpecs(t, cfg, specs)
}

// startProxySpecs serves a proxy over specs on a free loopback port until the test ends.
func startProxySpecs(t testing.TB, cfg Config, specs []balancer.NodeSpec) (*Proxy, string) {
	t.Helper()
	p, err := NewProxy(cfg, nil, balancer.BreakerSettings{ConsecutiveFailures: 2, OpenTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p.SetNodes(specs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() {
		sctx, c2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer c2()
		_ = p.Shutdown(sctx)
		cancel()
		<-done
	})
	return p, ln.Addr().String()
}

func client(t testing.TB, addr string) *riak.Client {
	t.Helper()
	c, err := riak.NewClient(&riak.NewClientOptions{RemoteAddresses: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func put(c *riak.Client, key, value string) error {
	cmd, _ := riak.NewStoreValueCommandBuilder().WithBucket("b").WithKey(key).
		WithContent(&riak.Object{ContentType: "text/plain", Value: []byte(value)}).Build()
	return c.Execute(cmd)
}

func get(c *riak.Client, key string) (string, error) {
	cmd, _ := riak.NewFetchValueCommandBuilder().WithBucket("b").WithKey(key).Build()
	if err := c.Execute(cmd); err != nil {
		return "", err
	}
	r := cmd.(*riak.FetchValueCommand).Response
	if r.IsNotFound || len(r.Values) != 1 {
		return "", fmt.Errorf("fetch %s: notfound=%v values=%d", key, r.IsNotFound, len(r.Values))
	}
	return string(r.Values[0].Value), nil
}

func TestKVThroughDirector(t *testing.T) {
	nodes := startCluster(t, 3)
	_, addr := startProxy(t, Config{Logger: logger()}, nodes)
	c := client(t, addr)
	for i := 0; i < 30; i++ {
		if err := put(c, fmt.Sprint("k", i), fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 30; i++ {
		if v, err := get(c, fmt.Sprint("k", i)); err != nil || v != fmt.Sprint("v", i) {
			t.Fatalf("get k%d = %q %v", i, v, err)
		}
	}
	// Streaming list keys relays every frame until done.
	lk, _ := riak.NewListKeysCommandBuilder().WithBucket("b").Build()
	if err := c.Execute(lk); err != nil {
		t.Fatal(err)
	}
	if keys := lk.(*riak.ListKeysCommand).Response.Keys; len(keys) != 30 {
		t.Fatalf("streamed list keys: %d keys, want 30", len(keys))
	}
	// Delete, then not found.
	del, _ := riak.NewDeleteValueCommandBuilder().WithBucket("b").WithKey("k0").Build()
	if err := c.Execute(del); err != nil {
		t.Fatal(err)
	}
	if _, err := get(c, "k0"); err == nil {
		t.Fatal("k0 still found after delete")
	}
	// A ping and 2i round trip through the director too.
	ping, _ := (&riak.PingCommandBuilder{}).Build()
	if err := c.Execute(ping); err != nil || !ping.Success() {
		t.Fatalf("ping through director: %v", err)
	}
}

func TestBadInputAndNoNode(t *testing.T) {
	nodes := startCluster(t, 1)
	_, addr := startProxy(t, Config{Logger: logger(), MaxFrameSize: 1024, IdleTimeout: 500 * time.Millisecond}, nodes)
	raw := func(b []byte) []byte {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write(b)
		out, _ := io.ReadAll(c)
		return out
	}
	// Unknown code answered, then the same connection serves a ping.
	c, _ := net.Dial("tcp", addr)
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	_, _ = c.Write(append(protocol.AppendFrame(nil, 222, nil), protocol.AppendFrame(nil, protocol.CodePingReq, nil)...))
	r := protocol.NewReader(c, 0)
	f1, _ := r.ReadFrame()
	f2, err := r.ReadFrame()
	c.Close()
	if f1.Code != protocol.CodeErrorResp || err != nil || f2.Code != protocol.CodePingResp {
		t.Fatalf("unknown code then ping: %v, %v %v", f1.Code, f2.Code, err)
	}
	// Oversized frame: RpbErrorResp, then closed.
	out := raw([]byte{0, 1, 0, 0, 1})
	if len(out) < 5 || out[4] != byte(protocol.CodeErrorResp) {
		t.Fatalf("oversized frame answered %v", out)
	}
	// Truncated frame: closed without an answer.
	if out := raw([]byte{0, 0, 0, 9, 1}); len(out) != 0 {
		t.Fatalf("truncated frame answered %v", out)
	}
	if err := put(client(t, addr), "still", "ok"); err != nil {
		t.Fatalf("good client after bad ones: %v", err)
	}
	// No node: an answer, quickly.
	p2, addr2 := startProxy(t, Config{Logger: logger()}, nil)
	_ = p2
	start := time.Now()
	out = func() []byte {
		c, _ := net.Dial("tcp", addr2)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write(protocol.AppendFrame(nil, protocol.CodePingReq, nil))
		f, _ := protocol.NewReader(c, 0).ReadFrame()
		return append([]byte{byte(f.Code)}, f.Body...)
	}()
	if out[0] != byte(protocol.CodeErrorResp) || time.Since(start) > time.Second {
		t.Fatalf("no node: %v after %v", out, time.Since(start))
	}
}

func TestNodeLossUnderLoad(t *testing.T) {
	nodes := startCluster(t, 3)
	p, addr := startProxy(t, Config{Logger: logger(), HealthInterval: 200 * time.Millisecond}, nodes)
	c := client(t, addr)
	var acked sync.Map
	var readErrs, writeErrs, writes atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				if err := put(c, key, key); err != nil {
					writeErrs.Add(1)
					continue
				}
				writes.Add(1)
				acked.Store(key, true)
				if v, err := get(c, key); err != nil || v != key {
					if readErrs.Add(1) <= 3 {
						t.Logf("read %s: %q %v", key, v, err)
					}
				}
			}
		}()
	}
	time.Sleep(time.Second)
	victim := nodes[2]
	_ = victim.Shutdown(context.Background())
	down := time.Now()
	var detected time.Duration
	for time.Since(down) < 3*time.Second && detected == 0 {
		for _, n := range p.Nodes() {
			if n.ID == victim.PBAddr() && !n.Available() {
				detected = time.Since(down)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second)
	cancel()
	wg.Wait()
	t.Logf("writes %d, write errors %d, read errors %d, node seen down after %v", writes.Load(), writeErrs.Load(), readErrs.Load(), detected)
	if detected == 0 || detected > 2*time.Second {
		t.Errorf("stopped node reported down after %v, want within 2s", detected)
	}
	if readErrs.Load() != 0 {
		t.Errorf("%d failed reads through the director", readErrs.Load())
	}
	lost := 0
	acked.Range(func(k, _ any) bool {
		if v, err := get(c, k.(string)); err != nil || v != k.(string) {
			lost++
		}
		return true
	})
	if lost > 0 {
		t.Errorf("%d acknowledged writes lost", lost)
	}
}
