package protocol

import (
	"bytes"
	"testing"

	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"
)

func TestGetRespFound(t *testing.T) {
	t.Parallel()
	yes := true
	for _, tc := range []struct {
		name string
		msg  *riak_kv.RpbGetResp
		want bool
	}{
		{"not found", &riak_kv.RpbGetResp{}, false},
		{"tombstone's vclock only", &riak_kv.RpbGetResp{Vclock: []byte("vc")}, false},
		{"an object", &riak_kv.RpbGetResp{Content: []*riak_kv.RpbContent{{Value: []byte("v")}}, Vclock: []byte("vc")}, true},
		{"an empty-valued object", &riak_kv.RpbGetResp{Content: []*riak_kv.RpbContent{{Value: []byte{}}}}, true},
		{"unchanged", &riak_kv.RpbGetResp{Unchanged: &yes}, true},
	} {
		body, err := proto.Marshal(tc.msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := GetRespFound(body)
		if err != nil || got != tc.want {
			t.Errorf("%s: found %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := GetRespFound([]byte{0x0a, 0x05, 'a'}); err == nil {
		t.Error("a truncated body was accepted")
	}
}

func TestAppendConfirmGetReq(t *testing.T) {
	t.Parallel()
	r, pr, yes, no := uint32(2), uint32(1), true, false
	orig := &riak_kv.RpbGetReq{Bucket: []byte("b"), Key: []byte("k"), Type: []byte("t"), R: &r, Pr: &pr,
		NotfoundOk: &yes, BasicQuorum: &yes, Deletedvclock: &yes, Head: &no}
	body, err := proto.Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	frame, err := AppendConfirmGetReq([]byte("prefix"), body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(frame, []byte("prefix")) {
		t.Fatal("dst not kept")
	}
	f, err := NewReader(bytes.NewReader(frame[len("prefix"):]), 1<<20).ReadFrame()
	if err != nil || f.Code != CodeGetReq {
		t.Fatalf("frame %v, %v", f.Code, err)
	}
	var got riak_kv.RpbGetReq
	if err := proto.Unmarshal(f.Body, &got); err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(orig).(*riak_kv.RpbGetReq)
	one := uint32(1)
	want.R, want.NotfoundOk, want.BasicQuorum = &one, &no, &no
	if !proto.Equal(&got, want) {
		t.Errorf("confirm request %v, want %v", &got, want)
	}
	if _, err := AppendConfirmGetReq(nil, []byte{0x0a, 0x09}); err == nil {
		t.Error("a malformed request was accepted")
	}
}

func FuzzAppendConfirmGetReq(f *testing.F) {
	body, _ := proto.Marshal(&riak_kv.RpbGetReq{Bucket: []byte("b"), Key: []byte("k")})
	f.Add(body)
	f.Fuzz(func(t *testing.T, b []byte) {
		frame, err := AppendConfirmGetReq(nil, b)
		if err != nil {
			return
		}
		var orig, got riak_kv.RpbGetReq
		if proto.Unmarshal(b, &orig) != nil {
			return
		}
		if err := proto.Unmarshal(frame[HeaderSize:], &got); err != nil {
			t.Fatalf("confirm request of a valid one does not decode: %v", err)
		}
		if got.GetR() != 1 || got.GetNotfoundOk() || !bytes.Equal(got.Bucket, orig.Bucket) || !bytes.Equal(got.Key, orig.Key) {
			t.Fatalf("confirm request %v of %v", &got, &orig)
		}
		_, _ = GetRespFound(b)
	})
}
