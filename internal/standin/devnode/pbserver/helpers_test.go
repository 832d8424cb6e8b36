package pbserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"
	"github.com/golang/protobuf/proto"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
	"github.com/rmf-go/rmf/protocol"
)

const testNode = "dev1@127.0.0.1"

// testLogger logs through t at debug level, so failures show what the
// server saw.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// openEngine opens a memory engine closed at cleanup.
func openEngine(t testing.TB) *kv.Engine {
	t.Helper()
	e, err := kv.Open(kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// testServer is a Server on 127.0.0.1:0 serving svc.
type testServer struct {
	*Server
	Addr   string
	cancel context.CancelFunc
	errc   chan error
}

// startServer serves svc (a Local service over a fresh engine if nil),
// stopped at cleanup. configure, if non-nil, adjusts the Server first.
func startServer(t testing.TB, svc service.Service, configure func(*Server)) *testServer {
	t.Helper()
	if svc == nil {
		svc = service.NewLocal(openEngine(t), testNode)
	}
	srv := &Server{Service: svc, Logger: testLogger(t)}
	if configure != nil {
		configure(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: srv, Addr: ln.Addr().String(), cancel: cancel, errc: make(chan error, 1)}
	go func() { ts.errc <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-ts.errc
	})
	return ts
}

// newClient returns a riak-go-client on addr: one node, no retries (so
// errors surface as the server sent them), stopped at cleanup.
func newClient(t testing.TB, addr string) *riak.Client {
	t.Helper()
	node, err := riak.NewNode(&riak.NodeOptions{
		RemoteAddress: addr, MinConnections: 1, MaxConnections: 8,
		RequestTimeout: 10 * time.Second, ConnectTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := riak.NewCluster(&riak.ClusterOptions{Nodes: []*riak.Node{node}, ExecutionAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := riak.NewClient(&riak.NewClientOptions{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

type builder interface {
	Build() (riak.Command, error)
}

// run builds and executes a command, returning it and the error.
func run(t testing.TB, c *riak.Client, b builder) (riak.Command, error) {
	t.Helper()
	cmd, err := b.Build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return cmd, c.Execute(cmd)
}

// mustRun is run failing the test on error.
func mustRun(t testing.TB, c *riak.Client, b builder) riak.Command {
	t.Helper()
	cmd, err := run(t, c, b)
	if err != nil {
		t.Fatalf("%T: %v", cmd, err)
	}
	return cmd
}

// riakErrmsg returns the Errmsg of a RiakError, failing otherwise.
func riakErrmsg(t testing.TB, err error) string {
	t.Helper()
	// The cluster wraps the node's error in a ClientError.
	if ce, ok := err.(riak.ClientError); ok && ce.InnerError != nil {
		err = ce.InnerError
	}
	var re riak.RiakError
	if !errors.As(err, &re) {
		t.Fatalf("want a RiakError, got %T %v", err, err)
	}
	if re.Errcode != 0 {
		t.Errorf("errcode %d, want 0 as Riak sends", re.Errcode)
	}
	return re.Errmsg
}

// rawConn is a bare PB connection for speaking (and misspeaking) the
// protocol byte by byte.
type rawConn struct {
	t  testing.TB
	nc net.Conn
	rd *protocol.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, rd: protocol.NewReader(nc, 0)}
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	r.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func (r *rawConn) send(code protocol.Code, m proto.Message) {
	r.t.Helper()
	var b []byte
	if m == nil {
		b = protocol.AppendFrame(nil, code, nil)
	} else {
		var err error
		if b, err = protocol.MarshalFrame(code, m); err != nil {
			r.t.Fatal(err)
		}
	}
	r.write(b)
}

// read returns the next frame (cloned), or fails.
func (r *rawConn) read() protocol.Frame {
	r.t.Helper()
	f, err := r.readErr()
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	return f
}

func (r *rawConn) readErr() (protocol.Frame, error) {
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := r.rd.ReadFrame()
	return f.Clone(), err
}

// expectError reads an RpbErrorResp whose message contains want.
func (r *rawConn) expectError(want string) {
	r.t.Helper()
	f := r.read()
	if f.Code != protocol.CodeErrorResp {
		r.t.Fatalf("got %v, want RpbErrorResp containing %q", f.Code, want)
	}
	msg, code, err := protocol.ParseErrorResp(f.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	if !strings.Contains(msg, want) || code != 0 {
		r.t.Fatalf("RpbErrorResp %q (errcode %d), want it to contain %q (errcode 0)", msg, code, want)
	}
}

// expect reads a frame with the given code and decodes it into m.
func (r *rawConn) expect(code protocol.Code, m proto.Message) {
	r.t.Helper()
	f := r.read()
	if f.Code != code {
		if f.Code == protocol.CodeErrorResp {
			msg, _, _ := protocol.ParseErrorResp(f.Body)
			r.t.Fatalf("got RpbErrorResp %q, want %v", msg, code)
		}
		r.t.Fatalf("got %v, want %v", f.Code, code)
	}
	if m != nil {
		if err := proto.Unmarshal(f.Body, m); err != nil {
			r.t.Fatal(err)
		}
	}
}

// ping checks the connection still answers in order.
func (r *rawConn) ping() {
	r.t.Helper()
	r.send(protocol.CodePingReq, nil)
	r.expect(protocol.CodePingResp, nil)
}

// expectClosed waits for the server to close the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadAll(r.nc)
	if err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		r.t.Fatalf("connection not closed: %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// waitGoroutines polls until at most n goroutines run, failing after a
// while with a dump.
func waitGoroutines(t testing.TB, n int) {
	t.Helper()
	if !testutil.Eventually(5*time.Second, func() bool { return runtime.NumGoroutine() <= n }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, want <= %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
	}
}

// panicCounter counts the panics the server recovers and logs, so tests
// and fuzzers notice panics the handler would otherwise hide.
type panicCounter struct {
	n    atomic.Int64
	mu   sync.Mutex
	last string
}

func (p *panicCounter) logger() *slog.Logger { return slog.New(panicHandler{p}) }

func (p *panicCounter) lastPanic() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

type panicHandler struct{ p *panicCounter }

func (h panicHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h panicHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "pb request panicked" {
		h.p.n.Add(1)
		var sb strings.Builder
		r.Attrs(func(a slog.Attr) bool { sb.WriteString(a.String() + "\n"); return true })
		h.p.mu.Lock()
		h.p.last = sb.String()
		h.p.mu.Unlock()
	}
	return nil
}

func (h panicHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panicHandler) WithGroup(string) slog.Handler      { return h }
