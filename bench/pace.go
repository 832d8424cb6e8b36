package bench

import (
	"math"
	"time"
)

// schedule paces one worker of an open-loop run (Config.Rate): its
// operations start interval apart, the first one staggered by the
// worker's index so the workers together start one operation every
// interval/workers. A worker that falls behind starts at once, and its
// latency still counts from the start it was given, so a stall counts
// for every operation it held up (coordinated omission corrected, as in
// wrk2), not only for the one that met it.
type schedule struct {
	next     time.Time
	interval time.Duration
}

// newSchedule is worker's pacing of workers sharing rate operations per
// second from start.
func newSchedule(start time.Time, worker, workers int, rate float64) schedule {
	interval := time.Duration(float64(workers) / rate * float64(time.Second))
	interval = max(interval, time.Microsecond)
	offset := time.Duration(int64(interval) * int64(worker) / int64(max(workers, 1)))
	return schedule{next: start.Add(offset), interval: interval}
}

// take returns the scheduled start of the worker's next operation and
// moves the schedule on by one interval.
func (s *schedule) take() time.Time {
	t := s.next
	s.next = s.next.Add(s.interval)
	return t
}

// validRate reports whether r is a usable Config.Rate: 0 (closed loop)
// or a finite positive number of operations per second, at most 10
// million.
func validRate(r float64) bool {
	return r == 0 || (r > 0 && !math.IsInf(r, 0) && r <= 1e7)
}
