package kv

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// Datatype bucket types follow riak_kv_bucket's rules: the datatype is set
// at creation, implies allow_mult, and cannot change once the type is
// active; buckets of the type inherit it and cannot change it either.
func TestDatatypeBucketTypes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{})
		ev.mustType("maps", PropsUpdate{Datatype: Ptr("map")})
		bt, err := ev.e.BucketType("maps")
		if err != nil || bt.Props.Datatype != "map" || !bt.Props.AllowMult {
			t.Fatalf("type %+v %v", bt, err)
		}
		cases := []struct {
			name string
			err  error
			want string
		}{
			{"change datatype", ev.e.UpdateBucketType("maps", PropsUpdate{Datatype: Ptr("set")}), "set not supported for bucket datatype property"},
			{"allow_mult false", ev.e.UpdateBucketType("maps", PropsUpdate{AllowMult: Ptr(false)}), "Cannot change datatype bucket from allow_mult=true"},
			{"bucket changes datatype", ev.e.SetBucketProps("maps", "b", PropsUpdate{Datatype: Ptr("counter")}), "counter not supported for bucket datatype property"},
			{"datatype on a plain type", func() error {
				ev.mustType("plain", PropsUpdate{})
				return ev.e.UpdateBucketType("plain", PropsUpdate{Datatype: Ptr("map")})
			}(), "`datatype` must not be defined."},
			{"create unknown datatype", ev.e.CreateBucketType("bad", PropsUpdate{Datatype: Ptr("bag")}), "bag not supported for bucket datatype property"},
			{"create without allow_mult", ev.e.CreateBucketType("bad", PropsUpdate{Datatype: Ptr("set"), AllowMult: Ptr(false)}), "Data Type buckets must be allow_mult=true"},
		}
		for _, tc := range cases {
			if !errors.Is(tc.err, ErrInvalidProps) || !strings.Contains(tc.err.Error(), tc.want) {
				t.Errorf("%s: %v, want %q", tc.name, tc.err, tc.want)
			}
		}
		// The same datatype again, and other props, are fine.
		if err := ev.e.UpdateBucketType("maps", PropsUpdate{Datatype: Ptr("map"), NVal: Ptr(uint32(2))}); err != nil {
			t.Fatal(err)
		}
		if err := ev.e.SetBucketProps("maps", "b", PropsUpdate{NVal: Ptr(uint32(1))}); err != nil {
			t.Fatal(err)
		}
		// A created, not yet active, type may still change its datatype.
		if err := ev.e.CreateBucketType("pending", PropsUpdate{Datatype: Ptr("set")}); err != nil {
			t.Fatal(err)
		}
		if err := ev.e.UpdateBucketType("pending", PropsUpdate{Datatype: Ptr("gset")}); err != nil {
			t.Fatal(err)
		}
		// hll_precision: 14 by default, 4..16, never increased.
		ev.mustType("hlls", PropsUpdate{Datatype: Ptr("hll")})
		if bt, _ := ev.e.BucketType("hlls"); string(bt.Props.Extra["hll_precision"]) != "14" {
			t.Fatalf("hll precision %s", bt.Props.Extra["hll_precision"])
		}
		prec := func(v string) PropsUpdate {
			return PropsUpdate{Extra: map[string]json.RawMessage{"hll_precision": json.RawMessage(v)}}
		}
		if err := ev.e.UpdateBucketType("hlls", prec("12")); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"13", "3", "17", `"x"`} {
			if err := ev.e.UpdateBucketType("hlls", prec(bad)); !errors.Is(err, ErrInvalidProps) || !strings.Contains(err.Error(), "not supported for Hyperloglog precision") {
				t.Errorf("hll_precision %s: %v", bad, err)
			}
		}
		if err := ev.e.CreateBucketType("hll17", PropsUpdate{Datatype: Ptr("hll"), Extra: prec("17").Extra}); !errors.Is(err, ErrInvalidProps) {
			t.Errorf("create with precision 17: %v", err)
		}
		if !ev.kind.persistent {
			return
		}
		ev.reopen()
		if p, err := ev.e.BucketProps("maps", "b"); err != nil || p.Datatype != "map" || p.NVal != 1 {
			t.Fatalf("after reopen %+v %v", p, err)
		}
	})
}
