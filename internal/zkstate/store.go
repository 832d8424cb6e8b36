package zkstate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zookeeper/zk"
)

// DefaultSessionTimeout is the session timeout requested when
// WithSessionTimeout is not given. The server clamps it to its
// [minSessionTimeout, maxSessionTimeout].
const DefaultSessionTimeout = 10 * time.Second

// closeWait bounds how long Close waits for go-zookeeper's goroutines.
const closeWait = 10 * time.Second

// Option configures Connect.
type Option func(*options)

type options struct {
	sessionTimeout time.Duration
	logger         *slog.Logger
	dialer         zk.Dialer
	auth           string // "user:password" for digest auth
}

// WithDigestAuth authenticates the session with ZooKeeper's digest scheme
// ("user:password", see ParseDigestAuth) and creates every znode with an
// ACL that lets only that identity change it; anyone may read (directors
// and erlpmd lookups need no secret). go-zookeeper re-sends the credentials
// after each reconnect.
func WithDigestAuth(userPassword string) Option {
	return func(o *options) { o.auth = userPassword }
}

// ParseDigestAuth checks a "user:password" credential for WithDigestAuth.
func ParseDigestAuth(s string) (user, password string, err error) {
	user, password, ok := strings.Cut(s, ":")
	if !ok || user == "" || password == "" {
		return "", "", errors.New("zkstate: ZooKeeper auth must be USER:PASSWORD")
	}
	return user, password, nil
}

// WithSessionTimeout sets the requested session timeout (default
// DefaultSessionTimeout). Ephemeral znodes vanish this long after the
// process loses ZooKeeper.
func WithSessionTimeout(d time.Duration) Option {
	return func(o *options) { o.sessionTimeout = d }
}

// WithLogger sets the logger for the Store and for go-zookeeper's own
// messages (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithDialer sets how connections to servers are dialled (default
// net.DialTimeout). Tests use it to inject faults.
func WithDialer(d zk.Dialer) Option {
	return func(o *options) { o.dialer = d }
}

// Store is one ZooKeeper session plus typed access to the RMF layout. It is
// safe for concurrent use. Close it to end the session: its ephemeral znodes
// are deleted by the server at once.
type Store struct {
	conn atomic.Pointer[zk.Conn]
	acl  []zk.ACL // of every znode this Store creates
	log  *slog.Logger
	tmo  time.Duration
	// negotiated is the session timeout the server granted (nanoseconds,
	// 0 until the first handshake), read from the connect response by the
	// dialer wrapper (handshakeConn).
	negotiated atomic.Int64
	done       chan struct{} // closed by Close
	zkDone     chan struct{} // closed when go-zookeeper's event loop has ended
	wg         sync.WaitGroup

	mu     sync.Mutex
	closed bool
	subs   map[chan struct{}]struct{}
}

// Connect opens a session with the given servers ("host:port") and waits
// until it is established or ctx is done. go-zookeeper keeps reconnecting
// afterwards, and starts a new session if the server expires this one.
func Connect(ctx context.Context, servers []string, opts ...Option) (*Store, error) {
	o := options{sessionTimeout: DefaultSessionTimeout, logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	acl := worldACL
	if o.auth != "" {
		user, password, err := ParseDigestAuth(o.auth)
		if err != nil {
			return nil, err
		}
		acl = append(zk.DigestACL(zk.PermAll, user, password), zk.WorldACL(zk.PermRead)...)
	}
	s := &Store{
		acl:    acl,
		log:    o.logger.With("component", "zkstate"),
		tmo:    o.sessionTimeout,
		done:   make(chan struct{}),
		zkDone: make(chan struct{}),
		subs:   make(map[chan struct{}]struct{}),
	}
	ready, unsubscribe := s.subscribe()
	defer unsubscribe()

	zopts := connOptions(
		zk.WithLogger(zkLogger{s.log.With("component", "go-zookeeper")}),
		zk.WithLogInfo(true),
		zk.WithEventCallback(s.onEvent),
	)
	zopts = append(zopts, zk.WithDialer(s.dialer(o.dialer)))
	conn, events, err := zk.Connect(servers, o.sessionTimeout, zopts...)
	if err != nil {
		return nil, fmt.Errorf("zkstate: connect %v: %w", servers, err)
	}
	s.conn.Store(conn)
	go func() {
		// Session events are taken from the callback; this channel is only
		// drained so that its close tells us the event loop has ended.
		for range events {
		}
		close(s.zkDone)
	}()

	for conn.State() != zk.StateHasSession {
		select {
		case <-ready:
		case <-ctx.Done():
			s.Close()
			return nil, fmt.Errorf("zkstate: connect %v: no session: %w", servers, ctx.Err())
		}
	}
	if o.auth != "" {
		if err := conn.AddAuth("digest", []byte(o.auth)); err != nil {
			s.Close()
			return nil, fmt.Errorf("zkstate: digest auth: %w", err)
		}
	}
	return s, nil
}

// dialer wraps base (default net.DialTimeout) so that every connection
// records the session timeout of the server's connect response.
func (s *Store) dialer(base zk.Dialer) zk.Dialer {
	if base == nil {
		base = net.DialTimeout
	}
	return func(network, addr string, timeout time.Duration) (net.Conn, error) {
		c, err := base(network, addr, timeout)
		if err != nil {
			return nil, err
		}
		return &handshakeConn{Conn: c, s: s}, nil
	}
}

// handshakeConn watches the first bytes a server sends on a connection: the
// connect response, whose frame starts with a 4-byte length, a 4-byte
// protocol version and the 4-byte negotiated session timeout in
// milliseconds (ZooKeeper's ConnectResponse). go-zookeeper keeps that value
// to itself; the lock needs it to fence in time. Only go-zookeeper's
// connection goroutine reads, so no locking is needed.
type handshakeConn struct {
	net.Conn
	s   *Store
	n   int
	hdr [12]byte
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.n < len(c.hdr) && n > 0 {
		c.n += copy(c.hdr[c.n:], p[:n])
		if c.n == len(c.hdr) {
			if ms := int32(binary.BigEndian.Uint32(c.hdr[8:12])); ms > 0 {
				c.s.negotiated.Store(int64(time.Duration(ms) * time.Millisecond))
			}
		}
	}
	return n, err
}

// connOptions builds a slice of go-zookeeper's (unexported) option type.
func connOptions[O any](o ...O) []O { return o }

// Conn returns the underlying go-zookeeper connection, for recipes zkstate
// does not wrap. Do not Close it; close the Store.
func (s *Store) Conn() *zk.Conn { return s.conn.Load() }

// SessionID returns the current session ID (0 while there is none).
func (s *Store) SessionID() int64 { return s.Conn().SessionID() }

// SessionTimeout returns the session timeout the server negotiated (it
// clamps the requested one to its [minSessionTimeout, maxSessionTimeout]),
// or the requested one before the first handshake. The server expires the
// session, and deletes its ephemeral znodes, this long after it last heard
// from the process.
func (s *Store) SessionTimeout() time.Duration {
	if d := time.Duration(s.negotiated.Load()); d > 0 {
		return d
	}
	return s.tmo
}

// Connected reports whether the Store currently has a live session.
func (s *Store) Connected() bool { return s.Conn().State() == zk.StateHasSession }

// Close ends the session (the server deletes its ephemeral znodes), stops
// every registration and watch of this Store (watch channels are closed) and
// waits for their goroutines. It is idempotent.
func (s *Store) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()

	if c := s.Conn(); c != nil {
		c.Close()
		select {
		case <-s.zkDone:
		case <-time.After(closeWait):
			s.log.Warn("zookeeper client did not stop in time")
		}
	}
	s.wg.Wait()
}

func (s *Store) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// onEvent is go-zookeeper's event callback. It runs on go-zookeeper's
// goroutines, sometimes under its locks: it must not block or call the
// connection.
func (s *Store) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	s.mu.Lock()
	closed := s.closed
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default: // a signal is already pending
		}
	}
	s.mu.Unlock()

	var sid int64
	if c := s.conn.Load(); c != nil {
		sid = c.SessionID()
	}
	attrs := []any{"state", ev.State.String(), "server", ev.Server, "session", fmt.Sprintf("%#x", sid)}
	switch {
	case closed:
		s.log.Debug("zookeeper session event", attrs...)
	case ev.State == zk.StateHasSession:
		s.log.Info("zookeeper session established", attrs...)
	case ev.State == zk.StateExpired:
		s.log.Warn("zookeeper session expired; starting a new session and re-registering ephemeral znodes", attrs...)
	case ev.State == zk.StateDisconnected:
		s.log.Info("zookeeper disconnected", attrs...)
	case ev.State == zk.StateAuthFailed:
		s.log.Error("zookeeper authentication failed", attrs...)
	default:
		s.log.Debug("zookeeper session event", attrs...)
	}
}

// subscribe returns a channel that receives a (coalesced) signal after every
// session state change; the subscriber reads the state from the connection.
func (s *Store) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}

// goTracked runs fn on a goroutine that Close waits for. It reports false
// (and does not run fn) when the Store is closed.
func (s *Store) goTracked(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

// call runs fn, returning early with ctx's error if ctx ends first (fn then
// finishes in the background: go-zookeeper answers or fails every request).
func call[R any](ctx context.Context, s *Store, fn func(c *zk.Conn) (R, error)) (R, error) {
	var zero R
	if s.isClosed() {
		return zero, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	c := s.Conn()
	if ctx.Done() == nil {
		return fn(c)
	}
	type result struct {
		r   R
		err error
	}
	ch := make(chan result, 1)
	go func() {
		r, err := fn(c)
		ch <- result{r, err}
	}()
	select {
	case res := <-ch:
		return res.r, res.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// zkLogger routes go-zookeeper's Printf logging to slog: routine connection
// chatter at Debug (the Store logs session changes itself), the rest at Warn.
type zkLogger struct{ l *slog.Logger }

func (z zkLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	level := slog.LevelWarn
	for _, p := range []string{"connected to", "authenticated", "authentication failed", "re-submitting",
		"send loop terminated", "recv loop terminated", "failed to connect"} {
		if strings.HasPrefix(msg, p) {
			level = slog.LevelDebug
			break
		}
	}
	z.l.Log(context.Background(), level, msg)
}
