package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/protocol"
)

// Defaults of Config's zero values.
const (
	DefaultRequestTimeout = 10 * time.Second
	// DefaultMetadataSettle is Config.MetadataSettle's default: cluster
	// metadata gossip takes milliseconds on a healthy cluster; 2 s covers
	// a loaded one.
	DefaultMetadataSettle     = 2 * time.Second
	DefaultDialTimeout        = 2 * time.Second
	DefaultMaxIdlePerNode     = 128
	DefaultBackendIdleTimeout = 60 * time.Second
	DefaultHealthInterval     = time.Second
	DefaultHealthTimeout      = time.Second
	DefaultMaxAttempts        = 3
	// DefaultHedgeDelay and DefaultHedgeBudget are Config.HedgeDelay's and
	// Config.HedgeBudget's defaults.
	DefaultHedgeDelay  = 5 * time.Millisecond
	DefaultHedgeBudget = 0.05
)

// Config.RetryWrites values.
const (
	// RetryWritesBrokenConn: repeat an unconditional put or a delete on
	// another node when its connection broke before any answer.
	RetryWritesBrokenConn = "broken-conn"
	// RetryWritesNever: never repeat a write that may have reached a node.
	RetryWritesNever = "never"
)

// Config holds the PB proxy's settings. Every zero value means the
// documented default, so Config{} is a working configuration.
type Config struct {
	// MaxConns caps concurrent client connections. At the cap the proxy
	// stops accepting: new connections wait in the listen backlog until a
	// client leaves (like HAProxy's maxconn). Default 0: no cap.
	MaxConns int
	// IdleTimeout closes a client connection that sent no request for this
	// long (accurate to +10%). Default 0: never.
	IdleTimeout time.Duration
	// RequestTimeout bounds one request from its arrival to the last byte
	// of its answer, retries included. Default 10s.
	RequestTimeout time.Duration
	// TryTimeout bounds one attempt's wait for the first frame of its
	// answer; an attempt that times out counts as a node failure and a
	// retryable request moves on to another node. Only object reads (a
	// get, a counter or data-type fetch, a ping: timed and retryable) are
	// bound by it; a write, which is not sent again after a timeout, and a
	// listing or query, which takes as long as its data, wait for their
	// node's answer until RequestTimeout. Once the answer has
	// started, only RequestTimeout applies. Default 0: the request's
	// remaining time, i.e. no separate bound.
	TryTimeout time.Duration
	// MetadataSettle: after a client connection changes cluster metadata
	// (sets or resets bucket or bucket-type properties, puts a search
	// index or schema), every request of that connection goes to its home
	// node for this long, so that it sees its change before gossip has
	// spread it (its data requests depend on it too: allow_mult, n_val).
	// Metadata requests themselves always prefer the home node. Default
	// DefaultMetadataSettle; negative: only metadata requests are sticky.
	MetadataSettle time.Duration
	// HedgeDelay is the least time a read (a retryable request with a
	// one-frame answer) waits for its node before it is also sent to a
	// second node (a hedged read; the first answer wins). The delay used is
	// three times the median node latency when that is longer. Default
	// DefaultHedgeDelay; negative: no hedging.
	HedgeDelay time.Duration
	// HedgeBudget bounds hedged reads to this fraction of the requests
	// (plus a burst of 10). Default DefaultHedgeBudget; negative: no
	// hedging.
	HedgeBudget float64
	// ConfirmNotFound says when a GET answered "not found" is asked again
	// of another node with r=1 and notfound_ok=false before the answer
	// goes to the client (confirm.go): ConfirmTransitions (default: while
	// a node is in transition), ConfirmAlways or ConfirmNever.
	ConfirmNotFound string
	// ConfirmBudget bounds confirmations to this fraction of the GETs
	// (plus a burst of 50). Default DefaultConfirmBudget.
	ConfirmBudget float64
	// TransitionSettle is how long a node that came back (passed its
	// checks again, or joined the set) counts as in transition. Default
	// DefaultTransitionSettle.
	TransitionSettle time.Duration
	// RetryWrites says when a write that may have reached a node is sent
	// to another: RetryWritesBrokenConn (default): an unconditional put or
	// a delete (protocol.RepeatableWrite, protocol.HTTPRepeatableWrite)
	// whose connection broke before any byte of an answer, never after a
	// timeout; RetryWritesNever: no write that may have reached a node.
	RetryWrites string
	// MaxAttempts is the most nodes one request is sent to (the first try
	// and its failovers). Default 3.
	MaxAttempts int
	// MaxFrameSize bounds a frame's length field in both directions.
	// Default protocol.DefaultMaxFrameSize (64 MiB).
	MaxFrameSize int
	// DialTimeout bounds dialing a backend connection. Default 2s.
	DialTimeout time.Duration
	// MaxIdlePerNode is how many idle backend connections each node's pool
	// keeps. Default 128.
	MaxIdlePerNode int
	// BackendIdleTimeout closes pooled backend connections unused this
	// long (checked at each health interval). Default 60s; negative: never.
	BackendIdleTimeout time.Duration
	// HealthInterval is the period of the active RpbPingReq check of each
	// node. Default 1s; negative disables active checks (breakers still
	// watch live traffic).
	HealthInterval time.Duration
	// HealthTimeout bounds one active check: dial, ping, answer. Default 1s.
	HealthTimeout time.Duration
	// Health says how many consecutive checks flip a node's health
	// (balancer defaults: 2 failures, 1 pass).
	Health balancer.HealthThresholds
	// Breaker configures each node's circuit breaker (balancer defaults:
	// 5 consecutive transport failures open it for 5s).
	Breaker balancer.BreakerSettings
	// Policy picks a node per request. Default nil: peak-EWMA (power of
	// two choices over latency × requests in flight).
	Policy balancer.Policy
	// Outliers configures outlier ejection on top of the breakers: a node
	// whose failures or latency stand far out from its peers' is taken
	// out for a while and let back in by slow start (balancer defaults;
	// negative ConsecutiveFailures and LatencyFactor turn the checks off).
	Outliers balancer.OutlierSettings
	// Logger receives node health changes and connection errors. Default:
	// discard.
	Logger *slog.Logger
	// DisableConnTable turns the go-memdb connection table off. It exists
	// only to measure the table's cost on the request path
	// (BenchmarkDirectorLeanNoTable against BenchmarkDirectorLean). Without
	// it Proxy.Table returns nil and the admin views, whose source of
	// truth is otherwise the table, make their rows from Stats (draining
	// nodes are then not listed). Default false: on.
	DisableConnTable bool
	// AdminToken, if set, is required on the admin listener's /, /status
	// and /metrics (Authorization: Bearer, or ?token= for a browser
	// opening the page); /health stays open for probes.
	AdminToken string
	// Dial, if set, replaces net.Dialer for backend connections (tests,
	// fault injection). The deadline of ctx bounds the dial.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxConns", c.MaxConns}, {"MaxAttempts", c.MaxAttempts}, {"MaxFrameSize", c.MaxFrameSize}, {"MaxIdlePerNode", c.MaxIdlePerNode}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("director: %s is negative (%d)", f.name, f.v))
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{{"IdleTimeout", c.IdleTimeout}, {"RequestTimeout", c.RequestTimeout}, {"TryTimeout", c.TryTimeout}, {"DialTimeout", c.DialTimeout}, {"HealthTimeout", c.HealthTimeout}} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("director: %s is negative (%v)", f.name, f.v))
		}
	}
	if c.HedgeBudget > 1 {
		errs = append(errs, fmt.Errorf("director: HedgeBudget %v is more than 1 (a hedge for every request)", c.HedgeBudget))
	}
	switch c.RetryWrites {
	case "", RetryWritesBrokenConn, RetryWritesNever:
	default:
		errs = append(errs, fmt.Errorf("director: RetryWrites %q is not %s or %s", c.RetryWrites, RetryWritesBrokenConn, RetryWritesNever))
	}
	if err := validConfirmMode(c.ConfirmNotFound); err != nil {
		errs = append(errs, err)
	}
	if c.ConfirmBudget < 0 || c.ConfirmBudget > 1 {
		errs = append(errs, fmt.Errorf("director: ConfirmBudget %v is not between 0 and 1", c.ConfirmBudget))
	}
	if c.TransitionSettle < 0 {
		errs = append(errs, fmt.Errorf("director: TransitionSettle is negative (%v)", c.TransitionSettle))
	}
	if c.MaxFrameSize > 0 && c.MaxFrameSize < 64 {
		errs = append(errs, fmt.Errorf("director: MaxFrameSize %d is too small for any Riak answer", c.MaxFrameSize))
	}
	if err := c.Breaker.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Outliers.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.HedgeDelay == 0 {
		c.HedgeDelay = DefaultHedgeDelay
	}
	if c.HedgeBudget == 0 {
		c.HedgeBudget = DefaultHedgeBudget
	}
	if c.MetadataSettle == 0 {
		c.MetadataSettle = DefaultMetadataSettle
	}
	if c.ConfirmNotFound == "" {
		c.ConfirmNotFound = ConfirmTransitions
	}
	if c.RetryWrites == "" {
		c.RetryWrites = RetryWritesBrokenConn
	}
	if c.ConfirmBudget == 0 {
		c.ConfirmBudget = DefaultConfirmBudget
	}
	if c.TransitionSettle == 0 {
		c.TransitionSettle = DefaultTransitionSettle
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = protocol.DefaultMaxFrameSize
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.MaxIdlePerNode == 0 {
		c.MaxIdlePerNode = DefaultMaxIdlePerNode
	}
	if c.BackendIdleTimeout == 0 {
		c.BackendIdleTimeout = DefaultBackendIdleTimeout
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.HealthTimeout == 0 {
		c.HealthTimeout = DefaultHealthTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	return c
}
