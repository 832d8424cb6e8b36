package director

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// latencyHist is a lock-free latency histogram with power-of-two
// microsecond buckets (bucket i holds latencies below 2^i µs), cheap
// enough to record every request: one atomic add.
type latencyHist struct {
	buckets [32]atomic.Uint64
}

func (h *latencyHist) record(d time.Duration) {
	us := uint64(d / time.Microsecond)
	i := bits.Len64(us)
	if i >= len(h.buckets) {
		i = len(h.buckets) - 1
	}
	h.buckets[i].Add(1)
}

// histSnapshot is a copy of a latencyHist's counts.
type histSnapshot struct {
	counts [32]uint64
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

// quantile returns the upper bound of the bucket holding quantile q
// (0 when there are no samples): accurate to a factor of two.
func (s histSnapshot) quantile(q float64) time.Duration {
	if s.total == 0 {
		return 0
	}
	rank := uint64(q*float64(s.total-1)) + 1
	var cum uint64
	for i, c := range s.counts {
		cum += c
		if cum >= rank {
			return time.Duration(uint64(1)<<i) * time.Microsecond
		}
	}
	return time.Duration(uint64(1)<<31) * time.Microsecond
}
