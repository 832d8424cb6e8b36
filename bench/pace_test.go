package bench

import (
	"context"
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	start := time.Unix(1000, 0)
	tests := []struct {
		name            string
		worker, workers int
		rate            float64
		first, second   time.Duration // after start
	}{
		{"one worker, 100/s", 0, 1, 100, 0, 10 * time.Millisecond},
		{"first of four at 100/s", 0, 4, 100, 0, 40 * time.Millisecond},
		{"third of four at 100/s", 2, 4, 100, 20 * time.Millisecond, 60 * time.Millisecond},
		{"last of 32 at 1000/s", 31, 32, 1000, 31 * time.Millisecond, 63 * time.Millisecond},
		{"faster than a microsecond is a microsecond", 0, 1, 1e7, 0, time.Microsecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSchedule(start, tc.worker, tc.workers, tc.rate)
			if got := s.take().Sub(start); got != tc.first {
				t.Errorf("first start +%v, want +%v", got, tc.first)
			}
			if got := s.take().Sub(start); got != tc.second {
				t.Errorf("second start +%v, want +%v", got, tc.second)
			}
		})
	}
}

func TestValidRate(t *testing.T) {
	for r, want := range map[float64]bool{0: true, 0.5: true, 1000: true, 1e7: true, -1: false, 1e8: false} {
		if got := validRate(r); got != want {
			t.Errorf("validRate(%v) = %v, want %v", r, got, want)
		}
	}
	cfg := Config{Rate: -5}
	cfg.setDefaults()
	if err := cfg.Validate(); err == nil {
		t.Error("Validate accepted a negative rate")
	}
}

// TestRunAtRate runs an open loop at 200 ops/s against a fake node that
// the test freezes for 200 ms: the run keeps to the rate, and the
// operations the freeze held up count their wait from their scheduled
// start, so about a tenth of them (not only the four in flight) are
// slower than 80 ms.
func TestRunAtRate(t *testing.T) {
	f := startFakeNode(t)
	mix, _ := ParseMix("get:1,put:1")
	freeze := func() {
		go func() {
			time.Sleep(400 * time.Millisecond)
			f.mu.Lock()
			time.Sleep(200 * time.Millisecond)
			f.mu.Unlock()
		}()
	}
	res, err := Run(context.Background(), Config{Driver: DriverRaw, PBAddrs: []string{f.addr()}, Duration: 1500 * time.Millisecond,
		Concurrency: 4, Rate: 200, Mix: mix, Keys: 50, Seed: 1, OnMeasureStart: freeze})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rate != 200 {
		t.Errorf("result rate %v, want 200", res.Rate)
	}
	if n := res.All.Count; n < 200 || n > 400 {
		t.Fatalf("%d operations in 1.5 s at 200/s, want about 300", n)
	}
	if p95 := res.All.Latency.P95; p95 < 80_000 {
		t.Errorf("p95 %.0f µs: the operations scheduled during the 200 ms freeze must count their wait", p95)
	}
	if p50 := res.All.Latency.Median; p50 > 50_000 {
		t.Errorf("p50 %.0f µs: most operations ran on time", p50)
	}
}
