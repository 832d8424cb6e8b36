package pbserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/service"
	"github.com/rmf-go/rmf/protocol"
)

// ExtensionFunc answers a request code the server does not implement
// itself. It returns the response frame's code and body and true, or false
// to let the server refuse the request as usual. body aliases the read
// buffer: it is valid only during the call.
type ExtensionFunc func(ctx context.Context, code protocol.Code, body []byte) (respCode protocol.Code, respBody []byte, handled bool)

// Server is a Riak PB API server over a service.Service. Only Service is
// required; every other field's zero value is a documented default. Do not
// change the fields once Serve has been called.
type Server struct {
	// Service answers the requests. Required.
	Service service.Service
	// Logger receives connection-level events at debug level and recovered
	// panics at error level. Default: discard.
	Logger *slog.Logger
	// MaxFrameSize bounds a request frame's length (code byte plus body).
	// A longer frame is answered with RpbErrorResp and the connection is
	// closed. Default (0): protocol.DefaultMaxFrameSize (64 MiB).
	MaxFrameSize int
	// IdleTimeout closes a connection that sends no request for this long
	// (the deadline also covers reading the request itself). Default (0):
	// no limit, like Riak.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write of a response (or of one streamed
	// batch) to a client that does not read. Default (0): no limit.
	WriteTimeout time.Duration
	// MaxConns caps concurrent connections; a connection over the cap is
	// closed as soon as it is accepted. Default (0): no cap.
	MaxConns int
	// Extension, if set, is offered every request the server does not
	// implement (unknown codes and known but unsupported ones) before
	// it is refused. The devnode answers its private cluster codes here.
	Extension ExtensionFunc

	closing atomic.Bool
	mu      sync.Mutex
	lns     map[*net.Listener]struct{}
	conns   map[*conn]struct{}
	wg      sync.WaitGroup // connection goroutines
}

// Validate checks the configuration.
func (s *Server) Validate() error {
	switch {
	case s.Service == nil:
		return errors.New("pbserver: Service is required")
	case s.MaxFrameSize < 0:
		return fmt.Errorf("pbserver: MaxFrameSize %d is negative", s.MaxFrameSize)
	case s.IdleTimeout < 0 || s.WriteTimeout < 0:
		return errors.New("pbserver: timeouts must not be negative")
	case s.MaxConns < 0:
		return fmt.Errorf("pbserver: MaxConns %d is negative", s.MaxConns)
	}
	return nil
}

var discardLogger = slog.New(slog.DiscardHandler)

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return discardLogger
}

// Serve accepts connections on ln and serves each on its own goroutine
// until ctx is done, ln is closed, or Shutdown or Close is called. It
// closes ln before returning. When ctx is done, the connections Serve
// accepted are closed at once (their in-flight requests see a cancelled
// context) and Serve waits for them before returning ctx.Err(); use
// Shutdown to drain gracefully. After Shutdown or Close, Serve returns
// ErrServerClosed and the connections are Shutdown's to wait for. If ln
// fails otherwise, Serve returns the error and its connections carry on
// until Shutdown, Close or ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if !s.trackListener(&ln, true) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.trackListener(&ln, false)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer ln.Close()

	var own sync.WaitGroup // this Serve's connections, waited for on ctx done
	var delay time.Duration
	log := s.logger()
	for {
		nc, err := ln.Accept()
		if err != nil {
			switch {
			case s.closing.Load():
				return ErrServerClosed
			case ctx.Err() != nil:
				own.Wait()
				return ctx.Err()
			case isTemporary(err):
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				log.Warn("pb accept failed; retrying", "err", err, "delay", delay)
				select {
				case <-time.After(delay):
				case <-ctx.Done():
				}
				continue
			}
			return err
		}
		delay = 0
		c := newConn(s, nc)
		c.ctx, c.cancel = context.WithCancel(ctx)
		if !s.trackConn(c, true) {
			c.cancel()
			nc.Close()
			if s.closing.Load() {
				return ErrServerClosed
			}
			log.Debug("pb connection refused: MaxConns reached", "remote", nc.RemoteAddr(), "max", s.MaxConns)
			continue
		}
		own.Add(1)
		go func() {
			defer own.Done()
			c.serve()
		}()
	}
}

func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

func (s *Server) trackListener(ln *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.lns, ln)
		return true
	}
	if s.closing.Load() {
		return false
	}
	if s.lns == nil {
		s.lns = make(map[*net.Listener]struct{})
	}
	s.lns[ln] = struct{}{}
	return true
}

// trackConn registers (add) or forgets a connection. Registration fails
// when the server is closing or MaxConns is reached; it counts in s.wg
// under s.mu, so Shutdown never waits on a group still growing.
func (s *Server) trackConn(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.conns, c)
		s.wg.Done()
		return true
	}
	if s.closing.Load() || (s.MaxConns > 0 && len(s.conns) >= s.MaxConns) {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// aLongTimeAgo is a deadline in the past: it interrupts a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// Shutdown stops the server gracefully: it closes the listeners, lets
// every connection finish the request it is serving (an idle connection
// closes at once; one in the middle of a request writes its answer, then
// closes) and waits for them. When ctx ends first, the remaining
// connections are closed (their requests see a cancelled context) and
// Shutdown returns ctx.Err() once their goroutines have exited.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	for ln := range s.lns {
		(*ln).Close()
	}
	for c := range s.conns {
		// A connection blocked reading its next request wakes up and,
		// seeing closing, ends; one serving a request is not affected.
		c.nc.SetReadDeadline(aLongTimeAgo)
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.cancel()
		c.nc.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// Close closes the listeners and every connection at once and waits for
// the connection goroutines: Shutdown with no grace period.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
