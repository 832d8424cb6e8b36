package httpserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/service"
)

// ErrNoService: Server.Serve was called without a Service.
var ErrNoService = errors.New("httpserver: no service")

// ErrServed: Server.Serve was called a second time.
var ErrServed = errors.New("httpserver: server already served")

// Server serves Riak's HTTP API on a listener with net/http and sane
// limits. Set Service; every other field's zero value is a documented
// default. A Server serves once: after Shutdown (or the end of Serve's
// context) it does not serve again.
type Server struct {
	// Service answers requests. Required.
	Service service.Service
	// Logger receives request failures and net/http's own errors.
	// Default: no logging.
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body (413 beyond). Default
	// kv.DefaultMaxObjectSize (50 MiB, Riak's max object size).
	MaxBodyBytes int64
	// MaxHeaderBytes bounds the request line and headers (431 beyond).
	// Default 1 MiB (http.DefaultMaxHeaderBytes).
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included, from the
	// start of the request. Default: none, as net/http cancels a request
	// whose connection passes it even while a long listing streams out;
	// ReadHeaderTimeout and MaxBodyBytes bound slow or large requests.
	ReadTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Default 2
	// minutes.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds the graceful drain when Serve's context ends;
	// connections still busy after it are closed. Default 5s.
	ShutdownTimeout time.Duration

	mu     sync.Mutex
	srv    *http.Server
	closed bool
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Serve accepts connections on ln until ctx ends or Shutdown is called,
// then drains in-flight requests (up to ShutdownTimeout when ctx ended)
// and returns nil. Any other failure of the listener is returned. Serve
// closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Service == nil {
		ln.Close()
		return ErrNoService
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler:           NewHandler(s.Service, logger, Options{MaxBodyBytes: s.MaxBodyBytes}),
		MaxHeaderBytes:    orDefault(s.MaxHeaderBytes, http.DefaultMaxHeaderBytes),
		ReadHeaderTimeout: orDefault(s.ReadHeaderTimeout, 10*time.Second),
		ReadTimeout:       max(s.ReadTimeout, 0),
		IdleTimeout:       orDefault(s.IdleTimeout, 2*time.Minute),
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		// Requests outlive ctx by the drain: they end with their
		// connection, not with ctx.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.mu.Lock()
	if s.closed || s.srv != nil {
		again := s.srv != nil
		s.mu.Unlock()
		ln.Close()
		if again {
			return ErrServed
		}
		return nil
	}
	s.srv = srv
	s.mu.Unlock()

	drained := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(drained)
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		sctx, cancel := context.WithTimeout(context.Background(), orDefault(s.ShutdownTimeout, 5*time.Second))
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	})
	err := srv.Serve(ln)
	if !stop() {
		<-drained
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends, then closes what is left and returns ctx's error. It is
// safe to call before, during or after Serve, and more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
	}
	return err
}
