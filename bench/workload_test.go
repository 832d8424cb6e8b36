package bench

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		want    [numOps]int
		wantErr bool
	}{
		{name: "full", spec: "get:4,put:4,update:1,delete:1", want: [numOps]int{4, 4, 1, 1}},
		{name: "spaces", spec: " get:1 , put: 2", want: [numOps]int{1, 2, 0, 0}},
		{name: "zero weight kept out", spec: "get:1,delete:0", want: [numOps]int{1, 0, 0, 0}},
		{name: "empty", spec: "", wantErr: true},
		{name: "unknown op", spec: "get:1,scan:2", wantErr: true},
		{name: "no weight", spec: "get", wantErr: true},
		{name: "negative", spec: "get:-1", wantErr: true},
		{name: "not a number", spec: "get:x", wantErr: true},
		{name: "all zero", spec: "get:0,put:0", wantErr: true},
		{name: "duplicate", spec: "get:1,get:2", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMix(tc.spec)
			if tc.wantErr {
				if !errors.Is(err, ErrBadWorkload) {
					t.Fatalf("ParseMix(%q) err = %v, want ErrBadWorkload", tc.spec, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Weights != tc.want {
				t.Errorf("weights = %v, want %v", m.Weights, tc.want)
			}
			again, err := ParseMix(m.String())
			if err != nil || again.Weights != m.Weights {
				t.Errorf("String() %q does not round-trip: %v %v", m.String(), again.Weights, err)
			}
		})
	}
}

func TestNamedWorkloads(t *testing.T) {
	for _, name := range WorkloadNames() {
		m, err := NamedWorkload(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.total == 0 {
			t.Errorf("%s: empty mix", name)
		}
	}
	rh, _ := NamedWorkload("read-heavy")
	if rh.Weights[OpGet]*10 < rh.total*8 {
		t.Errorf("read-heavy %v is not read-heavy", rh)
	}
	wh, _ := NamedWorkload("write-heavy")
	if wh.Weights[OpPut]*2 < wh.total {
		t.Errorf("write-heavy %v is not write-heavy", wh)
	}
	if _, err := NamedWorkload("bogus"); !errors.Is(err, ErrBadWorkload) {
		t.Errorf("unknown workload: err = %v", err)
	}
}

func TestMixPick(t *testing.T) {
	m, _ := ParseMix("get:3,delete:1")
	r := rand.New(rand.NewPCG(1, 2))
	var n [numOps]int
	const draws = 40000
	for range draws {
		n[m.Pick(r)]++
	}
	if n[OpPut] != 0 || n[OpUpdate] != 0 {
		t.Fatalf("picked ops with weight 0: %v", n)
	}
	if got := float64(n[OpGet]) / draws; got < 0.73 || got > 0.77 {
		t.Errorf("get share = %.3f, want about 0.75", got)
	}
}

func TestKeyGen(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	t.Run("uniform range", func(t *testing.T) {
		g, err := NewKeyGen(KeyUniform, 100)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[uint64]bool{}
		for range 20000 {
			k := g.Next(r)
			if k >= 100 {
				t.Fatalf("key %d out of range", k)
			}
			seen[k] = true
		}
		if len(seen) != 100 {
			t.Errorf("uniform drew %d distinct keys of 100", len(seen))
		}
	})
	t.Run("pareto skew", func(t *testing.T) {
		const n = 10000
		g, _ := NewKeyGen(KeyPareto, n)
		low := 0
		const draws = 50000
		for range draws {
			k := g.Next(r)
			if k >= n {
				t.Fatalf("key %d out of range", k)
			}
			if k < n/5 {
				low++
			}
		}
		// Uniform would give 20% to the lowest fifth; pareto gives most.
		if share := float64(low) / draws; share < 0.6 {
			t.Errorf("lowest 20%% of keys got %.2f of draws, want > 0.6", share)
		}
	})
	t.Run("sequential wraps", func(t *testing.T) {
		g, _ := NewKeyGen(KeySequential, 3)
		var got []uint64
		for range 7 {
			got = append(got, g.Next(r))
		}
		want := []uint64{0, 1, 2, 0, 1, 2, 0}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("sequence = %v, want %v", got, want)
			}
		}
	})
	t.Run("bad", func(t *testing.T) {
		if _, err := NewKeyGen("zipf", 10); !errors.Is(err, ErrBadKeyDist) {
			t.Errorf("unknown dist: err = %v", err)
		}
		if _, err := NewKeyGen(KeyUniform, 0); !errors.Is(err, ErrBadKeyDist) {
			t.Errorf("zero keys: err = %v", err)
		}
	})
}

func TestParseValueSize(t *testing.T) {
	tests := []struct {
		in       string
		min, max int
		wantErr  bool
	}{
		{in: "1024", min: 1024, max: 1024},
		{in: "0", min: 0, max: 0},
		{in: "100-2000", min: 100, max: 2000},
		{in: "5-5", min: 5, max: 5},
		{in: "", wantErr: true},
		{in: "big", wantErr: true},
		{in: "10-", wantErr: true},
		{in: "-5", wantErr: true},
		{in: "200-100", wantErr: true},
		{in: "1-999999999", wantErr: true},
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			v, err := ParseValueSize(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrBadValueSize) {
					t.Fatalf("ParseValueSize(%q) err = %v, want ErrBadValueSize", tc.in, err)
				}
				return
			}
			if err != nil || v.Min != tc.min || v.Max != tc.max {
				t.Fatalf("ParseValueSize(%q) = %v, %v", tc.in, v, err)
			}
			src := newValueSource(v, 7)
			for range 1000 {
				if n := len(src.next(r)); n < tc.min || n > tc.max {
					t.Fatalf("value of %d bytes outside %v", n, v)
				}
			}
		})
	}
}
