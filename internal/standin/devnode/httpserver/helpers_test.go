package httpserver

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
)

const nodeName = "dev1@127.0.0.1"

// t0 is the fake clock's start: every write happens at a known time.
var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is an injectable clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a handler over a single-node memory engine behind a real
// listener on 127.0.0.1. Bucket type "sibs" (allow_mult=true) is active.
type env struct {
	t      testing.TB
	eng    *kv.Engine
	svc    service.Service
	clock  *fakeClock
	url    string
	client *http.Client
}

func newEnv(t testing.TB, opts Options) *env {
	t.Helper()
	e := newEngineEnv(t)
	srv := httptest.NewServer(NewHandler(e.svc, nil, opts))
	t.Cleanup(srv.Close)
	e.url = srv.URL
	// No transparent gzip: Content-Encoding must round-trip untouched.
	e.client = &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(e.client.CloseIdleConnections)
	return e
}

// newEngineEnv opens the engine and service without a listener.
func newEngineEnv(t testing.TB) *env {
	t.Helper()
	clock := &fakeClock{t: t0}
	eng, err := kv.Open(kv.Options{Clock: clock, KeepTombstones: true, ReapInterval: -1})
	if err != nil {
		t.Fatalf("open engine: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	if err := eng.CreateBucketType("sibs", kv.PropsUpdate{}); err != nil {
		t.Fatalf("create type: %v", err)
	}
	if err := eng.ActivateBucketType("sibs"); err != nil {
		t.Fatalf("activate type: %v", err)
	}
	return &env{t: t, eng: eng, svc: service.NewLocal(eng, nodeName), clock: clock}
}

// resp is a read response.
type resp struct {
	status int
	header http.Header
	body   string
}

// do sends a request; headers are "Name: value" strings.
func (e *env) do(method, path, body string, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.url+path, rd)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			e.t.Fatalf("bad header %q", h)
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}
}

// put stores a text/plain value and fails the test unless it succeeds.
func (e *env) put(path, value string, headers ...string) resp {
	e.t.Helper()
	r := e.do(http.MethodPut, path, value, append([]string{"Content-Type: text/plain"}, headers...)...)
	if r.status != http.StatusNoContent && r.status != http.StatusOK && r.status != http.StatusMultipleChoices {
		e.t.Fatalf("PUT %s: %d %s", path, r.status, r.body)
	}
	return r
}

func (r resp) expect(t testing.TB, status int) resp {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %q", r.status, status, r.body)
	}
	return r
}

// panicTrap is a slog handler that fails the test on the handler's panic
// log, so recovered panics still count as failures.
type panicTrap struct {
	mu       sync.Mutex
	panicked []string
}

func (p *panicTrap) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicTrap) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		var b bytes.Buffer
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
		p.mu.Lock()
		p.panicked = append(p.panicked, b.String())
		p.mu.Unlock()
	}
	return nil
}
func (p *panicTrap) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicTrap) WithGroup(string) slog.Handler      { return p }

// kvPut is a put request with user metadata, as a PB client could send it.
func kvPut(bucket, key, value string, meta [][2]string) kv.PutRequest {
	req := kv.PutRequest{Type: "default", Bucket: bucket, Key: key, Content: kv.Content{Value: []byte(value), ContentType: "text/plain"}}
	for _, m := range meta {
		req.Content.UserMeta = append(req.Content.UserMeta, kv.Pair{Key: m[0], Value: []byte(m[1])})
	}
	return req
}

// put0 stores a value straight through the service.
func (e *env) put0(t testing.TB, bucket, key string) {
	t.Helper()
	if _, err := e.svc.Put(t.Context(), kvPut(bucket, key, "v", nil), service.Quorum{}); err != nil {
		t.Fatal(err)
	}
}

func kvPutType(typ, bucket, key string) kv.PutRequest {
	req := kvPut(bucket, key, "v", nil)
	req.Type = typ
	return req
}

func svcQuorum() service.Quorum { return service.Quorum{} }
