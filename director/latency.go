package director

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// latencyHist is a lock-free latency histogram with quarter-octave
// microsecond buckets (four per power of two, so a quantile is within
// 19%), cheap enough to record every request: one atomic add.
type latencyHist struct {
	buckets [histBuckets]atomic.Uint64
}

// histBuckets covers 0 to 2^31 µs (about 36 minutes) at four buckets per
// power of two.
const histBuckets = 124

// histIndex is the bucket of us microseconds: below 4 µs one bucket per
// µs; above, the power of two and the two bits after the leading one.
func histIndex(us uint64) int {
	if us < 4 {
		return int(us)
	}
	l := bits.Len64(us) // ≥ 3
	i := 4*(l-2) + int(us>>(l-3)&3)
	return min(i, histBuckets-1)
}

// histUpper is the upper bound of bucket i (exclusive), in µs.
func histUpper(i int) uint64 {
	if i < 4 {
		return uint64(i) + 1
	}
	l, top := i/4+2, uint64(i%4+4)
	return (top + 1) << (l - 3)
}

func (h *latencyHist) record(d time.Duration) {
	h.buckets[histIndex(uint64(max(d, 0)/time.Microsecond))].Add(1)
}

// nodeLatency is a node's request latency, in two histograms: timed
// requests' (objects, counters, data types, pings: reqInfo.timed, whose
// time is the node's), from which the hedge delay and the stall threshold
// are computed, and the others' (listings, queries, metadata, which take
// as long as their data), which only /metrics and /status add in. One
// record per request either way.
type nodeLatency struct{ timed, untimed latencyHist }

// record books one answered request of d.
func (l *nodeLatency) record(d time.Duration, timed bool) {
	if timed {
		l.timed.record(d)
	} else {
		l.untimed.record(d)
	}
}

// snapshot is every request's counts.
func (l *nodeLatency) snapshot() histSnapshot {
	s, u := l.timed.snapshot(), l.untimed.snapshot()
	s.add(&u)
	return s
}

// histSnapshot is a copy of a latencyHist's counts.
type histSnapshot struct {
	counts [histBuckets]uint64
	total  uint64
}

// snapshot copies the counts.
func (h *latencyHist) snapshot() (s histSnapshot) {
	if h == nil {
		return s
	}
	for i := range h.buckets {
		s.counts[i] = h.buckets[i].Load()
		s.total += s.counts[i]
	}
	return s
}

// add adds o's counts to s.
func (s *histSnapshot) add(o *histSnapshot) {
	for i := range s.counts {
		s.counts[i] += o.counts[i]
	}
	s.total += o.total
}

// since is s less an earlier snapshot of the same histograms: what was
// recorded in between.
func (s histSnapshot) since(earlier *histSnapshot) (d histSnapshot) {
	for i := range s.counts {
		d.counts[i] = s.counts[i] - min(s.counts[i], earlier.counts[i])
		d.total += d.counts[i]
	}
	return d
}

// quantile returns the upper bound of the bucket holding quantile q
// (0 when there are no samples).
func (s histSnapshot) quantile(q float64) time.Duration {
	if s.total == 0 {
		return 0
	}
	rank := uint64(q*float64(s.total-1)) + 1
	var cum uint64
	for i, c := range s.counts {
		cum += c
		if cum >= rank {
			return time.Duration(histUpper(i)) * time.Microsecond
		}
	}
	return time.Duration(histUpper(histBuckets-1)) * time.Microsecond
}

// promBuckets is s as Prometheus histogram buckets at powers of two
// microseconds (1 µs to 2^31 µs, upper bounds in seconds, cumulative), and
// the sum of the samples estimated from the bucket midpoints.
func (s *histSnapshot) promBuckets() (buckets map[float64]uint64, sum float64) {
	buckets = make(map[float64]uint64, 32)
	var cum uint64
	i := 0
	for k := range 32 {
		le := uint64(1) << k
		for ; i < histBuckets && histUpper(i) <= le; i++ {
			cum += s.counts[i]
			lower := uint64(0)
			if i > 0 {
				lower = histUpper(i - 1)
			}
			sum += float64(s.counts[i]) * float64(lower+histUpper(i)) / 2 / 1e6
		}
		buckets[float64(le)/1e6] = cum
	}
	return buckets, sum
}
