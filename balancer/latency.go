package balancer

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultLatencyDecay is the default time constant τ of a node's latency
// estimate. An idle estimate falls by e every τ, so a node that stalled
// and was avoided is probed again within a few seconds of its peers'
// latency (50 ms against 1 ms peers: about 8 s), and after staleDecays·τ
// at the latest.
const DefaultLatencyDecay = 2 * time.Second

// staleDecays is how many time constants without an observation make an
// estimate unknown again: by then it says nothing, and an unknown node
// gets a fair share instead of the flood a near-zero estimate would draw.
const staleDecays = 5

// LatencySettings configure each node's latency estimate. Zero values take
// the documented defaults.
type LatencySettings struct {
	// Decay is the time constant τ of the peak-sensitive EWMA. Default 2s.
	Decay time.Duration
}

// Validate reports settings that cannot work.
func (s LatencySettings) Validate() error {
	if s.Decay < 0 {
		return fmt.Errorf("balancer: negative latency decay %v", s.Decay)
	}
	return nil
}

func (s LatencySettings) withDefaults() LatencySettings {
	if s.Decay == 0 {
		s.Decay = DefaultLatencyDecay
	}
	return s
}

// epoch anchors the package's monotonic clock: times are nanoseconds since it.
var epoch = time.Now()

// nanotime is the default node clock: monotonic nanoseconds since epoch.
func nanotime() int64 { return int64(time.Since(epoch)) }

// mono converts t to the package's clock (monotonically when t carries a
// monotonic reading, as time.Now's do).
func mono(t time.Time) int64 { return int64(t.Sub(epoch)) }

// peakEWMA is a peak-sensitive, time-weighted moving average of latency,
// as in Finagle's and Linkerd's PeakEWMA. Writers serialise on mu; readers
// (every Select) take no lock: seq is odd while a write is in progress, so
// a reader retries, and after a few tries waits on mu like a writer.
type peakEWMA struct {
	mu    sync.Mutex
	seq   atomic.Uint32
	bits  atomic.Uint64 // math.Float64bits of the value in ns as of stamp; 0: no observation
	stamp atomic.Int64  // clock reading of the last observation
}

func (e *peakEWMA) load() (v float64, stamp int64) {
	for range 4 {
		s := e.seq.Load()
		if s&1 == 0 {
			v, stamp = math.Float64frombits(e.bits.Load()), e.stamp.Load()
			if e.seq.Load() == s {
				return v, stamp
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return math.Float64frombits(e.bits.Load()), e.stamp.Load()
}

func (e *peakEWMA) store(v float64, stamp int64) {
	e.seq.Add(1)
	e.bits.Store(math.Float64bits(v))
	e.stamp.Store(stamp)
	e.seq.Add(1)
}

// decayed is the estimate v (as of stamp) seen at now, with the weight
// exp(-Δt/τ) it decayed by; 0 when there is none or it went stale.
func decayed(v float64, stamp, now int64, tau float64) (cur, w float64) {
	if v == 0 {
		return 0, 0
	}
	dt := float64(max(now-stamp, 0))
	if dt >= staleDecays*tau {
		return 0, 0
	}
	w = math.Exp(-dt / tau)
	return v * w, w
}

// at returns the estimate at now in nanoseconds, 0 for unknown.
func (e *peakEWMA) at(now int64, tau float64) float64 {
	v, stamp := e.load()
	cur, _ := decayed(v, stamp, now, tau)
	return cur
}

// observed returns the estimate as of its last observation, not decayed
// by idleness since, in nanoseconds; 0 when unknown or stale at now.
func (e *peakEWMA) observed(now int64, tau float64) float64 {
	v, stamp := e.load()
	if cur, _ := decayed(v, stamp, now, tau); cur == 0 {
		return 0
	}
	return v
}

// observe records one latency of rtt nanoseconds (> 0) seen at now. A peak
// replaces the estimate at once; a lower value pulls it down with weight
// exp(-Δt/τ), Δt being the time since the previous observation.
func (e *peakEWMA) observe(rtt float64, now int64, tau float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, stamp := math.Float64frombits(e.bits.Load()), e.stamp.Load()
	cur, w := decayed(v, stamp, now, tau)
	if rtt >= cur {
		v = rtt
	} else {
		v = cur*w + rtt*(1-w)
	}
	e.store(v, max(now, stamp))
}

// reset forgets the estimate: the node's latency is unknown again.
func (e *peakEWMA) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.store(0, 0)
}

// ObserveLatency records one finished attempt that got an answer or timed
// out, d being the time from sending to the answer or the timeout; the
// director calls it once per such attempt. It takes a short per-node lock
// and does not allocate.
func (n *Node) ObserveLatency(d time.Duration) {
	n.observeLatencyAt(d, n.clock())
}

// ObserveLatencyAt is ObserveLatency for a caller that has read the clock
// at the answer already (now, from time.Now): it saves a reading.
func (n *Node) ObserveLatencyAt(d time.Duration, now time.Time) {
	n.observeLatencyAt(d, mono(now))
}

func (n *Node) observeLatencyAt(d time.Duration, now int64) {
	if d < 0 {
		return
	}
	// 0 means "no observation", so the fastest answer counts as 1ns.
	n.latency.observe(float64(max(d, 1)), now, n.tau)
}

// LatencyEWMA returns the node's latency estimate decayed to now: it falls
// while the node gets no answers, so a node avoided for being slow is
// probed again. 0 means unknown: no observation yet, or none for five
// decay constants.
func (n *Node) LatencyEWMA() time.Duration {
	return time.Duration(n.latencyAt(n.clock()))
}

func (n *Node) latencyAt(now int64) float64 { return n.latency.at(now, n.tau) }
