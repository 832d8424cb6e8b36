package protocol

import (
	"testing"

	"github.com/basho/riak-go-client/rpb/riak"
	"github.com/golang/protobuf/proto"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestBucketTypePropsReadBack: the varint fields a set names are what a
// get must show; other fields, and bytes fields, do not matter.
func TestBucketTypePropsReadBack(t *testing.T) {
	set := mustMarshal(&riak.RpbSetBucketTypeReq{Type: []byte("plain"),
		Props: &riak.RpbBucketProps{NVal: proto.Uint32(4), AllowMult: proto.Bool(true), Backend: []byte("leveled")}})
	want, err := SetBucketTypeWant(set)
	if err != nil {
		t.Fatal(err)
	}
	if string(want.Type) != "plain" || len(want.Fields) != 2 || want.Fields[1] != 4 || want.Fields[2] != 1 {
		t.Fatalf("want %q %v; want type plain, n_val (1) 4, allow_mult (2) 1", want.Type, want.Fields)
	}
	for _, c := range []struct {
		name  string
		props *riak.RpbBucketProps
		has   bool
	}{
		{"both, and more", &riak.RpbBucketProps{NVal: proto.Uint32(4), AllowMult: proto.Bool(true), R: proto.Uint32(2), Backend: []byte("other")}, true},
		{"old n_val", &riak.RpbBucketProps{NVal: proto.Uint32(3), AllowMult: proto.Bool(true)}, false},
		{"allow_mult missing", &riak.RpbBucketProps{NVal: proto.Uint32(4)}, false},
	} {
		got, err := GetBucketRespHas(mustMarshal(&riak.RpbGetBucketResp{Props: c.props}), want)
		if err != nil || got != c.has {
			t.Errorf("%s: has %v %v, want %v", c.name, got, err, c.has)
		}
	}
	// The request the proxy sends decodes as Riak's.
	var get riak.RpbGetBucketTypeReq
	f := AppendGetBucketTypeReq(nil, []byte("plain"))
	if Code(f[4]) != CodeGetBucketTypeReq || proto.Unmarshal(f[HeaderSize:], &get) != nil || string(get.Type) != "plain" {
		t.Fatalf("AppendGetBucketTypeReq: code %d, %q", f[4], get.Type)
	}
	for _, bad := range [][]byte{{0x0a, 0x05, 'a'}, {0x12, 0x02, 0x08}, {0xff}} {
		if _, err := SetBucketTypeWant(bad); err == nil {
			t.Errorf("SetBucketTypeWant(%x) parsed", bad)
		}
		if _, err := GetBucketRespHas(bad, want); err == nil {
			t.Errorf("GetBucketRespHas(%x) parsed", bad)
		}
	}
}

// FuzzBucketTypeProps: the scans never panic, and agree with the rpb
// decode on what a set asks for.
func FuzzBucketTypeProps(f *testing.F) {
	f.Add(mustMarshal(&riak.RpbSetBucketTypeReq{Type: []byte("t"), Props: &riak.RpbBucketProps{NVal: proto.Uint32(3)}}))
	f.Add([]byte{0x12, 0x00})
	f.Fuzz(func(t *testing.T, body []byte) {
		want, err := SetBucketTypeWant(body)
		_, _ = GetBucketRespHas(body, want)
		var ref riak.RpbSetBucketTypeReq
		if err != nil || proto.Unmarshal(body, &ref) != nil || ref.Props == nil {
			return
		}
		if ref.Props.NVal != nil {
			if v, ok := want.Fields[protowire.Number(1)]; !ok || uint32(v) != ref.Props.GetNVal() {
				t.Fatalf("n_val %v %v, rpb %d", v, ok, ref.Props.GetNVal())
			}
		}
	})
}
