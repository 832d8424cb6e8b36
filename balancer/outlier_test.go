package balancer

import (
	"math"
	"strings"
	"testing"
	"time"
)

var defaults = OutlierSettings{}.withDefaults()

// in is an available node in rotation with enough requests to be judged,
// which already stood out in the previous evaluation if it stands out now
// (the latency and stall checks eject only the second time in a row:
// TestRelativeOutliersNeedTwoEvaluations).
func in(lat time.Duration) nodeStats {
	return nodeStats{available: true, requests: 100, latency: lat, stoodOut: true}
}

// stalling is a node in rotation seen stalled k separate times.
func stalling(k uint64) nodeStats {
	s := in(time.Millisecond)
	s.stalls = k
	return s
}

// stallingFor is a node in rotation seen stalled k times, for share of a
// one-second window.
func stallingFor(k uint64, share float64) nodeStats {
	s := stalling(k)
	s.window = time.Second
	s.stalledFor = time.Duration(share * float64(time.Second))
	return s
}

func failing(k uint64) nodeStats {
	s := in(time.Millisecond)
	s.consecutiveFailures = k
	return s
}

func ejectedIdx(vs []verdict) []int {
	var out []int
	for i, v := range vs {
		if v.eject {
			out = append(out, i)
		}
	}
	return out
}

func TestDecideOutliers(t *testing.T) {
	now := epoch.Add(time.Hour)
	ms := time.Millisecond
	tests := []struct {
		name  string
		stats []nodeStats
		want  []int // ejected
	}{
		{"five failures in a row", []nodeStats{failing(5), in(ms), in(ms)}, []int{0}},
		{"four failures in a row", []nodeStats{failing(4), in(ms), in(ms)}, nil},
		{"50ms among 1ms peers", []nodeStats{in(ms), in(50 * ms), in(ms)}, []int{1}},
		{"3ms among 1ms peers: below MinLatency", []nodeStats{in(ms), in(3 * ms), in(ms)}, nil},
		{"20ms among 10ms peers: under 3×", []nodeStats{in(10 * ms), in(20 * ms), in(10 * ms)}, nil},
		{"35ms among 10ms peers", []nodeStats{in(10 * ms), in(35 * ms), in(10 * ms)}, []int{1}},
		{"slow but too few requests", []nodeStats{in(ms), {available: true, requests: 4, latency: 50 * ms}, in(ms)}, nil},
		{"slow, unknown peers", []nodeStats{in(0), in(50 * ms), in(0)}, nil},
		{"two nodes both slow", []nodeStats{in(50 * ms), in(50 * ms)}, nil},
		{"two nodes, one slow", []nodeStats{in(ms), in(50 * ms)}, []int{1}},
		{"two nodes both failing: the worse", []nodeStats{failing(6), failing(9)}, []int{1}},
		{"the last node", []nodeStats{failing(9)}, nil},
		{"the last available node", []nodeStats{failing(9), {available: false, latency: ms}}, nil},
		{"an unavailable node does not count as the last", []nodeStats{in(ms), {available: false, consecutiveFailures: 9}}, []int{1}},
		{"three nodes, two failing: 34% is one", []nodeStats{failing(5), failing(7), in(ms)}, []int{1}},
		{"six nodes, four failing: 34% is two", []nodeStats{failing(5), failing(8), failing(6), failing(7), in(ms), in(ms)}, []int{1, 3}},
		{"failures before latency", []nodeStats{in(90 * ms), failing(5), in(ms), in(ms)}, []int{1}},
		{"available before unavailable", []nodeStats{{consecutiveFailures: 50}, failing(5), in(ms), in(ms)}, []int{1}},
		{"stalled 3 times, peers never", []nodeStats{in(ms), stalling(3), in(ms)}, []int{1}},
		{"stalled twice: too few", []nodeStats{in(ms), stalling(2), in(ms)}, nil},
		{"stalled 9 times, peers 3 and 4: the cluster is slow", []nodeStats{stalling(3), stalling(9), stalling(4)}, nil},
		{"stalled 12 times, peers 3 and 4", []nodeStats{stalling(3), stalling(12), stalling(4)}, []int{1}},
		{"stalled as often as its peers, but 45% of the time against 5% and 8%", []nodeStats{stallingFor(12, 0.05), stallingFor(14, 0.45), stallingFor(10, 0.08)}, []int{1}},
		{"stalled 15% of the time: under the share", []nodeStats{stallingFor(12, 0.01), stallingFor(14, 0.15), stallingFor(10, 0.01)}, nil},
		{"stalled 40% of the time, peers 15% and 20%: under 3x", []nodeStats{stallingFor(12, 0.15), stallingFor(14, 0.40), stallingFor(10, 0.20)}, nil},
		{"stalled 30% of the time, peers never", []nodeStats{in(ms), stallingFor(2, 0.30), in(ms)}, []int{1}},
		{"two stall, the worse", []nodeStats{stalling(5), stalling(20), in(ms), in(ms), in(ms)}, []int{1}},
		{"already one ejected of three", []nodeStats{{ejected: true, until: now.Add(time.Second)}, failing(5), in(ms)}, nil},
		{"one of three restored now: no ejection this call", []nodeStats{{ejected: true, until: now}, stalling(17), stalling(5)}, nil},
		{"one of three restored now, another failing in a row", []nodeStats{{ejected: true, until: now}, failing(5), in(ms)}, []int{1}},
		{"one of six restored now, another ejectable", []nodeStats{{ejected: true, until: now}, failing(5), in(ms), in(ms), in(ms), in(ms)}, []int{1}},
		{"one of six restored now: no comparison this call", []nodeStats{{ejected: true, until: now}, stalling(20), in(ms), in(ms), in(ms), in(ms)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs := decideOutliers(tc.stats, defaults, now)
			if got := ejectedIdx(vs); !equalInts(got, tc.want) {
				t.Fatalf("ejected %v, want %v", got, tc.want)
			}
			for _, i := range tc.want {
				if v := vs[i]; v.multiplier != 1 || !v.until.Equal(now.Add(defaults.BaseEjection)) {
					t.Errorf("node %d: multiplier %d until +%v, want 1 and +%v", i, v.multiplier, v.until.Sub(now), defaults.BaseEjection)
				}
			}
		})
	}
}

// One evaluation's noise ejects nobody: a node slow or stalling beyond its
// peers is ejected when it stands out a second time in a row, and one
// that stood out once and then not is forgotten.
func TestRelativeOutliersNeedTwoEvaluations(t *testing.T) {
	now := epoch.Add(time.Hour)
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		stats []nodeStats
	}{
		{"slow", []nodeStats{in(ms), in(50 * ms), in(ms)}},
		{"stalling", []nodeStats{in(ms), stalling(9), in(ms)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.stats[1].stoodOut = false
			vs := decideOutliers(tc.stats, defaults, now)
			if ejectedIdx(vs) != nil || !vs[1].standsOut || vs[0].standsOut || vs[2].standsOut {
				t.Fatalf("first time: ejected %v, stands out %v %v %v; want none ejected, node 1 standing out",
					ejectedIdx(vs), vs[0].standsOut, vs[1].standsOut, vs[2].standsOut)
			}
			tc.stats[1].stoodOut = vs[1].standsOut
			if got := ejectedIdx(decideOutliers(tc.stats, defaults, now)); !equalInts(got, []int{1}) {
				t.Fatalf("second time: ejected %v, want [1]", got)
			}
		})
	}
	// The verdict says which check ejected it, with its figures.
	for _, tc := range []struct {
		stats []nodeStats
		want  string
	}{
		{[]nodeStats{in(ms), in(50 * ms), in(ms)}, "latency 50ms at its last answer, 50.0x its peers' median 1ms"},
		{[]nodeStats{in(ms), stalling(9), in(ms)}, "stalled 9 times in the interval, its peers' median 0"},
		{[]nodeStats{in(ms), failing(7), in(ms)}, "7 transport failures in a row"},
	} {
		if v := decideOutliers(tc.stats, defaults, now)[1]; !v.eject || v.why != tc.want {
			t.Errorf("eject %v why %q, want %q", v.eject, v.why, tc.want)
		}
	}
	// A node ejected before and not yet forgiven is ejected the first time.
	again := []nodeStats{in(ms), stalling(9), in(ms)}
	again[1].stoodOut, again[1].multiplier = false, 1
	if got := ejectedIdx(decideOutliers(again, defaults, now)); !equalInts(got, []int{1}) {
		t.Fatalf("repeat offender: ejected %v, want [1]", got)
	}
	// Failures in a row eject at once.
	f := failing(5)
	f.stoodOut = false
	if got := ejectedIdx(decideOutliers([]nodeStats{f, in(ms), in(ms)}, defaults, now)); !equalInts(got, []int{0}) {
		t.Fatalf("failing node: ejected %v, want [0]", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecideOutliersJudgedAndEvidence(t *testing.T) {
	now := epoch.Add(time.Hour)
	vs := decideOutliers([]nodeStats{in(time.Millisecond), in(3 * time.Millisecond), {available: true, requests: 2, latency: 90 * time.Millisecond}, in(time.Millisecond)}, defaults, now)
	if !vs[0].judged || !vs[1].judged {
		t.Error("nodes judged acceptable do not open a new evidence window")
	}
	if vs[2].judged || vs[2].eject {
		t.Error("a node without enough requests was judged")
	}
}

func TestDecideOutliersRestoreAndBackoff(t *testing.T) {
	now := epoch.Add(time.Hour)
	o := defaults
	vs := decideOutliers([]nodeStats{
		{ejected: true, until: now, multiplier: 1},                      // due
		{ejected: true, until: now.Add(time.Nanosecond), multiplier: 1}, // not yet
		in(time.Millisecond),
	}, o, now)
	if !vs[0].restore || vs[0].multiplier != 1 || !vs[0].cleanSince.Equal(now) {
		t.Errorf("due node: %+v, want restored with multiplier kept", vs[0])
	}
	if vs[1].restore || vs[1].eject {
		t.Errorf("node ejected till after now: %+v, want left alone", vs[1])
	}
	// A node just restored is not judged on its old counts.
	vs = decideOutliers([]nodeStats{{ejected: true, until: now, consecutiveFailures: 9, available: true, requests: 9, latency: time.Second}, in(time.Millisecond), in(time.Millisecond)}, o, now)
	if !vs[0].restore || vs[0].eject {
		t.Errorf("restored node: %+v, want restored and not ejected", vs[0])
	}
	// The k-th ejection in a row lasts k×base, capped.
	b := o.BaseEjection
	for k, want := range map[int]time.Duration{0: b, 1: 2 * b, 2: 3 * b, 11: o.MaxEjection, 1000: o.MaxEjection} {
		s := failing(5)
		s.multiplier = k
		s.cleanSince = now
		vs := decideOutliers([]nodeStats{s, in(time.Millisecond), in(time.Millisecond)}, o, now)
		if got := vs[0].until.Sub(now); !vs[0].eject || got != want {
			t.Errorf("after %d in a row: eject %v for %v, want %v", k, vs[0].eject, got, want)
		}
	}
	// Staying in for base+slow start with MinRequests answered steps the
	// count down by one.
	s := in(time.Millisecond)
	s.multiplier, s.cleanSince, s.sinceClean = 3, now.Add(-o.BaseEjection-o.SlowStart+time.Nanosecond), 5
	if v := decideOutliers([]nodeStats{s}, o, now)[0]; v.multiplier != 3 {
		t.Errorf("multiplier stepped down early to %d", v.multiplier)
	}
	s.cleanSince = now.Add(-o.BaseEjection - o.SlowStart)
	s.sinceClean = 4
	if v := decideOutliers([]nodeStats{s}, o, now)[0]; v.multiplier != 3 {
		t.Errorf("multiplier stepped down to %d without evidence", v.multiplier)
	}
	s.sinceClean = 5
	if v := decideOutliers([]nodeStats{s}, o, now)[0]; v.multiplier != 2 || !v.cleanSince.Equal(now) || !v.steppedDown {
		t.Errorf("multiplier %d clean since %v, want 2 from now", v.multiplier, v.cleanSince.Sub(now))
	}
}

func TestDecideOutliersDisabled(t *testing.T) {
	now := epoch.Add(time.Hour)
	o := OutlierSettings{ConsecutiveFailures: -1, LatencyFactor: -1, StallEpisodes: -1}.withDefaults()
	if got := ejectedIdx(decideOutliers([]nodeStats{failing(50), in(time.Second), stalling(100), in(time.Millisecond), in(time.Millisecond)}, o, now)); got != nil {
		t.Fatalf("ejected %v with every check disabled", got)
	}
}

func TestMedianWithout(t *testing.T) {
	for _, tc := range []struct {
		sorted []float64
		v      float64
		want   float64
		ok     bool
	}{
		{[]float64{1, 1, 50}, 50, 1, true},
		{[]float64{1, 1, 50}, 1, 25.5, true},
		{[]float64{1, 2, 3, 4}, 9, 2.5, true}, // v not among them (restored or unknown)
		{[]float64{5}, 5, 0, false},
		{nil, 5, 0, false},
	} {
		got, ok := medianWithout(tc.sorted, tc.v)
		if got != tc.want || ok != tc.ok {
			t.Errorf("medianWithout(%v, %v) = %v %v, want %v %v", tc.sorted, tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

func TestOutlierSettingsValidate(t *testing.T) {
	good := []OutlierSettings{{}, {ConsecutiveFailures: -1, LatencyFactor: -1}, {MaxEjectedPercent: 100, LatencyFactor: 1.5}, {BaseEjection: time.Minute, MaxEjection: time.Minute}, {StalledShare: 1}}
	for _, o := range good {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	bad := []OutlierSettings{
		{Interval: -1}, {MinLatency: -1}, {BaseEjection: -1}, {MaxEjection: -1}, {SlowStart: -1},
		{MinRequests: -1}, {MaxEjectedPercent: -1}, {MaxEjectedPercent: 101},
		{LatencyFactor: 1}, {LatencyFactor: 0.5}, {LatencyFactor: math.NaN()}, {LatencyFactor: math.Inf(1)},
		{BaseEjection: 10 * time.Minute}, // above the default max
		{StalledShare: -0.1}, {StalledShare: 1.5}, {StalledShare: math.NaN()},
	}
	s := NewSet(nil, BreakerSettings{})
	for _, o := range bad {
		err := s.SetOutlierSettings(o)
		if err == nil {
			t.Errorf("%+v validated", o)
		} else if !strings.HasPrefix(err.Error(), "balancer: ") {
			t.Errorf("%+v: error %q lacks the package prefix", o, err)
		}
	}
	if got := s.OutlierSettings(); got != defaults {
		t.Errorf("after rejected settings: %+v, want the defaults", got)
	}
	if err := s.SetOutlierSettings(OutlierSettings{Interval: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if got := s.OutlierSettings(); got.Interval != 3*time.Second || got.BaseEjection != DefaultBaseEjection {
		t.Errorf("settings in force %+v", got)
	}
}

// outlierSet is a set of n nodes on a fake clock whose breakers stay
// closed, so ejection alone takes a node out.
func outlierSet(t *testing.T, ids ...string) (*Set, *fakeClock) {
	t.Helper()
	s := NewSet(nil, BreakerSettings{ConsecutiveFailures: 1000})
	// The tests below follow one node through ejections of 5s, 10s...:
	// short, so that their simulated seconds stay few.
	if err := s.SetOutlierSettings(OutlierSettings{BaseEjection: 5 * time.Second, MaxEjection: time.Minute}); err != nil {
		t.Fatal(err)
	}
	var specs []NodeSpec
	for _, id := range ids {
		specs = append(specs, NodeSpec{ID: id, PBAddr: id})
	}
	s.Update(specs)
	c := newFakeClock()
	c.attach(s.Nodes()...)
	return s, c
}

func finish(t *testing.T, n *Node, o Outcome, times int) {
	t.Helper()
	for range times {
		l := mustBegin(t, n)
		l.End(o)
	}
}

// answer finishes times successful requests of latency d on n.
func answer(t *testing.T, n *Node, d time.Duration, times int) {
	t.Helper()
	for range times {
		l := mustBegin(t, n)
		n.ObserveLatency(d)
		l.End(Success)
	}
}

func evaluate(t *testing.T, s *Set, c *fakeClock) (ejected, restored []string) {
	t.Helper()
	e, r := s.EvaluateOutliers(c.time())
	for _, n := range e {
		ejected = append(ejected, n.ID)
	}
	for _, n := range r {
		restored = append(restored, n.ID)
	}
	return ejected, restored
}

// TestBackByCheckEndsAFailureEjection: a node ejected for failures in a
// row whose health check then fails and passes again (killed, restarted)
// is let back in at the next evaluation; one whose checks only pass, or
// one ejected for its latency whose check failed and passed, serves its
// whole ejection.
func TestBackByCheckEndsAFailureEjection(t *testing.T) {
	th := HealthThresholds{Fails: 1, Passes: 1}
	// failOut ejects node a of three for 5 failures in a row, after
	// before(a) when given.
	failOut := func(t *testing.T, before func(a *Node)) (*Set, *fakeClock, *Node) {
		s, c := outlierSet(t, "a", "b", "c")
		a := s.Nodes()[0]
		if before != nil {
			before(a)
		}
		finish(t, a, Failure, 5)
		if e, _ := evaluate(t, s, c); len(e) != 1 || e[0] != "a" {
			t.Fatalf("ejected %v after 5 failures in a row, want [a]", e)
		}
		return s, c, a
	}
	t.Run("down and back", func(t *testing.T) {
		s, c, a := failOut(t, nil)
		a.RecordCheck(false, th)
		c.advance(time.Second)
		if _, r := evaluate(t, s, c); r != nil {
			t.Fatalf("restored %v while its check fails", r)
		}
		a.RecordCheck(true, th)
		c.advance(time.Second)
		if _, r := evaluate(t, s, c); len(r) != 1 || r[0] != "a" || a.Ejected() || a.Weight() > 0.2 {
			t.Fatalf("restored %v (ejected %v, weight %v) after its check failed and passed, want [a] at slow start", r, a.Ejected(), a.Weight())
		}
		// The comeback is used up: ejected again, it serves its time.
		finish(t, a, Failure, 5)
		if e, _ := evaluate(t, s, c); len(e) != 1 {
			t.Fatalf("ejected %v after 5 more failures, want [a]", e)
		}
		c.advance(time.Second)
		if _, r := evaluate(t, s, c); r != nil {
			t.Fatalf("restored %v on the check of its previous ejection", r)
		}
	})
	t.Run("checks only pass", func(t *testing.T) {
		s, c, a := failOut(t, nil)
		for range 3 {
			a.RecordCheck(true, th)
			c.advance(time.Second)
			if _, r := evaluate(t, s, c); r != nil {
				t.Fatalf("restored %v with no failed check", r)
			}
		}
	})
	t.Run("a check failed before the ejection", func(t *testing.T) {
		s, c, a := failOut(t, func(a *Node) {
			a.RecordCheck(false, th)
			a.RecordCheck(true, th) // back before the ejection: not evidence of a comeback after it
		})
		a.RecordCheck(true, th)
		c.advance(time.Second)
		if _, r := evaluate(t, s, c); r != nil {
			t.Fatalf("restored %v on a comeback before its ejection", r)
		}
	})
	t.Run("ejected for latency", func(t *testing.T) {
		s, c := outlierSet(t, "a", "b", "c")
		a, b, slow := s.Nodes()[0], s.Nodes()[1], s.Nodes()[2]
		for range 2 {
			answer(t, a, time.Millisecond, 10)
			answer(t, b, time.Millisecond, 10)
			answer(t, slow, 50*time.Millisecond, 5)
			evaluate(t, s, c)
			c.advance(time.Second)
		}
		if !slow.Ejected() {
			t.Fatal("slow node not ejected")
		}
		slow.RecordCheck(false, th)
		slow.RecordCheck(true, th)
		if _, r := evaluate(t, s, c); r != nil || !slow.Ejected() {
			t.Fatalf("restored %v: a latency ejection ended by a check", r)
		}
	})
}

func TestEjectOnConsecutiveFailuresThenSlowStart(t *testing.T) {
	s, c := outlierSet(t, "a", "b", "c")
	a := s.Nodes()[0]
	finish(t, a, Failure, 4)
	finish(t, a, Success, 1) // breaks the run
	finish(t, a, Failure, 4)
	if e, _ := evaluate(t, s, c); e != nil {
		t.Fatalf("ejected %v after 4 failures in a row", e)
	}
	finish(t, a, Failure, 1)
	t0 := c.time()
	if e, _ := evaluate(t, s, c); len(e) != 1 || e[0] != "a" {
		t.Fatalf("ejected %v after 5 failures in a row, want [a]", e)
	}
	if a.Available() || !a.Ejected() || a.Weight() != 0 || a.Ejections() != 1 || !a.EjectedUntil().Equal(t0.Add(5*time.Second)) {
		t.Fatalf("ejected node: available %v ejected %v weight %v ejections %d until +%v",
			a.Available(), a.Ejected(), a.Weight(), a.Ejections(), a.EjectedUntil().Sub(t0))
	}
	for range 100 {
		if s.Pick() == a {
			t.Fatal("ejected node picked")
		}
	}
	c.advance(5*time.Second - time.Nanosecond)
	if _, r := evaluate(t, s, c); r != nil || !a.Ejected() {
		t.Fatalf("restored %v before the ejection time", r)
	}
	c.advance(time.Nanosecond)
	if _, r := evaluate(t, s, c); len(r) != 1 || r[0] != "a" {
		t.Fatalf("restored %v after the ejection time, want [a]", r)
	}
	if !a.Available() || a.Ejected() || !a.EjectedUntil().IsZero() {
		t.Fatalf("restored node: available %v ejected %v until %v", a.Available(), a.Ejected(), a.EjectedUntil())
	}
	// The slow-start ramp: 0.1 at once, linear to 1 over SlowStart.
	for _, step := range []struct {
		after time.Duration
		want  float64
	}{{0, 0.1}, {2500 * time.Millisecond, 0.55}, {5 * time.Second, 1}, {time.Hour, 1}} {
		at := c.now() + int64(step.after)
		if got := a.weightAt(at); math.Abs(got-step.want) > 1e-9 {
			t.Errorf("weight %v into slow start = %v, want %v", step.after, got, step.want)
		}
	}
	// Failing again soon: the second ejection in a row lasts 2×base.
	c.advance(time.Second)
	finish(t, a, Failure, 5)
	t1 := c.time()
	if e, _ := evaluate(t, s, c); len(e) != 1 || !a.EjectedUntil().Equal(t1.Add(10*time.Second)) || a.Ejections() != 2 {
		t.Fatalf("second ejection: %v until +%v, ejections %d; want [a] for 10s", e, a.EjectedUntil().Sub(t1), a.Ejections())
	}
}

func TestPoliciesHonourSlowStartWeight(t *testing.T) {
	for _, name := range []string{PolicyPeakEWMA, PolicyPowerOfTwo, PolicyLeastOutstanding, PolicyRoundRobin} {
		t.Run(name, func(t *testing.T) {
			p, _ := PolicyByName(name)
			c := newFakeClock()
			ns := nodes("a", "b", "c")
			c.attach(ns...)
			start := c.now()
			ns[0].ramp.Store(&slowStartRamp{start: start, end: start + int64(5*time.Second)})
			share := func() float64 {
				got := 0
				for range 6000 {
					if p.Select(ns, nil) == ns[0] {
						got++
					}
				}
				return float64(got) / 6000
			}
			// Weight 0.1: well under a fair third.
			if got := share(); got > 0.1 {
				t.Errorf("share at weight 0.1 = %.3f, want at most 0.1", got)
			}
			c.advance(5 * time.Second)
			if got := share(); got < 0.25 {
				t.Errorf("share at weight 1 = %.3f, want about a third", got)
			}
			if ns[0].ramp.Load() != nil {
				t.Error("ramp not dropped after it ended")
			}
		})
	}
}

func TestEjectSlowNodeAndItsComeback(t *testing.T) {
	s, c := outlierSet(t, "a", "b", "c")
	a, b, slow := s.Nodes()[0], s.Nodes()[1], s.Nodes()[2]
	traffic := func(slowLat time.Duration) {
		answer(t, a, time.Millisecond, 10)
		answer(t, b, time.Millisecond, 10)
		answer(t, slow, slowLat, 5)
	}
	traffic(50 * time.Millisecond)
	if e, _ := evaluate(t, s, c); e != nil {
		t.Fatalf("ejected %v the first time c stood out, want none", e)
	}
	c.advance(time.Second)
	traffic(50 * time.Millisecond)
	if e, _ := evaluate(t, s, c); len(e) != 1 || e[0] != "c" {
		t.Fatalf("ejected %v with c at 50ms among 1ms twice, want [c]", e)
	}
	if why := slow.EjectionReason(); !strings.HasPrefix(why, "latency 50ms") {
		t.Fatalf("ejection reason %q, want its latency", why)
	}
	// Back after 5s, its estimate forgotten: unknown, at slow-start weight.
	c.advance(5 * time.Second)
	if _, r := evaluate(t, s, c); len(r) != 1 || slow.LatencyEWMA() != 0 || slow.Weight() >= 0.2 {
		t.Fatalf("restored %v, estimate %v, weight %v; want [c], unknown, about 0.1", r, slow.LatencyEWMA(), slow.Weight())
	}
	// No traffic, no evidence: not ejected again, however long.
	for range 10 {
		c.advance(time.Second)
		answer(t, a, time.Millisecond, 10)
		answer(t, b, time.Millisecond, 10)
		if e, _ := evaluate(t, s, c); e != nil {
			t.Fatalf("ejected %v without new evidence", e)
		}
	}
	// Still slow once it has answered enough: ejected again at once (it
	// was ejected before and not yet forgiven), for longer.
	c.advance(time.Second)
	traffic(50 * time.Millisecond)
	if e, _ := evaluate(t, s, c); len(e) != 1 || !slow.EjectedUntil().Equal(c.time().Add(10*time.Second)) {
		t.Fatalf("ejected %v until +%v, want [c] for 10s", e, slow.EjectedUntil().Sub(c.time()))
	}
	// Fast after the next comeback: it stays in.
	c.advance(10 * time.Second)
	if _, r := evaluate(t, s, c); len(r) != 1 {
		t.Fatalf("restored %v, want [c]", r)
	}
	for range 20 {
		c.advance(time.Second)
		traffic(time.Millisecond)
		if e, _ := evaluate(t, s, c); e != nil {
			t.Fatalf("ejected %v with every node at 1ms", e)
		}
	}
	if slow.Weight() != 1 || !slow.Available() || slow.Ejections() != 2 {
		t.Fatalf("weight %v available %v ejections %d, want back in fully after 2 ejections", slow.Weight(), slow.Available(), slow.Ejections())
	}
}

func TestEjectionLimits(t *testing.T) {
	t.Run("3ms among 1ms", func(t *testing.T) {
		s, c := outlierSet(t, "a", "b", "c")
		for i, n := range s.Nodes() {
			answer(t, n, time.Duration(1+2*(i/2))*time.Millisecond, 10) // 1, 1, 3ms
		}
		if e, _ := evaluate(t, s, c); e != nil {
			t.Fatalf("ejected %v for 3ms, below MinLatency", e)
		}
	})
	t.Run("two nodes both slow", func(t *testing.T) {
		s, c := outlierSet(t, "a", "b")
		for _, n := range s.Nodes() {
			answer(t, n, 200*time.Millisecond, 10)
		}
		if e, _ := evaluate(t, s, c); len(e) > 1 {
			t.Fatalf("ejected %v of two slow nodes", e)
		}
		for _, n := range s.Nodes() {
			finish(t, n, Failure, 10)
		}
		if e, _ := evaluate(t, s, c); len(e) != 1 {
			t.Fatalf("ejected %v of two failing nodes, want one", e)
		}
		c.advance(time.Minute)
		for range 5 {
			for _, n := range s.Nodes() {
				finish(t, n, Failure, 10)
			}
			evaluate(t, s, c)
			ej := 0
			for _, n := range s.Nodes() {
				if n.Ejected() {
					ej++
				}
			}
			if ej > 1 {
				t.Fatal("both nodes ejected")
			}
			c.advance(time.Second)
		}
	})
	t.Run("the last available node", func(t *testing.T) {
		s, c := outlierSet(t, "a", "b")
		a, b := s.Nodes()[0], s.Nodes()[1]
		b.RecordCheck(false, HealthThresholds{Fails: 1})
		finish(t, a, Failure, 10)
		if e, _ := evaluate(t, s, c); e != nil || !a.Available() {
			t.Fatalf("ejected %v, the last available node", e)
		}
	})
}

func TestEvaluateOutliersConcurrentWithPicks(t *testing.T) {
	s, c := outlierSet(t, "a", "b", "c")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if n := s.Pick(); n != nil {
				if fin, err := n.Begin(); err == nil {
					n.ObserveLatency(time.Millisecond)
					fin.End(Failure)
				}
				_ = n.Weight()
				_ = n.EjectedUntil()
			}
		}
	}()
	for range 200 {
		c.advance(time.Second)
		s.EvaluateOutliers(c.time())
	}
	close(stop)
	<-done
}

// FuzzDecideOutliers checks decideOutliers' invariants on arbitrary node
// states and settings.
func FuzzDecideOutliers(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0})
	f.Add([]byte{5, 34, 3, 1, 5, 5, 0x21, 9, 0, 1, 0x21, 0, 0, 1, 0x21, 0, 0, 1})
	f.Add([]byte{0, 100, 0, 0, 0, 0, 0x21, 9, 0, 0, 0x21, 9, 0, 0})
	f.Add([]byte{1, 1, 1, 1, 1, 1, 0x01, 0, 200, 9, 0x21, 0, 1, 9, 0x23, 0, 1, 9, 0x13, 7, 2, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() int {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return int(b)
		}
		now := epoch.Add(time.Hour)
		o := OutlierSettings{
			ConsecutiveFailures: next()%12 - 1,
			MaxEjectedPercent:   next() % 101,
			LatencyFactor:       []float64{0, -1, 1.5, 3, 10}[next()%5],
			MinRequests:         next() % 8,
			BaseEjection:        time.Duration(next()%10) * time.Second,
			MaxEjection:         time.Duration(next()%100) * time.Second,
		}
		if o.Validate() != nil {
			return
		}
		o = o.withDefaults()
		var stats []nodeStats
		for len(data) >= 4 && len(stats) < 40 {
			flags, x, y, z := next(), next(), next(), next()
			s := nodeStats{
				available:           flags&1 != 0,
				ejected:             flags&2 != 0,
				multiplier:          flags >> 4,
				consecutiveFailures: uint64(x % 16),
				requests:            uint64(y % 16),
				latency:             time.Duration(x) * time.Duration(y) * 100 * time.Microsecond,
				cleanSince:          now.Add(-time.Duration(z) * time.Second),
				sinceClean:          uint64(z % 8),
			}
			if s.ejected {
				s.until = now.Add(time.Duration(z-128) * 100 * time.Millisecond)
			}
			if flags&4 != 0 {
				s.latency = 0
			}
			stats = append(stats, s)
		}
		vs := decideOutliers(stats, o, now)
		if len(vs) != len(stats) {
			t.Fatalf("%d verdicts for %d nodes", len(vs), len(stats))
		}
		before, after, availIn, availOut, newly := 0, 0, 0, 0, 0
		for i, v := range vs {
			s := stats[i]
			if v.restore && v.eject {
				t.Fatalf("node %d both restored and ejected", i)
			}
			if v.restore != (s.ejected && !now.Before(s.until)) {
				t.Fatalf("node %d: restore %v, ejected %v until %v", i, v.restore, s.ejected, s.until.Sub(now))
			}
			if !v.eject && v.multiplier != s.multiplier && (v.multiplier != s.multiplier-1 || s.ejected) {
				t.Fatalf("node %d multiplier %d from %d without an ejection", i, v.multiplier, s.multiplier)
			}
			stillOut := s.ejected && !v.restore
			if stillOut {
				before++
				if v.eject {
					t.Fatalf("node %d ejected while ejected", i)
				}
			}
			if stillOut || v.eject {
				after++
			}
			if !stillOut && s.available {
				availIn++
				if !v.eject {
					availOut++
				}
			}
			if v.eject {
				newly++
				d := v.until.Sub(now)
				if d < o.BaseEjection || d > o.MaxEjection || d != o.ejectionTime(v.multiplier) {
					t.Fatalf("node %d ejected for %v (multiplier %d), want within [%v, %v]", i, d, v.multiplier, o.BaseEjection, o.MaxEjection)
				}
				if v.multiplier < 1 || v.multiplier > max(s.multiplier, 0)+1 {
					t.Fatalf("node %d multiplier %d after %d", i, v.multiplier, s.multiplier)
				}
				byFailures := o.ConsecutiveFailures > 0 && s.consecutiveFailures >= uint64(o.ConsecutiveFailures)
				byLatency := o.LatencyFactor > 0 && s.requests >= uint64(o.MinRequests) && s.latency > o.MinLatency
				if !byFailures && !byLatency {
					t.Fatalf("node %d ejected without cause: %+v", i, s)
				}
			}
		}
		if newly > 0 && after > o.maxEjected(len(stats)) {
			t.Fatalf("%d of %d ejected, limit %d", after, len(stats), o.maxEjected(len(stats)))
		}
		if availIn > 0 && availOut == 0 {
			t.Fatalf("ejected the last available node (%d were available)", availIn)
		}
	})
}

// setPolicy lets sim drive a Set's Pick, ejections and all.
type setPolicy struct{ s *Set }

func (p setPolicy) Select([]*Node, func(*Node) bool) *Node { return p.s.Pick() }

// TestPeakEWMAAndEjectionUnderLoad runs the director's loop on a fake
// clock: 5000 requests a second, EvaluateOutliers every second.
func TestPeakEWMAAndEjectionUnderLoad(t *testing.T) {
	set, c := outlierSet(t, "a", "b", "c")
	ns := set.Nodes()
	slow := ns[2]
	sm := &sim{c: c, ns: ns, lat: map[*Node]time.Duration{ns[0]: time.Millisecond, ns[1]: time.Millisecond, slow: 50 * time.Millisecond}}
	const perSecond, step = 5000, 200 * time.Microsecond
	// second runs one second of traffic, then an evaluation.
	second := func() (picks int, ejected, restored bool) {
		picks = sm.run(t, setPolicy{set}, perSecond, step)[slow]
		e, r := set.EvaluateOutliers(c.time())
		return picks, len(e) == 1 && e[0] == slow, len(r) == 1 && r[0] == slow
	}
	// waitFor runs up to limit seconds until cond holds on a second's result.
	waitFor := func(what string, limit int, cond func(picks int, ejected, restored bool) bool) int {
		t.Helper()
		for s := 1; s <= limit; s++ {
			if cond(second()) {
				return s
			}
		}
		t.Fatalf("%s: not within %ds", what, limit)
		return 0
	}
	isEjected := func(_ int, e, _ bool) bool { return e }
	isRestored := func(_ int, _, r bool) bool { return r }

	// PeakEWMA leaves it after its first answers, so it gathers its five
	// requests of evidence from the probes its decaying estimate draws.
	waitFor("slow node ejected", 15, isEjected)
	base := set.OutlierSettings().BaseEjection
	secs := func(d time.Duration) int { return int(d/time.Second) + 1 }
	if d := slow.EjectedUntil().Sub(c.time()); d != base {
		t.Fatalf("first ejection for %v, want %v", d, base)
	}
	waitFor("slow node restored", secs(base), isRestored)
	// Unknown again at slow-start weight, it draws enough requests to be
	// judged, and is still slow: ejected again, for longer.
	waitFor("slow node ejected again", 15, isEjected)
	if d := slow.EjectedUntil().Sub(c.time()); d != 2*base {
		t.Fatalf("second ejection for %v, want %v", d, 2*base)
	}
	// It turns fast; after its next comeback it stays in and earns its share.
	sm.lat[slow] = time.Millisecond
	waitFor("restored again", secs(2*base), isRestored)
	late := 0
	for s := range 20 {
		picks, ejected, _ := second()
		if ejected {
			t.Fatalf("fast node ejected %ds after its comeback", s+1)
		}
		if s >= 15 {
			late += picks
		}
	}
	if late*4 < 5*perSecond {
		t.Fatalf("recovered node got %d of %d picks in its last 5s, want a quarter or more", late, 5*perSecond)
	}
	if slow.Ejections() != 2 || slow.Weight() != 1 {
		t.Fatalf("ejections %d weight %v, want 2 and 1", slow.Ejections(), slow.Weight())
	}
}

func TestLatencyJudgedAsOfLastAnswer(t *testing.T) {
	s, c := outlierSet(t, "a", "b", "c")
	a, b, slow := s.Nodes()[0], s.Nodes()[1], s.Nodes()[2]
	answer(t, slow, 50*time.Millisecond, 5)
	// Avoided and idle, its estimate decays below MinLatency: that is the
	// policy's probing, not evidence that it got faster.
	c.advance(6 * time.Second)
	answer(t, a, time.Millisecond, 10)
	answer(t, b, time.Millisecond, 10)
	if got := slow.LatencyEWMA(); got >= DefaultMinLatency {
		t.Fatalf("idle estimate %v, want decayed below %v", got, DefaultMinLatency)
	}
	if e, _ := evaluate(t, s, c); e != nil {
		t.Fatalf("ejected %v the first time it stood out, want none", e)
	}
	c.advance(time.Second)
	if e, _ := evaluate(t, s, c); len(e) != 1 || e[0] != "c" {
		t.Fatalf("ejected %v, want [c] judged at its last answer's 50ms", e)
	}
}

// TestStalledTimeAccounting: the evidence of the stalled-share check is
// the time a node spent stalled past its threshold since the previous
// evaluation, an episode still on at an evaluation counted up to it and
// the rest at the next, never twice.
func TestStalledTimeAccounting(t *testing.T) {
	c := newFakeClock()
	n := nodes("a")[0]
	c.attach(n)
	n.SetStallAfter(10 * time.Millisecond)
	stats := func() nodeStats {
		s, _ := n.outlierStats(c.time())
		return s
	}
	if s := stats(); s.window != 0 || s.stalledFor != 0 {
		t.Fatalf("first evaluation: window %v stalled %v, want 0 and 0", s.window, s.stalledFor)
	}
	// An episode: 50 ms without an answer, 40 past the threshold.
	done, _ := n.Begin()
	c.advance(50 * time.Millisecond)
	if !n.Stalled() {
		t.Fatal("not stalled after 50 ms with a request in flight")
	}
	done.End(Success)
	// A slow answer that nobody saw as a stall is no evidence.
	done, _ = n.Begin()
	c.advance(30 * time.Millisecond)
	done.End(Success)
	// An episode still on at the evaluation.
	done, _ = n.Begin()
	c.advance(920 * time.Millisecond)
	s := stats()
	// The third began at 80 ms: 920 ms without an answer at 1 s.
	if want := 40*time.Millisecond + 910*time.Millisecond; s.window != time.Second || s.stalledFor != want || s.stalls != 2 {
		t.Fatalf("window %v: stalled %v in %d episodes, want 1s, %v in 2", s.window, s.stalledFor, s.stalls, want)
	}
	// It ends 100 ms into the next window: only those 100 ms are new.
	c.advance(100 * time.Millisecond)
	done.End(Success)
	c.advance(900 * time.Millisecond)
	if s := stats(); s.stalledFor != 100*time.Millisecond || s.stalls != 0 {
		t.Fatalf("next window: stalled %v in %d new episodes, want 100ms in 0", s.stalledFor, s.stalls)
	}
	if s := stats(); s.stalledFor != 0 {
		t.Fatalf("a quiet window: stalled %v, want 0", s.stalledFor)
	}
}
