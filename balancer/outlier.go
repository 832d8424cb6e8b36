package balancer

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// OutlierSettings configure outlier ejection, as Envoy's outlier
// detection: EvaluateOutliers takes nodes that fail in a row or answer far
// slower than their peers out of rotation for a while, on top of the
// breakers. Zero values take the documented defaults.
type OutlierSettings struct {
	// Interval is how often the director is expected to call
	// EvaluateOutliers. Default 1s.
	Interval time.Duration
	// ConsecutiveFailures transport failures in a row eject a node.
	// Default 5; negative disables this check.
	ConsecutiveFailures int
	// LatencyFactor: a node whose latency estimate exceeds this multiple of
	// the median of its peers' is an outlier. Default 3; must exceed 1;
	// negative disables this check. The estimate judged is LatencyEWMA as
	// of the node's last answer: its decay while idle is how a policy
	// probes a node it avoids, not evidence that the node got faster.
	LatencyFactor float64
	// MinLatency: no node is ejected for a latency at or below this, so
	// loopback noise (0.1ms against 0.02ms) ejects nothing. Default 10ms.
	MinLatency time.Duration
	// MinRequests finished requests are needed to judge a node's latency:
	// counted since its latency was last judged acceptable or since it
	// came back, so a node the policy avoids is judged once it has new
	// evidence, never again on old evidence. Default 5.
	MinRequests int
	// The latency and stall checks compare a node with its peers, so one
	// evaluation's noise (a node's first answers, a GC pause) can make it
	// stand out: a node is ejected by them only when it stands out in two
	// evaluations in a row, or once while an earlier ejection is not yet
	// forgiven (its multiplier above zero: it has shown this before).
	// Failures in a row eject at once.
	//
	// StallEpisodes: a node seen stalled (Node.Stalled: requests in flight,
	// none answered for longer than most requests take) this many
	// separate times within one Interval, while the median of its peers'
	// episodes is at most a third of that, is an outlier: it freezes again
	// and again, which its latency estimate, weighted down by the few
	// requests it gets, does not show. Default 3; negative disables this
	// check (and the next).
	StallEpisodes int
	// StalledShare: a node stalled, past the threshold, for at least this
	// share of the time since the previous evaluation, and at least three
	// times its peers' median share, is an outlier too. Where every node
	// is seen stalled now and then (a loaded machine), a node that
	// freezes half the time stalls not much more often than its peers,
	// but far longer. Default 0.2; at most 1.
	StalledShare float64
	// BaseEjection is how long the first ejection in a row lasts; the k-th
	// lasts k×BaseEjection, at most MaxEjection. The count steps down by one
	// for every BaseEjection+SlowStart a node stays in and finishes at least
	// MinRequests requests: a node avoided by the policy is not forgiven
	// without evidence. Default 30s, as Envoy's: a node that freezes again
	// and again (the degraded compare) is back in rotation, and holding
	// up the requests it gets, between its ejections, so a short first
	// ejection let it hurt every few seconds (see docs/performance.md).
	BaseEjection time.Duration
	// MaxEjection caps an ejection. Default 300s, as Envoy's; at least
	// BaseEjection.
	MaxEjection time.Duration
	// MaxEjectedPercent of the nodes at most are ejected at once, but, as
	// in Envoy, one node may always be (so one of two can be). The last
	// available node never is. Default 34, so two thirds of a set of three
	// or more stay in.
	MaxEjectedPercent int
	// A node ejected for transport failures in a row is let back in
	// before its ejection ends once its active health check (Node.
	// RecordCheck) has failed and then passed again since it was ejected:
	// it was down, as a killed and restarted Riak node is, and answers
	// again, so the ejection its outage caused does not keep it out (as
	// Envoy lets an active health check uneject a host). A node ejected
	// for latency or stalls answers its checks all along: it serves its
	// whole ejection.
	//
	// SlowStart: after its ejection a node's Weight, the chance a policy
	// considers it, rises linearly from 10% to 100% over this. Default 5s.
	SlowStart time.Duration
}

// Outlier ejection defaults; see OutlierSettings.
const (
	DefaultOutlierInterval     = time.Second
	DefaultConsecutiveFailures = 5
	DefaultLatencyFactor       = 3.0
	DefaultMinLatency          = 10 * time.Millisecond
	DefaultMinRequests         = 5
	DefaultStallEpisodes       = 3
	DefaultStalledShare        = 0.2
	DefaultBaseEjection        = 30 * time.Second
	DefaultMaxEjection         = 300 * time.Second
	DefaultMaxEjectedPercent   = 34
	DefaultSlowStart           = 5 * time.Second
)

// minSlowStartWeight is a node's Weight as its slow start begins.
const minSlowStartWeight = 0.1

// Validate reports settings that cannot work.
func (o OutlierSettings) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"interval", o.Interval}, {"min latency", o.MinLatency}, {"base ejection", o.BaseEjection}, {"max ejection", o.MaxEjection}, {"slow start", o.SlowStart}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("negative outlier %s %v", d.name, d.v))
		}
	}
	if math.IsNaN(o.LatencyFactor) || math.IsInf(o.LatencyFactor, 0) || (o.LatencyFactor > 0 && o.LatencyFactor <= 1) {
		errs = append(errs, fmt.Errorf("outlier latency factor %v: want more than 1 (or 0 for the default, negative to disable)", o.LatencyFactor))
	}
	if math.IsNaN(o.StalledShare) || o.StalledShare < 0 || o.StalledShare > 1 {
		errs = append(errs, fmt.Errorf("outlier stalled share %v: want 0 to 1 (0 for the default)", o.StalledShare))
	}
	if o.MinRequests < 0 {
		errs = append(errs, fmt.Errorf("negative outlier min requests %d", o.MinRequests))
	}
	if o.MaxEjectedPercent < 0 || o.MaxEjectedPercent > 100 {
		errs = append(errs, fmt.Errorf("outlier max ejected percent %d: want 0 to 100", o.MaxEjectedPercent))
	}
	if d := o.withDefaults(); len(errs) == 0 && d.MaxEjection < d.BaseEjection {
		errs = append(errs, fmt.Errorf("outlier max ejection %v below base ejection %v", d.MaxEjection, d.BaseEjection))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("balancer: %w", err)
	}
	return nil
}

func (o OutlierSettings) withDefaults() OutlierSettings {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Interval, DefaultOutlierInterval)
	def(&o.MinLatency, DefaultMinLatency)
	def(&o.BaseEjection, DefaultBaseEjection)
	def(&o.MaxEjection, DefaultMaxEjection)
	def(&o.SlowStart, DefaultSlowStart)
	if o.ConsecutiveFailures == 0 {
		o.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if o.LatencyFactor == 0 {
		o.LatencyFactor = DefaultLatencyFactor
	}
	if o.MinRequests == 0 {
		o.MinRequests = DefaultMinRequests
	}
	if o.StallEpisodes == 0 {
		o.StallEpisodes = DefaultStallEpisodes
	}
	if o.StalledShare == 0 {
		o.StalledShare = DefaultStalledShare
	}
	if o.MaxEjectedPercent == 0 {
		o.MaxEjectedPercent = DefaultMaxEjectedPercent
	}
	return o
}

// ejectionTime is how long the k-th ejection in a row lasts.
func (o OutlierSettings) ejectionTime(k int) time.Duration {
	if k <= 0 {
		k = 1
	}
	if time.Duration(k) > o.MaxEjection/o.BaseEjection {
		return o.MaxEjection
	}
	return min(time.Duration(k)*o.BaseEjection, o.MaxEjection)
}

// maxEjected is how many of total nodes may be ejected at once.
func (o OutlierSettings) maxEjected(total int) int {
	return max(1, total*o.MaxEjectedPercent/100)
}

// SetOutlierSettings replaces the set's outlier settings (zero values take
// the defaults), used from the next EvaluateOutliers on.
func (s *Set) SetOutlierSettings(o OutlierSettings) error {
	if err := o.Validate(); err != nil {
		return err
	}
	s.outlierMu.Lock()
	defer s.outlierMu.Unlock()
	s.outlier = o.withDefaults()
	return nil
}

// OutlierSettings returns the settings in force, defaults filled in (the
// director's evaluation interval is Interval).
func (s *Set) OutlierSettings() OutlierSettings {
	s.outlierMu.Lock()
	defer s.outlierMu.Unlock()
	return s.outlier.withDefaults()
}

// EvaluateOutliers ejects the nodes that are outliers now and restores
// those whose ejection has ended, returning both. The director calls it
// every Interval from one goroutine; it judges from what nodes reported
// (Begin's outcomes, ObserveLatency) since earlier calls. An ejection
// ends at the first call at or after EjectedUntil.
func (s *Set) EvaluateOutliers(now time.Time) (ejected, restored []*Node) {
	s.outlierMu.Lock()
	defer s.outlierMu.Unlock()
	o := s.outlier.withDefaults()
	nodes := s.Nodes()
	stats := make([]nodeStats, len(nodes))
	totals := make([]uint64, len(nodes))
	for i, n := range nodes {
		stats[i], totals[i] = n.outlierStats(now)
	}
	for i, v := range decideOutliers(stats, o, now) {
		n := nodes[i]
		switch {
		case v.restore:
			n.restore(now, o.SlowStart, v)
			restored = append(restored, n)
		case v.eject:
			n.eject(v)
			ejected = append(ejected, n)
		default:
			n.outlierMu.Lock()
			n.multiplier, n.cleanSince, n.standsOut = v.multiplier, v.cleanSince, v.standsOut
			if v.judged {
				n.evidenceFrom = totals[i]
			}
			if v.steppedDown {
				n.cleanFrom = totals[i]
			}
			n.outlierMu.Unlock()
		}
	}
	return ejected, restored
}

// nodeStats is what decideOutliers knows of a node.
type nodeStats struct {
	available           bool // healthy and breaker not open, ejection aside
	ejected             bool
	until               time.Time // the end of the current ejection
	backByCheck         bool      // ejected for failures, its check failed and passed since
	multiplier          int       // ejections in a row
	cleanSince          time.Time // in, with no step down of multiplier, since
	sinceClean          uint64    // requests finished since cleanSince
	consecutiveFailures uint64
	requests            uint64        // finished in the latency evidence window
	latency             time.Duration // LatencyEWMA as of the last answer; 0 unknown
	stalls              uint64        // stall episodes since the previous evaluation
	stalledFor          time.Duration // time stalled past the threshold since then
	window              time.Duration // since then (0: no previous evaluation)
	stoodOut            bool          // the previous evaluation found it slow or stalling beyond its peers
}

// verdict is decideOutliers' decision for one node.
type verdict struct {
	restore, eject bool
	forFailures    bool      // of an ejection: for transport failures in a row
	until          time.Time // of the new ejection
	multiplier     int
	cleanSince     time.Time
	steppedDown    bool   // multiplier stepped down: cleanSince is now
	judged         bool   // latency judged acceptable: open a new evidence window
	standsOut      bool   // slow or stalling beyond its peers now: ejectable if it stood out before
	why            string // of an ejection: the check and its figures
}

// decideOutliers is the pure decision of EvaluateOutliers: o has its
// defaults filled in, and verdicts come back in the order of stats.
func decideOutliers(stats []nodeStats, o OutlierSettings, now time.Time) []verdict {
	vs := make([]verdict, len(stats))
	in := make([]bool, len(stats)) // in rotation after this call's restores
	ejectedNow, availableNow := 0, 0
	for i, s := range stats {
		v := &vs[i]
		v.multiplier, v.cleanSince = s.multiplier, s.cleanSince
		switch {
		case s.ejected && (!now.Before(s.until) || s.backByCheck):
			// The others are not compared in this call (below): their
			// counts of this interval were made while they carried its
			// load. Without this, the call that let a frozen node back in
			// ejected a healthy one that had stalled under the extra
			// load, leaving the frozen one in rotation. Failures in a row
			// are no such comparison: they still eject, since the node
			// let back in is in rotation and holds no place in the limit.
			v.restore, v.cleanSince = true, now
		case s.ejected:
			ejectedNow++
			continue
		case s.multiplier > 0 && now.Sub(s.cleanSince) >= o.BaseEjection+o.SlowStart && s.sinceClean >= uint64(o.MinRequests):
			v.multiplier, v.cleanSince, v.steppedDown = s.multiplier-1, now, true
		}
		in[i] = true
		if s.available {
			availableNow++
		}
	}

	// Peers' latencies: nodes in rotation with a known estimate. A node
	// just restored is unknown (EvaluateOutliers forgets its estimate).
	var peers []float64
	for i, s := range stats {
		if in[i] && !vs[i].restore && s.latency > 0 {
			peers = append(peers, float64(s.latency))
		}
	}
	slices.Sort(peers)
	var peerStalls, peerShares []float64
	for i, s := range stats {
		if in[i] && !vs[i].restore {
			peerStalls = append(peerStalls, float64(s.stalls))
			peerShares = append(peerShares, s.stalledShare())
		}
	}
	slices.Sort(peerStalls)
	slices.Sort(peerShares)

	type candidate struct {
		i        int
		failures bool
		severity float64
		why      string
	}
	var cands []candidate
	restoring := slices.ContainsFunc(vs, func(v verdict) bool { return v.restore })
	for i, s := range stats {
		if !in[i] || vs[i].restore {
			continue // a restored node's counts predate its comeback
		}
		if o.ConsecutiveFailures > 0 && s.consecutiveFailures >= uint64(o.ConsecutiveFailures) {
			cands = append(cands, candidate{i, true, float64(s.consecutiveFailures),
				fmt.Sprintf("%d transport failures in a row", s.consecutiveFailures)})
			continue
		}
		if restoring {
			// The others' latencies and stalls of this interval were made
			// while they carried the restored node's load: no comparison.
			continue
		}
		if o.StallEpisodes > 0 {
			if why, severity, ok := stallsStandOut(s, o, peerStalls, peerShares); ok {
				vs[i].standsOut = true
				if s.stoodOut || s.multiplier > 0 {
					cands = append(cands, candidate{i, false, severity, why})
				}
				continue
			}
		}
		if o.LatencyFactor <= 0 || s.requests < uint64(o.MinRequests) || s.latency <= 0 {
			continue
		}
		med, ok := medianWithout(peers, float64(s.latency))
		if !ok {
			continue // no peer to compare with
		}
		if s.latency > o.MinLatency && float64(s.latency) > o.LatencyFactor*med {
			vs[i].standsOut = true
			if s.stoodOut || s.multiplier > 0 {
				cands = append(cands, candidate{i, false, float64(s.latency) / med,
					fmt.Sprintf("latency %v at its last answer, %.1fx its peers' median %v", s.latency.Round(10*time.Microsecond), float64(s.latency)/med, time.Duration(med).Round(10*time.Microsecond))})
			}
		} else {
			vs[i].judged = true
		}
	}
	// A node that stands out now is not forgiven an ejection now.
	for i, s := range stats {
		if v := &vs[i]; v.standsOut && v.steppedDown {
			v.multiplier, v.cleanSince, v.steppedDown = s.multiplier, s.cleanSince, false
		}
	}
	// Available nodes first (ejecting them changes routing), failures before
	// latency, the worst first.
	slices.SortFunc(cands, func(a, b candidate) int {
		if sa, sb := stats[a.i].available, stats[b.i].available; sa != sb {
			if sa {
				return -1
			}
			return 1
		}
		if a.failures != b.failures {
			if a.failures {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.severity, a.severity), cmp.Compare(a.i, b.i))
	})
	limit := o.maxEjected(len(stats))
	for _, c := range cands {
		if ejectedNow >= limit {
			break
		}
		s := stats[c.i]
		if s.available {
			if availableNow <= 1 {
				continue // never the last available node
			}
			availableNow--
		}
		ejectedNow++
		v := &vs[c.i]
		v.eject, v.why, v.forFailures = true, c.why, c.failures
		v.multiplier = min(s.multiplier+1, maxMultiplier(o))
		v.until = now.Add(o.ejectionTime(v.multiplier))
	}
	return vs
}

// stallsStandOut is the stall check of a node against its peers' sorted
// stall episodes and stalled shares: stalled at least StallEpisodes
// times and three times its peers' median, or at least StalledShare of
// the window and three times its peers' median share.
func stallsStandOut(s nodeStats, o OutlierSettings, peerStalls, peerShares []float64) (why string, severity float64, ok bool) {
	if s.stalls >= uint64(o.StallEpisodes) {
		if med, ok := medianWithout(peerStalls, float64(s.stalls)); ok && 3*med <= float64(s.stalls) {
			return fmt.Sprintf("stalled %d times in the interval, its peers' median %g", s.stalls, med), float64(s.stalls) / max(med, 1), true
		}
	}
	if share := s.stalledShare(); share > 0 && share >= o.StalledShare {
		if med, ok := medianWithout(peerShares, share); ok && 3*med <= share {
			return fmt.Sprintf("stalled %.0f%% of the interval (%d times), its peers' median %.0f%%", 100*share, s.stalls, 100*med), share / max(med, 0.01), true
		}
	}
	return "", 0, false
}

// stalledShare is the share of the window the node spent stalled past
// the threshold (0 without a window).
func (s nodeStats) stalledShare() float64 {
	if s.window <= 0 {
		return 0
	}
	return min(float64(s.stalledFor)/float64(s.window), 1)
}

// maxMultiplier bounds the ejection count past which MaxEjection applies.
func maxMultiplier(o OutlierSettings) int {
	return int(min(o.MaxEjection/o.BaseEjection+1, 1<<20))
}

// medianWithout returns the median of sorted with one occurrence of v
// removed; ok is false when nothing remains.
func medianWithout(sorted []float64, v float64) (m float64, ok bool) {
	j, found := slices.BinarySearch(sorted, v)
	n := len(sorted)
	if found {
		n--
	}
	if n <= 0 {
		return 0, false
	}
	at := func(k int) float64 { // k-th of sorted without index j
		if found && k >= j {
			k++
		}
		return sorted[k]
	}
	if n%2 == 1 {
		return at(n / 2), true
	}
	return (at(n/2-1) + at(n/2)) / 2, true
}

// outlierStats snapshots the node for decideOutliers, with its total of
// finished requests, and opens the next window of stall episodes.
func (n *Node) outlierStats(now time.Time) (nodeStats, uint64) {
	n.outlierMu.Lock()
	defer n.outlierMu.Unlock()
	total := n.requests.Load()
	// Time stalled in the window: the episodes ended since (less what the
	// last evaluation counted of one then still on: it is in stalledNs now,
	// or lost with an episode that ended without an answer), plus the part
	// past the threshold of one still on.
	ended := n.stalledNs.Load()
	stalled := ended - n.stalledFrom - n.ongoingNs
	n.stalledFrom, n.ongoingNs = ended, 0
	if m := mono(now); n.stalledAt(m) {
		if d := m - n.progress.Load() - n.stallAfter.Load(); d > 0 {
			stalled += d
			n.ongoingNs = d
		}
	}
	stalls := n.stalls.Load() // after stalledAt: an episode it finds is this window's
	since := stalls - min(n.stallsFrom, stalls)
	n.stallsFrom = stalls
	var window time.Duration
	if !n.statsAt.IsZero() {
		window = now.Sub(n.statsAt)
	}
	n.statsAt = now
	return nodeStats{
		available:           n.serving(),
		ejected:             n.ejected.Load(),
		until:               n.ejectedUntil,
		backByCheck:         n.forFailures && n.backByCheck.Load(),
		multiplier:          n.multiplier,
		cleanSince:          n.cleanSince,
		sinceClean:          total - min(n.cleanFrom, total),
		consecutiveFailures: n.consecFailures.Load(),
		requests:            total - min(n.evidenceFrom, total),
		latency:             time.Duration(n.latency.observed(mono(now), n.tau)),
		stalls:              since,
		stalledFor:          time.Duration(max(stalled, 0)),
		window:              window,
		stoodOut:            n.standsOut,
	}, total
}

func (n *Node) eject(v verdict) {
	n.outlierMu.Lock()
	defer n.outlierMu.Unlock()
	n.ejectedUntil, n.multiplier, n.cleanSince, n.standsOut = v.until, v.multiplier, v.cleanSince, false
	n.ejectReason, n.forFailures = v.why, v.forFailures
	n.backByCheck.Store(false)
	n.ejected.Store(true)
	n.ejections.Add(1)
}

// EjectionReason says why the node was last ejected: the check and its
// figures (empty if it never was).
func (n *Node) EjectionReason() string {
	n.outlierMu.Lock()
	defer n.outlierMu.Unlock()
	return n.ejectReason
}

// restore brings the node back at slow-start weight with its failure run
// and latency estimate forgotten: what it does from now on is the evidence.
func (n *Node) restore(now time.Time, slowStart time.Duration, v verdict) {
	n.outlierMu.Lock()
	defer n.outlierMu.Unlock()
	n.ejectedUntil, n.multiplier, n.cleanSince, n.standsOut = time.Time{}, v.multiplier, v.cleanSince, false
	n.forFailures = false
	n.backByCheck.Store(false)
	n.consecFailures.Store(0)
	n.evidenceFrom = n.requests.Load()
	n.cleanFrom = n.evidenceFrom
	n.latency.reset()
	start := mono(now)
	n.ramp.Store(&slowStartRamp{start: start, end: start + int64(slowStart)})
	n.ejected.Store(false) // last: never seen back at full weight
}

// SlowStart gives the node a slow start of d from now (its Weight rises
// from 0.1 to 1), unless it is ejected: for a node that has just come
// back and may still be catching up (a Riak node whose partitions are
// being handed back), so it takes its share of traffic gradually.
func (n *Node) SlowStart(now time.Time, d time.Duration) {
	if d <= 0 || n.ejected.Load() {
		return
	}
	start := mono(now)
	n.ramp.Store(&slowStartRamp{start: start, end: start + int64(d)})
}

// Ejected reports whether the node is ejected as an outlier.
func (n *Node) Ejected() bool { return n.ejected.Load() }

// EjectedUntil returns when the node's ejection ends, or the zero time if
// it is not ejected. It is restored at the first EvaluateOutliers after.
func (n *Node) EjectedUntil() time.Time {
	n.outlierMu.Lock()
	defer n.outlierMu.Unlock()
	if !n.ejected.Load() {
		return time.Time{}
	}
	return n.ejectedUntil
}

// Ejections counts the node's ejections so far.
func (n *Node) Ejections() uint64 { return n.ejections.Load() }

// Weight is the chance that a policy considers the node for a pick: 0
// while ejected, rising linearly from 0.1 to 1 over its slow start after,
// 1 otherwise.
func (n *Node) Weight() float64 { return n.weightAt(n.clock()) }

func (n *Node) weightAt(now int64) float64 {
	if n.ejected.Load() {
		return 0
	}
	if r := n.ramp.Load(); r != nil {
		return r.weight(now)
	}
	return 1
}

// admit decides whether a policy may consider the node for this pick: a
// node in slow start with weight w passes with probability w. At full
// weight it costs one atomic load and no random draw.
func (n *Node) admit() bool {
	r := n.ramp.Load()
	if r == nil {
		return true
	}
	w := r.weight(n.clock())
	if w >= 1 {
		n.ramp.CompareAndSwap(r, nil) // the ramp is over
		return true
	}
	return rand.Float64() < w
}

// slowStartRamp is a node's slow start, in clock nanoseconds. Immutable.
type slowStartRamp struct{ start, end int64 }

func (r *slowStartRamp) weight(now int64) float64 {
	if now >= r.end {
		return 1
	}
	f := max(float64(now-r.start)/float64(r.end-r.start), 0)
	return minSlowStartWeight + (1-minSlowStartWeight)*f
}
