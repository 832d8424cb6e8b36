package ring

import (
	"errors"
	"fmt"
	"testing"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		size    int
		members []string
		wantErr error
	}{
		{name: "default", size: 64, members: []string{"a"}},
		{name: "one partition", size: 1, members: []string{"a"}},
		{name: "max", size: 1024, members: []string{"a", "b"}},
		{name: "zero", size: 0, members: []string{"a"}, wantErr: ErrBadSize},
		{name: "not power of two", size: 48, members: []string{"a"}, wantErr: ErrBadSize},
		{name: "too large", size: 2048, members: []string{"a"}, wantErr: ErrBadSize},
		{name: "no members", size: 64, members: nil, wantErr: ErrNoMembers},
		{name: "only empty names", size: 64, members: []string{""}, wantErr: ErrNoMembers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.size, tc.members)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("New(%d, %v) error = %v, want %v", tc.size, tc.members, err, tc.wantErr)
			}
		})
	}
}

func TestClaimIsDeterministicAndBalanced(t *testing.T) {
	t.Parallel()
	a, _ := New(64, []string{"c", "a", "b", "a"})
	b, _ := New(64, []string{"b", "c", "a"})
	counts := map[string]int{}
	for p := 0; p < a.Size(); p++ {
		if a.Owner(p) != b.Owner(p) {
			t.Fatalf("partition %d: owner %q vs %q for the same membership", p, a.Owner(p), b.Owner(p))
		}
		counts[a.Owner(p)]++
	}
	if len(counts) != 3 {
		t.Fatalf("owners = %v, want 3 members", counts)
	}
	for m, c := range counts {
		if c < 21 || c > 22 {
			t.Errorf("member %s claims %d of 64 partitions, want 21 or 22", m, c)
		}
	}
	if got := len(a.Owned("a")) + len(a.Owned("b")) + len(a.Owned("c")); got != 64 {
		t.Errorf("Owned covers %d partitions, want 64", got)
	}
}

func TestPreflistDistinctPrimaries(t *testing.T) {
	t.Parallel()
	r, _ := New(64, []string{"a", "b", "c", "d", "e"})
	for i := 0; i < 500; i++ {
		key := []byte(fmt.Sprintf("key-%d", i))
		pl := r.Preflist([]byte("default"), []byte("b"), key, 3, nil)
		if len(pl) != 3 {
			t.Fatalf("key %s: preflist %v, want 3 entries", key, pl)
		}
		seen := map[string]bool{}
		for _, e := range pl {
			if !e.Primary {
				t.Errorf("key %s: %v is a fallback with every node up", key, e)
			}
			if seen[e.Node] {
				t.Errorf("key %s: node %s twice in %v", key, e.Node, pl)
			}
			seen[e.Node] = true
		}
	}
}

// TestPreflistWrapsAroundTheRing: as in Riak, the primaries are the owners
// of the next n partitions, even when one member owns two of them.
func TestPreflistWrapsAroundTheRing(t *testing.T) {
	t.Parallel()
	// 64 partitions over 3 members: partitions 63 and 0 are both claimed by "a".
	r, _ := New(64, []string{"a", "b", "c"})
	pl := r.PreflistFrom(63, 3, nil)
	want := []Entry{{63, "a", true}, {0, "a", true}, {1, "b", true}}
	if fmt.Sprint(pl) != fmt.Sprint(want) {
		t.Fatalf("PreflistFrom(63) = %v, want %v", pl, want)
	}
	// With "a" down, the one member left stands in for one of its replicas.
	pl = r.PreflistFrom(63, 3, func(n string) bool { return n != "a" })
	want = []Entry{{1, "b", true}, {63, "c", false}}
	if fmt.Sprint(pl) != fmt.Sprint(want) {
		t.Fatalf("PreflistFrom(63) with a down = %v, want %v", pl, want)
	}
	dups := 0
	for p := range 64 {
		pl := r.PreflistFrom(p, 3, nil)
		if pl[0].Node == pl[1].Node || pl[1].Node == pl[2].Node || pl[0].Node == pl[2].Node {
			dups++
		}
	}
	if dups != 2 {
		t.Errorf("%d preference lists hold a member twice, want 2 (as Riak's 3-node, 64-partition ring)", dups)
	}
}

func TestPreflistFallbacks(t *testing.T) {
	t.Parallel()
	r, _ := New(8, []string{"a", "b", "c", "d"})
	tests := []struct {
		name string
		down map[string]bool
		n    int
		want []Entry
	}{
		{name: "all up", n: 3, want: []Entry{{0, "a", true}, {1, "b", true}, {2, "c", true}}},
		{name: "one primary down", n: 3, down: map[string]bool{"b": true}, want: []Entry{{0, "a", true}, {2, "c", true}, {1, "d", false}}},
		{name: "two down, one fallback left", n: 3, down: map[string]bool{"a": true, "b": true}, want: []Entry{{2, "c", true}, {0, "d", false}}},
		{name: "more replicas than members", n: 6, want: []Entry{{0, "a", true}, {1, "b", true}, {2, "c", true}, {3, "d", true}, {4, "a", true}, {5, "b", true}}},
		{name: "n capped at ring size", n: 9, want: []Entry{{0, "a", true}, {1, "b", true}, {2, "c", true}, {3, "d", true}, {4, "a", true}, {5, "b", true}, {6, "c", true}, {7, "d", true}}},
		{name: "n zero", n: 0, want: []Entry{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r.PreflistFrom(0, tc.n, func(n string) bool { return !tc.down[n] })
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("PreflistFrom(0, %d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
}

func TestPreflistSingleMember(t *testing.T) {
	t.Parallel()
	r, _ := New(64, []string{"solo"})
	pl := r.PreflistFrom(63, 3, nil)
	want := []Entry{{63, "solo", true}, {0, "solo", true}, {1, "solo", true}}
	if fmt.Sprint(pl) != fmt.Sprint(want) {
		t.Fatalf("PreflistFrom(63, 3) on one member = %v, want %v", pl, want)
	}
}

func TestKeyHashSeparatesParts(t *testing.T) {
	t.Parallel()
	if KeyHash([]byte("t"), []byte("a"), []byte("bc")) == KeyHash([]byte("t"), []byte("ab"), []byte("c")) {
		t.Fatal("bucket/key boundary does not change the hash")
	}
}

func TestPartitionOfSpreadsKeys(t *testing.T) {
	t.Parallel()
	r, _ := New(16, []string{"a"})
	hits := make([]int, r.Size())
	for i := 0; i < 16000; i++ {
		hits[r.PartitionOf(KeyHash([]byte("default"), []byte("b"), []byte(fmt.Sprint(i))))]++
	}
	for p, h := range hits {
		if h < 800 || h > 1200 {
			t.Errorf("partition %d got %d of 16000 keys, want about 1000", p, h)
		}
	}
	one, _ := New(1, []string{"a"})
	if p := one.PartitionOf(KeyHash(nil, nil, []byte("x"))); p != 0 {
		t.Errorf("single-partition ring: PartitionOf = %d, want 0", p)
	}
}
