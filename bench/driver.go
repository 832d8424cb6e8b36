package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	riak "github.com/basho/riak-go-client"

	"github.com/rmf-go/rmf/protocol"
)

// Driver names for --driver.
const (
	DriverRiakGoClient = "riak-go-client"
	DriverRaw          = "raw"
	DriverHTTP         = "http"
)

// Driver opens per-worker sessions against the target.
type Driver interface {
	// NewWorker returns the session of worker i (0-based).
	NewWorker(i int) (Worker, error)
	// Close releases what the driver shares between workers.
	Close() error
}

// Worker performs operations for one load-generating goroutine. It is not
// safe for concurrent use.
type Worker interface {
	// Do performs op on key; value is the body of a put or update. A get
	// or update of a missing key, and a delete of one, succeed.
	Do(op Op, key, value []byte) error
	Close() error
}

// ErrBadDriver is returned for an unknown driver name or missing address.
var ErrBadDriver = errors.New("bench: bad driver")

// Error kinds, the columns of "errors by kind".
const (
	KindTimeout = "timeout"
	KindRefused = "refused"
	KindClosed  = "closed"
	KindRiak    = "riak_error"
	KindHTTP    = "http_status"
	KindOther   = "other"
)

var errorKinds = []string{KindTimeout, KindRefused, KindClosed, KindRiak, KindHTTP, KindOther}

// ErrorKinds lists the error kinds in report order.
func ErrorKinds() []string { return append([]string(nil), errorKinds...) }

func kindIndex(kind string) int {
	for i, k := range errorKinds {
		if k == kind {
			return i
		}
	}
	return len(errorKinds) - 1
}

// httpStatusError is an unexpected HTTP status.
type httpStatusError struct{ code int }

func (e *httpStatusError) Error() string { return fmt.Sprintf("bench: http status %d", e.code) }

// Classify names the kind of an operation error.
func Classify(err error) string {
	var pe *protocol.Error
	var re riak.RiakError
	var rep *riak.RiakError
	var he *httpStatusError
	var ne net.Error
	switch {
	case errors.As(err, &pe), errors.As(err, &re), errors.As(err, &rep):
		return KindRiak
	case errors.As(err, &he):
		return KindHTTP
	case errors.Is(err, os.ErrDeadlineExceeded):
		return KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed), errors.Is(err, protocol.ErrTruncatedFrame):
		return KindClosed
	case errors.As(err, &ne) && ne.Timeout():
		return KindTimeout
	}
	// riak-go-client flattens many errors into strings.
	s := strings.ToLower(err.Error())
	switch {
	case strings.Contains(s, "riakerror"), strings.Contains(s, "riak error"):
		return KindRiak
	case strings.Contains(s, "timeout"), strings.Contains(s, "timed out"), strings.Contains(s, "deadline"):
		return KindTimeout
	case strings.Contains(s, "refused"):
		return KindRefused
	case strings.Contains(s, "eof"), strings.Contains(s, "reset"), strings.Contains(s, "broken pipe"), strings.Contains(s, "closed"):
		return KindClosed
	}
	return KindOther
}

// DriverConfig is what every driver needs.
type DriverConfig struct {
	// PBAddrs are the PB addresses workers spread over (worker i uses
	// PBAddrs[i%len]; riak-go-client balances over all of them).
	PBAddrs []string
	// HTTPAddr is the Riak HTTP address (the http driver).
	HTTPAddr string
	// Bucket is the bucket of every key (default "bench").
	Bucket string
	// Concurrency is the number of workers (sizes connection pools).
	Concurrency int
	// Timeout bounds one operation (default 5s).
	Timeout time.Duration
	// SingleConn gives each worker exactly one PB connection of its own,
	// to PBAddrs[i%len]: riak-go-client gets a Cluster per worker with
	// one Node of one connection; raw is one connection per worker
	// anyway.
	SingleConn bool
}

// NewDriver returns the driver named name.
func NewDriver(name string, cfg DriverConfig) (Driver, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = "bench"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultOpTimeout
	}
	switch name {
	case DriverRaw:
		if len(cfg.PBAddrs) == 0 {
			return nil, fmt.Errorf("%w: raw needs --pb", ErrBadDriver)
		}
		return newRawDriver(cfg), nil
	case DriverRiakGoClient:
		if len(cfg.PBAddrs) == 0 {
			return nil, fmt.Errorf("%w: riak-go-client needs --pb", ErrBadDriver)
		}
		return newGoClientDriver(cfg)
	case DriverHTTP:
		if cfg.HTTPAddr == "" {
			return nil, fmt.Errorf("%w: http needs --http", ErrBadDriver)
		}
		return newHTTPDriver(cfg), nil
	}
	return nil, fmt.Errorf("%w: %q (want %s, %s or %s)", ErrBadDriver, name, DriverRiakGoClient, DriverRaw, DriverHTTP)
}
