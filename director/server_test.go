package director

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/devnode"
	"github.com/rmf-go/rmf/protocol"
)

// startServer starts a Server on loopback ports for every listener with
// cfg's addresses left empty, and stops it when the test ends.
func startServer(t *testing.T, cfg ServerConfig, specs ...balancer.NodeSpec) *Server {
	t.Helper()
	if cfg.Proxy.Logger == nil {
		cfg.Proxy.Logger = logger()
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Proxy().SetNodes(specs)
	if err := s.Start(); err != nil {
		_ = s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

// TestServer: a Server on 127.0.0.1:0 proxies a PB ping and an HTTP
// request, serves the admin views, reports its bound addresses, and its
// Shutdown leaves no goroutine behind.
func TestServer(t *testing.T) {
	checkGoroutines(t)
	var httpReqs atomic.Int64
	pb := startFake(t, nil)
	web := countingBackend(t, &httpReqs)
	s, err := NewServer(ServerConfig{Proxy: Config{Logger: logger()},
		PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s.Proxy().SetNodes([]balancer.NodeSpec{{ID: pb.addr, PBAddr: pb.addr, HTTPAddr: hostOf(web)}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	for name, addr := range map[string]string{"pb": s.PBAddr(), "http": s.HTTPAddr(), "admin": s.AdminAddr()} {
		if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
			t.Fatalf("%s address %q, want a bound loopback port", name, addr)
		}
	}

	if f := dialRaw(t, s.PBAddr()).do(pingReq); f.Code != protocol.CodePingResp {
		t.Fatalf("PB ping through the server: %v", f.Code)
	}
	c := httpClient(t)
	wantStatus(t, "HTTP through the server", do(t, c, "GET", "http://"+s.HTTPAddr()+"/buckets/b/keys/k", nil), http.StatusOK)
	if httpReqs.Load() != 1 {
		t.Fatalf("%d HTTP requests reached the node, want 1", httpReqs.Load())
	}
	wantStatus(t, "admin /health", do(t, c, "GET", "http://"+s.AdminAddr()+"/health", nil), http.StatusOK)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, addr := range []string{s.PBAddr(), s.HTTPAddr(), s.AdminAddr()} {
		if nc, err := net.Dial("tcp", addr); err == nil {
			nc.Close()
			t.Fatalf("%s still listening after Shutdown", addr)
		}
	}
	select {
	case err := <-s.Failed():
		t.Fatalf("Failed after Shutdown: %v", err)
	default:
	}
}

// TestServerDisabledListeners: empty addresses turn listeners off; with
// no PB listener the health checkers still run.
func TestServerDisabledListeners(t *testing.T) {
	checkGoroutines(t)
	var pings atomic.Int64
	n := startFake(t, func(fc *fakeConn, c protocol.Code, body []byte) bool {
		if c == protocol.CodePingReq {
			pings.Add(1)
		}
		return riakLike(fc, c, body)
	})
	s := startServer(t, ServerConfig{Proxy: Config{HealthInterval: 20 * time.Millisecond}, HTTPAddr: "127.0.0.1:0"}, n.spec())
	if s.PBAddr() != "" || s.AdminAddr() != "" || s.HTTPAddr() == "" {
		t.Fatalf("addresses pb %q http %q admin %q, want only http", s.PBAddr(), s.HTTPAddr(), s.AdminAddr())
	}
	testutil.WaitFor(t, 5*time.Second, "a health check without a PB listener", func() bool { return pings.Load() > 0 })
}

// TestServerListenError: a listener that cannot be bound fails Start and
// leaves nothing listening.
func TestServerListenError(t *testing.T) {
	checkGoroutines(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s, err := NewServer(ServerConfig{PBAddr: "127.0.0.1:0", AdminAddr: busy.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "director: admin:") {
		t.Fatalf("Start on a busy admin address: %v", err)
	}
	if s.PBAddr() != "" {
		t.Fatalf("PB listener %s left open after a failed Start", s.PBAddr())
	}
	_ = s.Close()
}

// TestServerHTTPHostileClients: the Server's HTTP listener answers
// oversized headers with 431, drops clients that trickle their headers
// (slowloris) after the header timeout, and keeps serving other clients
// meanwhile. `rmf director` runs this listener with the defaults.
func TestServerHTTPHostileClients(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := devnode.Start(context.Background(), devnode.Config{Name: "h@127.0.0.1", PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
	})
	s := startServer(t, ServerConfig{Proxy: Config{Logger: quiet}, HTTPAddr: "127.0.0.1:0", HTTPHeaderTimeout: 500 * time.Millisecond},
		balancer.NodeSpec{ID: node.PBAddr(), PBAddr: node.PBAddr(), HTTPAddr: node.HTTPAddr()})
	addr := s.HTTPAddr()

	// Slow clients: headers trickle in a byte at a time.
	const slow = 50
	closed := make(chan time.Duration, slow)
	for range slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		go func() {
			start := time.Now()
			for _, b := range []byte("GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") {
				if _, err := c.Write([]byte{b}); err != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			_, _ = io.Copy(io.Discard, c) // returns when the server closes
			closed <- time.Since(start)
		}()
	}
	// Meanwhile a normal client is served.
	time.Sleep(100 * time.Millisecond)
	for i := range 20 {
		resp, err := http.Get("http://" + addr + "/ping")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("ping %d during the slow clients: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	for range slow {
		select {
		case d := <-closed:
			if d > 3*time.Second {
				t.Errorf("a slow client was held %v (header timeout 500ms)", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("slow clients were not disconnected")
		}
	}

	// A header larger than the limit gets 431, and the server carries on.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		_, _ = fmt.Fprintf(c, "GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", DefaultHTTPMaxHeaderBytes+4096))
	}()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized header: %v %v, want 431", resp, err)
	}
	if resp, err := http.Get("http://" + addr + "/ping"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("ping after the oversized header: %v %v", resp, err)
	}
}
