package crdt

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

var kinds = []Kind{KindCounter, KindSet, KindMap, KindHLL, KindGSet}

var elems = [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")}

// randomOp returns an op of kind k; removes name elements or fields that
// may be absent (the op then fails, as in Riak, and is dropped).
func randomOp(r *rand.Rand, k Kind, depth int) Op {
	e := func() []byte { return elems[r.IntN(len(elems))] }
	switch k {
	case KindCounter:
		return Op{Counter: &CounterOp{Inc: int64(r.IntN(11) - 5)}}
	case KindSet:
		op := &SetOp{}
		if r.IntN(3) > 0 {
			op.Adds = [][]byte{e()}
		} else {
			op.Removes = [][]byte{e()}
		}
		return Op{Set: op}
	case KindHLL:
		return Op{HLL: &AddOp{Adds: [][]byte{e()}}}
	case KindGSet:
		return Op{GSet: &AddOp{Adds: [][]byte{e()}}}
	}
	return Op{Map: randomMapOp(r, depth)}
}

func randomMapOp(r *rand.Rand, depth int) *MapOp {
	kindsF := []FieldKind{FieldCounter, FieldSet, FieldRegister, FieldFlag, FieldMap}
	if depth > 1 {
		kindsF = kindsF[:4]
	}
	k := FieldKey{Name: fmt.Sprint("f", r.IntN(2)), Kind: kindsF[r.IntN(len(kindsF))]}
	if r.IntN(4) == 0 {
		return &MapOp{Removes: []FieldKey{k}}
	}
	u := MapUpdate{Field: k}
	switch k.Kind {
	case FieldCounter:
		u.Counter = &CounterOp{Inc: int64(r.IntN(5))}
	case FieldSet:
		u.Set = randomOp(r, KindSet, depth).Set
	case FieldRegister:
		u.Register = &RegisterOp{Value: elems[r.IntN(len(elems))]}
	case FieldFlag:
		u.Flag = &FlagOp{Enable: r.IntN(2) == 0}
	case FieldMap:
		u.Map = randomMapOp(r, depth+1)
	}
	return &MapOp{Updates: []MapUpdate{u}}
}

// simulate runs random ops and merges on three replicas (actors x, y, z).
func simulate(r *rand.Rand, k Kind, steps int) [3]*Value {
	var reps [3]*Value
	for i := range reps {
		reps[i] = New(k)
	}
	var tick int64
	now := func() int64 { tick++; return tick }
	for range steps {
		i := r.IntN(3)
		if r.IntN(4) == 0 {
			reps[i] = Merge(reps[i], reps[r.IntN(3)])
			continue
		}
		var ctx VClock
		if r.IntN(2) == 0 {
			ctx = reps[r.IntN(3)].Context() // possibly another replica's: unseen adds, deferred removes
		}
		next := Clone(reps[i])
		if ApplyOp(next, randomOp(r, k, 0), []string{"x", "y", "z"}[i], ctx, now) == nil {
			reps[i] = next
		}
	}
	return reps
}

func enc(v *Value) string { return string(Encode(v)) }

func TestMergeLaws(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k), func(t *testing.T) {
			for seed := range uint64(150) {
				r := rand.New(rand.NewPCG(seed, 7))
				reps := simulate(r, k, 5+r.IntN(40))
				a, b, c := reps[0], reps[1], reps[2]
				if got, want := enc(Merge(a, b)), enc(Merge(b, a)); got != want {
					t.Fatalf("seed %d: not commutative:\n%s\n%s", seed, got, want)
				}
				if got, want := enc(Merge(Merge(a, b), c)), enc(Merge(a, Merge(b, c))); got != want {
					t.Fatalf("seed %d: not associative:\n%s\n%s", seed, got, want)
				}
				if got, want := enc(Merge(a, a)), enc(a); got != want {
					t.Fatalf("seed %d: not idempotent:\n%s\n%s", seed, got, want)
				}
				if got, want := enc(Merge(a, Merge(a, b))), enc(Merge(a, b)); got != want {
					t.Fatalf("seed %d: merging what is included changes it:\n%s\n%s", seed, got, want)
				}
			}
		})
	}
}

func TestCounter(t *testing.T) {
	a, b := New(KindCounter), New(KindCounter)
	must(t, ApplyOp(a, Op{Counter: &CounterOp{Inc: 5}}, "x", nil, nil))
	must(t, ApplyOp(b, Op{Counter: &CounterOp{Inc: -2}}, "y", nil, nil))
	must(t, ApplyOp(b, Op{Counter: &CounterOp{Inc: 4}}, "y", nil, nil))
	m := Merge(a, b)
	if got := m.Counter.Value(); got != 7 {
		t.Fatalf("merged counter %d, want 7", got)
	}
	if got := Merge(m, a).Counter.Value(); got != 7 {
		t.Fatalf("re-merge %d", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func setOp(adds, removes []string) Op {
	op := &SetOp{}
	for _, a := range adds {
		op.Adds = append(op.Adds, []byte(a))
	}
	for _, r := range removes {
		op.Removes = append(op.Removes, []byte(r))
	}
	return Op{Set: op}
}

func setValue(v *Value) []string { return stringList(v.Set.Value()) }

func TestSetObservedRemove(t *testing.T) {
	base := New(KindSet)
	must(t, ApplyOp(base, setOp([]string{"a"}, nil), "x", nil, nil))
	seen := base.Context()
	// y adds a again concurrently; x removes the a it saw.
	y := Clone(base)
	must(t, ApplyOp(y, setOp([]string{"a"}, nil), "y", nil, nil))
	x := Clone(base)
	must(t, ApplyOp(x, setOp(nil, []string{"a"}), "x", seen, nil))
	if got := setValue(Merge(x, y)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("concurrent add lost to a remove that did not see it: %v", got)
	}
	// A remove that saw both adds wins.
	both := Merge(x, y)
	must(t, ApplyOp(both, setOp(nil, []string{"a"}), "z", both.Context(), nil))
	if got := setValue(Merge(both, y)); len(got) != 0 {
		t.Fatalf("remove that saw everything: %v", got)
	}
	// Removing what is not there is Riak's precondition error.
	err := ApplyOp(New(KindSet), setOp(nil, []string{"q"}), "x", nil, nil)
	if pe, ok := err.(*PreconditionError); !ok || pe.Error() != `{precondition,{not_present,<<"q">>}}` {
		t.Fatalf("remove missing: %v", err)
	}
}

func TestSetDeferredRemove(t *testing.T) {
	// The client saw a state (with b) that this replica has not received.
	other := New(KindSet)
	must(t, ApplyOp(other, setOp([]string{"b"}, nil), "y", nil, nil))
	here := New(KindSet)
	must(t, ApplyOp(here, setOp(nil, []string{"b"}), "x", other.Context(), nil))
	if len(here.Set.Deferred) != 1 {
		t.Fatalf("remove not deferred: %+v", here.Set)
	}
	if got := setValue(Merge(here, other)); len(got) != 0 {
		t.Fatalf("deferred remove not applied on merge: %v", got)
	}
}

func TestMapFields(t *testing.T) {
	m := New(KindMap)
	op := &MapOp{Updates: []MapUpdate{
		{Field: FieldKey{"c", FieldCounter}, Counter: &CounterOp{Inc: 2}},
		{Field: FieldKey{"r", FieldRegister}, Register: &RegisterOp{Value: []byte("v1")}},
		{Field: FieldKey{"f", FieldFlag}, Flag: &FlagOp{Enable: true}},
		{Field: FieldKey{"m", FieldMap}, Map: &MapOp{Updates: []MapUpdate{{Field: FieldKey{"s", FieldSet}, Set: &SetOp{Adds: [][]byte{[]byte("e")}}}}}},
	}}
	var tick int64
	now := func() int64 { tick++; return tick }
	must(t, ApplyOp(m, Op{Map: op}, "x", nil, now))
	ctx := m.Context()
	// Concurrently: y increments c; x removes c with its context.
	y := Clone(m)
	must(t, ApplyOp(y, Op{Map: &MapOp{Updates: []MapUpdate{{Field: FieldKey{"c", FieldCounter}, Counter: &CounterOp{Inc: 1}}}}}, "y", nil, now))
	x := Clone(m)
	must(t, ApplyOp(x, Op{Map: &MapOp{Removes: []FieldKey{{"c", FieldCounter}}}}, "x", ctx, now))
	merged := Merge(x, y)
	if f := merged.Map.Value(FieldKey{"c", FieldCounter}); f == nil || f.Counter.Value() != 3 {
		t.Fatalf("concurrent update of a removed field: %+v", f)
	}
	if got := string(merged.Map.Value(FieldKey{"r", FieldRegister}).Register.Value); got != "v1" {
		t.Fatalf("register %q", got)
	}
	// Later register assignment wins after merge, whichever side.
	a, b := Clone(merged), Clone(merged)
	must(t, ApplyOp(a, Op{Map: &MapOp{Updates: []MapUpdate{{Field: FieldKey{"r", FieldRegister}, Register: &RegisterOp{Value: []byte("old")}}}}}, "x", nil, now))
	must(t, ApplyOp(b, Op{Map: &MapOp{Updates: []MapUpdate{{Field: FieldKey{"r", FieldRegister}, Register: &RegisterOp{Value: []byte("new")}}}}}, "y", nil, now))
	for _, v := range []*Value{Merge(a, b), Merge(b, a)} {
		if got := string(v.Map.Value(FieldKey{"r", FieldRegister}).Register.Value); got != "new" {
			t.Fatalf("LWW register %q", got)
		}
	}
	err := ApplyOp(New(KindMap), Op{Map: &MapOp{Removes: []FieldKey{{"nope", FieldCounter}}}}, "x", nil, now)
	if err == nil || err.Error() != `{precondition,{not_present,{<<"nope">>,riak_dt_emcntr}}}` {
		t.Fatalf("remove missing field: %v", err)
	}
	if err := ApplyOp(New(KindMap), Op{Counter: &CounterOp{}}, "x", nil, now); err == nil {
		t.Fatal("counter op on a map accepted")
	}
}

func TestFlagEnableWins(t *testing.T) {
	f := &Flag{}
	f.Enable("x")
	a, b := MergeFlag(f, &Flag{}), MergeFlag(f, &Flag{})
	a.Disable()
	b.Enable("y")
	if !MergeFlag(a, b).Value() || !MergeFlag(b, a).Value() {
		t.Fatal("concurrent enable lost to disable")
	}
	if MergeFlag(a, f).Value() {
		t.Fatal("disable that saw the enable did not win")
	}
}

func TestHLLAndGSet(t *testing.T) {
	h1, h2 := New(KindHLL), New(KindHLL)
	must(t, ApplyOp(h1, Op{HLL: &AddOp{Adds: [][]byte{[]byte("a"), []byte("b")}}}, "x", nil, nil))
	must(t, ApplyOp(h2, Op{HLL: &AddOp{Adds: [][]byte{[]byte("b"), []byte("c")}}}, "y", nil, nil))
	if got := Merge(h1, h2).HLL.Value(); got != 3 {
		t.Fatalf("hll %d", got)
	}
	g1, g2 := New(KindGSet), New(KindGSet)
	must(t, ApplyOp(g1, Op{GSet: &AddOp{Adds: [][]byte{[]byte("b")}}}, "x", nil, nil))
	must(t, ApplyOp(g2, Op{GSet: &AddOp{Adds: [][]byte{[]byte("a")}}}, "y", nil, nil))
	if got := stringList(Merge(g1, g2).GSet.Value()); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("gset %v", got)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, k := range kinds {
		for seed := range uint64(50) {
			v := simulate(rand.New(rand.NewPCG(seed, 1)), k, 30)[0]
			d, err := Decode(Encode(v))
			if err != nil {
				t.Fatalf("%s seed %d: %v", k, seed, err)
			}
			if !bytes.Equal(Encode(d), Encode(v)) {
				t.Fatalf("%s seed %d: round trip changed", k, seed)
			}
		}
	}
	c := VClock{"x": 3, "node/1": 1 << 40}
	got, err := DecodeContext(EncodeContext(c))
	if err != nil || len(got) != 2 || got["x"] != 3 || got["node/1"] != 1<<40 {
		t.Fatalf("context round trip %v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {1}, {contextMagic, 5, 'a'}, {contextMagic, 1, 'a'}} {
		if _, err := DecodeContext(bad); err == nil {
			t.Errorf("context %v accepted", bad)
		}
	}
}
