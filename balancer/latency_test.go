package balancer

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable node clock, so tests inject time instead of sleeping.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(int64(time.Hour)) // well after epoch, like a real reading
	return c
}

func (c *fakeClock) now() int64              { return c.ns.Load() }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// time is the clock's reading as a time.Time, for EvaluateOutliers.
func (c *fakeClock) time() time.Time { return epoch.Add(time.Duration(c.ns.Load())) }

// attach makes ns read c; call it before the nodes are shared.
func (c *fakeClock) attach(ns ...*Node) {
	for _, n := range ns {
		n.clock = c.now
	}
}

func near(got, want time.Duration) bool {
	return math.Abs(float64(got-want)) <= 0.001*float64(want)+1
}

func TestLatencyEWMAPeakAndDecay(t *testing.T) {
	c := newFakeClock()
	n := nodes("a")[0]
	c.attach(n)
	if got := n.LatencyEWMA(); got != 0 {
		t.Fatalf("no observation reads %v, want 0 (unknown)", got)
	}
	n.ObserveLatency(10 * time.Millisecond)
	if got := n.LatencyEWMA(); got != 10*time.Millisecond {
		t.Fatalf("first observation reads %v, want 10ms", got)
	}
	// A peak replaces the estimate at once.
	c.advance(time.Millisecond)
	n.ObserveLatency(50 * time.Millisecond)
	if got := n.LatencyEWMA(); got != 50*time.Millisecond {
		t.Fatalf("after a 50ms peak reads %v, want 50ms", got)
	}
	// Idle, it decays by e per τ (2s by default), read lazily.
	c.advance(DefaultLatencyDecay)
	if got, want := n.LatencyEWMA(), ms(50/math.E); !near(got, want) {
		t.Fatalf("after τ idle reads %v, want %v", got, want)
	}
	// A lower observation pulls the current value down by weight
	// exp(-Δt/τ), Δt since the previous observation (2.2s), not below the
	// observation.
	before := n.LatencyEWMA()
	c.advance(200 * time.Millisecond)
	cur := n.LatencyEWMA()
	w := math.Exp(-1.1)
	n.ObserveLatency(time.Millisecond)
	want := time.Duration(float64(cur)*w + float64(time.Millisecond)*(1-w))
	if got := n.LatencyEWMA(); !near(got, want) || got >= before || got < time.Millisecond {
		t.Fatalf("after a lower observation reads %v, want %v (below %v, at least 1ms)", got, want, before)
	}
	// Five decay constants without an observation: unknown again.
	c.advance(staleDecays*DefaultLatencyDecay - time.Millisecond)
	if n.LatencyEWMA() == 0 {
		t.Fatal("estimate unknown before 5τ")
	}
	c.advance(time.Millisecond)
	if got := n.LatencyEWMA(); got != 0 {
		t.Fatalf("after 5τ idle reads %v, want 0 (unknown)", got)
	}
	// After staleness the next observation is the estimate.
	n.ObserveLatency(3 * time.Millisecond)
	if got := n.LatencyEWMA(); got != 3*time.Millisecond {
		t.Fatalf("first observation after staleness reads %v, want 3ms", got)
	}
}

func TestObserveLatencyEdges(t *testing.T) {
	c := newFakeClock()
	n := nodes("a")[0]
	c.attach(n)
	n.ObserveLatency(-time.Second)
	if got := n.LatencyEWMA(); got != 0 {
		t.Fatalf("negative observation recorded: %v", got)
	}
	n.ObserveLatency(0)
	if got := n.LatencyEWMA(); got != 1 {
		t.Fatalf("zero observation reads %v, want 1ns (known)", got)
	}
	// An observation stamped before the last one (a racing writer) counts
	// as if at the same time and does not move the stamp back.
	n.ObserveLatency(time.Millisecond)
	n.observeLatencyAt(5*time.Millisecond, c.now()-int64(time.Second))
	if got := n.LatencyEWMA(); got != 5*time.Millisecond {
		t.Fatalf("late peak reads %v, want 5ms", got)
	}
}

func TestLatencyDecaySetting(t *testing.T) {
	if err := (BreakerSettings{Latency: LatencySettings{Decay: -time.Second}}).Validate(); err == nil {
		t.Fatal("negative decay validated")
	}
	c := newFakeClock()
	n := NewNode("a", "", "", BreakerSettings{Latency: LatencySettings{Decay: 100 * time.Millisecond}})
	c.attach(n)
	n.ObserveLatency(10 * time.Millisecond)
	c.advance(100 * time.Millisecond)
	if got, want := n.LatencyEWMA(), ms(10/math.E); !near(got, want) {
		t.Fatalf("with τ=100ms after 100ms reads %v, want %v", got, want)
	}
}

func TestLatencyConcurrentObserveAndRead(t *testing.T) {
	n := nodes("a")[0]
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Before the first observation: the decay a read shows is since the
	// last one, which may not be later than this.
	start := time.Now()
	for i := range 2 {
		wg.Go(func() {
			d := time.Duration(i+1) * time.Millisecond
			for {
				select {
				case <-stop:
					return
				default:
				}
				n.ObserveLatency(d)
			}
		})
	}
	defer wg.Wait()
	defer close(stop)
	for deadline := start.Add(100 * time.Millisecond); time.Now().Before(deadline); {
		// Every read lies within the observed range, less the idle decay
		// since the last observation (at most the time since the start:
		// an observer may be descheduled on a loaded machine): never a
		// torn value.
		got := n.LatencyEWMA()
		least := time.Duration(float64(time.Millisecond) * math.Exp(-float64(time.Since(start))/float64(DefaultLatencyDecay)))
		if got != 0 && (got < least || got > 2*time.Millisecond) {
			t.Fatalf("read %v outside the observed 1–2ms (less decay: at least %v)", got, least)
		}
	}
}

func TestObserveLatencyDoesNotAllocate(t *testing.T) {
	n := nodes("a")[0]
	if a := testing.AllocsPerRun(1000, func() {
		n.ObserveLatency(time.Millisecond)
		_ = n.LatencyEWMA()
	}); a != 0 {
		t.Fatalf("ObserveLatency+LatencyEWMA allocate %v per run", a)
	}
}

// ms converts fractional milliseconds to a Duration.
func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

// TestObserveLatencyAt: an observation stamped with the caller's reading
// weighs as one stamped by the node's clock at that moment.
func TestObserveLatencyAt(t *testing.T) {
	c := newFakeClock()
	n := nodes("a")[0]
	c.attach(n)
	t0 := c.time()
	n.ObserveLatencyAt(50*time.Millisecond, t0)
	c.advance(DefaultLatencyDecay)
	// An answer read τ/2 after the first (the node's clock is at τ): 50ms
	// has decayed by w = exp(-1/2), and 10ms pulls it down with weight w.
	n.ObserveLatencyAt(10*time.Millisecond, t0.Add(DefaultLatencyDecay/2))
	w := math.Exp(-0.5)
	want := ms(50*w*w + 10*(1-w))
	c.ns.Store(int64(t0.Add(DefaultLatencyDecay / 2).Sub(epoch))) // read it undecayed
	if got := n.LatencyEWMA(); !near(got, want) {
		t.Fatalf("reads %v, want %v", got, want)
	}
}
