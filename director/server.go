package director

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/pprof"
	"sync"
	"time"
)

// Defaults of ServerConfig's zero values.
const (
	DefaultHTTPHeaderTimeout  = 10 * time.Second // a client has this long to send its headers (slowloris)
	DefaultHTTPIdleTimeout    = 2 * time.Minute  // keep-alive connections idle this long close
	DefaultHTTPMaxHeaderBytes = 1 << 20          // larger headers get 431
)

// ServerConfig says what a Server runs and where it listens. An empty
// address turns that listener off; ":0" and "127.0.0.1:0" pick a port
// (see the Server's Addr methods).
type ServerConfig struct {
	// Proxy configures the Proxy the Server makes.
	Proxy Config
	// PBAddr is the Riak PB listener, HTTPAddr the Riak HTTP listener,
	// AdminAddr the admin listener (status page, /status, /metrics,
	// /health).
	PBAddr, HTTPAddr, AdminAddr string
	// Discovery is shown by the admin views. Default nil: static nodes.
	Discovery *Discovery
	// HTTPHeaderTimeout bounds the wait for a request's headers on the
	// HTTP and admin listeners. Default 10s. There is no read or write
	// timeout: bodies may be large and listings stream for long; the
	// proxy's RequestTimeout bounds each request.
	HTTPHeaderTimeout time.Duration
	// HTTPIdleTimeout closes keep-alive connections of the HTTP and admin
	// listeners idle this long. Default 2m.
	HTTPIdleTimeout time.Duration
	// HTTPMaxHeaderBytes bounds a request's headers (larger: 431).
	// Default 1 MiB.
	HTTPMaxHeaderBytes int
	// TLS, if set, serves the HTTP and admin listeners over TLS (plain
	// HTTP to them gets Go's 400 "Client sent an HTTP request to an HTTPS
	// server."). The PB listener is not affected: Riak clients ask for
	// TLS inside the protocol (StartTls), which the director relays to
	// the nodes. Default nil: plain HTTP.
	TLS *tls.Config
}

func (c ServerConfig) headerTimeout() time.Duration {
	return cmp.Or(c.HTTPHeaderTimeout, DefaultHTTPHeaderTimeout)
}

func (c ServerConfig) idleTimeout() time.Duration {
	return cmp.Or(c.HTTPIdleTimeout, DefaultHTTPIdleTimeout)
}

func (c ServerConfig) maxHeaderBytes() int {
	return cmp.Or(c.HTTPMaxHeaderBytes, DefaultHTTPMaxHeaderBytes)
}

// Server is a director process's listeners around one Proxy: it starts
// the PB, HTTP and admin listeners, reports their bound addresses and
// shuts them down together.
//
//	s, err := director.NewServer(director.ServerConfig{PBAddr: "127.0.0.1:8087"})
//	s.Proxy().SetNodes(specs)
//	err = s.Start()
//	...
//	err = <-s.Failed() // or a signal
//	err = s.Shutdown(ctx)
type Server struct {
	cfg   ServerConfig
	proxy *Proxy
	log   *slog.Logger

	pb          net.Listener
	http, admin *http.Server
	httpLn      net.Listener
	adminLn     net.Listener

	failed chan error // a PB or HTTP listener's failure
	wg     sync.WaitGroup
}

// NewServer makes the Server's Proxy (NewProxy(cfg.Proxy)); nothing
// listens until Start.
func NewServer(cfg ServerConfig) (*Server, error) {
	p, err := NewProxy(cfg.Proxy)
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, proxy: p, log: p.log, failed: make(chan error, 2)}, nil
}

// Proxy returns the Server's Proxy: give it nodes (SetNodes, or
// Discovery) before or after Start.
func (s *Server) Proxy() *Proxy { return s.proxy }

// Start binds the configured listeners and serves them, and starts the
// proxy's health checkers. If a listener cannot be bound, the ones
// already bound are closed and the error returned; the Server should then
// be closed.
func (s *Server) Start() error {
	var err error
	if s.cfg.PBAddr != "" {
		if s.pb, err = net.Listen("tcp", s.cfg.PBAddr); err != nil {
			return fmt.Errorf("director: %w", err)
		}
	}
	if s.cfg.HTTPAddr != "" {
		if s.httpLn, err = net.Listen("tcp", s.cfg.HTTPAddr); err != nil {
			s.closeListeners()
			return fmt.Errorf("director: %w", err)
		}
	}
	if s.cfg.AdminAddr != "" {
		if s.adminLn, err = net.Listen("tcp", s.cfg.AdminAddr); err != nil {
			s.closeListeners()
			return fmt.Errorf("director: admin: %w", err)
		}
	}
	s.proxy.startHealth()
	if s.pb != nil {
		s.goServe("pb", s.servePB)
	}
	if s.httpLn != nil {
		s.http = s.httpServer(s.proxy.HTTPHandler())
		s.goServe("http", s.serveHTTP)
	}
	if s.adminLn != nil {
		s.admin = s.httpServer(s.proxy.AdminHandler(s.cfg.Discovery))
		s.goServe("admin", s.serveAdmin)
	}
	return nil
}

func (s *Server) closeListeners() {
	for _, ln := range []net.Listener{s.pb, s.httpLn, s.adminLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	s.pb, s.httpLn, s.adminLn = nil, nil, nil // nothing serves them yet
}

// httpServer serves h with the HTTP limits of the configuration.
func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.headerTimeout(),
		IdleTimeout:       s.cfg.idleTimeout(),
		MaxHeaderBytes:    s.cfg.maxHeaderBytes(),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		TLSConfig:         s.cfg.TLS.Clone(),
	}
}

// serveMaybeTLS serves srv on ln, over TLS when ServerConfig.TLS is set.
func serveMaybeTLS(srv *http.Server, ln net.Listener) error {
	if srv.TLSConfig != nil {
		return srv.ServeTLS(ln, "", "")
	}
	return srv.Serve(ln)
}

// goServe runs a listener's serve loop on a goroutine labelled for
// profiles and goroutine dumps.
func (s *Server) goServe(name string, serve func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		pprof.Do(context.Background(), pprof.Labels("director", "serve-"+name), func(context.Context) { serve() })
	}()
}

func (s *Server) servePB() {
	// Serve's context never ends: Shutdown ends it gracefully.
	if err := s.proxy.Serve(context.Background(), s.pb); err != nil && !errors.Is(err, ErrProxyClosed) {
		s.failed <- fmt.Errorf("director: pb: %w", err)
	}
}

func (s *Server) serveHTTP() {
	if err := serveMaybeTLS(s.http, s.httpLn); !errors.Is(err, http.ErrServerClosed) {
		s.failed <- fmt.Errorf("director: http: %w", err)
	}
}

func (s *Server) serveAdmin() {
	// The admin listener is for operators: its failure is logged, not
	// fatal to the proxy.
	if err := serveMaybeTLS(s.admin, s.adminLn); !errors.Is(err, http.ErrServerClosed) {
		s.log.Warn("director: admin listener failed", "err", err)
	}
}

// Failed receives the error of a PB or HTTP listener that stopped serving
// on its own (not by Shutdown or Close).
func (s *Server) Failed() <-chan error { return s.failed }

// PBAddr, HTTPAddr and AdminAddr return the bound addresses of the
// listeners after Start; "" for a listener that is off.
func (s *Server) PBAddr() string { return addrOf(s.pb) }

// HTTPAddr is the Riak HTTP listener's bound address (see PBAddr).
func (s *Server) HTTPAddr() string { return addrOf(s.httpLn) }

// AdminAddr is the admin listener's bound address (see PBAddr).
func (s *Server) AdminAddr() string { return addrOf(s.adminLn) }

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// Shutdown stops the Server gracefully: the listeners close; the PB and
// HTTP requests in flight finish (the proxy and the HTTP server drain
// together); then the admin listener stops. If ctx ends first, everything
// is closed at once. It returns when every serve goroutine has ended.
func (s *Server) Shutdown(ctx context.Context) error {
	herrc := make(chan error, 1)
	go func() { herrc <- shutdownHTTP(ctx, s.http) }()
	err := s.proxy.Shutdown(ctx)
	if herr := <-herrc; err == nil {
		err = herr
	}
	if aerr := shutdownHTTP(ctx, s.admin); err == nil {
		err = aerr
	}
	s.wg.Wait()
	return err
}

// shutdownHTTP shuts srv down gracefully, or closes it once ctx ends; nil
// srv is no error.
func shutdownHTTP(ctx context.Context, srv *http.Server) error {
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	return err
}

// Close stops the Server at once: every connection closes, requests in
// flight fail.
func (s *Server) Close() error {
	for _, srv := range []*http.Server{s.http, s.admin} {
		if srv != nil {
			_ = srv.Close()
		}
	}
	err := s.proxy.Close()
	s.wg.Wait()
	return err
}
