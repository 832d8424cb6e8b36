package director

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/devnode"
	"github.com/rmf-go/rmf/protocol"
)

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startCluster starts n in-process memory devnodes joined into one cluster
// (ring size 16) and waits until every node sees all members.
func startCluster(t testing.TB, n int) []*devnode.Node {
	t.Helper()
	return startClusterWith(t, n, nil)
}

// startClusterWith is startCluster with a hook to adjust each node's config.
func startClusterWith(t testing.TB, n int, adjust func(i int, c *devnode.Config)) []*devnode.Node {
	t.Helper()
	var nodes []*devnode.Node
	for i := 0; i < n; i++ {
		cfg := devnode.Config{Name: fmt.Sprintf("dev%d@127.0.0.1", i+1), PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			DataDir: t.TempDir(), Backend: "memory", RingSize: 16, Logger: logger()}
		if i > 0 {
			cfg.Join = nodes[0].PBAddr()
		}
		if adjust != nil {
			adjust(i, &cfg)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		node, err := devnode.Start(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = node.Shutdown(context.Background()) })
		nodes = append(nodes, node)
	}
	testutil.WaitFor(t, 10*time.Second, "cluster membership", func() bool {
		for _, node := range nodes {
			if len(node.Cluster().Membership().Members) != n {
				return false
			}
		}
		return true
	})
	return nodes
}

func specsOf(nodes []*devnode.Node) []balancer.NodeSpec {
	var specs []balancer.NodeSpec
	for _, n := range nodes {
		specs = append(specs, balancer.NodeSpec{ID: n.PBAddr(), PBAddr: n.PBAddr(), HTTPAddr: n.HTTPAddr()})
	}
	return specs
}

// newProxy is NewProxy for a Config the test knows to be valid.
func newProxy(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	p, err := NewProxy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startProxy(t testing.TB, cfg Config, nodes []*devnode.Node) (*Proxy, string) {
	t.Helper()
	return startProxySpecs(t, cfg, specsOf(nodes))
}

// startProxySpecs serves a proxy over specs on a free loopback port until
// the test ends. Tests get quick breakers unless cfg sets its own.
func startProxySpecs(t testing.TB, cfg Config, specs []balancer.NodeSpec) (*Proxy, string) {
	t.Helper()
	if cfg.Breaker.ConsecutiveFailures == 0 {
		cfg.Breaker.ConsecutiveFailures = 2
	}
	if cfg.Breaker.OpenTimeout == 0 {
		cfg.Breaker.OpenTimeout = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = logger()
	}
	p, err := NewProxy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.SetNodes(specs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = p.Serve(context.Background(), ln); close(done) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(sctx)
		<-done
	})
	return p, ln.Addr().String()
}

func client(t testing.TB, addrs ...string) *riak.Client {
	t.Helper()
	c, err := riak.NewClient(&riak.NewClientOptions{RemoteAddresses: addrs})
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

// rawClient speaks PB frames directly, for what riak-go-client cannot send.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	rd *protocol.Reader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, nc: nc, rd: protocol.NewReader(nc, 0)}
}

// send writes all frames in one Write (pipelining them).
func (c *rawClient) send(frames ...[]byte) {
	c.t.Helper()
	var b []byte
	for _, f := range frames {
		b = append(b, f...)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawClient) recv() (protocol.Frame, error) {
	f, err := c.rd.ReadFrame()
	return f.Clone(), err
}

// do sends one frame and returns the first answer frame.
func (c *rawClient) do(frame []byte) protocol.Frame {
	c.t.Helper()
	c.send(frame)
	f, err := c.recv()
	if err != nil {
		c.t.Fatalf("answer: %v", err)
	}
	return f
}

// closed reports whether the director closed the connection (EOF or reset
// within 3 s, without a frame).
func (c *rawClient) closed() bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := c.rd.ReadFrame()
	return err != nil && !isTimeout(err)
}

func errMsg(t testing.TB, f protocol.Frame) string {
	t.Helper()
	if f.Code != protocol.CodeErrorResp {
		t.Fatalf("got %v, want RpbErrorResp", f.Code)
	}
	msg, _, err := protocol.ParseErrorResp(f.Body)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func frame(code protocol.Code, body []byte) []byte { return protocol.AppendFrame(nil, code, body) }

var pingReq = frame(protocol.CodePingReq, nil)

// checkGoroutines fails the test if, after the test's own cleanups, more
// goroutines run than before it started (allowing a moment to wind down).
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		if testutil.Eventually(3*time.Second, func() bool { return runtime.NumGoroutine() <= before }) {
			return
		}
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), directorStacks(string(buf)))
	})
}

// directorStacks keeps the goroutine dumps that mention this package.
func directorStacks(all string) string {
	var keep []string
	for _, g := range strings.Split(all, "\n\n") {
		if strings.Contains(g, "rmf/director") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "director-bench") }

// releaser returns a func that closes ch once, and has cleanup call it
// too: a test that fails while a fake node's handler waits on ch then
// fails instead of hanging (the node's own cleanup waits for its
// handlers). Call it after the node is started, so that its cleanup runs
// first.
func releaser(t testing.TB, ch chan struct{}) func() {
	var once sync.Once
	release := func() { once.Do(func() { close(ch) }) }
	t.Cleanup(release)
	return release
}
