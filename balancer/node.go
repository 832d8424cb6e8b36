// Package balancer picks a Riak node for each request. Health checks,
// circuit breakers, latency observations and outlier ejection write state
// onto a Node; selection policies read Available(), the outstanding-request
// count, the latency estimate and, during slow start, the weight. It owns
// no sockets: the director reports what happened and the balancer
// remembers.
package balancer

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

var (
	// ErrBreakerOpen means the node's circuit breaker refuses requests.
	ErrBreakerOpen = errors.New("balancer: circuit breaker open")
	// errTransport is what a failed request reports to the breaker.
	errTransport = errors.New("balancer: transport failure")
	// errAbandoned is what an abandoned request reports: excluded from the breaker's counts.
	errAbandoned = errors.New("balancer: request abandoned")
)

// BreakerSettings configure each node's circuit breaker. Zero values take
// the documented defaults.
type BreakerSettings struct {
	// ConsecutiveFailures of transport failures or timeouts open the breaker. Default 5.
	ConsecutiveFailures uint32
	// OpenTimeout is how long an open breaker refuses requests before it lets
	// probes through (half-open). Default 5s.
	OpenTimeout time.Duration
	// HalfOpenRequests is how many probes a half-open breaker lets through;
	// that many successes close it, one failure opens it again. Default 1.
	HalfOpenRequests uint32
	// OnStateChange, if set, is told of every transition (for logs and metrics).
	OnStateChange func(node string, from, to BreakerState)
	// Latency configures each node's latency estimate. It rides here
	// because NewNode and NewSet take BreakerSettings.
	Latency LatencySettings
}

// Validate reports settings that cannot work.
func (s BreakerSettings) Validate() error {
	if s.OpenTimeout < 0 {
		return fmt.Errorf("balancer: negative breaker open timeout %v", s.OpenTimeout)
	}
	return s.Latency.Validate()
}

func (s BreakerSettings) withDefaults() BreakerSettings {
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = 5
	}
	if s.OpenTimeout == 0 {
		s.OpenTimeout = 5 * time.Second
	}
	if s.HalfOpenRequests == 0 {
		s.HalfOpenRequests = 1
	}
	s.Latency = s.Latency.withDefaults()
	return s
}

// BreakerState is a circuit breaker's state. Its values are the
// director's rmf_director_node_breaker_state metric; String gives the
// names shown in status output and logs.
type BreakerState int

// Breaker states.
const (
	BreakerClosed   BreakerState = iota // requests pass
	BreakerHalfOpen                     // a few probes pass
	BreakerOpen                         // requests are refused
)

var breakerStateNames = [...]string{BreakerClosed: "closed", BreakerHalfOpen: "half-open", BreakerOpen: "open"}

// String returns "closed", "half-open" or "open".
func (s BreakerState) String() string {
	if s >= 0 && int(s) < len(breakerStateNames) {
		return breakerStateNames[s]
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}

// MarshalText encodes the state by name (JSON, logs).
func (s BreakerState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func breakerState(s gobreaker.State) BreakerState {
	switch s {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	default:
		return BreakerClosed
	}
}

// Node is one Riak node as the balancer sees it. Create with NewNode.
type Node struct {
	// ID names the node (its Riak node name, or its PB address).
	ID       string
	PBAddr   string
	HTTPAddr string

	breaker *gobreaker.TwoStepCircuitBreaker[struct{}]
	// breakerClosed and breakerOpen mirror the breaker's state (set in
	// its OnStateChange), so that the hot path asks the breaker, which
	// takes a mutex and reads the clock, only when its answer can matter.
	breakerClosed, breakerOpen atomic.Bool
	outstanding                atomic.Int64
	untimed                    atomic.Int64 // of outstanding, begun by BeginUntimed
	healthy                    atomic.Bool
	requests                   atomic.Uint64
	failures                   atomic.Uint64

	healthMu     sync.Mutex
	healthPasses int
	healthFails  int

	clock   func() int64 // monotonic ns; replaced by tests before first use
	tau     float64      // latency decay constant in ns
	latency peakEWMA

	// Stall detection: progress is the clock reading of the node's last
	// answer, or of when it last became busy (no request in flight before);
	// stallAfter (ns, 0: off) is how long a busy node may go without
	// answering before Stalled says so.
	progress   atomic.Int64
	stallAfter atomic.Int64
	// stalls counts stall episodes (outlier evidence): a stall seen with a
	// progress stamp other than the last counted one's, stallMark.
	stalls    atomic.Uint64
	stallMark atomic.Int64
	// stalledNs sums, over the stall episodes ended by an answer, the time
	// each lasted past stallAfter (outlier evidence: how long, not only
	// how often).
	stalledNs atomic.Int64

	// Outlier ejection. The atomics are read on the hot path; the rest is
	// EvaluateOutliers' bookkeeping.
	ejected        atomic.Bool
	ejections      atomic.Uint64
	consecFailures atomic.Uint64                 // transport failures since the last success
	ramp           atomic.Pointer[slowStartRamp] // nil: full weight
	// checkFailing: its last active check failed. backByCheck: since its
	// ejection, a check passed after a failed one (it went away and came
	// back): the end of an ejection for failures (EvaluateOutliers).
	checkFailing, backByCheck atomic.Bool

	outlierMu    sync.Mutex
	ejectedUntil time.Time // while ejected
	multiplier   int       // ejections in a row: the next lasts (multiplier+1)×base
	cleanSince   time.Time // in without a step down of multiplier since
	evidenceFrom uint64    // Requests() when the latency evidence window opened
	cleanFrom    uint64    // Requests() at cleanSince
	stallsFrom   uint64    // Stalls() at the last evaluation
	stalledFrom  int64     // stalledNs at the last evaluation
	ongoingNs    int64     // of an episode still on at the last evaluation, the time it counted
	statsAt      time.Time // of the last evaluation
	standsOut    bool      // the last evaluation found it slow or stalling beyond its peers
	ejectReason  string    // why it was last ejected
	forFailures  bool      // ejected for transport failures in a row
}

// NewNode returns a node that starts healthy with a closed breaker.
func NewNode(id, pbAddr, httpAddr string, bs BreakerSettings) *Node {
	bs = bs.withDefaults()
	n := &Node{ID: id, PBAddr: pbAddr, HTTPAddr: httpAddr, clock: nanotime, tau: float64(bs.Latency.Decay)}
	n.healthy.Store(true)
	n.breakerClosed.Store(true)
	onChange := bs.OnStateChange
	n.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        id,
		MaxRequests: bs.HalfOpenRequests,
		Timeout:     bs.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= bs.ConsecutiveFailures
		},
		IsExcluded: func(err error) bool { return err == errAbandoned },
		OnStateChange: func(name string, from, to gobreaker.State) {
			n.breakerClosed.Store(to == gobreaker.StateClosed)
			n.breakerOpen.Store(to == gobreaker.StateOpen)
			if onChange != nil {
				onChange(name, breakerState(from), breakerState(to))
			}
		},
	})
	return n
}

// Available reports whether the node may be selected: healthy, not
// ejected as an outlier, and its breaker not open. Policies look at this,
// Outstanding, LatencyEWMA and, during slow start, Weight.
func (n *Node) Available() bool {
	return !n.ejected.Load() && n.serving()
}

// serving reports whether the node is healthy and its breaker not open:
// available but for outlier ejection.
func (n *Node) serving() bool {
	// An open breaker turns half-open when asked after its timeout: ask.
	return n.healthy.Load() && (!n.breakerOpen.Load() || n.breaker.State() != gobreaker.StateOpen)
}

// Outstanding is the number of requests sent to the node and not finished.
func (n *Node) Outstanding() int64 { return n.outstanding.Load() }

// Healthy reports the node's health as last decided by checks.
func (n *Node) Healthy() bool { return n.healthy.Load() }

// Breaker reports the node's circuit breaker state.
func (n *Node) Breaker() BreakerState { return breakerState(n.breaker.State()) }

// Requests and Failures count finished requests and the transport failures among them.
func (n *Node) Requests() uint64 { return n.requests.Load() }

// Failures counts requests that ended in a transport failure or timeout.
func (n *Node) Failures() uint64 { return n.failures.Load() }

// Outcome is how a request to a node ended, from the transport's point of view.
type Outcome int

const (
	// Success: the node answered (any Riak answer, including notfound or an RpbErrorResp).
	Success Outcome = iota
	// Failure: dial error, reset, timeout, or a malformed answer. Counts against the breaker.
	Failure
	// Abandoned: the request ended for reasons that say nothing about the node
	// (the client went away, the director shut down). Not counted.
	Abandoned
)

// Lease is one request reserved on a node by Begin: the request counts as
// outstanding on the node until End reports its outcome. It is a value,
// kept with the request's own state, so that reserving a request costs no
// allocation. End it exactly once, from one goroutine: a second End of the
// same Lease does nothing, but a copy is a Lease of its own.
type Lease struct {
	n       *Node
	report  func(error) // the breaker's slot, when the breaker was asked
	untimed bool        // begun by BeginUntimed
}

// Begin reserves a request on the node: the breaker must allow it, and it
// counts as outstanding until the Lease's End.
func (n *Node) Begin() (Lease, error) { return n.begin(false) }

// BeginUntimed is Begin for a request whose answer may take long for
// reasons that are not the node's: a key listing, a MapReduce job, a
// search index that Riak creates on every node before it answers. It
// counts as outstanding, but while only such requests are in flight the
// node is not Stalled: a long listing is not a frozen node.
func (n *Node) BeginUntimed() (Lease, error) { return n.begin(true) }

func (n *Node) begin(untimed bool) (Lease, error) {
	// A closed breaker with no failure to forget allows every request, and
	// a success changes nothing in it: such a request asks the breaker
	// nothing unless it fails (lateReport). Otherwise (half-open: a
	// limited number of trial requests) the breaker decides.
	var report func(error)
	if !n.breakerClosed.Load() || n.consecFailures.Load() != 0 {
		var err error
		if report, err = n.breaker.Allow(); err != nil {
			return Lease{}, fmt.Errorf("%w: %s", ErrBreakerOpen, n.ID)
		}
	}
	if untimed {
		n.untimed.Add(1)
		n.outstanding.Add(1)
	} else if n.outstanding.Add(1)-n.untimed.Load() == 1 {
		n.progress.Store(n.clock()) // the first timed request in flight: its wait starts now
	}
	return Lease{n: n, report: report, untimed: untimed}, nil
}

// Node is the node the Lease reserved a request on; nil once ended (and
// for the zero Lease).
func (l *Lease) Node() *Node { return l.n }

// End reports the request's outcome and ends the lease.
func (l *Lease) End(o Outcome) {
	if n := l.n; n != nil && o == Success {
		l.end(o, n.clock())
		return
	}
	l.end(o, 0)
}

// EndAt is End for a caller that read the clock already: now is when the
// answer came (a time.Now reading).
func (l *Lease) EndAt(o Outcome, now time.Time) { l.end(o, mono(now)) }

// end is End with now, the node clock's reading of the answer (used only
// for a Success).
func (l *Lease) end(o Outcome, now int64) {
	n, report := l.n, l.report
	if n == nil {
		return
	}
	l.n, l.report = nil, nil
	n.outstanding.Add(-1)
	if l.untimed {
		n.untimed.Add(-1)
	}
	switch o {
	case Success:
		if prev := n.progress.Swap(now); prev != 0 && n.stallMark.Load() == prev {
			// This answer ends a silence counted as a stall episode.
			if d := now - prev - n.stallAfter.Load(); d > 0 {
				n.stalledNs.Add(d)
			}
		}
		n.requests.Add(1)
		if n.consecFailures.Load() != 0 { // others failed meanwhile: reset the breaker's count too
			n.consecFailures.Store(0)
			if report == nil {
				report = n.lateReport()
			}
		}
		if report != nil {
			report(nil)
		}
	case Failure:
		n.requests.Add(1)
		n.countFailure(report)
	default:
		// Neither success nor failure: frees a half-open slot without a verdict.
		if report != nil {
			report(errAbandoned)
		}
	}
}

// BookFailure counts a failure of the node learned after its request was
// booked as Abandoned: the node refused a request that another node then
// served, so the refusal was the node's own (a Riak node stopping), not
// the request's. It counts as a Failure outcome does, for the breaker
// and the outlier detector.
func (n *Node) BookFailure() { n.countFailure(nil) }

// countFailure counts a failure in the node's counters and its breaker,
// through report, the request's breaker slot, or a late one (nil).
func (n *Node) countFailure(report func(error)) {
	n.failures.Add(1)
	n.consecFailures.Add(1)
	if report == nil {
		report = n.lateReport()
	}
	if report != nil {
		report(errTransport)
	}
}

// lateReport takes a breaker slot for the outcome of a request begun
// without one, reported at once; nil when the breaker refuses (it opened
// meanwhile, and would have ignored the outcome of a request from before).
func (n *Node) lateReport() func(error) {
	report, err := n.breaker.Allow()
	if err != nil {
		return nil
	}
	return report
}

// SetStallAfter sets how long the node may have requests in flight without
// answering any before Stalled reports it; 0 turns stall detection off.
// The director sets it from the cluster's recent latency.
func (n *Node) SetStallAfter(d time.Duration) { n.stallAfter.Store(int64(max(d, 0))) }

// StallAfter is the threshold SetStallAfter set; 0: stall detection off.
func (n *Node) StallAfter() time.Duration { return time.Duration(n.stallAfter.Load()) }

// Stalled reports whether the node has requests in flight and has answered
// none of them (nor any other) for longer than SetStallAfter's duration:
// it is frozen or stuck right now, whatever its latency estimate says. A
// frozen node has few requests in flight, so an estimate weighted by them
// would keep sending it more; a stalled node gets none until it answers.
func (n *Node) Stalled() bool { return n.stalledAt(n.clock()) }

func (n *Node) stalledAt(now int64) bool {
	th := n.stallAfter.Load()
	if th <= 0 || n.outstanding.Load()-n.untimed.Load() <= 0 {
		return false // none in flight, or only untimed ones
	}
	p := n.progress.Load()
	if now-p <= th {
		return false
	}
	if n.stallMark.Swap(p) != p { // a new episode
		n.stalls.Add(1)
	}
	return true
}

// Stalls counts the separate times the node was seen stalled.
func (n *Node) Stalls() uint64 { return n.stalls.Load() }

// HealthThresholds decide when active checks flip a node's health.
// Zero values take the documented defaults.
type HealthThresholds struct {
	// Fails consecutive failed checks mark a healthy node unhealthy. Default 2.
	Fails int
	// Passes consecutive passed checks mark an unhealthy node healthy. Default 1.
	Passes int
}

func (h HealthThresholds) withDefaults() HealthThresholds {
	if h.Fails <= 0 {
		h.Fails = 2
	}
	if h.Passes <= 0 {
		h.Passes = 1
	}
	return h
}

// RecordCheck applies one active health check result and reports whether
// the node's health changed.
func (n *Node) RecordCheck(ok bool, th HealthThresholds) (changed bool) {
	th = th.withDefaults()
	n.healthMu.Lock()
	defer n.healthMu.Unlock()
	if n.checkFailing.Swap(!ok) && ok {
		n.backByCheck.Store(true)
	}
	if ok {
		n.healthFails = 0
		n.healthPasses++
		if !n.healthy.Load() && n.healthPasses >= th.Passes {
			n.healthy.Store(true)
			return true
		}
		return false
	}
	n.healthPasses = 0
	n.healthFails++
	if n.healthy.Load() && n.healthFails >= th.Fails {
		n.healthy.Store(false)
		return true
	}
	return false
}
