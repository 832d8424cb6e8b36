package protocol

import (
	"testing"

	"github.com/basho/riak-go-client/rpb/riak_dt"
	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"
	"google.golang.org/protobuf/encoding/protowire"
)

func TestRepeatableWrite(t *testing.T) {
	b, k := []byte("b"), []byte("k")
	content := &riak_kv.RpbContent{Value: []byte("v"), ContentType: []byte("text/plain")}
	// A flag set, then cleared by a later occurrence: the last one wins.
	reset := protowire.AppendTag(mustMarshal(&riak_kv.RpbPutReq{Bucket: b, Key: k, Content: content, IfNoneMatch: yes}), putReqIfNoneMatch, protowire.VarintType)
	reset = protowire.AppendVarint(reset, 0)
	tests := []struct {
		name string
		code Code
		body []byte
		want bool
	}{
		{"put", CodePutReq, mustMarshal(&riak_kv.RpbPutReq{Bucket: b, Key: k, Content: content}), true},
		{"put with vclock, w and return_body", CodePutReq, mustMarshal(&riak_kv.RpbPutReq{Bucket: b, Key: k, Vclock: []byte{1, 2}, Content: content,
			W: proto.Uint32(2), ReturnBody: yes, Type: []byte("t")}), true},
		{"put with the flags false", CodePutReq, mustMarshal(&riak_kv.RpbPutReq{Bucket: b, Key: k, Content: content, IfNotModified: no, IfNoneMatch: no, Asis: no}), true},
		{"put without key", CodePutReq, mustMarshal(&riak_kv.RpbPutReq{Bucket: b, Content: content}), true},
		{"put if_not_modified", CodePutReq, mustMarshal(&riak_kv.RpbPutReq{Bucket: b, Key: k, Vclock: []byte{1}, Content: content, IfNotModified: yes}), false},
		{"put if_none_match", CodePutReq, mustMarshal(&riak_kv.RpbPutReq{Bucket: b, Key: k, Content: content, IfNoneMatch: yes}), false},
		{"put asis", CodePutReq, mustMarshal(&riak_kv.RpbPutReq{Bucket: b, Key: k, Content: content, Asis: yes}), false},
		{"put flag set then cleared", CodePutReq, reset, true},
		{"put flag as a big varint", CodePutReq, protowire.AppendVarint(protowire.AppendTag(nil, putReqAsis, protowire.VarintType), 256), false},
		{"put truncated", CodePutReq, mustMarshal(&riak_kv.RpbPutReq{Bucket: b, Key: k, Content: content})[:5], false},
		{"put flag truncated", CodePutReq, []byte{putReqIfNoneMatch << 3, 0x80}, false},
		{"put bad tag", CodePutReq, []byte{0x07}, false},
		{"empty put", CodePutReq, nil, true},
		{"delete", CodeDelReq, mustMarshal(&riak_kv.RpbDelReq{Bucket: b, Key: k, Vclock: []byte{1}, Type: []byte("t")}), true},
		{"delete truncated", CodeDelReq, []byte{0x0a, 0x05, 'b'}, false},
		{"counter update", CodeCounterUpdateReq, mustMarshal(&riak_kv.RpbCounterUpdateReq{Bucket: b, Key: k, Amount: proto.Int64(1)}), false},
		{"data-type update", CodeDtUpdateReq, mustMarshal(&riak_dt.DtUpdateReq{Bucket: b, Key: k, Type: []byte("sets"), Op: &riak_dt.DtOp{}}), false},
		{"get", CodeGetReq, mustMarshal(&riak_kv.RpbGetReq{Bucket: b, Key: k}), false},
		{"unknown code", Code(250), nil, false},
	}
	for _, tc := range tests {
		if got := RepeatableWrite(tc.code, tc.body); got != tc.want {
			t.Errorf("%s: RepeatableWrite = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzRepeatableWrite: never panics, and agrees with the rpb decode of
// every body that decodes.
func FuzzRepeatableWrite(f *testing.F) {
	b, k := []byte("b"), []byte("k")
	content := &riak_kv.RpbContent{Value: []byte("v")}
	for _, s := range []struct {
		code Code
		msg  proto.Message
	}{
		{CodePutReq, &riak_kv.RpbPutReq{Bucket: b, Key: k, Content: content}},
		{CodePutReq, &riak_kv.RpbPutReq{Bucket: b, Key: k, Content: content, IfNoneMatch: yes}},
		{CodePutReq, &riak_kv.RpbPutReq{Bucket: b, Key: k, Content: content, IfNotModified: yes, Vclock: []byte{1}}},
		{CodePutReq, &riak_kv.RpbPutReq{Bucket: b, Key: k, Content: content, Asis: no}},
		{CodeDelReq, &riak_kv.RpbDelReq{Bucket: b, Key: k}},
		{CodeCounterUpdateReq, &riak_kv.RpbCounterUpdateReq{Bucket: b, Key: k, Amount: proto.Int64(1)}},
	} {
		f.Add(byte(s.code), mustMarshal(s.msg))
	}
	f.Fuzz(func(t *testing.T, code byte, body []byte) {
		c := Code(code)
		got := RepeatableWrite(c, body)
		switch c {
		case CodePutReq:
			var m riak_kv.RpbPutReq
			if proto.Unmarshal(body, &m) != nil {
				return
			}
			if want := !m.GetIfNotModified() && !m.GetIfNoneMatch() && !m.GetAsis(); got != want {
				t.Fatalf("put %v: RepeatableWrite %v, want %v", &m, got, want)
			}
		case CodeDelReq:
			var m riak_kv.RpbDelReq
			if proto.Unmarshal(body, &m) == nil && !got {
				t.Fatalf("delete %v: not repeatable", &m)
			}
		default:
			if got {
				t.Fatalf("%v: repeatable", c)
			}
		}
	})
}

func TestHTTPRepeatableWrite(t *testing.T) {
	tests := []struct {
		method, path string
		header       map[string][]string
		want         bool
	}{
		{"PUT", "/types/t/buckets/b/keys/k", nil, true},
		{"PUT", "/buckets/b/keys/k", map[string][]string{"Content-Type": {"text/plain"}, "X-Riak-Vclock": {"a85"}}, true},
		{"PUT", "/riak/b/k", nil, true},
		{"DELETE", "/buckets/b/keys/k", nil, true},
		{"DELETE", "/riak/b/k", nil, true},
		{"PUT", "/buckets/b/keys/k", map[string][]string{"If-None-Match": {"*"}}, false},
		{"PUT", "/buckets/b/keys/k", map[string][]string{"If-Match": {`"e"`}}, false},
		{"DELETE", "/buckets/b/keys/k", map[string][]string{"If-Unmodified-Since": {"Mon, 01 Jan 2024 00:00:00 GMT"}}, false},
		{"PUT", "/buckets/b/keys/k", map[string][]string{"If-Modified-Since": {"Mon, 01 Jan 2024 00:00:00 GMT"}}, false},
		{"POST", "/buckets/b/keys/k", nil, false},
		{"POST", "/buckets/b/keys", nil, false},
		{"POST", "/riak/b", nil, false},
		{"GET", "/buckets/b/keys/k", nil, false},
		{"PUT", "/buckets/b/props", nil, false},
		{"PUT", "/types/t/buckets/b/datatypes/k", nil, false},
		{"DELETE", "/search/index/i", nil, false},
	}
	for _, tc := range tests {
		rt, err := ParseHTTPPath(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := HTTPRepeatableWrite(tc.method, rt, tc.header); got != tc.want {
			t.Errorf("%s %s %v: HTTPRepeatableWrite = %v, want %v", tc.method, tc.path, tc.header, got, tc.want)
		}
	}
}
