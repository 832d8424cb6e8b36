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

// snapshot copies the counts.
func (h *latencyHist) snapshot() (counts [32]uint64, total uint64) {
	if h == nil {
		return counts, 0
	}
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	return counts, total
}

// quantile returns the upper bound of the bucket holding quantile q
// (0 when there are no samples): accurate to a factor of two.
func (h *latencyHist) quantile(q float64) time.Duration {
	counts, total := h.snapshot()
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total-1)) + 1
	var cum uint64
	for i, c := range counts {
		cum += c
		if cum >= rank {
			return time.Duration(uint64(1)<<i) * time.Microsecond
		}
	}
	return time.Duration(uint64(1)<<31) * time.Microsecond
}
