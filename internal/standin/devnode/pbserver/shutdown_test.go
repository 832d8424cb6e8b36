package pbserver

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"
	rpbRiakKV "github.com/basho/riak-go-client/rpb/riak_kv"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
	"github.com/rmf-go/rmf/protocol"
)

// blockingService blocks a Get of key "block" until released or until
// its context ends.
type blockingService struct {
	service.Service
	entered chan struct{}
	release chan struct{}
}

func newBlocking(t testing.TB) *blockingService {
	return &blockingService{
		Service: service.NewLocal(openEngine(t), testNode),
		entered: make(chan struct{}, 1), release: make(chan struct{}),
	}
}

func (s *blockingService) Get(ctx context.Context, req kv.GetRequest, q service.Quorum) (kv.GetResult, error) {
	if req.Key == "block" {
		s.entered <- struct{}{}
		select {
		case <-s.release:
		case <-ctx.Done():
			return kv.GetResult{}, ctx.Err()
		}
	}
	return s.Service.Get(ctx, req, q)
}

// serveManually starts srv on a fresh listener; the returned channel gets
// Serve's result.
func serveManually(t *testing.T, srv *Server, ctx context.Context) (string, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln) }()
	return ln.Addr().String(), errc
}

var blockGet = &rpbRiakKV.RpbGetReq{Bucket: []byte("b"), Key: []byte("block")}

func TestShutdownLetsInFlightRequestFinish(t *testing.T) {
	svc := newBlocking(t)
	srv := &Server{Service: svc, Logger: testLogger(t)}
	addr, serveErr := serveManually(t, srv, context.Background())

	busy, idle := dialRaw(t, addr), dialRaw(t, addr)
	idle.ping()
	busy.send(protocol.CodeGetReq, blockGet)
	<-svc.entered

	shutErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutErr <- srv.Shutdown(ctx)
	}()

	// Idle connections go at once; the listener too.
	idle.expectClosed()
	if err := <-serveErr; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		nc.Close()
		t.Fatal("new connection accepted during shutdown")
	}
	select {
	case err := <-shutErr:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}

	close(svc.release)
	busy.expect(protocol.CodeGetResp, nil) // the in-flight request is answered...
	busy.expectClosed()                    // ...then the connection closes
	if err := <-shutErr; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := srv.Serve(context.Background(), newListener(t)); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func newListener(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestShutdownForceClosesAtDeadline(t *testing.T) {
	svc := newBlocking(t)
	srv := &Server{Service: svc, Logger: testLogger(t)}
	addr, serveErr := serveManually(t, srv, context.Background())
	r := dialRaw(t, addr)
	r.send(protocol.CodeGetReq, blockGet)
	<-svc.entered

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("forced shutdown took %v", d)
	}
	r.expectClosed()
	<-serveErr
}

func TestServeContextCancelClosesConnections(t *testing.T) {
	svc := newBlocking(t)
	srv := &Server{Service: svc, Logger: testLogger(t)}
	ctx, cancel := context.WithCancel(context.Background())
	addr, serveErr := serveManually(t, srv, ctx)
	r, idle := dialRaw(t, addr), dialRaw(t, addr)
	idle.ping()
	r.send(protocol.CodeGetReq, blockGet)
	<-svc.entered
	cancel()
	if err := <-serveErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve: %v, want context.Canceled", err)
	}
	r.expectClosed()
	idle.expectClosed()
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		e, err := kv.Open(kv.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		srv := &Server{Service: service.NewLocal(e, testNode), Logger: testLogger(t), IdleTimeout: time.Minute, WriteTimeout: time.Minute}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		addr, serveErr := serveManually(t, srv, ctx)

		c := newClient(t, addr)
		for i := range 50 {
			key := string(rune('a' + i%26))
			mustRun(t, c, riak.NewStoreValueCommandBuilder().WithBucket("b").WithKey(key).WithContent(&riak.Object{Value: []byte("v")}))
			mustRun(t, c, riak.NewFetchValueCommandBuilder().WithBucket("b").WithKey(key))
		}
		mustRun(t, c, riak.NewListKeysCommandBuilder().WithBucket("b"))
		mustRun(t, c, riak.NewSecondaryIndexQueryCommandBuilder().WithBucket("b").WithIndexName("$bucket").WithIndexKey("b").
			WithStreaming(true).WithCallback(func([]*riak.SecondaryIndexQueryResult) error { return nil }))
		c.Stop()
		var raws []*rawConn
		for range 5 {
			r := dialRaw(t, addr)
			r.ping()
			raws = append(raws, r)
		}
		half := dialRaw(t, addr)
		half.write(header(100, byte(protocol.CodePutReq))) // stuck mid-frame

		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		<-serveErr
		for _, r := range raws {
			r.expectClosed()
			r.nc.Close()
		}
		half.nc.Close()
	}()
	waitGoroutines(t, before)
}
