package httpserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startServer serves s on 127.0.0.1:0 and returns its address and Serve's result.
func startServer(t *testing.T, ctx context.Context, s *Server) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	return ln.Addr().String(), done
}

func waitServe(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// rawRequest writes a request on a fresh connection (concurrently, so an
// early answer is read even if the server stops reading) and reads the
// response.
func rawRequest(t *testing.T, addr, head string, body io.Reader) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		_, _ = io.WriteString(conn, head)
		if body != nil {
			_, _ = io.Copy(conn, body)
		}
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return res
}

func TestServerLimits(t *testing.T) {
	e := newEngineEnv(t)
	cases := []struct {
		name   string
		server *Server
		head   string
		body   io.Reader
		want   int
	}{
		{"header over default limit", &Server{},
			"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n", nil, http.StatusRequestHeaderFieldsTooLarge},
		{"header over set limit", &Server{MaxHeaderBytes: 4096},
			"GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", nil, http.StatusRequestHeaderFieldsTooLarge},
		{"header within limit", &Server{MaxHeaderBytes: 4096},
			"GET /ping HTTP/1.1\r\nHost: x\r\nX-Small: a\r\n\r\n", nil, http.StatusOK},
		{"body over limit", &Server{MaxBodyBytes: 1024},
			"PUT /buckets/b/keys/k HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 4096\r\n\r\n",
			strings.NewReader(strings.Repeat("x", 4096)), http.StatusRequestEntityTooLarge},
		{"chunked body over limit", &Server{MaxBodyBytes: 1024},
			"PUT /buckets/b/keys/k HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + strings.Repeat("x", 4096) + "\r\n0\r\n\r\n",
			nil, http.StatusRequestEntityTooLarge},
		{"body within limit", &Server{MaxBodyBytes: 1024},
			"PUT /buckets/b/keys/k HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc", nil, http.StatusNoContent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.server
			s.Service = e.svc
			ctx, cancel := context.WithCancel(t.Context())
			addr, done := startServer(t, ctx, s)
			res := rawRequest(t, addr, tc.head, tc.body)
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Errorf("status %d, want %d", res.StatusCode, tc.want)
			}
			cancel()
			if err := waitServe(t, done); err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
}

func TestServerLifecycle(t *testing.T) {
	e := newEngineEnv(t)

	t.Run("context ends serving", func(t *testing.T) {
		s := &Server{Service: e.svc}
		ctx, cancel := context.WithCancel(t.Context())
		addr, done := startServer(t, ctx, s)
		res, err := http.Get("http://" + addr + "/ping")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("ping %d", res.StatusCode)
		}
		cancel()
		if err := waitServe(t, done); err != nil {
			t.Fatalf("Serve: %v", err)
		}
		if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			t.Errorf("still accepting after the context ended")
		}
		if err := s.Serve(t.Context(), mustListen(t)); !errors.Is(err, ErrServed) {
			t.Errorf("second Serve: %v, want ErrServed", err)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		s := &Server{Service: e.svc}
		addr, done := startServer(t, t.Context(), s)
		waitUp(t, addr)
		if err := s.Shutdown(t.Context()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if err := waitServe(t, done); err != nil {
			t.Fatalf("Serve: %v", err)
		}
		if err := s.Shutdown(t.Context()); err != nil {
			t.Errorf("second Shutdown: %v", err)
		}
	})

	t.Run("shutdown before serve", func(t *testing.T) {
		s := &Server{Service: e.svc}
		if err := s.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.Serve(t.Context(), mustListen(t)); err != nil {
			t.Errorf("Serve after Shutdown: %v", err)
		}
	})

	t.Run("no service", func(t *testing.T) {
		if err := (&Server{}).Serve(t.Context(), mustListen(t)); !errors.Is(err, ErrNoService) {
			t.Errorf("Serve: %v, want ErrNoService", err)
		}
	})
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func waitUp(t *testing.T, addr string) {
	t.Helper()
	res, err := http.Get("http://" + addr + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
}
