package balancer

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

func nodes(ids ...string) []*Node {
	var ns []*Node
	for _, id := range ids {
		ns = append(ns, NewNode(id, id+":pb", id+":http", BreakerSettings{}))
	}
	return ns
}

func TestPolicyByName(t *testing.T) {
	tests := []struct {
		name    string
		want    string
		wantErr bool
	}{
		{name: "", want: "*balancer.PeakEWMA"},
		{name: "peak-ewma", want: "*balancer.PeakEWMA"},
		{name: "least-outstanding", want: "*balancer.LeastOutstanding"},
		{name: "round-robin", want: "*balancer.RoundRobin"},
		{name: "p2c", want: "*balancer.PowerOfTwo"},
		{name: "random", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PolicyByName(tc.name)
			if (err != nil) != tc.wantErr {
				t.Fatalf("PolicyByName(%q) error = %v, wantErr %v", tc.name, err, tc.wantErr)
			}
			if err == nil {
				if got := typeName(p); got != tc.want {
					t.Errorf("PolicyByName(%q) = %s, want %s", tc.name, got, tc.want)
				}
			}
		})
	}
}

func typeName(p Policy) string {
	switch p.(type) {
	case *LeastOutstanding:
		return "*balancer.LeastOutstanding"
	case *RoundRobin:
		return "*balancer.RoundRobin"
	case *PowerOfTwo:
		return "*balancer.PowerOfTwo"
	case *PeakEWMA:
		return "*balancer.PeakEWMA"
	}
	return "?"
}

func TestPoliciesSkipUnavailableAndSkipped(t *testing.T) {
	for _, name := range []string{PolicyLeastOutstanding, PolicyRoundRobin, PolicyPowerOfTwo, PolicyPeakEWMA} {
		t.Run(name, func(t *testing.T) {
			p, _ := PolicyByName(name)
			ns := nodes("a", "b", "c")
			th := HealthThresholds{Fails: 1}
			ns[0].RecordCheck(false, th) // a unhealthy
			skipB := func(n *Node) bool { return n.ID == "b" }
			for i := 0; i < 50; i++ {
				if got := p.Select(ns, skipB); got != ns[2] {
					t.Fatalf("Select = %v, want c (a unhealthy, b skipped)", got)
				}
			}
			ns[2].RecordCheck(false, th)
			if got := p.Select(ns, skipB); got != nil {
				t.Fatalf("Select = %v, want nil when nothing fits", got.ID)
			}
			if got := p.Select(nil, nil); got != nil {
				t.Fatalf("Select(nil) = %v, want nil", got.ID)
			}
		})
	}
}

func TestLeastOutstandingPrefersIdleNode(t *testing.T) {
	ns := nodes("a", "b", "c")
	var dones []Lease
	for _, n := range ns[:2] {
		done, err := n.Begin()
		if err != nil {
			t.Fatal(err)
		}
		dones = append(dones, done)
	}
	p := &LeastOutstanding{}
	for i := 0; i < 20; i++ {
		if got := p.Select(ns, nil); got != ns[2] {
			t.Fatalf("Select = %s, want c (the only idle node)", got.ID)
		}
	}
	for _, d := range dones {
		d.End(Success)
	}
	// All idle: ties rotate, so every node gets picked.
	picked := map[string]bool{}
	for i := 0; i < 9; i++ {
		picked[p.Select(ns, nil).ID] = true
	}
	if len(picked) != 3 {
		t.Errorf("ties picked only %v, want all three nodes", picked)
	}
}

func TestRoundRobinCycles(t *testing.T) {
	ns := nodes("a", "b", "c")
	p := &RoundRobin{}
	var got []string
	for i := 0; i < 6; i++ {
		got = append(got, p.Select(ns, nil).ID)
	}
	if want := "abcabc"; join(got) != want {
		t.Errorf("round robin order = %s, want %s", join(got), want)
	}
}

func join(s []string) string {
	out := ""
	for _, x := range s {
		out += x
	}
	return out
}

func TestPowerOfTwoAvoidsBusiestNode(t *testing.T) {
	ns := nodes("a", "b")
	done, _ := ns[0].Begin()
	defer done.End(Success)
	for i := 0; i < 50; i++ {
		if got := (PowerOfTwo{}).Select(ns, nil); got != ns[1] {
			t.Fatalf("p2c picked %s with a busy and b idle", got.ID)
		}
	}
	// With many nodes, every node is eventually sampled.
	many := nodes("a", "b", "c", "d", "e")
	seen := map[string]bool{}
	for i := 0; i < 500; i++ {
		seen[(PowerOfTwo{}).Select(many, nil).ID] = true
	}
	if len(seen) != 5 {
		t.Errorf("p2c picked only %v of 5 idle nodes", seen)
	}
}

func TestBreakerOpensOnFailuresNotOnSuccess(t *testing.T) {
	var mu sync.Mutex
	var transitions []string
	n := NewNode("a", "", "", BreakerSettings{
		ConsecutiveFailures: 3,
		OpenTimeout:         50 * time.Millisecond,
		OnStateChange: func(_ string, from, to BreakerState) {
			mu.Lock()
			transitions = append(transitions, from.String()+">"+to.String())
			mu.Unlock()
		},
	})
	finish := func(o Outcome) {
		t.Helper()
		l := mustBegin(t, n)
		l.End(o)
	}
	finish(Failure)
	finish(Failure)
	finish(Success) // resets the consecutive count
	finish(Failure)
	finish(Failure)
	finish(Abandoned) // not counted either way
	if !n.Available() || n.Breaker() != BreakerClosed {
		t.Fatalf("breaker %s after non-consecutive failures, want closed", n.Breaker())
	}
	finish(Failure)
	if n.Available() || n.Breaker() != BreakerOpen {
		t.Fatalf("breaker %s after 3 consecutive failures, want open", n.Breaker())
	}
	if _, err := n.Begin(); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("Begin on open breaker: %v, want ErrBreakerOpen", err)
	}
	// After the open timeout one probe goes through (half-open).
	testutil.WaitFor(t, breakerWait, "breaker half-open", func() bool { return n.Breaker() == BreakerHalfOpen })
	done, err := n.Begin()
	if err != nil {
		t.Fatalf("half-open probe refused: %v", err)
	}
	if _, err := n.Begin(); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("second concurrent half-open request: %v, want refused", err)
	}
	done.End(Success)
	if n.Breaker() != BreakerClosed {
		t.Fatalf("breaker %s after a successful probe, want closed", n.Breaker())
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "closed>open half-open>closed"; len(transitions) < 2 || transitions[0] != "closed>open" || transitions[len(transitions)-1] != "half-open>closed" {
		t.Errorf("transitions = %v, want them to start and end as %q", transitions, want)
	}
}

// TestBookFailure: a failure booked after the request (Abandoned at the
// time) counts as a failed request does: three open a breaker of three,
// and a success in between resets the count.
func TestBookFailure(t *testing.T) {
	n := NewNode("a", "", "", BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: time.Minute})
	refused := func() {
		t.Helper()
		done, err := n.Begin()
		if err != nil {
			t.Fatalf("Begin: %v", err)
		}
		done.End(Abandoned)
		n.BookFailure()
	}
	refused()
	refused()
	done, _ := n.Begin()
	done.End(Success)
	refused()
	refused()
	if n.Breaker() != BreakerClosed || n.Failures() != 4 {
		t.Fatalf("breaker %s, %d failures: want closed (not consecutive) and 4", n.Breaker(), n.Failures())
	}
	refused()
	if n.Breaker() != BreakerOpen || n.Available() {
		t.Fatalf("breaker %s after three booked failures in a row, want open", n.Breaker())
	}
}

// TestBreakerWithRequestsInFlight: a request begun while the breaker was
// closed and clean (one the breaker is not asked about unless it fails)
// does not close a breaker that opened meanwhile when it succeeds, and
// one that fails counts; an open breaker turns available after its
// timeout through Available alone.
func TestBreakerWithRequestsInFlight(t *testing.T) {
	n := NewNode("a", "", "", BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: 30 * time.Millisecond})
	begin := func() Lease { t.Helper(); return mustBegin(t, n) }
	early, failing := begin(), begin()
	for range 2 {
		l := begin()
		l.End(Failure)
	}
	failing.End(Failure) // the third in a row, begun before the other two
	if n.Breaker() != BreakerOpen {
		t.Fatalf("breaker %s after 3 failures, one begun on a clean breaker: want open", n.Breaker())
	}
	early.End(Success)
	if n.Available() || n.Breaker() != BreakerOpen {
		t.Fatalf("breaker %s after a success begun before it opened: want it still open", n.Breaker())
	}
	testutil.WaitFor(t, breakerWait, "available after the open timeout", n.Available)
	probe := begin()
	probe.End(Success)
	if n.Breaker() != BreakerClosed {
		t.Fatalf("breaker %s after a good probe, want closed", n.Breaker())
	}
	// Closed again and clean: two failures, a success, two failures stay under 3.
	for _, o := range []Outcome{Failure, Failure, Success, Failure, Failure} {
		l := begin()
		l.End(o)
	}
	if n.Breaker() != BreakerClosed {
		t.Fatalf("breaker %s after failures a success interrupted, want closed", n.Breaker())
	}
}

func TestFailedProbeReopens(t *testing.T) {
	n := NewNode("a", "", "", BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: 30 * time.Millisecond})
	done, _ := n.Begin()
	done.End(Failure)
	testutil.WaitFor(t, breakerWait, "breaker half-open", func() bool { return n.Breaker() == BreakerHalfOpen })
	done, err := n.Begin()
	if err != nil {
		t.Fatal(err)
	}
	done.End(Failure)
	if n.Breaker() != BreakerOpen {
		t.Fatalf("breaker %s after a failed probe, want open", n.Breaker())
	}
}

func TestEndIsIdempotent(t *testing.T) {
	n := nodes("a")[0]
	l, _ := n.Begin()
	l.End(Success)
	l.End(Success)
	l.End(Failure)
	if n.Outstanding() != 0 || n.Requests() != 1 || n.Failures() != 0 {
		t.Fatalf("outstanding %d requests %d failures %d after ending one lease thrice, want 0, 1, 0", n.Outstanding(), n.Requests(), n.Failures())
	}
	var zero Lease // what a refused Begin returns
	zero.End(Failure)
	if n.Failures() != 0 || zero.Node() != nil {
		t.Fatal("the zero Lease booked something")
	}
}

// TestBeginAllocatesNothing: a lease lives with its request, so reserving
// and ending a request on a clean node costs no allocation (it cost two
// when the outcome was reported through a closure).
func TestBeginAllocatesNothing(t *testing.T) {
	n := nodes("a")[0]
	if a := testing.AllocsPerRun(200, func() {
		l, err := n.Begin()
		if err != nil {
			t.Fatal(err)
		}
		l.End(Success)
	}); a != 0 {
		t.Fatalf("Begin and End allocated %v times a request, want 0", a)
	}
}

// TestEndAtUsesTheAnswersTime: EndAt stamps the node's progress with the
// time it is given, not a new clock reading, so a node whose last answer
// came long ago still counts as stalled.
func TestEndAtUsesTheAnswersTime(t *testing.T) {
	c := newFakeClock()
	n := nodes("a")[0]
	c.attach(n)
	n.SetStallAfter(50 * time.Millisecond)
	answered, pending := mustBegin(t, n), mustBegin(t, n)
	answerAt := c.time().Add(30 * time.Millisecond)
	c.advance(100 * time.Millisecond)
	answered.EndAt(Success, answerAt)
	if !n.Stalled() {
		t.Fatal("not stalled 70ms after its last answer (threshold 50ms): EndAt took the clock's time, not the answer's")
	}
	pending.End(Success)
	if n.Stalled() {
		t.Fatal("stalled with nothing in flight")
	}
}

func mustBegin(t *testing.T, n *Node) Lease {
	t.Helper()
	l, err := n.Begin()
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return l
}

func TestHealthThresholds(t *testing.T) {
	n := nodes("a")[0]
	th := HealthThresholds{Fails: 2, Passes: 2}
	steps := []struct {
		ok          bool
		wantHealthy bool
		wantChanged bool
	}{
		{false, true, false},
		{false, false, true},
		{false, false, false},
		{true, false, false},
		{false, false, false},
		{true, false, false},
		{true, true, true},
	}
	for i, s := range steps {
		changed := n.RecordCheck(s.ok, th)
		if n.Healthy() != s.wantHealthy || changed != s.wantChanged {
			t.Fatalf("step %d (ok=%v): healthy=%v changed=%v, want %v %v", i, s.ok, n.Healthy(), changed, s.wantHealthy, s.wantChanged)
		}
	}
}

func TestSetUpdateKeepsState(t *testing.T) {
	s := NewSet(nil, BreakerSettings{})
	added, removed := s.Update([]NodeSpec{{"b", "b:1", "b:2"}, {"a", "a:1", "a:2"}})
	if len(added) != 2 || len(removed) != 0 {
		t.Fatalf("first update added %d removed %d", len(added), len(removed))
	}
	a := s.Nodes()[0]
	if a.ID != "a" {
		t.Fatalf("nodes not sorted by ID: first is %s", a.ID)
	}
	a.RecordCheck(false, HealthThresholds{Fails: 1})
	added, removed = s.Update([]NodeSpec{{"a", "a:1", "a:2"}, {"c", "c:1", "c:2"}})
	if len(added) != 1 || added[0].ID != "c" || len(removed) != 1 || removed[0].ID != "b" {
		t.Fatalf("second update: added %v removed %v", added, removed)
	}
	if s.Nodes()[0] != a || a.Healthy() {
		t.Fatal("node a lost its state across an update")
	}
	// A changed address is a new node.
	added, removed = s.Update([]NodeSpec{{"a", "a:9", "a:2"}})
	if len(added) != 1 || len(removed) != 2 || s.Nodes()[0] == a {
		t.Fatalf("address change: added %d removed %d", len(added), len(removed))
	}
}

func TestSetPickExcludesTried(t *testing.T) {
	s := NewSet(&RoundRobin{}, BreakerSettings{})
	s.Update([]NodeSpec{{"a", "a", ""}, {"b", "b", ""}})
	first := s.Pick()
	second := s.Pick(first)
	if second == nil || second == first {
		t.Fatalf("retry picked %v after %v", second, first)
	}
	if got := s.Pick(first, second); got != nil {
		t.Fatalf("Pick with every node tried = %s, want nil", got.ID)
	}
}

func TestConcurrentPickAndUpdate(t *testing.T) {
	s := NewSet(nil, BreakerSettings{})
	s.Update([]NodeSpec{{"a", "a", ""}, {"b", "b", ""}})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if n := s.Pick(); n != nil {
					if done, err := n.Begin(); err == nil {
						done.End(Success)
					}
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		if i%2 == 0 {
			s.Update([]NodeSpec{{"a", "a", ""}})
		} else {
			s.Update([]NodeSpec{{"a", "a", ""}, {"b", "b", ""}})
		}
	}
	close(stop)
	wg.Wait()
	for _, n := range s.Nodes() {
		if n.Outstanding() != 0 {
			t.Errorf("node %s outstanding %d after all requests finished", n.ID, n.Outstanding())
		}
	}
}

// breakerWait bounds waiting for a breaker timeout. gobreaker reads the
// wall clock, so breaker timeouts are observed by polling rather than a
// fake clock.
const breakerWait = 2 * time.Second

func BenchmarkPick(b *testing.B) {
	for _, name := range []string{PolicyLeastOutstanding, PolicyRoundRobin, PolicyPowerOfTwo, PolicyPeakEWMA} {
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
					done.End(Success)
				}
			})
		})
	}
}

func TestBreakerStateNames(t *testing.T) {
	for _, tc := range []struct {
		s    BreakerState
		want string
	}{{BreakerClosed, "closed"}, {BreakerHalfOpen, "half-open"}, {BreakerOpen, "open"}, {BreakerState(7), "BreakerState(7)"}} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("%d.String() = %q, want %q", int(tc.s), got, tc.want)
		}
		if b, _ := tc.s.MarshalText(); string(b) != tc.want {
			t.Errorf("%d.MarshalText() = %q, want %q", int(tc.s), b, tc.want)
		}
	}
}
