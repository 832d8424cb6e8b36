package kv

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func vc(pairs ...any) VClock {
	var out VClock
	for i := 0; i < len(pairs); i += 2 {
		actor := pairs[i].(string)
		for range pairs[i+1].(int) {
			out = out.Increment(actor, time.Unix(1000, 0))
		}
	}
	return out
}

func TestVClockAlgebra(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                   string
		a, b                   VClock
		descends, equal, dom   bool
		concurrent, bDescendsA bool
	}{
		{name: "both empty", a: nil, b: nil, descends: true, equal: true, bDescendsA: true},
		{name: "anything descends empty", a: vc("x", 1), b: nil, descends: true, dom: true},
		{name: "empty descends nothing", a: nil, b: vc("x", 1), bDescendsA: true},
		{name: "equal", a: vc("x", 2, "y", 1), b: vc("y", 1, "x", 2), descends: true, equal: true, bDescendsA: true},
		{name: "higher counter dominates", a: vc("x", 3), b: vc("x", 2), descends: true, dom: true},
		{name: "extra actor dominates", a: vc("x", 1, "y", 1), b: vc("x", 1), descends: true, dom: true},
		{name: "concurrent counters", a: vc("x", 2, "y", 1), b: vc("x", 1, "y", 2), concurrent: true},
		{name: "concurrent disjoint actors", a: vc("x", 1), b: vc("y", 1), concurrent: true},
		{name: "dominated", a: vc("x", 1), b: vc("x", 1, "z", 4), bDescendsA: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Descends(tc.b); got != tc.descends {
				t.Errorf("a.Descends(b) = %v, want %v", got, tc.descends)
			}
			if got := Descends(tc.b, tc.a); got != tc.bDescendsA {
				t.Errorf("Descends(b, a) = %v, want %v", got, tc.bDescendsA)
			}
			if got := tc.a.Equal(tc.b); got != tc.equal {
				t.Errorf("Equal = %v, want %v", got, tc.equal)
			}
			if got := tc.a.Dominates(tc.b); got != tc.dom {
				t.Errorf("Dominates = %v, want %v", got, tc.dom)
			}
			if got := tc.a.Concurrent(tc.b); got != tc.concurrent {
				t.Errorf("Concurrent = %v, want %v", got, tc.concurrent)
			}
			m := MergeVClocks(tc.a, tc.b)
			if !m.Descends(tc.a) || !m.Descends(tc.b) {
				t.Errorf("merge %v does not descend both inputs", m)
			}
			if !m.Equal(MergeVClocks(tc.b, tc.a)) {
				t.Errorf("merge not commutative")
			}
			if !m.valid() {
				t.Errorf("merge %v not canonical", m)
			}
		})
	}
}

func TestVClockIncrementIsPure(t *testing.T) {
	t.Parallel()
	base := vc("b", 1, "d", 1)
	got := base.Increment("c", time.Unix(2000, 0))
	if want := vc("b", 1, "c", 1, "d", 1); !got.Equal(want) || !got.valid() {
		t.Fatalf("Increment new actor = %v, want %v", got, want)
	}
	got2 := got.Increment("b", time.Unix(3000, 0))
	if got2.Counter("b") != 2 || got.Counter("b") != 1 || base.Counter("b") != 1 {
		t.Fatalf("Increment mutated its receiver: base=%v got=%v got2=%v", base, got, got2)
	}
	if got2[0].Timestamp != 3000 {
		t.Fatalf("timestamp = %d, want 3000", got2[0].Timestamp)
	}
	if base.Counter("zz") != 0 {
		t.Fatal("Counter of absent actor not 0")
	}
}

func TestMergeVClocksKeepsNewestTimestamp(t *testing.T) {
	t.Parallel()
	a := VClock{{Actor: "x", Counter: 2, Timestamp: 10}, {Actor: "y", Counter: 1, Timestamp: 50}}
	b := VClock{{Actor: "x", Counter: 2, Timestamp: 20}, {Actor: "y", Counter: 3, Timestamp: 5}, {Actor: "z", Counter: 1, Timestamp: 7}}
	got := MergeVClocks(a, b, nil)
	want := VClock{{Actor: "x", Counter: 2, Timestamp: 20}, {Actor: "y", Counter: 3, Timestamp: 5}, {Actor: "z", Counter: 1, Timestamp: 7}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestVClockEncodeRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		vc   VClock
	}{
		{"empty", nil},
		{"one", vc("actor-1", 1)},
		{"binary actors", VClock{{Actor: "\x00\xff", Counter: 1 << 40, Timestamp: -5}, {Actor: "\x01", Counter: 1, Timestamp: 1 << 40}}},
		{"many", vc("a", 3, "b", 200, "c", 1, "dddddddd", 7)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc := tc.vc.Encode()
			if len(tc.vc) == 0 && enc != nil {
				t.Fatalf("empty clock encodes to %x, want nil", enc)
			}
			got, err := DecodeVClock(enc)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if len(got) != len(tc.vc) {
				t.Fatalf("got %v want %v", got, tc.vc)
			}
			for i := range got {
				if got[i] != tc.vc[i] {
					t.Fatalf("entry %d: got %+v want %+v", i, got[i], tc.vc[i])
				}
			}
			if !bytes.Equal(got.Encode(), enc) {
				t.Fatal("re-encoding differs")
			}
			if vclockSize(tc.vc) != len(enc) {
				t.Fatalf("vclockSize = %d, len = %d", vclockSize(tc.vc), len(enc))
			}
		})
	}
}

func TestDecodeVClockRejects(t *testing.T) {
	t.Parallel()
	good := vc("a", 1, "b", 2).Encode()
	cases := []struct {
		name string
		in   []byte
	}{
		{"unknown format", []byte{0x02, 1, 1, 'a', 1, 0}},
		{"zero entries", []byte{0x01, 0}},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"zero counter", []byte{0x01, 1, 1, 'a', 0, 0}},
		{"empty actor", []byte{0x01, 1, 0, 1, 0}},
		{"out of order", []byte{0x01, 2, 1, 'b', 1, 0, 1, 'a', 1, 0}},
		{"duplicate actor", []byte{0x01, 2, 1, 'a', 1, 0, 1, 'a', 2, 0}},
		{"non-minimal varint", []byte{0x01, 1, 1, 'a', 0x81, 0x00, 0}},
		{"huge count", []byte{0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 'a', 1, 0}},
		{"actor too long", append([]byte{0x01, 1, 0x80, 0x02}, make([]byte, 300)...)},
		{"riak term_to_binary", []byte{0x6b, 0xce, 0x61, 0x60, 0x60, 0x60}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeVClock(tc.in)
			if !errors.Is(err, ErrInvalidVClock) {
				t.Fatalf("DecodeVClock = %v, %v; want ErrInvalidVClock", got, err)
			}
		})
	}
}

func FuzzVClockDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(vc("a", 1).Encode())
	f.Add(vc("a", 3, "b", 200, "c", 1).Encode())
	f.Add([]byte{0x01, 2, 1, 'b', 1, 0, 1, 'a', 1, 0})
	f.Add([]byte{0x01, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := DecodeVClock(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidVClock) {
				t.Fatalf("error not ErrInvalidVClock: %v", err)
			}
			return
		}
		if !got.valid() {
			t.Fatalf("decoded non-canonical clock %v", got)
		}
		if !bytes.Equal(got.Encode(), in) {
			t.Fatalf("not canonical: %x re-encodes to %x", in, got.Encode())
		}
		// Algebra sanity on whatever decoded.
		inc := got.Increment("fuzz", time.Unix(1, 0))
		if !inc.Dominates(got) || !MergeVClocks(got, inc).Equal(inc) {
			t.Fatalf("increment/merge broken on %v", got)
		}
	})
}
