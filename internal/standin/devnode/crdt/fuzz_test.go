package crdt

import (
	"math/rand/v2"
	"testing"
)

// FuzzDecode: stored bytes never panic the decoder, and what it accepts
// re-encodes to something it accepts again, merges with itself to itself,
// and takes every kind of op.
func FuzzDecode(f *testing.F) {
	for _, k := range kinds {
		for seed := range uint64(5) {
			f.Add(Encode(simulate(rand.New(rand.NewPCG(seed, 3)), k, 20)[0]))
		}
	}
	f.Add([]byte(`{"v":1,"kind":"map","map":{"fields":[{"key":{"name":"a","kind":"flag"},"field":{"entries":[]}}]}}`))
	f.Add([]byte(`{"v":1,"kind":"set","set":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Decode(b)
		if err != nil {
			return
		}
		e := Encode(v)
		v2, err := Decode(e)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, e)
		}
		if got := string(Encode(Merge(v2, v2))); got != string(Encode(v2)) {
			t.Fatalf("self-merge changed:\n%s\n%s", got, Encode(v2))
		}
		r := rand.New(rand.NewPCG(1, 2))
		_ = ApplyOp(Clone(v2), randomOp(r, v2.Kind, 0), "fz", v2.Context(), func() int64 { return 1 })
		_, _ = ToJSON(v2, true)
	})
}

// FuzzDecodeContext: contexts from clients never panic and round-trip.
func FuzzDecodeContext(f *testing.F) {
	f.Add(EncodeContext(VClock{"a": 1, "b": 300}))
	f.Add([]byte{contextMagic, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeContext(b)
		if err != nil {
			return
		}
		c2, err := DecodeContext(EncodeContext(c))
		if err != nil || len(c2) != len(c) {
			t.Fatalf("round trip %v -> %v (%v)", c, c2, err)
		}
	})
}

// FuzzOpFromJSON: request bodies never panic the parser, and parsed ops
// apply or fail cleanly.
func FuzzOpFromJSON(f *testing.F) {
	for _, s := range []string{`5`, `{"increment":1}`, `{"add_all":["a","b"],"remove":"c"}`,
		`{"update":{"a_counter":1,"b_set":{"add":"x"},"c_register":"v","d_flag":"enable","e_map":{"update":{"f_counter":2}}},"remove":["g_flag"]}`,
		`{"add":"x","context":"1w=="}`} {
		f.Add(byte(0), []byte(s))
	}
	f.Fuzz(func(t *testing.T, k byte, b []byte) {
		kind := kinds[int(k)%len(kinds)]
		op, ctx, err := OpFromJSON(kind, b)
		if err != nil {
			return
		}
		v := New(kind)
		_ = ApplyOp(v, op, "fz", ctx, func() int64 { return 1 })
		if _, err := Decode(Encode(v)); err != nil {
			t.Fatalf("applied value does not decode: %v", err)
		}
	})
}
