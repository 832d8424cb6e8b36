package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/director"
	"github.com/rmf-go/rmf/internal/standin/devnode"
)

// TestDirectorHTTPHostileClients: the director's HTTP listener, as `rmf
// director` builds it, answers oversized headers with 431, drops clients
// that trickle their headers (slowloris) after the header timeout, and
// keeps serving other clients meanwhile.
func TestDirectorHTTPHostileClients(t *testing.T) {
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
	p, err := director.NewProxy(director.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	p.SetNodes([]balancer.NodeSpec{{ID: node.PBAddr(), PBAddr: node.PBAddr(), HTTPAddr: node.HTTPAddr()}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newDirectorHTTPServer(p, quiet, 500*time.Millisecond)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = p.Shutdown(ctx)
	})
	addr := ln.Addr().String()

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
		_, _ = fmt.Fprintf(c, "GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", httpMaxHeader+4096))
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
