package kv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func content(v string, at int64) Content {
	return Content{Value: []byte(v), VTag: "vt-" + v, LastMod: time.Unix(at, 0).UTC()}
}

func obj(clock VClock, cs ...Content) Object { return Object{Siblings: cs, VClock: clock} }

func TestMerge(t *testing.T) {
	t.Parallel()
	a1 := content("a1", 1)
	b1 := content("b1", 2)
	cases := []struct {
		name  string
		a, b  Object
		want  []string
		clock VClock
	}{
		{name: "missing stored", a: Object{}, b: obj(vc("x", 1), a1), want: []string{"a1"}, clock: vc("x", 1)},
		{name: "missing incoming", a: obj(vc("x", 1), a1), b: Object{}, want: []string{"a1"}, clock: vc("x", 1)},
		{name: "incoming dominates", a: obj(vc("x", 1), a1), b: obj(vc("x", 2), b1), want: []string{"b1"}, clock: vc("x", 2)},
		{name: "stored dominates", a: obj(vc("x", 2), a1), b: obj(vc("x", 1), b1), want: []string{"a1"}, clock: vc("x", 2)},
		{name: "concurrent unions", a: obj(vc("x", 1), a1), b: obj(vc("y", 1), b1), want: []string{"a1", "b1"}, clock: vc("x", 1, "y", 1)},
		{name: "concurrent dedupes shared sibling", a: obj(vc("x", 2), a1, b1), b: obj(vc("y", 1), b1), want: []string{"a1", "b1"}, clock: vc("x", 2, "y", 1)},
		{name: "equal clocks identical content", a: obj(vc("x", 1), a1), b: obj(vc("x", 1), a1.Clone()), want: []string{"a1"}, clock: vc("x", 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, order := range []string{"ab", "ba"} {
				got := Merge(tc.a, tc.b)
				if order == "ba" {
					got = Merge(tc.b, tc.a)
				}
				if !slices.Equal(values(got), tc.want) {
					t.Errorf("%s: siblings %v, want %v", order, values(got), tc.want)
				}
				if !got.VClock.Equal(tc.clock) {
					t.Errorf("%s: clock %v, want %v", order, got.VClock, tc.clock)
				}
			}
		})
	}
}

// randomReplicas simulates n replicas receiving random coordinated writes
// and partial anti-entropy, returning their objects.
func randomReplicas(r *rand.Rand, n, steps int) []Object {
	reps := make([]Object, n)
	props := DefaultProps(true)
	for s := range steps {
		i := r.IntN(n)
		switch r.IntN(4) {
		case 0, 1: // a write coordinated by replica i, client read from replica j
			j := r.IntN(n)
			c := content(fmt.Sprintf("v%d", s), int64(s))
			c.VTag = fmt.Sprintf("t%d", s)
			c.Deleted = r.IntN(6) == 0
			reps[i] = CoordinatePut(reps[i], reps[j].VClock, c, fmt.Sprintf("actor%d", i), time.Unix(int64(s), 0), props)
		default: // replicate j -> i
			j := r.IntN(n)
			reps[i] = Merge(reps[i], reps[j])
		}
	}
	return reps
}

func TestMergeCommutativeIdempotent(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		reps := randomReplicas(r, 3, 12)
		a, b, c := reps[0], reps[1], reps[2]
		ab, ba := Merge(a, b), Merge(b, a)
		if !sameObject(ab, ba) || !slices.Equal(values(ab), values(ba)) {
			t.Fatalf("round %d: merge not commutative:\n a=%v %v\n b=%v %v\n ab=%v %v\n ba=%v %v", round,
				a.VClock, values(a), b.VClock, values(b), ab.VClock, values(ab), ba.VClock, values(ba))
		}
		if aa := Merge(a, a); !sameObject(aa, a) {
			t.Fatalf("round %d: merge not idempotent", round)
		}
		// Not associative in general: with one clock per object, a sibling
		// superseded on one replica can survive a merge in another order
		// (Riak without DVV behaves the same). Three-way merges must still
		// descend every input.
		if abc := Merge(Merge(a, b), c); !abc.VClock.Descends(c.VClock) || !abc.VClock.Descends(ab.VClock) {
			t.Fatalf("round %d: three-way merge clock", round)
		}
		if !ab.VClock.Descends(a.VClock) || !ab.VClock.Descends(b.VClock) {
			t.Fatalf("round %d: merged clock does not descend inputs", round)
		}
	}
}

func TestCoordinatePut(t *testing.T) {
	t.Parallel()
	now := time.Unix(100, 0)
	cur := obj(vc("n1", 1, "n2", 1), content("s1", 1), content("s2", 2))
	newc := content("new", 3)
	cases := []struct {
		name     string
		allow    bool
		lww      bool
		incoming VClock
		want     []string
	}{
		{"allow_mult, current clock replaces all", true, false, cur.VClock, []string{"new"}},
		{"allow_mult, newer clock replaces all", true, false, vc("n1", 1, "n2", 1, "n3", 1), []string{"new"}},
		{"allow_mult, stale clock adds sibling", true, false, vc("n1", 1), []string{"new", "s1", "s2"}},
		{"allow_mult, blind write adds sibling", true, false, nil, []string{"new", "s1", "s2"}},
		{"no allow_mult, stale clock replaces", false, false, vc("n1", 1), []string{"new"}},
		{"lww, blind write replaces", true, true, nil, []string{"new"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := DefaultProps(tc.allow)
			p.LastWriteWins = tc.lww
			got := CoordinatePut(cur, tc.incoming, newc, "n1", now, p)
			if !slices.Equal(values(got), tc.want) {
				t.Fatalf("siblings %v, want %v", values(got), tc.want)
			}
			if !got.VClock.Dominates(cur.VClock) || !got.VClock.Descends(tc.incoming) {
				t.Fatalf("clock %v must dominate stored %v and incoming %v", got.VClock, cur.VClock, tc.incoming)
			}
			if got.VClock.Counter("n1") != 2 {
				t.Fatalf("actor counter = %d, want 2", got.VClock.Counter("n1"))
			}
		})
	}
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	a := obj(vc("x", 1), content("old", 1))
	b := obj(vc("y", 1), content("new", 5))
	if got := Reconcile([]Object{a, b}, true); !slices.Equal(values(got), []string{"new", "old"}) {
		t.Fatalf("allow_mult: %v", values(got))
	}
	got := Reconcile([]Object{a, b, {}}, false)
	if !slices.Equal(values(got), []string{"new"}) || !got.VClock.Equal(vc("x", 1, "y", 1)) {
		t.Fatalf("no allow_mult: %v %v", values(got), got.VClock)
	}
	if got := Reconcile(nil, false); got.Exists() {
		t.Fatal("reconcile of nothing exists")
	}
}

func TestPrepareContent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		c       Content
		wantErr error
		wantIdx []Pair
	}{
		{name: "ok bin and int normalised", c: Content{Indexes: []Pair{{"b_bin", []byte("x")}, {"a_int", []byte("+007")}, {"a_int", []byte("7")}}},
			wantIdx: []Pair{{"a_int", []byte("7")}, {"b_bin", []byte("x")}}},
		{name: "negative int", c: Content{Indexes: []Pair{{"n_int", []byte("-42")}}}, wantIdx: []Pair{{"n_int", []byte("-42")}}},
		{name: "bad suffix", c: Content{Indexes: []Pair{{"field", []byte("x")}}}, wantErr: ErrInvalidIndex},
		{name: "bare suffix", c: Content{Indexes: []Pair{{"_int", []byte("1")}}}, wantErr: ErrInvalidIndex},
		{name: "reserved name", c: Content{Indexes: []Pair{{"$key_bin", []byte("1")}}}, wantErr: ErrInvalidIndex},
		{name: "int not integer", c: Content{Indexes: []Pair{{"a_int", []byte("12x")}}}, wantErr: ErrInvalidIndex},
		{name: "int overflow", c: Content{Indexes: []Pair{{"a_int", []byte("99999999999999999999")}}}, wantErr: ErrInvalidIndex},
		{name: "int with space", c: Content{Indexes: []Pair{{"a_int", []byte(" 1")}}}, wantErr: ErrInvalidIndex},
		{name: "term too long", c: Content{Indexes: []Pair{{"a_bin", make([]byte, MaxIndexTermLen+1)}}}, wantErr: ErrInvalidIndex},
		{name: "link without key", c: Content{Links: []Link{{Bucket: "b"}}}, wantErr: ErrInvalidContent},
		{name: "usermeta empty key", c: Content{UserMeta: []Pair{{"", []byte("v")}}}, wantErr: ErrInvalidContent},
		{name: "content type too long", c: Content{ContentType: string(make([]byte, MaxMetaLen+1))}, wantErr: ErrInvalidContent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := tc.c.Clone()
			got, err := prepareContent(&tc.c)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if len(got.Indexes) != len(tc.wantIdx) {
				t.Fatalf("indexes %v, want %v", got.Indexes, tc.wantIdx)
			}
			for i, p := range tc.wantIdx {
				if got.Indexes[i].Key != p.Key || !bytes.Equal(got.Indexes[i].Value, p.Value) {
					t.Fatalf("index %d = %s=%s, want %s=%s", i, got.Indexes[i].Key, got.Indexes[i].Value, p.Key, p.Value)
				}
			}
			for i := range tc.c.Indexes {
				if !bytes.Equal(tc.c.Indexes[i].Value, orig.Indexes[i].Value) {
					t.Fatal("prepareContent modified its input")
				}
			}
		})
	}
}

func TestObjectCodecRoundTrip(t *testing.T) {
	t.Parallel()
	o := Object{VClock: vc("a", 2, "b", 1), Siblings: []Content{
		{Value: []byte("hello\x00"), ContentType: "text/plain", Charset: "utf-8", ContentEncoding: "gzip", VTag: "vt1",
			LastMod: time.Unix(1700000000, 123456000).UTC(), UserMeta: []Pair{{"m", []byte("v")}},
			Links: []Link{{"b", "k", "tag"}}, Indexes: []Pair{{"x_bin", []byte("t")}, {"y_int", []byte("-3")}}},
		{Deleted: true, VTag: "vt2", LastMod: time.Unix(1700000001, 0).UTC()},
		{},
	}}
	enc := encodeObject(nil, &o)
	got, err := decodeObject(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeObject(nil, &got), enc) {
		t.Fatal("re-encoding differs")
	}
	if !sameObject(o, got) || got.Siblings[0].ContentType != "text/plain" || got.Siblings[0].Links[0].Tag != "tag" ||
		!got.Siblings[0].LastMod.Equal(o.Siblings[0].LastMod) || !got.Siblings[2].LastMod.IsZero() {
		t.Fatalf("round trip mismatch: %+v", got)
	}
	if valueIsTombstone(enc) {
		t.Fatal("live object flagged tombstone")
	}
	for i := range len(enc) {
		if _, err := decodeObject(enc[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated at %d: err = %v", i, err)
		}
	}
}

func FuzzDecodeObject(f *testing.F) {
	o := Object{VClock: vc("a", 1), Siblings: []Content{{Value: []byte("v"), VTag: "t", Indexes: []Pair{{"i_bin", []byte("x")}}}}}
	f.Add(encodeObject(nil, &o))
	f.Add([]byte{objFormat, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := decodeObject(in)
		if err != nil {
			return
		}
		again, err := decodeObject(encodeObject(nil, &got))
		if err != nil || !sameObject(got, again) {
			t.Fatalf("re-decode failed: %v", err)
		}
	})
}

func TestIndexKeyOrdering(t *testing.T) {
	t.Parallel()
	k := ObjectKey{Type: "default", Bucket: "b"}
	ints := []string{"-9223372036854775808", "-10", "-2", "0", "3", "10", "9223372036854775807"}
	bins := []string{"", "\x00", "\x00\x00", "\x00a", "a", "a\x00", "a\x00b", "aa", "b", "\xff"}
	for _, tc := range []struct {
		index string
		terms []string
	}{{"n_int", ints}, {"s_bin", bins}} {
		var prev []byte
		for _, term := range tc.terms {
			for _, key := range []string{"\x00", "a", "b\xff"} {
				k.Key = key
				ik, err := indexKey(nil, k, IndexEntry{tc.index, term})
				if err != nil {
					t.Fatal(err)
				}
				if prev != nil && bytes.Compare(prev, ik) >= 0 {
					t.Fatalf("%s: (%q,%q) not after previous", tc.index, term, key)
				}
				prev = ik
				kind, _ := parseIndexName(tc.index)
				gt, gk, ok := splitTerm(kind, ik[len(appendIndexPrefix(nil, k.Type, k.Bucket, tc.index)):])
				if !ok || gt != term || gk != key {
					t.Fatalf("split (%q,%q) = (%q,%q,%v)", term, key, gt, gk, ok)
				}
			}
		}
	}
}

func FuzzContinuationDecode(f *testing.F) {
	f.Add(encodeContinuation("term", "key"))
	f.Add(encodeContinuation("", "k"))
	f.Add(encodeContinuation("-42", "\x00\xff"))
	f.Add("")
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, s string) {
		term, key, err := decodeContinuation(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidContinuation) {
				t.Fatalf("error not ErrInvalidContinuation: %v", err)
			}
			return
		}
		if key == "" {
			t.Fatal("decoded empty key")
		}
		t2, k2, err := decodeContinuation(encodeContinuation(term, key))
		if err != nil || t2 != term || k2 != key {
			t.Fatalf("round trip (%q,%q) -> (%q,%q,%v)", term, key, t2, k2, err)
		}
	})
}

func TestObjectAndVClockJSONKeepBytes(t *testing.T) {
	t.Parallel()
	binActor := string([]byte{0xff, 0x00, 0xfe, 'a'})
	now := time.Unix(1700000000, 123000).UTC()
	tests := []struct {
		name string
		obj  Object
	}{
		{name: "empty", obj: Object{}},
		{name: "binary actor and metadata", obj: Object{
			VClock: VClock(nil).Increment(binActor, now).Increment("b", now),
			Siblings: []Content{{
				Value: []byte{0, 1, 2}, ContentType: "application/octet-stream", VTag: "v1", LastMod: now,
				UserMeta: []Pair{{Key: string([]byte{0xc3, 0x28}), Value: []byte{0xff}}},
				Indexes:  []Pair{{Key: "field_bin", Value: []byte{0xfe}}},
			}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			var got Object
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("round trip: %v", err)
			}
			if !reflect.DeepEqual(got.VClock, tc.obj.VClock) || len(got.Siblings) != len(tc.obj.Siblings) {
				t.Fatalf("round trip changed the object: %+v -> %+v", tc.obj, got)
			}
			for i := range got.Siblings {
				if !bytes.Equal(got.Siblings[i].Value, tc.obj.Siblings[i].Value) || !reflect.DeepEqual(got.Siblings[i].UserMeta, tc.obj.Siblings[i].UserMeta) {
					t.Fatalf("sibling %d changed: %+v -> %+v", i, tc.obj.Siblings[i], got.Siblings[i])
				}
			}
			vb, _ := json.Marshal(tc.obj.VClock)
			var vc VClock
			if err := json.Unmarshal(vb, &vc); err != nil || !vc.Equal(tc.obj.VClock) {
				t.Fatalf("vclock round trip: %v %v", vc, err)
			}
		})
	}
	var vc VClock
	if err := json.Unmarshal([]byte(`"AAAA"`), &vc); err == nil {
		t.Error("a malformed clock decoded without error")
	}
}

func TestReplicaRoundTrip(t *testing.T) {
	t.Parallel()
	name := ObjectKey{Type: "maps", Bucket: "b\x00\xff", Key: "k\xfe"}
	o := Object{VClock: vc("a", 3), Siblings: []Content{{Value: []byte("v"), ContentType: "text/plain", VTag: "t"}}}
	enc := AppendReplica(nil, name, &o)
	k, got, has, err := DecodeReplica(enc)
	if err != nil || !has || k != name || !sameObject(o, got) {
		t.Fatalf("DecodeReplica = %+v, %+v, %v, %v", k, got, has, err)
	}
	k, _, has, err = DecodeReplica(AppendReplica(nil, name, nil))
	if err != nil || has || k != name {
		t.Fatalf("name only: %+v, %v, %v", k, has, err)
	}
	// Every cut of the name, and every cut inside the object, is refused.
	nameLen := len(AppendReplica(nil, name, nil))
	for i := range len(enc) {
		if i == nameLen {
			continue // the name alone is valid
		}
		if _, _, _, err := DecodeReplica(enc[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d of %d: err = %v", i, len(enc), err)
		}
	}
	long := ObjectKey{Type: strings.Repeat("t", MaxTypeLen+1), Bucket: "b", Key: "k"}
	if _, _, _, err := DecodeReplica(AppendReplica(nil, long, nil)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("over-long type: err = %v", err)
	}
}

func FuzzDecodeReplica(f *testing.F) {
	o := Object{VClock: vc("a", 1), Siblings: []Content{{Value: []byte("v")}}}
	f.Add(AppendReplica(nil, ObjectKey{"default", "b", "k"}, &o))
	f.Add(AppendReplica(nil, ObjectKey{"default", "b", "k"}, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		k, got, has, err := DecodeReplica(in)
		if err != nil {
			return
		}
		var obj *Object
		if has {
			obj = &got
		}
		k2, again, has2, err := DecodeReplica(AppendReplica(nil, k, obj))
		if err != nil || k2 != k || has2 != has || (has && !sameObject(got, again)) {
			t.Fatalf("re-decode: %+v %v %v", k2, has2, err)
		}
	})
}
