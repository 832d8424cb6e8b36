package autoprocs

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	p := Policy{Max: 4, Up: 0.5, Down: 0.25, UpAfter: 2, DownAfter: 3}.withDefaults()
	steps := []struct {
		use  float64
		want int
	}{
		{0.1, 1}, {0.6, 1}, {0.3, 1}, // one busy sample, then a middling one: no streak
		{0.6, 1}, {0.7, 4}, // two in a row: every CPU
		{0.9, 4}, {0.4, 4}, // busy, then between Down and Up: stays
		{0.2, 4}, {0.1, 4}, {0.3, 4}, // a middling sample breaks the light streak
		{0.1, 4}, {0.1, 4}, {0.0, 1}, // three light in a row: back to one
		{0.0, 1}, {0.2, 1},
	}
	s := State{Procs: 1}
	for i, st := range steps {
		s = p.Next(s, st.use)
		if s.Procs != st.want {
			t.Fatalf("step %d (use %.2f): procs %d, want %d (state %+v)", i, st.use, s.Procs, st.want, s)
		}
	}
}

func TestDefaults(t *testing.T) {
	p := Policy{}.withDefaults()
	if p.Max != runtime.NumCPU() || p.Interval != DefaultInterval || p.Up != DefaultUp || p.Down != DefaultDown ||
		p.UpAfter != DefaultUpAfter || p.DownAfter != DefaultDownAfter {
		t.Errorf("defaults %+v", p)
	}
	if p := (Policy{Up: 0.2, Down: 0.8}).withDefaults(); p.Down > p.Up {
		t.Errorf("Down %v above Up %v", p.Down, p.Up)
	}
}

// TestRun drives the loop with a fake CPU meter: busy for a while, then
// idle; GOMAXPROCS (a fake setter) goes to Max and back to 1, and the one
// found at the start is restored when ctx ends.
func TestRun(t *testing.T) {
	var mu sync.Mutex
	procs, used := 3, time.Duration(0) // procs: what the process had before Run
	var busy bool
	var changes []int
	cpu := func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		if busy {
			used += 9 * time.Millisecond // 0.9 CPU over each 10 ms sample
		}
		return used
	}
	clock := time.Unix(0, 0)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(10 * time.Millisecond)
		return clock
	}
	set := func(n int) int {
		mu.Lock()
		defer mu.Unlock()
		old := procs
		procs = n
		return old
	}
	current := func() int { mu.Lock(); defer mu.Unlock(); return procs }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, Policy{Max: 2, Interval: time.Millisecond}.withDefaults(), cpu, now, set, func(n int, _ float64) {
			mu.Lock()
			changes = append(changes, n)
			mu.Unlock()
		})
	}()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("not within 10s: %s", what)
			}
		}
	}
	waitFor("GOMAXPROCS 1 at the start", func() bool { return current() == 1 })
	mu.Lock()
	busy = true
	mu.Unlock()
	waitFor("GOMAXPROCS 2 under load", func() bool { return current() == 2 })
	mu.Lock()
	busy = false
	mu.Unlock()
	waitFor("GOMAXPROCS 1 when light again", func() bool { return current() == 1 })
	cancel()
	<-done
	if got := current(); got != 3 {
		t.Errorf("GOMAXPROCS %d after Run ended, want the 3 it found", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 2 || changes[0] != 2 || changes[1] != 1 {
		t.Errorf("changes heard %v, want [2 1]", changes)
	}
}

// TestCPUTime: the meter counts this process's own work.
func TestCPUTime(t *testing.T) {
	before := cpuTime()
	if before < 0 {
		t.Skip("no CPU meter on this system")
	}
	// Spin until it shows 10 ms more (a busy machine may give this
	// goroutine little of a CPU), for at most 10 s.
	x := 0
	for deadline := time.Now().Add(10 * time.Second); cpuTime()-before < 10*time.Millisecond; x++ {
		if time.Now().After(deadline) {
			t.Fatalf("cpuTime grew %v over 10s of spinning (x=%d)", cpuTime()-before, x)
		}
	}
}
