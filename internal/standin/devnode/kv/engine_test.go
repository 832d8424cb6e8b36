package kv

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

func TestPutGet(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{Actor: "node1"})
		in := Content{
			Value: []byte("hello"), ContentType: "text/plain", Charset: "utf-8", ContentEncoding: "identity",
			VTag: "client-vtag-ignored", Deleted: true,
			UserMeta: []Pair{{"m", []byte("1")}}, Links: []Link{{"b2", "k2", "friend"}},
			Indexes: []Pair{{"age_int", []byte("042")}},
		}
		res, err := ev.e.Put(ctx, PutRequest{Bucket: "b", Key: "k", Content: in, ReturnBody: true})
		if err != nil {
			t.Fatal(err)
		}
		in.Value[0] = 'J' // the engine copied the input
		if res.Key != "k" || len(res.Object.Siblings) != 1 || res.Object.VClock.Counter("node1") != 1 {
			t.Fatalf("put result %+v", res)
		}
		g := ev.get("", "b", "k")
		if !g.Found || len(g.Object.Siblings) != 1 {
			t.Fatalf("get %+v", g)
		}
		c := g.Object.Siblings[0]
		switch {
		case string(c.Value) != "hello", c.ContentType != "text/plain", c.Charset != "utf-8", c.ContentEncoding != "identity":
			t.Fatalf("content %+v", c)
		case c.Deleted, c.VTag == "" || c.VTag == "client-vtag-ignored", !c.LastMod.Equal(ev.clock.Now()):
			t.Fatalf("engine-assigned fields %+v", c)
		case len(c.UserMeta) != 1 || len(c.Links) != 1 || c.Links[0].Tag != "friend":
			t.Fatalf("metadata %+v", c)
		case len(c.Indexes) != 1 || string(c.Indexes[0].Value) != "42":
			t.Fatalf("indexes not normalised: %+v", c.Indexes)
		}
		if !g.Object.VClock.Equal(res.Object.VClock) {
			t.Fatal("get clock != put clock")
		}
		// Mutating a result must not change the store.
		g.Object.Siblings[0].Value[0] = 'X'
		if v := ev.get("default", "b", "k").Object.Siblings[0].Value; string(v) != "hello" {
			t.Fatalf("store aliased by result: %q", v)
		}
		h, _ := ev.e.Get(ctx, GetRequest{Bucket: "b", Key: "k", Head: true})
		if !h.Found || h.Object.Siblings[0].Value != nil || h.Object.Siblings[0].ContentType != "text/plain" {
			t.Fatalf("head %+v", h)
		}
		u, _ := ev.e.Get(ctx, GetRequest{Bucket: "b", Key: "k", IfModified: res.Object.VClock})
		if !u.Found || !u.Unchanged || u.Object.Siblings != nil {
			t.Fatalf("if_modified same clock %+v", u)
		}
		u, _ = ev.e.Get(ctx, GetRequest{Bucket: "b", Key: "k", IfModified: vc("other", 1)})
		if u.Unchanged || len(u.Object.Siblings) != 1 {
			t.Fatalf("if_modified other clock %+v", u)
		}
		if g := ev.get("", "b", "missing"); g.Found || g.Tombstone || g.Object.Exists() {
			t.Fatalf("missing key %+v", g)
		}
		hr, _ := ev.e.Put(ctx, PutRequest{Bucket: "b", Key: "k2", Content: Content{Value: []byte("v")}, ReturnHead: true})
		if len(hr.Object.Siblings) != 1 || hr.Object.Siblings[0].Value != nil {
			t.Fatalf("return_head %+v", hr)
		}
		nr, _ := ev.e.Put(ctx, PutRequest{Bucket: "b", Key: "k3", Content: Content{Value: []byte("v")}})
		if nr.Object.Siblings != nil || len(nr.Object.VClock) != 1 {
			t.Fatalf("no return_body %+v", nr)
		}
	})
}

func TestSiblings(t *testing.T) {
	t.Parallel()
	type step struct {
		value string
		// clock: "" blind, "last" the clock of the previous put, "first"
		// the clock of the first put, "read" a fresh get.
		clock string
	}
	cases := []struct {
		name      string
		allowMult bool
		steps     []step
		want      []string
	}{
		{"allow_mult blind writes make siblings", true, []step{{"a", ""}, {"b", ""}, {"c", ""}}, []string{"a", "b", "c"}},
		{"allow_mult false blind writes: last wins", false, []step{{"a", ""}, {"b", ""}, {"c", ""}}, []string{"c"}},
		{"allow_mult current clock replaces", true, []step{{"a", ""}, {"b", "last"}, {"c", "last"}}, []string{"c"}},
		{"allow_mult concurrent writes from same read", true, []step{{"a", ""}, {"b", "first"}, {"c", "first"}}, []string{"b", "c"}},
		{"allow_mult resolve siblings with merged clock", true, []step{{"a", ""}, {"b", ""}, {"c", "read"}}, []string{"c"}},
		{"allow_mult false concurrent: last wins", false, []step{{"a", ""}, {"b", "first"}, {"c", "first"}}, []string{"c"}},
	}
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ev := newEnv(Options{})
				typ := "default"
				if tc.allowMult {
					typ = "sibs"
					ev.mustType(typ, PropsUpdate{})
				}
				var first, last VClock
				for i, s := range tc.steps {
					var clock VClock
					switch s.clock {
					case "last":
						clock = last
					case "first":
						clock = first
					case "read":
						clock = ev.get(typ, "b", "k").Object.VClock
					}
					ev.clock.Advance(time.Second)
					res := ev.put(typ, "b", "k", clock, s.value)
					if i == 0 {
						first = res.Object.VClock
					}
					if !res.Object.VClock.Dominates(last) {
						t.Fatalf("step %d: clock %v does not dominate previous %v", i, res.Object.VClock, last)
					}
					last = res.Object.VClock
				}
				if got := values(ev.get(typ, "b", "k").Object); !slices.Equal(got, tc.want) {
					t.Fatalf("siblings %v, want %v", got, tc.want)
				}
			})
		}
	})
}

func TestLastWriteWins(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{})
		ev.mustType("lww", PropsUpdate{LastWriteWins: Ptr(true)})
		p, _ := ev.e.BucketProps("lww", "b")
		if !p.AllowMult || !p.LastWriteWins {
			t.Fatalf("props %+v", p)
		}
		ev.put("lww", "b", "k", nil, "one")
		ev.put("lww", "b", "k", vc("stranger", 5), "two")
		ev.put("lww", "b", "k", nil, "three")
		if got := values(ev.get("lww", "b", "k").Object); !slices.Equal(got, []string{"three"}) {
			t.Fatalf("siblings %v", got)
		}
	})
}

func TestConditionalPut(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{})
		noneMatch := func(r *PutRequest) { r.IfNoneMatch = true }
		notMod := func(r *PutRequest) { r.IfNotModified = true }
		try := func(key string, clock VClock, mod func(*PutRequest)) error {
			req := PutRequest{Bucket: "b", Key: key, VClock: clock, Content: Content{Value: []byte("x")}}
			mod(&req)
			_, err := ev.e.Put(ctx, req)
			return err
		}
		first := ev.put("", "b", "k", nil, "v1").Object.VClock
		second := ev.put("", "b", "k", first, "v2").Object.VClock
		ev.put("", "b", "gone", nil, "v")
		if err := ev.e.Delete(ctx, DeleteRequest{Bucket: "b", Key: "gone"}); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name  string
			key   string
			clock VClock
			mod   func(*PutRequest)
			want  error
		}{
			{"if_none_match missing", "new", nil, noneMatch, nil},
			{"if_none_match exists", "k", nil, noneMatch, ErrExists},
			{"if_none_match tombstone", "gone", nil, noneMatch, nil},
			{"if_not_modified missing", "nothing", nil, notMod, ErrNotFound},
			{"if_not_modified stale", "k", first, notMod, ErrModified},
			{"if_not_modified blind", "k", nil, notMod, ErrModified},
			{"if_not_modified current", "k", second, notMod, nil},
			{"if_not_modified now stale again", "k", second, notMod, ErrModified},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if err := try(tc.key, tc.clock, tc.mod); !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
			})
		}
	})
}

func TestDeleteAndReap(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{})
		ev.mustType("m", PropsUpdate{})
		ev.put("", "b", "k", nil, "v", func(r *PutRequest) { r.Content.Indexes = []Pair{{"f_bin", []byte("x")}} })
		ev.put("", "b", "other", nil, "v")
		if err := ev.e.Delete(ctx, DeleteRequest{Bucket: "b", Key: "k"}); err != nil {
			t.Fatal(err)
		}
		if g := ev.get("", "b", "k"); g.Found || !g.Tombstone || g.Object.VClock != nil {
			t.Fatalf("after delete: %+v", g)
		}
		dv, _ := ev.e.Get(ctx, GetRequest{Bucket: "b", Key: "k", DeletedVClock: true})
		if dv.Found || len(dv.Object.VClock) == 0 || dv.Object.Siblings != nil {
			t.Fatalf("deletedvclock: %+v", dv)
		}
		if ks := ev.listKeys("", "b"); !slices.Equal(ks, []string{"other"}) {
			t.Fatalf("keys %v", ks)
		}
		if rs, _, _ := ev.query(IndexQuery{Bucket: "b", Index: "f_bin", Term: "x"}); len(rs) != 0 {
			t.Fatalf("tombstone still indexed: %v", rs)
		}
		if err := ev.e.Delete(ctx, DeleteRequest{Bucket: "b", Key: "never"}); err != nil {
			t.Fatalf("delete missing: %v", err)
		}

		// Not yet due.
		ev.clock.Advance(2 * time.Second)
		if n, err := ev.e.ReapTombstones(ctx); n != 0 || err != nil {
			t.Fatalf("early reap = %d, %v", n, err)
		}
		if o, found, _ := ev.e.FetchReplica(ctx, "", "b", "k"); !found || !o.IsTombstone() {
			t.Fatalf("tombstone gone early: %v %+v", found, o)
		}
		ev.clock.Advance(time.Second)
		if n, err := ev.e.ReapTombstones(ctx); n != 1 || err != nil {
			t.Fatalf("reap = %d, %v", n, err)
		}
		if _, found, _ := ev.e.FetchReplica(ctx, "", "b", "k"); found {
			t.Fatal("tombstone not reaped")
		}

		// A write over a tombstone using its clock replaces it; a stale
		// delete on an allow_mult bucket becomes a sibling.
		v1 := ev.put("m", "b", "k", nil, "v1").Object.VClock
		ev.clock.Advance(time.Second)
		ev.put("m", "b", "k", v1, "v2")
		if err := ev.e.Delete(ctx, DeleteRequest{Type: "m", Bucket: "b", Key: "k", VClock: v1}); err != nil {
			t.Fatal(err)
		}
		g := ev.get("m", "b", "k")
		if !g.Found || !slices.Equal(values(g.Object), []string{"<deleted>", "v2"}) {
			t.Fatalf("stale delete: %+v", values(g.Object))
		}
		ev.clock.Advance(time.Hour)
		if n, _ := ev.e.ReapTombstones(ctx); n != 0 {
			t.Fatal("reaped an object with a live sibling")
		}
		if err := ev.e.Delete(ctx, DeleteRequest{Type: "m", Bucket: "b", Key: "k"}); err != nil {
			t.Fatal(err)
		}
		dv, _ = ev.e.Get(ctx, GetRequest{Type: "m", Bucket: "b", Key: "k", DeletedVClock: true})
		ev.put("m", "b", "k", dv.Object.VClock, "reborn")
		if got := values(ev.get("m", "b", "k").Object); !slices.Equal(got, []string{"reborn"}) {
			t.Fatalf("write over tombstone with its clock: %v", got)
		}
		ev.clock.Advance(time.Hour)
		if n, _ := ev.e.ReapTombstones(ctx); n != 0 {
			t.Fatal("reaped a rewritten key")
		}
		if !ev.get("m", "b", "k").Found {
			t.Fatal("rewritten key lost")
		}
	})
}

func TestKeepTombstonesAndReapAfterReopen(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{KeepTombstones: true})
		ev.put("", "b", "k", nil, "v")
		ev.e.Delete(ctx, DeleteRequest{Bucket: "b", Key: "k"})
		ev.clock.Advance(time.Hour)
		if n, _ := ev.e.ReapTombstones(ctx); n != 0 {
			t.Fatal("keep mode reaped")
		}
		if !ev.kind.persistent {
			return
		}
		ev.opts.KeepTombstones = false
		ev.reopen()
		ev.clock.Advance(3 * time.Second)
		if n, _ := ev.e.ReapTombstones(ctx); n != 1 {
			t.Fatal("tombstone from before restart not reaped")
		}
	})
}

func TestBackgroundReaper(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{ReapInterval: 5 * time.Millisecond, TombstoneDelay: time.Millisecond})
		ev.put("", "b", "k", nil, "v")
		ev.e.Delete(ctx, DeleteRequest{Bucket: "b", Key: "k"})
		ev.clock.Advance(time.Second)
		if !testutil.Eventually(5*time.Second, func() bool { _, found, _ := ev.e.FetchReplica(ctx, "", "b", "k"); return !found }) {
			t.Fatal("background reaper did not reap")
		}
	})
}

func TestBucketProps(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{})
		p, err := ev.e.BucketProps("", "b")
		if err != nil {
			t.Fatal(err)
		}
		want := DefaultProps(false)
		if p.NVal != 3 || p.AllowMult || p.LastWriteWins || p.R != QuorumQuorum || p.PR != 0 || !p.NotFoundOK || p.BasicQuorum || p.DW != want.DW {
			t.Fatalf("default props %+v", p)
		}
		ev.mustType("t", PropsUpdate{NVal: Ptr(uint32(5)), R: Ptr(QuorumOne)})
		if err := ev.e.SetBucketProps("t", "b", PropsUpdate{W: Ptr(Quorum(4)), AllowMult: Ptr(false)}); err != nil {
			t.Fatal(err)
		}
		if err := ev.e.SetBucketProps("t", "b", PropsUpdate{NotFoundOK: Ptr(false)}); err != nil {
			t.Fatal(err)
		}
		check := func(label string) {
			t.Helper()
			p, err := ev.e.BucketProps("t", "b")
			if err != nil {
				t.Fatal(err)
			}
			if p.NVal != 5 || p.R != QuorumOne || p.W != 4 || p.AllowMult || p.NotFoundOK {
				t.Fatalf("%s: overlay props %+v", label, p)
			}
			p2, _ := ev.e.BucketProps("t", "other")
			if p2.NVal != 5 || !p2.AllowMult || p2.W != QuorumQuorum {
				t.Fatalf("%s: sibling bucket props %+v", label, p2)
			}
		}
		check("live")
		if ev.kind.persistent {
			ev.reopen()
			check("reopened")
		}
		if err := ev.e.ResetBucketProps("t", "b"); err != nil {
			t.Fatal(err)
		}
		if p, _ := ev.e.BucketProps("t", "b"); p.W != QuorumQuorum || !p.AllowMult || p.NVal != 5 {
			t.Fatalf("after reset %+v", p)
		}
		bad := []struct {
			name string
			typ  string
			u    PropsUpdate
			want error
		}{
			{"n_val zero", "", PropsUpdate{NVal: Ptr(uint32(0))}, ErrInvalidProps},
			{"r above n_val", "", PropsUpdate{R: Ptr(Quorum(4))}, ErrInvalidProps},
			{"w zero", "", PropsUpdate{W: Ptr(Quorum(0))}, ErrInvalidProps},
			{"unknown type", "nope", PropsUpdate{}, ErrNoType},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				if err := ev.e.SetBucketProps(tc.typ, "b", tc.u); !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
			})
		}
		if err := ev.e.SetBucketProps("", "b", PropsUpdate{PW: Ptr(Quorum(0)), DW: Ptr(QuorumAll)}); err != nil {
			t.Fatalf("valid zero pw: %v", err)
		}
	})
}

func TestBucketTypes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{})
		u, err := ParseProps([]byte(`{"props":{"n_val":2,"allow_mult":false,"r":"one","w":"2","young_vclock":30,"search_index":"idx"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if err := ev.e.CreateBucketType("users", u); err != nil {
			t.Fatal(err)
		}
		if err := ev.e.CreateBucketType("users", PropsUpdate{}); !errors.Is(err, ErrTypeExists) {
			t.Fatalf("duplicate create: %v", err)
		}
		if _, err := ev.e.Put(ctx, PutRequest{Type: "users", Bucket: "b", Key: "k"}); !errors.Is(err, ErrTypeNotActive) {
			t.Fatalf("put on inactive type: %v", err)
		}
		if err := ev.e.SetBucketProps("users", "b", PropsUpdate{}); !errors.Is(err, ErrTypeNotActive) {
			t.Fatalf("props on inactive type: %v", err)
		}
		if _, err := ev.e.Get(ctx, GetRequest{Type: "ghost", Bucket: "b", Key: "k"}); !errors.Is(err, ErrNoType) {
			t.Fatalf("get on unknown type: %v", err)
		}
		if err := ev.e.ActivateBucketType("ghost"); !errors.Is(err, ErrNoType) {
			t.Fatalf("activate unknown: %v", err)
		}
		bt, _ := ev.e.BucketType("users")
		if bt.Status != TypeCreated {
			t.Fatalf("status %v", bt.Status)
		}
		if err := ev.e.ActivateBucketType("users"); err != nil {
			t.Fatal(err)
		}
		if err := ev.e.ActivateBucketType("users"); err != nil {
			t.Fatalf("re-activate: %v", err)
		}
		if err := ev.e.UpdateBucketType("users", PropsUpdate{BasicQuorum: Ptr(true)}); err != nil {
			t.Fatal(err)
		}
		if err := ev.e.CreateBucketType("plain", PropsUpdate{}); err != nil {
			t.Fatal(err)
		}
		check := func(label string) {
			t.Helper()
			p, err := ev.e.BucketProps("users", "b")
			if err != nil {
				t.Fatal(err)
			}
			if p.NVal != 2 || p.AllowMult || p.R != QuorumOne || p.W != 2 || p.YoungVClock != 30 || !p.BasicQuorum || string(p.Extra["search_index"]) != `"idx"` {
				t.Fatalf("%s: props %+v", label, p)
			}
			var names []string
			for _, bt := range ev.e.BucketTypes() {
				names = append(names, fmt.Sprintf("%s:%s", bt.Name, bt.Status))
			}
			if !slices.Equal(names, []string{"default:active", "plain:created", "users:active"}) {
				t.Fatalf("%s: types %v", label, names)
			}
			if bt, _ := ev.e.BucketType("plain"); !bt.Props.AllowMult {
				t.Fatalf("%s: created type must default allow_mult=true", label)
			}
		}
		check("live")
		if ev.kind.persistent {
			ev.reopen()
			check("reopened")
		}
		if err := ev.e.UpdateBucketType("default", PropsUpdate{NVal: Ptr(uint32(1))}); err != nil {
			t.Fatal(err)
		}
		if p, _ := ev.e.BucketProps("", "x"); p.NVal != 1 || p.AllowMult {
			t.Fatalf("default type update: %+v", p)
		}
		for _, name := range []string{"", "has space", "a/b", strings.Repeat("x", MaxTypeLen+1)} {
			if err := ev.e.CreateBucketType(name, PropsUpdate{}); !errors.Is(err, ErrInvalidBucketType) {
				t.Errorf("create %q: %v", name, err)
			}
		}
		if err := ev.e.CreateBucketType("bad", PropsUpdate{NVal: Ptr(uint32(0))}); !errors.Is(err, ErrInvalidProps) {
			t.Fatalf("bad props: %v", err)
		}
	})
}

func TestParseProps(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      string
		wantErr error
		check   func(PropsUpdate) bool
	}{
		{"wrapped", `{"props":{"n_val":3,"allow_mult":true}}`, nil, func(u PropsUpdate) bool { return *u.NVal == 3 && *u.AllowMult }},
		{"bare", `{"allow_mult":"true","pr":"quorum","dw":0}`, nil, func(u PropsUpdate) bool { return *u.AllowMult && *u.PR == QuorumQuorum && *u.DW == 0 }},
		{"name echo ignored", `{"props":{"name":"b","notfound_ok":false}}`, nil, func(u PropsUpdate) bool { return !*u.NotFoundOK && u.Extra == nil }},
		{"pb special values as numbers", `{"r":4294967292}`, nil, func(u PropsUpdate) bool { return *u.R == QuorumAll }},
		{"not json", `{`, ErrInvalidProps, nil},
		{"n_val string", `{"n_val":"three"}`, ErrInvalidProps, nil},
		{"negative n_val", `{"n_val":-1}`, ErrInvalidProps, nil},
		{"bad quorum", `{"r":"most"}`, ErrInvalidProps, nil},
		{"bad bool", `{"allow_mult":1}`, ErrInvalidProps, nil},
		{"datatype", `{"props":{"datatype":"map"}}`, nil, func(u PropsUpdate) bool { return *u.Datatype == "map" }},
		{"datatype not a string", `{"props":{"datatype":1}}`, ErrInvalidProps, nil},
		{"consistent", `{"consistent":true}`, ErrUnsupportedProp, nil},
		{"consistent false ok", `{"consistent":false}`, nil, func(u PropsUpdate) bool { return u.Extra["consistent"] != nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseProps([]byte(tc.in))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && !tc.check(u) {
				t.Fatalf("parsed %+v", u)
			}
			if err == nil {
				b, _ := u.MarshalJSON()
				u2, err := ParseProps(b)
				if err != nil || !tc.check(u2) {
					t.Fatalf("round trip %s: %v", b, err)
				}
			}
		})
	}
}

func TestQuorum(t *testing.T) {
	t.Parallel()
	cases := []struct {
		q    Quorum
		n    uint32
		def  Quorum
		want uint32
		err  bool
	}{
		{QuorumOne, 3, QuorumQuorum, 1, false},
		{QuorumQuorum, 3, QuorumQuorum, 2, false},
		{QuorumQuorum, 5, QuorumQuorum, 3, false},
		{QuorumAll, 3, QuorumQuorum, 3, false},
		{QuorumDefault, 3, QuorumAll, 3, false},
		{2, 3, QuorumAll, 2, false},
		{4, 3, QuorumAll, 0, true},
		{QuorumDefault, 3, QuorumDefault, 0, true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s_n%d", tc.q, tc.n), func(t *testing.T) {
			got, err := tc.q.Resolve(tc.n, tc.def)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("Resolve = %d, %v", got, err)
			}
			if !tc.err {
				back, err := ParseQuorum(tc.q.String())
				if err != nil || back != tc.q {
					t.Fatalf("ParseQuorum(String) = %v, %v", back, err)
				}
			}
		})
	}
}

func TestListBucketsAndKeys(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{})
		ev.mustType("t", PropsUpdate{})
		var want []string
		for i := range 2500 {
			k := fmt.Sprintf("key%05d", i)
			want = append(want, k)
			ev.put("", "big", k, nil, "v")
		}
		for _, b := range []string{"a", "zz", "\xff\xff", "b\x00c"} {
			ev.put("", b, "k", nil, "v")
		}
		ev.put("t", "typed", "k", nil, "v")
		ev.put("", "ghost", "k", nil, "v")
		ev.e.Delete(ctx, DeleteRequest{Bucket: "ghost", Key: "k"})
		ev.put("", "a", "dead", nil, "v")
		ev.e.Delete(ctx, DeleteRequest{Bucket: "a", Key: "dead"})

		if got := ev.listKeys("", "big"); !slices.Equal(got, want) {
			t.Fatalf("keys: %d, first %v", len(got), got[:min(3, len(got))])
		}
		if got := ev.listKeys("", "a"); !slices.Equal(got, []string{"k"}) {
			t.Fatalf("keys of a: %v", got)
		}
		if got := ev.listKeys("", "nothing"); got != nil {
			t.Fatalf("keys of empty bucket: %v", got)
		}
		wantB := []string{"a", "b\x00c", "big", "zz", "\xff\xff"}
		slices.Sort(wantB)
		if got := ev.listBuckets(""); !slices.Equal(got, wantB) {
			t.Fatalf("buckets %q, want %q", got, wantB)
		}
		if got := ev.listBuckets("t"); !slices.Equal(got, []string{"typed"}) {
			t.Fatalf("typed buckets %q", got)
		}
		stop := errors.New("stop")
		calls := 0
		err := ev.e.ListKeys(ctx, "", "big", func([]string) error { calls++; return stop })
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("callback error: %v after %d calls", err, calls)
		}
		cctx, cancel := context.WithCancel(ctx)
		calls = 0
		err = ev.e.ListKeys(cctx, "", "big", func([]string) error { calls++; cancel(); return nil })
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Fatalf("cancel: %v after %d calls", err, calls)
		}
		if err := ev.e.ListKeys(ctx, "nope", "b", func([]string) error { return nil }); !errors.Is(err, ErrNoType) {
			t.Fatalf("unknown type: %v", err)
		}
		if err := ev.e.ListBuckets(ctx, "nope", func([]string) error { return nil }); !errors.Is(err, ErrNoType) {
			t.Fatalf("unknown type: %v", err)
		}
	})
}

func TestMeta(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{})
		if _, ok, err := ev.e.GetMeta("ring"); ok || err != nil {
			t.Fatalf("missing meta: %v %v", ok, err)
		}
		if err := ev.e.PutMeta("ring", []byte("v1")); err != nil {
			t.Fatal(err)
		}
		if ev.kind.persistent {
			ev.reopen()
		}
		if v, ok, _ := ev.e.GetMeta("ring"); !ok || string(v) != "v1" {
			t.Fatalf("meta = %q %v", v, ok)
		}
		ev.e.DeleteMeta("ring")
		if _, ok, _ := ev.e.GetMeta("ring"); ok {
			t.Fatal("meta not deleted")
		}
		if err := ev.e.PutMeta("", nil); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("empty meta key: %v", err)
		}
	})
}

func TestValidation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{MaxObjectSize: 1000, MaxSiblings: 3})
		ev.mustType("m", PropsUpdate{})
		long := strings.Repeat("k", MaxKeyLen+1)
		cases := []struct {
			name string
			req  PutRequest
			want error
		}{
			{"empty bucket", PutRequest{Key: "k"}, ErrInvalidBucket},
			{"empty key", PutRequest{Bucket: "b"}, ErrInvalidKey},
			{"long key", PutRequest{Bucket: "b", Key: long}, ErrInvalidKey},
			{"long bucket", PutRequest{Bucket: long, Key: "k"}, ErrInvalidBucket},
			{"bad type name", PutRequest{Type: "a b", Bucket: "b", Key: "k"}, ErrInvalidBucketType},
			{"unknown type", PutRequest{Type: "zz", Bucket: "b", Key: "k"}, ErrNoType},
			{"bad index name", PutRequest{Bucket: "b", Key: "k", Content: Content{Indexes: []Pair{{"x", nil}}}}, ErrInvalidIndex},
			{"bad int term", PutRequest{Bucket: "b", Key: "k", Content: Content{Indexes: []Pair{{"x_int", []byte("1.5")}}}}, ErrInvalidIndex},
			{"too large", PutRequest{Bucket: "b", Key: "k", Content: Content{Value: make([]byte, 1001)}}, ErrTooLarge},
			{"non-canonical vclock", PutRequest{Bucket: "b", Key: "k", VClock: VClock{{Actor: "b", Counter: 1}, {Actor: "a", Counter: 1}}}, ErrInvalidVClock},
			{"zero counter vclock", PutRequest{Bucket: "b", Key: "k", VClock: VClock{{Actor: "a"}}}, ErrInvalidVClock},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := ev.e.Put(ctx, tc.req); !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
			})
		}
		if _, err := ev.e.Get(ctx, GetRequest{Bucket: "b"}); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("get empty key: %v", err)
		}
		if err := ev.e.Delete(ctx, DeleteRequest{Key: "k"}); !errors.Is(err, ErrInvalidBucket) {
			t.Fatalf("delete empty bucket: %v", err)
		}
		// Sibling and total-size limits apply to the merged object.
		for i := range 3 {
			ev.put("m", "b", "sib", nil, fmt.Sprint(i))
		}
		if _, err := ev.e.Put(ctx, PutRequest{Type: "m", Bucket: "b", Key: "sib", Content: Content{Value: []byte("4")}}); !errors.Is(err, ErrTooManySiblings) {
			t.Fatalf("4th sibling: %v", err)
		}
		ev.put("m", "b", "big", nil, strings.Repeat("x", 600))
		if _, err := ev.e.Put(ctx, PutRequest{Type: "m", Bucket: "b", Key: "big", Content: Content{Value: make([]byte, 600)}}); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("siblings over size: %v", err)
		}
		if got := values(ev.get("m", "b", "sib").Object); len(got) != 3 {
			t.Fatalf("failed put changed the object: %v", got)
		}
		// Canceled contexts are honoured.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := ev.e.Put(cctx, PutRequest{Bucket: "b", Key: "k"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled put: %v", err)
		}
	})
}

func TestStoreReplica(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		a := newEnv(Options{Actor: "A"})
		b := newEnv(Options{Actor: "B", Clock: a.clock})
		for _, ev := range []*env{a, b} {
			ev.mustType("m", PropsUpdate{})
		}
		// Concurrent writes on two nodes, then exchange both ways.
		a.put("m", "bk", "k", nil, "from-a", func(r *PutRequest) { r.Content.Indexes = []Pair{{"n_int", []byte("1")}} })
		a.clock.Advance(time.Second)
		b.put("m", "bk", "k", nil, "from-b", func(r *PutRequest) { r.Content.Indexes = []Pair{{"n_int", []byte("2")}} })
		oa, _, _ := a.e.FetchReplica(ctx, "m", "bk", "k")
		ob, _, _ := b.e.FetchReplica(ctx, "m", "bk", "k")
		ma, changed, err := a.e.StoreReplica(ctx, "m", "bk", "k", ob)
		if err != nil || !changed {
			t.Fatalf("store b->a: %v %v", changed, err)
		}
		mb, changed, err := b.e.StoreReplica(ctx, "m", "bk", "k", oa)
		if err != nil || !changed {
			t.Fatalf("store a->b: %v %v", changed, err)
		}
		if !sameObject(ma, mb) || !slices.Equal(values(ma), []string{"from-a", "from-b"}) {
			t.Fatalf("replicas did not converge: %v vs %v", values(ma), values(mb))
		}
		for _, ev := range []*env{a, b} {
			rs, _, _ := ev.query(IndexQuery{Type: "m", Bucket: "bk", Index: "n_int", Range: true, Min: "0", Max: "9"})
			if len(rs) != 2 {
				t.Fatalf("indexes of merged siblings: %v", rs)
			}
		}
		// Storing the same or an older version again changes nothing.
		if _, changed, _ := a.e.StoreReplica(ctx, "m", "bk", "k", ob); changed {
			t.Fatal("re-storing a dominated version wrote")
		}
		if _, changed, _ := a.e.StoreReplica(ctx, "m", "bk", "k", mb); changed {
			t.Fatal("re-storing an equal version wrote")
		}
		// A resolving write on A replaces both siblings on B.
		a.clock.Advance(time.Second)
		res := a.put("m", "bk", "k", ma.VClock, "resolved")
		if got, changed, _ := b.e.StoreReplica(ctx, "m", "bk", "k", res.Object); !changed || !slices.Equal(values(got), []string{"resolved"}) {
			t.Fatalf("resolution not applied: %v", values(got))
		}
		rs, _, _ := b.query(IndexQuery{Type: "m", Bucket: "bk", Index: "n_int", Range: true, Min: "0", Max: "9"})
		if len(rs) != 0 {
			t.Fatalf("stale index entries after replica replace: %v", rs)
		}
		// allow_mult=false: concurrent replicas keep the newest.
		a.put("", "bk", "lww", nil, "old")
		a.clock.Advance(time.Second)
		nb := b.put("", "bk", "lww", nil, "new").Object
		if got, _, _ := a.e.StoreReplica(ctx, "", "bk", "lww", nb); !slices.Equal(values(got), []string{"new"}) {
			t.Fatalf("allow_mult=false replica merge: %v", values(got))
		}
		// A replica tombstone is stored, hidden and reaped.
		a.clock.Advance(time.Second)
		if err := b.e.Delete(ctx, DeleteRequest{Bucket: "bk", Key: "lww"}); err != nil {
			t.Fatal(err)
		}
		tomb, _, _ := b.e.FetchReplica(ctx, "", "bk", "lww")
		if _, _, err := a.e.StoreReplica(ctx, "", "bk", "lww", tomb); err != nil {
			t.Fatal(err)
		}
		if a.get("", "bk", "lww").Found {
			t.Fatal("replicated tombstone visible")
		}
		a.clock.Advance(time.Minute)
		if n, _ := a.e.ReapTombstones(ctx); n != 1 {
			t.Fatalf("replicated tombstone reaped %d", n)
		}
		// Invalid replica objects are refused.
		for name, o := range map[string]Object{
			"no siblings": {VClock: vc("x", 1)},
			"no clock":    {Siblings: []Content{{Value: []byte("v")}}},
			"bad index":   {VClock: vc("x", 1), Siblings: []Content{{Indexes: []Pair{{"bad", nil}}}}},
		} {
			if _, _, err := a.e.StoreReplica(ctx, "", "bk", "x", o); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
	})
}

func TestConcurrentPutsSameKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		ev := newEnv(Options{})
		ev.mustType("m", PropsUpdate{})
		const writers = 40
		var wg sync.WaitGroup
		errs := make(chan error, 2*writers)
		for i := range writers {
			wg.Go(func() {
				for _, typ := range []string{"m", "default"} {
					_, err := ev.e.Put(ctx, PutRequest{Type: typ, Bucket: "b", Key: "hot", Content: Content{Value: []byte(fmt.Sprint(i))}})
					errs <- err
				}
			})
			wg.Go(func() { ev.e.Get(ctx, GetRequest{Type: "m", Bucket: "b", Key: "hot"}) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := ev.get("m", "b", "hot").Object
		if len(got.Siblings) != writers {
			t.Fatalf("allow_mult: %d siblings, want %d (lost update)", len(got.Siblings), writers)
		}
		seen := map[string]bool{}
		for _, c := range got.Siblings {
			seen[string(c.Value)] = true
		}
		if len(seen) != writers {
			t.Fatalf("distinct values %d", len(seen))
		}
		if c := got.VClock.Counter(ev.e.Actor()); c != writers {
			t.Fatalf("actor counter %d, want %d", c, writers)
		}
		d := ev.get("default", "b", "hot").Object
		if len(d.Siblings) != 1 || d.VClock.Counter(ev.e.Actor()) != writers {
			t.Fatalf("allow_mult=false: %d siblings, counter %d", len(d.Siblings), d.VClock.Counter(ev.e.Actor()))
		}
	})
}

func TestDiskPersistence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := dir + "/kv.bolt"
	clock := newFakeClock()
	open := func() *Engine {
		b, err := OpenBoltBackend(path, BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := Open(Options{Backend: b, Clock: clock, ReapInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := open()
	actor := e.Actor()
	if err := e.CreateBucketType("m", PropsUpdate{}); err != nil {
		t.Fatal(err)
	}
	e.ActivateBucketType("m")
	for i := range 50 {
		_, err := e.Put(ctx, PutRequest{Type: "m", Bucket: "b", Key: fmt.Sprintf("k%02d", i),
			Content: Content{Value: []byte(fmt.Sprint(i)), Indexes: []Pair{{"n_int", []byte(fmt.Sprint(i % 5))}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	e.Put(ctx, PutRequest{Type: "m", Bucket: "b", Key: "k00", Content: Content{Value: []byte("sibling")}})
	e.Delete(ctx, DeleteRequest{Type: "m", Bucket: "b", Key: "k49"})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Get(ctx, GetRequest{Type: "m", Bucket: "b", Key: "k01"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}

	e = open()
	defer e.Close()
	if e.Actor() != actor {
		t.Fatalf("actor changed across reopen: %x -> %x", actor, e.Actor())
	}
	g, err := e.Get(ctx, GetRequest{Type: "m", Bucket: "b", Key: "k00"})
	if err != nil || !slices.Equal(values(g.Object), []string{"0", "sibling"}) {
		t.Fatalf("k00 after reopen: %v %v", values(g.Object), err)
	}
	var keys []string
	e.ListKeys(ctx, "m", "b", func(ks []string) error { keys = append(keys, ks...); return nil })
	if len(keys) != 49 {
		t.Fatalf("keys after reopen: %d", len(keys))
	}
	var rs []IndexResult
	e.IndexQuery(ctx, IndexQuery{Type: "m", Bucket: "b", Index: "n_int", Term: "3"}, func(r []IndexResult) error { rs = append(rs, r...); return nil })
	if len(rs) != 10 {
		t.Fatalf("index after reopen: %d", len(rs))
	}
	clock.Advance(time.Minute)
	if n, _ := e.ReapTombstones(ctx); n != 1 {
		t.Fatalf("reaped %d after reopen", n)
	}
}

func TestBoltFileLockedTwice(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/kv.bolt"
	b, err := OpenBoltBackend(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := OpenBoltBackend(path, BoltOptions{Timeout: 50 * time.Millisecond}); err == nil {
		t.Fatal("second open of a locked file succeeded")
	}
}

func TestOpenBackend(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind string
		ok   bool
	}{{"memory", true}, {"disk", true}, {"rocks", false}} {
		b, err := OpenBackend(tc.kind, t.TempDir()+"/x.bolt", BoltOptions{NoSync: true})
		if (err == nil) != tc.ok {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		if b != nil {
			b.Close()
		}
	}
}

// TestStoreReplicas: a bulk store (handoff) merges every object as
// StoreReplica does, counts only those that changed the store, and keeps
// them across a reopen (the bolt backend's shared commits are durable).
func TestStoreReplicas(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, newEnv func(Options) *env) {
		src, dst := newEnv(Options{Actor: "S"}), newEnv(Options{Actor: "D"})
		var rs []Replica
		for i := range 500 {
			key := fmt.Sprint(i)
			src.put(DefaultType, "b", key, nil, "v"+key)
			o, _, _ := src.e.FetchReplica(ctx, DefaultType, "b", key)
			rs = append(rs, Replica{Type: DefaultType, Bucket: "b", Key: key, Object: o})
		}
		stored, err := dst.e.StoreReplicas(ctx, rs)
		if err != nil || stored != 500 {
			t.Fatalf("StoreReplicas: stored %d, err %v; want 500", stored, err)
		}
		if stored, err := dst.e.StoreReplicas(ctx, rs); err != nil || stored != 0 {
			t.Fatalf("StoreReplicas again: stored %d, err %v; want 0", stored, err)
		}
		if dst.kind.name != "memory" {
			dst.reopen()
		}
		for i := range 500 {
			got := values(dst.get(DefaultType, "b", fmt.Sprint(i)).Object)
			want := []string{"v" + fmt.Sprint(i)}
			if !slices.Equal(got, want) {
				t.Fatalf("key %d after bulk store and reopen: %v, want %v", i, got, want)
			}
		}
		bad := []Replica{{Type: DefaultType, Bucket: "b", Key: "x", Object: Object{}}}
		if _, err := dst.e.StoreReplicas(ctx, bad); err == nil {
			t.Error("a replica without a clock was accepted")
		}
	})
}
