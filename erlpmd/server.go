package erlpmd

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// Registry is where registrations live: ZooKeeper in production
// (*zkstate.Framework satisfies it).
type Registry interface {
	RegisterErlpmd(ctx context.Context, rec zkstate.ErlpmdRecord) (*zkstate.Registration, error)
	GetErlpmd(ctx context.Context, name string) (zkstate.ErlpmdRecord, error)
	ListErlpmd(ctx context.Context) (map[string]zkstate.ErlpmdRecord, error)
}

// Server answers EPMD requests. Registry is required; other zero values are
// documented defaults.
type Server struct {
	Registry Registry
	// Host is published as the host of nodes registered here and selects
	// the nodes NAMES lists. Default: the listener's IP.
	Host string
	// AllowStop enables KILL_REQ and STOP_REQ (epmd refuses them by default).
	AllowStop bool
	// Timeout bounds one request's ZooKeeper work and idle reads. Default 5s.
	Timeout time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger

	mu     sync.Mutex
	cache  map[string]zkstate.ErlpmdRecord // last records seen: served while ZooKeeper is unreachable
	regs   map[string]net.Conn             // names registered through this erlpmd -> their connection
	conns  map[net.Conn]struct{}
	lns    []net.Listener
	wg     sync.WaitGroup
	closed bool
	stop   chan struct{}
}

func (s *Server) init(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = map[string]zkstate.ErlpmdRecord{}
		s.regs = map[string]net.Conn{}
		s.conns = map[net.Conn]struct{}{}
		s.stop = make(chan struct{})
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Timeout == 0 {
		s.Timeout = 5 * time.Second
	}
	if s.Host == "" {
		if ta, ok := ln.Addr().(*net.TCPAddr); ok {
			s.Host = ta.IP.String()
		}
	}
	s.lns = append(s.lns, ln)
}

// Serve accepts EPMD connections on ln until ctx ends, Shutdown is called,
// or KILL_REQ is accepted (with AllowStop).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.Registry == nil {
		return errors.New("erlpmd: Registry is required")
	}
	s.init(ln)
	go func() {
		select {
		case <-ctx.Done():
		case <-s.stop:
		}
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || ctx.Err() != nil {
				return nil
			}
			select {
			case <-s.stop:
				return nil
			default:
			}
			return err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(ctx, c)
	}
}

// Shutdown closes the listeners and every connection (which unregisters
// the nodes registered through them) and waits for their goroutines.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	_ = c.SetReadDeadline(time.Now().Add(s.Timeout))
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n == 0 || n > maxRequestLength {
		return
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(c, payload); err != nil {
		return
	}
	req, err := DecodeRequest(payload)
	if err != nil {
		s.Logger.Debug("bad EPMD request", "remote", c.RemoteAddr(), "err", err)
		return // epmd closes the connection on a bad request
	}
	_ = c.SetReadDeadline(time.Time{})
	switch req.Code {
	case codeAlive2Req:
		s.alive(ctx, c, req.Alive)
	case codePortPlease2:
		_, _ = c.Write(AppendPort2Resp(nil, s.lookup(ctx, req.Name)))
	case codeNamesReq, codeDumpReq:
		nodes := s.localNodes(ctx)
		port := uint32(0)
		if ta, ok := c.LocalAddr().(*net.TCPAddr); ok {
			port = uint32(ta.Port)
		}
		if req.Code == codeNamesReq {
			_, _ = c.Write(AppendNames(nil, port, nodes))
		} else {
			_, _ = c.Write(AppendDump(nil, port, nodes))
		}
	case codeKillReq:
		if !s.AllowStop {
			_, _ = c.Write([]byte("NO"))
			return
		}
		_, _ = c.Write([]byte("OK"))
		s.mu.Lock()
		select {
		case <-s.stop:
		default:
			close(s.stop)
		}
		s.mu.Unlock()
	case codeStopReq:
		// Refused unless AllowStop, as epmd without -relaxed_command_check.
		if s.AllowStop && s.closeRegistration(req.Name) {
			_, _ = c.Write([]byte("STOPPED"))
			return
		}
		_, _ = c.Write([]byte("NOEXIST"))
	}
}

// errTaken refuses an ALIVE2 for a name that is registered and alive.
var errTaken = errors.New("erlpmd: name already registered")

// alive registers a node for as long as its connection stays open.
func (s *Server) alive(ctx context.Context, c net.Conn, a *Alive2) {
	rec := zkstate.ErlpmdRecord{
		Version: zkstate.RecordVersion, Name: a.Name, Host: s.Host, Port: int(a.Port),
		NodeType: int(a.NodeType), Protocol: int(a.Protocol), HighestVersion: int(a.HighestVersion),
		LowestVersion: int(a.LowestVersion), Extra: a.Extra, Creation: newCreation(a.HighestVersion),
	}
	rctx, cancel := context.WithTimeout(ctx, s.Timeout)
	reg, err := s.register(rctx, rec)
	cancel()
	if err != nil {
		s.Logger.Info("ALIVE2 refused", "name", a.Name, "err", err)
		_, _ = c.Write(AppendAlive2Resp(nil, a.HighestVersion, 1, 0))
		return
	}
	defer func() {
		s.mu.Lock()
		delete(s.cache, a.Name)
		delete(s.regs, a.Name)
		s.mu.Unlock()
		if err := reg.Close(); err != nil {
			s.Logger.Warn("unregister", "name", a.Name, "err", err)
		}
		s.Logger.Info("node unregistered", "name", a.Name)
	}()
	if _, err := c.Write(AppendAlive2Resp(nil, a.HighestVersion, 0, rec.Creation)); err != nil {
		return
	}
	s.mu.Lock()
	s.cache[a.Name] = rec
	s.regs[a.Name] = c
	s.mu.Unlock()
	s.Logger.Info("node registered", "name", a.Name, "port", a.Port, "creation", rec.Creation)
	// The registration lasts until the node closes the connection.
	_, _ = io.Copy(io.Discard, c)
}

func (s *Server) register(ctx context.Context, rec zkstate.ErlpmdRecord) (*zkstate.Registration, error) {
	if cur, err := s.Registry.GetErlpmd(ctx, rec.Name); err == nil {
		return nil, fmt.Errorf("%w: %s at %s:%d", errTaken, cur.Name, cur.Host, cur.Port)
	} else if !errors.Is(err, zkstate.ErrNotFound) {
		return nil, err
	}
	return s.Registry.RegisterErlpmd(ctx, rec)
}

// newCreation returns a fresh creation: random and non-zero, 32-bit for
// distribution version 6+ nodes, 1..3 for older ones (as epmd).
func newCreation(highestVersion uint16) uint32 {
	if highestVersion >= 6 {
		for {
			if c := rand.Uint32(); c > 3 {
				return c
			}
		}
	}
	return 1 + rand.Uint32N(3)
}

// lookup finds a node's entry: from ZooKeeper, or while ZooKeeper cannot be
// read, from the records this erlpmd last saw. A node ZooKeeper says is not
// registered is never answered from the cache.
func (s *Server) lookup(ctx context.Context, name string) *Alive2 {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	rec, err := s.Registry.GetErlpmd(ctx, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.cache[name] = rec
	case errors.Is(err, zkstate.ErrNotFound):
		delete(s.cache, name)
		return nil
	default:
		cached, ok := s.cache[name]
		if !ok {
			s.Logger.Info("lookup failed and nothing cached", "name", name, "err", err)
			return nil
		}
		s.Logger.Info("lookup served from cache", "name", name, "err", err)
		rec = cached
	}
	return toAlive(rec)
}

func toAlive(r zkstate.ErlpmdRecord) *Alive2 {
	return &Alive2{Port: uint16(r.Port), NodeType: byte(r.NodeType), Protocol: byte(r.Protocol),
		HighestVersion: uint16(r.HighestVersion), LowestVersion: uint16(r.LowestVersion), Name: r.Name, Extra: r.Extra}
}

// localNodes lists the nodes registered for this erlpmd's host.
func (s *Server) localNodes(ctx context.Context) []Alive2 {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	recs, err := s.Registry.ListErlpmd(ctx)
	if err != nil {
		s.mu.Lock()
		recs = make(map[string]zkstate.ErlpmdRecord, len(s.cache))
		for k, v := range s.cache {
			recs[k] = v
		}
		s.mu.Unlock()
	}
	var out []Alive2
	for _, r := range recs {
		if r.Host == s.Host {
			out = append(out, *toAlive(r))
		}
	}
	slices.SortFunc(out, func(a, b Alive2) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// closeRegistration ends a registration made through this erlpmd
// (STOP_REQ) by closing its connection, as epmd does.
func (s *Server) closeRegistration(name string) bool {
	s.mu.Lock()
	c, ok := s.regs[name]
	s.mu.Unlock()
	if ok {
		c.Close()
	}
	return ok
}
