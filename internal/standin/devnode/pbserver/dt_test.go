package pbserver

import (
	"slices"
	"strings"
	"testing"

	riak "github.com/basho/riak-go-client"
	rpbRiak "github.com/basho/riak-go-client/rpb/riak"
	rpbDT "github.com/basho/riak-go-client/rpb/riak_dt"
	"github.com/golang/protobuf/proto"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/protocol"
)

func dtEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	for name, dt := range map[string]string{"counters": "counter", "sets": "set", "maps": "map", "hlls": "hll", "gsets": "gset"} {
		e.createType(t, name, kv.PropsUpdate{Datatype: kv.Ptr(dt)})
	}
	e.createType(t, "plain", kv.PropsUpdate{})
	e.createType(t, "single", kv.PropsUpdate{AllowMult: kv.Ptr(false)})
	return e
}

func TestDtSetWithContext(t *testing.T) {
	e := dtEnv(t)
	up := mustRun(t, e.c, riak.NewUpdateSetCommandBuilder().WithBucketType("sets").WithBucket("b").WithKey("s").
		WithAdditions([]byte("a"), []byte("b")).WithReturnBody(true)).(*riak.UpdateSetCommand).Response
	if len(up.SetValue) != 2 || len(up.Context) == 0 || up.GeneratedKey != "" {
		t.Fatalf("update %+v", up)
	}
	f := mustRun(t, e.c, riak.NewFetchSetCommandBuilder().WithBucketType("sets").WithBucket("b").WithKey("s")).(*riak.FetchSetCommand).Response
	mustRun(t, e.c, riak.NewUpdateSetCommandBuilder().WithBucketType("sets").WithBucket("b").WithKey("s").
		WithRemovals([]byte("a")).WithContext(f.Context))
	f = mustRun(t, e.c, riak.NewFetchSetCommandBuilder().WithBucketType("sets").WithBucket("b").WithKey("s")).(*riak.FetchSetCommand).Response
	if len(f.SetValue) != 1 || string(f.SetValue[0]) != "b" {
		t.Fatalf("after remove %q", f.SetValue)
	}
	// Removing an element that is not there: Riak's precondition error.
	_, err := run(t, e.c, riak.NewUpdateSetCommandBuilder().WithBucketType("sets").WithBucket("b").WithKey("s").WithRemovals([]byte("zz")))
	if msg := riakErrmsg(t, err); msg != `{precondition,{not_present,<<"zz">>}}` {
		t.Fatalf("precondition: %q", msg)
	}
	// Not found: no value.
	nf := mustRun(t, e.c, riak.NewFetchSetCommandBuilder().WithBucketType("sets").WithBucket("b").WithKey("none")).(*riak.FetchSetCommand).Response
	if !nf.IsNotFound {
		t.Fatalf("missing set %+v", nf)
	}
	// A regular get returns the stored object.
	obj := e.fetch(t, "sets", "b", "s")
	if len(obj.Values) != 1 || obj.Values[0].ContentType == "" {
		t.Fatalf("RpbGet of a set: %+v", obj.Values)
	}
}

func TestDtBucketErrors(t *testing.T) {
	e := dtEnv(t)
	counter := func(typ string) builder {
		return riak.NewUpdateCounterCommandBuilder().WithBucketType(typ).WithBucket("b").WithKey("k").WithIncrement(1)
	}
	cases := []struct {
		name string
		b    builder
		want string
	}{
		{"plain type", counter("plain"), "Bucket datatype `undefined` is not a supported type"},
		{"allow_mult false", counter("single"), "Bucket must be allow_mult=true"},
		{"no type", counter("nope"), "Error no bucket type `<<\"nope\">>`"},
		{"wrong op", counter("sets"), "Operation type is `counter` but  bucket type is `set`."},
		{"fetch plain", riak.NewFetchMapCommandBuilder().WithBucketType("plain").WithBucket("b").WithKey("k"), "Bucket datatype `undefined` is not a supported type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, e.c, tc.b)
			if msg := riakErrmsg(t, err); msg != tc.want {
				t.Fatalf("got %q, want %q", msg, tc.want)
			}
		})
	}
}

func TestDtMapAndGeneratedKey(t *testing.T) {
	e := dtEnv(t)
	op := &riak.MapOperation{}
	op.IncrementCounter("c", 3).AddToSet("s", []byte("x")).SetRegister("r", []byte("v")).SetFlag("f", true).
		Map("inner").IncrementCounter("n", 1)
	up := mustRun(t, e.c, riak.NewUpdateMapCommandBuilder().WithBucketType("maps").WithBucket("b").
		WithMapOperation(op).WithReturnBody(true)).(*riak.UpdateMapCommand).Response
	if up.GeneratedKey == "" || up.Map.Counters["c"] != 3 || !up.Map.Flags["f"] || string(up.Map.Registers["r"]) != "v" ||
		up.Map.Maps["inner"].Counters["n"] != 1 {
		t.Fatalf("map %+v", up.Map)
	}
	// Remove a field with the context fetched.
	key := up.GeneratedKey
	f := mustRun(t, e.c, riak.NewFetchMapCommandBuilder().WithBucketType("maps").WithBucket("b").WithKey(key)).(*riak.FetchMapCommand).Response
	op = &riak.MapOperation{}
	op.RemoveFlag("f")
	up = mustRun(t, e.c, riak.NewUpdateMapCommandBuilder().WithBucketType("maps").WithBucket("b").WithKey(key).
		WithMapOperation(op).WithContext(f.Context).WithReturnBody(true)).(*riak.UpdateMapCommand).Response
	if _, ok := up.Map.Flags["f"]; ok || up.Map.Counters["c"] != 3 {
		t.Fatalf("after remove %+v", up.Map)
	}
}

// HLLs and GSets are not in riak-go-client v1.7.0's messages: raw frames
// with riak_pb's field numbers.
func TestDtHLLAndGSetRaw(t *testing.T) {
	e := dtEnv(t)
	r := dialRaw(t, e.srv.Addr)
	addOp := func(field protowire.Number, elems ...string) []byte {
		var inner []byte
		for _, s := range elems {
			inner = protowire.AppendTag(inner, 1, protowire.BytesType)
			inner = protowire.AppendBytes(inner, []byte(s))
		}
		op := protowire.AppendTag(nil, field, protowire.BytesType)
		return protowire.AppendBytes(op, inner)
	}
	for _, tc := range []struct {
		typ   string
		field protowire.Number
	}{{"hlls", dtOpHLL}, {"gsets", dtOpGSet}} {
		req := &rpbDT.DtUpdateReq{Bucket: []byte("b"), Key: []byte("k"), Type: []byte(tc.typ), Op: &rpbDT.DtOp{XXX_unrecognized: addOp(tc.field, "a", "b", "a")}, ReturnBody: kv.Ptr(true)}
		r.send(protocol.CodeDtUpdateReq, req)
		f := r.read()
		if f.Code != protocol.CodeDtUpdateResp {
			t.Fatalf("%s: answer %v %q", tc.typ, f.Code, f.Body)
		}
		r.send(protocol.CodeDtFetchReq, &rpbDT.DtFetchReq{Bucket: []byte("b"), Key: []byte("k"), Type: []byte(tc.typ)})
		f = r.read()
		if f.Code != protocol.CodeDtFetchResp {
			t.Fatalf("%s: fetch answer %v %q", tc.typ, f.Code, f.Body)
		}
		var resp rpbDT.DtFetchResp
		if err := proto.Unmarshal(f.Body, &resp); err != nil {
			t.Fatal(err)
		}
		raw := resp.Value.XXX_unrecognized
		switch tc.typ {
		case "hlls":
			if int32(resp.GetType()) != dtTypeHLL || !slices.Equal(raw, protowire.AppendVarint(protowire.AppendTag(nil, dtValueHLL, protowire.VarintType), 2)) {
				t.Fatalf("hll fetch %v %x", resp.GetType(), raw)
			}
		case "gsets":
			if int32(resp.GetType()) != dtTypeGSet || !strings.Contains(string(raw), "a") || !strings.Contains(string(raw), "b") {
				t.Fatalf("gset fetch %v %x", resp.GetType(), raw)
			}
		}
	}
}

func TestDtTypeDatatypeImmutable(t *testing.T) {
	e := dtEnv(t)
	r := dialRaw(t, e.srv.Addr)
	r.send(protocol.CodeSetBucketTypeReq, &rpbRiak.RpbSetBucketTypeReq{Type: []byte("maps"), Props: &rpbRiak.RpbBucketProps{Datatype: []byte("set")}})
	r.expectError(`Invalid bucket properties: [{datatype,"set not supported for bucket datatype property"}]`)
	r.send(protocol.CodeSetBucketTypeReq, &rpbRiak.RpbSetBucketTypeReq{Type: []byte("plain"), Props: &rpbRiak.RpbBucketProps{Datatype: []byte("map")}})
	r.expectError("Invalid bucket properties: [{datatype,\"`datatype` must not be defined.\"}]")
	r.send(protocol.CodeGetBucketTypeReq, &rpbRiak.RpbGetBucketTypeReq{Type: []byte("maps")})
	f := r.read()
	var resp rpbRiak.RpbGetBucketResp
	if err := proto.Unmarshal(f.Body, &resp); err != nil || string(resp.Props.Datatype) != "map" || !resp.Props.GetAllowMult() {
		t.Fatalf("type props %v %v", resp.Props, err)
	}
}
