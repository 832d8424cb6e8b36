package balancer

import (
	"container/heap"
	"strings"
	"testing"
	"time"
)

// sim drives a policy with requests arriving every step on a fake clock;
// each finishes after its node's latency, which is then observed, as the
// director does. Nothing sleeps.
type sim struct {
	c       *fakeClock
	ns      []*Node
	lat     map[*Node]time.Duration
	pending inflight
}

func newSim(lat ...time.Duration) *sim {
	s := &sim{c: newFakeClock(), lat: map[*Node]time.Duration{}}
	for i, d := range lat {
		n := NewNode(string(rune('a'+i)), "", "", BreakerSettings{})
		s.c.attach(n)
		s.ns = append(s.ns, n)
		s.lat[n] = d
	}
	return s
}

type request struct {
	at   int64
	n    *Node
	d    time.Duration
	done Lease
}

type inflight []request

func (h inflight) Len() int           { return len(h) }
func (h inflight) Less(i, j int) bool { return h[i].at < h[j].at }
func (h inflight) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *inflight) Push(x any)        { *h = append(*h, x.(request)) }
func (h *inflight) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}

// finish completes the requests due by the clock, in order.
func (s *sim) finish() {
	now := s.c.now()
	for s.pending.Len() > 0 && s.pending[0].at <= now {
		r := heap.Pop(&s.pending).(request)
		r.n.observeLatencyAt(r.d, r.at)
		r.done.End(Success)
	}
}

// run sends picks requests, one per step, and counts them by node.
func (s *sim) run(t *testing.T, p Policy, picks int, step time.Duration) map[*Node]int {
	t.Helper()
	counts := map[*Node]int{}
	for range picks {
		s.c.advance(step)
		s.finish()
		n := p.Select(s.ns, nil)
		if n == nil {
			t.Fatal("Select = nil with every node available")
		}
		counts[n]++
		done, err := n.Begin()
		if err != nil {
			t.Fatal(err)
		}
		d := s.lat[n]
		heap.Push(&s.pending, request{at: s.c.now() + int64(d), n: n, d: d, done: done})
	}
	return counts
}

func TestPeakEWMAAvoidsSlowNodeAndTakesItBack(t *testing.T) {
	s := newSim(time.Millisecond, time.Millisecond, 50*time.Millisecond)
	slow := s.ns[2]
	for n, d := range s.lat {
		n.observeLatencyAt(d, s.c.now())
	}
	p := &PeakEWMA{}
	const step = 100 * time.Microsecond // 10k requests/s, ~10 in flight
	counts := s.run(t, p, 10_000, step)
	if got := counts[slow]; got*50 >= 10_000 {
		t.Fatalf("slow node got %d of 10000 picks, want under 2%%", got)
	}
	t.Logf("slow node got %d of 10000 picks at 50ms against 1ms", counts[slow])

	// It turns fast. Unpicked, its estimate decays until it is cheaper than
	// its peers' (1ms × in flight + 1): at most ln(50)·τ ≈ 7.8s.
	s.lat[slow] = time.Millisecond
	const window = 1000
	bound := int(8 * time.Second / (window * step))
	back := -1
	for w := range bound {
		if c := s.run(t, p, window, step)[slow]; c*5 >= window {
			back = w
			break
		}
	}
	if back < 0 {
		t.Fatalf("recovered node not back to a fifth of the picks within %d windows of %d", bound, window)
	}
	t.Logf("back to a fifth of the picks after %v of fake time", time.Duration(back+1)*window*step)
	// It keeps its share, which grows towards a third as its estimate
	// settles on its new latency.
	late := 0
	for w := range 10 {
		c := s.run(t, p, window, step)[slow]
		if c*6 < window {
			t.Fatalf("recovered node fell back to %d of %d picks", c, window)
		}
		if w >= 5 {
			late += c
		}
	}
	if late*4 < 5*window {
		t.Fatalf("recovered node got %d of %d picks 0.5–1s after its return, want a quarter or more", late, 5*window)
	}
	t.Logf("%d of %d picks 0.5–1s after its return", late, 5*window)
}

func TestPeakEWMAUnknownNodeGetsFairShare(t *testing.T) {
	c := newFakeClock()
	ns := nodes("a", "b", "c")
	c.attach(ns...)
	ns[0].ObserveLatency(time.Millisecond)
	ns[1].ObserveLatency(time.Millisecond)
	p := &PeakEWMA{}
	picks := map[string]int{}
	for range 3000 {
		picks[p.Select(ns, nil).ID]++
	}
	if picks["c"] < 700 || picks["c"] > 1300 {
		t.Fatalf("unknown node got %d of 3000 picks against two idle 1ms peers, want about a third", picks["c"])
	}
	// Not flooded: with requests in flight it costs more than idle peers.
	var dones []Lease
	for range 3 {
		done, _ := ns[2].Begin()
		dones = append(dones, done)
	}
	for range 200 {
		if got := p.Select(ns, nil); got == ns[2] {
			t.Fatal("unknown node with 3 in flight picked over idle known peers")
		}
	}
	for _, d := range dones {
		d.End(Success)
	}
	// All unknown: outstanding alone decides, as in p2c.
	fresh := nodes("x", "y")
	done, _ := fresh[0].Begin()
	defer done.End(Success)
	for range 50 {
		if got := p.Select(fresh, nil); got != fresh[1] {
			t.Fatalf("all unknown: picked busy %s over idle y", got.ID)
		}
	}
}

func TestPeakEWMAWeighsOutstanding(t *testing.T) {
	c := newFakeClock()
	ns := nodes("a", "b")
	c.attach(ns...)
	ns[0].ObserveLatency(time.Millisecond)
	ns[1].ObserveLatency(4 * time.Millisecond)
	p := &PeakEWMA{}
	for range 50 {
		if got := p.Select(ns, nil); got != ns[0] {
			t.Fatalf("idle: picked %s (4ms) over a (1ms)", got.ID)
		}
	}
	// a at 1ms × (4+1) costs more than b at 4ms × 1.
	var dones []Lease
	for range 4 {
		done, _ := ns[0].Begin()
		dones = append(dones, done)
	}
	defer func() {
		for _, d := range dones {
			d.End(Success)
		}
	}()
	for range 50 {
		if got := p.Select(ns, nil); got != ns[1] {
			t.Fatalf("a with 4 in flight: picked %s, want b", got.ID)
		}
	}
}

func TestPolicyByNameErrorListsNames(t *testing.T) {
	_, err := PolicyByName("random")
	if err == nil {
		t.Fatal("unknown name accepted")
	}
	for _, name := range []string{PolicyPeakEWMA, PolicyLeastOutstanding, PolicyRoundRobin, PolicyPowerOfTwo} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not list %s", err, name)
		}
	}
}

func TestNewSetDefaultsToPeakEWMA(t *testing.T) {
	if _, ok := NewSet(nil, BreakerSettings{}).policy.(*PeakEWMA); !ok {
		t.Fatal("NewSet(nil, …) does not use PeakEWMA")
	}
}

func TestPeakEWMASelectDoesNotAllocate(t *testing.T) {
	ns := nodes("a", "b", "c")
	for _, n := range ns {
		n.ObserveLatency(time.Millisecond)
	}
	p := &PeakEWMA{}
	if a := testing.AllocsPerRun(1000, func() { p.Select(ns, nil) }); a != 0 {
		t.Fatalf("Select allocates %v per run", a)
	}
}

// BenchmarkObserveLatencySelect is the director's hot path: pick, reserve,
// observe, finish.
func BenchmarkObserveLatencySelect(b *testing.B) {
	for _, name := range []string{PolicyPeakEWMA, PolicyLeastOutstanding} {
		b.Run(name, func(b *testing.B) {
			p, _ := PolicyByName(name)
			s := NewSet(p, BreakerSettings{})
			s.Update([]NodeSpec{{"a", "a", ""}, {"b", "b", ""}, {"c", "c", ""}})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := s.Pick()
					done, err := n.Begin()
					if err != nil {
						b.Fatal(err)
					}
					n.ObserveLatency(time.Millisecond)
					done.End(Success)
				}
			})
		})
	}
}

// BenchmarkSelect is the policy alone (no breaker, no Begin), three nodes
// with latency estimates.
func BenchmarkSelect(b *testing.B) {
	for _, name := range []string{PolicyPeakEWMA, PolicyLeastOutstanding, PolicyPowerOfTwo} {
		b.Run(name, func(b *testing.B) {
			p, _ := PolicyByName(name)
			ns := nodes("a", "b", "c")
			for i, n := range ns {
				n.ObserveLatency(time.Duration(i+1) * time.Millisecond)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if p.Select(ns, nil) == nil {
						b.Fatal("nil")
					}
				}
			})
		})
	}
}

// TestPeakEWMASkipsStalledNode: a node that stops answering is picked
// while it has few requests in flight (its estimate, weighted by them,
// looks cheap) until it has been silent for the stall threshold; from then
// on it gets nothing while another node is eligible, and it is picked
// again once it answers.
func TestPeakEWMASkipsStalledNode(t *testing.T) {
	s := newSim(10*time.Millisecond, 10*time.Millisecond, 10*time.Millisecond)
	frozen := s.ns[2]
	for _, n := range s.ns {
		n.SetStallAfter(20 * time.Millisecond)
	}
	p := &PeakEWMA{}
	// Warm up: every node answers in 10 ms.
	s.run(t, p, 300, time.Millisecond)
	// The third node freezes: its requests finish only when it thaws.
	s.lat[frozen] = time.Hour
	var picks []int64 // clock readings of the frozen node's picks
	var held []Lease
	for range 200 {
		s.c.advance(time.Millisecond)
		s.finish()
		n := p.Select(s.ns, nil)
		done, err := n.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if n == frozen {
			picks = append(picks, s.c.now())
			held = append(held, done)
			continue
		}
		heap.Push(&s.pending, request{at: s.c.now() + int64(s.lat[n]), n: n, d: s.lat[n], done: done})
	}
	if len(picks) == 0 {
		t.Fatal("the frozen node was never picked: the test does not exercise the stall")
	}
	if !frozen.Stalled() {
		t.Fatal("a node silent for 180 ms with requests in flight is not stalled")
	}
	// Its last pick came before its silence passed the threshold (its
	// last answer was at most 10 ms before the freeze, plus 20 ms).
	freeze := s.c.now() - int64(200*time.Millisecond)
	if last := picks[len(picks)-1]; last > freeze+int64(31*time.Millisecond) {
		t.Errorf("the frozen node was picked %v after it froze, past the stall threshold", time.Duration(last-freeze))
	}
	for _, n := range s.ns[:2] {
		if n.Stalled() {
			t.Errorf("node %s answers every 10 ms but is stalled", n.ID)
		}
	}
	// It thaws and answers what it held: no longer stalled, and picked
	// again once its estimate has decayed.
	for i, done := range held {
		frozen.observeLatencyAt(time.Duration(s.c.now()-picks[i]), s.c.now())
		done.End(Success)
	}
	if frozen.Stalled() {
		t.Fatal("still stalled right after its answers")
	}
	s.lat[frozen] = 10 * time.Millisecond
	if got := s.run(t, p, 8000, time.Millisecond)[frozen]; got == 0 {
		t.Error("the thawed node got no requests")
	}
}

// TestUntimedRequestsDoNotStall: a node with only an untimed request in
// flight (a listing) is never stalled, however long it takes; a timed one
// begun beside it waits from its own start.
func TestUntimedRequestsDoNotStall(t *testing.T) {
	c := newFakeClock()
	n := NewNode("a", "", "", BreakerSettings{})
	c.attach(n)
	n.SetStallAfter(50 * time.Millisecond)
	listing, _ := n.BeginUntimed()
	c.advance(10 * time.Second)
	if n.Stalled() || n.Outstanding() != 1 {
		t.Fatalf("stalled %v, outstanding %d with a 10 s listing in flight; want false, 1", n.Stalled(), n.Outstanding())
	}
	get, _ := n.Begin()
	c.advance(40 * time.Millisecond)
	if n.Stalled() {
		t.Fatal("stalled 40 ms after a get began beside a long listing, threshold 50 ms")
	}
	c.advance(20 * time.Millisecond)
	if !n.Stalled() {
		t.Fatal("not stalled 60 ms into an unanswered get")
	}
	get.End(Success)
	c.advance(time.Second)
	if n.Stalled() {
		t.Fatal("stalled with only the listing left in flight")
	}
	listing.End(Success)
	listing.End(Success) // a second End does nothing
	if n.Outstanding() != 0 || n.untimed.Load() != 0 {
		t.Fatalf("outstanding %d, untimed %d after both ended", n.Outstanding(), n.untimed.Load())
	}
}

// TestStalledNeedsRequestsInFlight: an idle node is never stalled, a busy
// one only after the threshold without an answer, and never with the
// threshold off.
func TestStalledNeedsRequestsInFlight(t *testing.T) {
	c := newFakeClock()
	n := NewNode("a", "", "", BreakerSettings{})
	c.attach(n)
	n.SetStallAfter(50 * time.Millisecond)
	c.advance(time.Second)
	if n.Stalled() {
		t.Fatal("an idle node is stalled")
	}
	done, _ := n.Begin()
	c.advance(40 * time.Millisecond)
	if n.Stalled() {
		t.Fatal("stalled 40 ms after becoming busy, threshold 50 ms")
	}
	c.advance(20 * time.Millisecond)
	if !n.Stalled() {
		t.Fatal("not stalled 60 ms after becoming busy without an answer")
	}
	n.Stalled()
	if got := n.Stalls(); got != 1 {
		t.Fatalf("one stall seen twice counts %d episodes, want 1", got)
	}
	n.SetStallAfter(0)
	if n.Stalled() {
		t.Fatal("stalled with detection off")
	}
	n.SetStallAfter(50 * time.Millisecond)
	done2, _ := n.Begin()
	done.End(Success)
	if n.Stalled() {
		t.Fatal("stalled right after an answer")
	}
	c.advance(60 * time.Millisecond)
	if !n.Stalled() || n.Stalls() != 2 {
		t.Fatalf("a second silence: stalled %v, episodes %d; want true and 2", n.Stalled(), n.Stalls())
	}
	done2.End(Success)
	if n.Stalled() {
		t.Fatal("an idle node is stalled after its answer")
	}
}
