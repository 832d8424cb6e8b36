package protocol

import (
	"bytes"
	"errors"
	"testing"

	"github.com/basho/riak-go-client/rpb/riak"
	"github.com/basho/riak-go-client/rpb/riak_dt"
	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/basho/riak-go-client/rpb/riak_ts"
	"github.com/golang/protobuf/proto"
	"google.golang.org/protobuf/encoding/protowire"
)

var (
	yes = proto.Bool(true)
	no  = proto.Bool(false)
)

func keys(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte{'k', byte('0' + i%10)}
	}
	return out
}

func tsRow() []*riak_ts.TsRow {
	return []*riak_ts.TsRow{{Cells: []*riak_ts.TsCell{{VarcharValue: []byte("f")}, {Sint64Value: proto.Int64(-3)}}}}
}

func indexObjects() []*riak_kv.RpbIndexObject {
	return []*riak_kv.RpbIndexObject{{Key: []byte("k"), Object: &riak_kv.RpbGetResp{
		Content: []*riak_kv.RpbContent{{Value: []byte("v")}}, Vclock: []byte("vc")}}}
}

// streamDoneCases are real response messages marshalled with the rpb types.
var streamDoneCases = []struct {
	name string
	code Code
	msg  proto.Message
	want bool
}{
	{"list keys, keys only", CodeListKeysResp, &riak_kv.RpbListKeysResp{Keys: keys(50)}, false},
	{"list keys, done false", CodeListKeysResp, &riak_kv.RpbListKeysResp{Keys: keys(3), Done: no}, false},
	{"list keys, done", CodeListKeysResp, &riak_kv.RpbListKeysResp{Done: yes}, true},
	{"list keys, keys and done", CodeListKeysResp, &riak_kv.RpbListKeysResp{Keys: keys(3), Done: yes}, true},
	{"list buckets, buckets", CodeListBucketsResp, &riak_kv.RpbListBucketsResp{Buckets: keys(4)}, false},
	{"list buckets, done", CodeListBucketsResp, &riak_kv.RpbListBucketsResp{Done: yes}, true},
	{"mapred, phase data", CodeMapRedResp, &riak_kv.RpbMapRedResp{Phase: proto.Uint32(1), Response: []byte(`[1,2]`)}, false},
	{"mapred, done", CodeMapRedResp, &riak_kv.RpbMapRedResp{Done: yes}, true},
	{"2i, keys", CodeIndexResp, &riak_kv.RpbIndexResp{Keys: keys(5)}, false},
	{"2i, terms and continuation", CodeIndexResp, &riak_kv.RpbIndexResp{Results: []*riak.RpbPair{{Key: []byte("t"), Value: []byte("k")}}, Continuation: []byte("c")}, false},
	{"2i, done with continuation", CodeIndexResp, &riak_kv.RpbIndexResp{Continuation: []byte("c"), Done: yes}, true},
	{"2i body, objects", CodeIndexBodyResp, &riak_kv.RpbIndexBodyResp{Objects: indexObjects()}, false},
	{"2i body, done", CodeIndexBodyResp, &riak_kv.RpbIndexBodyResp{Done: yes}, true},
	{"cs bucket, objects", CodeCSBucketResp, &riak_kv.RpbCSBucketResp{Objects: indexObjects()}, false},
	{"cs bucket, done", CodeCSBucketResp, &riak_kv.RpbCSBucketResp{Done: yes}, true},
	{"ts query, single answer (done defaults to true)", CodeTsQueryResp, &riak_ts.TsQueryResp{Rows: tsRow()}, true},
	{"ts query, streamed chunk", CodeTsQueryResp, &riak_ts.TsQueryResp{Rows: tsRow(), Done: no}, false},
	{"ts query, last chunk", CodeTsQueryResp, &riak_ts.TsQueryResp{Done: yes}, true},
	{"ts list keys, rows", CodeTsListKeysResp, &riak_ts.TsListKeysResp{Keys: tsRow()}, false},
	{"ts list keys, done", CodeTsListKeysResp, &riak_ts.TsListKeysResp{Done: yes}, true},
	{"error ends any stream", CodeErrorResp, &riak.RpbErrorResp{Errmsg: []byte("boom"), Errcode: proto.Uint32(0)}, true},
	{"single get response", CodeGetResp, &riak_kv.RpbGetResp{Vclock: []byte("x")}, true},
	{"coverage response is single", CodeCoverageResp, &riak_kv.RpbCoverageResp{}, true},
}

func TestStreamDone(t *testing.T) {
	for _, tc := range streamDoneCases {
		t.Run(tc.name, func(t *testing.T) {
			body := mustMarshal(tc.msg)
			done, err := StreamDone(tc.code, body)
			if err != nil || done != tc.want {
				t.Fatalf("StreamDone = %v, %v; want %v", done, err, tc.want)
			}
			if rdone, ok, rerr := rpbDone(tc.code, body); ok && (rerr != nil || rdone != done) {
				t.Fatalf("rpb decode says %v, %v", rdone, rerr)
			}
		})
	}
}

func TestStreamDoneEdgeCases(t *testing.T) {
	doneTag := func(v ...byte) []byte { return append(protowire.AppendTag(nil, 2, protowire.VarintType), v...) }
	cases := []struct {
		name    string
		code    Code
		body    []byte
		want    bool
		wantErr error
	}{
		{"empty body", CodeListKeysResp, nil, false, nil},
		{"last done wins", CodeListKeysResp, append(doneTag(1), doneTag(0)...), false, nil},
		{"non-canonical true", CodeListKeysResp, doneTag(0x82, 0x01), true, nil},
		{"done as bytes is unknown field", CodeListKeysResp, []byte{0x12, 0x01, 0x01}, false, nil},
		{"unknown group skipped", CodeListKeysResp, append([]byte{0x1b, 0x08, 0x01, 0x1c}, doneTag(1)...), true, nil},
		{"truncated varint", CodeListKeysResp, []byte{0x10, 0x80}, false, ErrMalformed},
		{"truncated bytes", CodeListKeysResp, []byte{0x0a, 0x05, 'a'}, false, ErrMalformed},
		{"field number zero", CodeListKeysResp, []byte{0x00, 0x01}, false, ErrMalformed},
		{"stray end group", CodeListKeysResp, []byte{0x0c}, false, ErrMalformed},
		{"wire type 7", CodeListKeysResp, []byte{0x0f}, false, ErrMalformed},
		{"malformed single response is not parsed", CodeGetResp, []byte{0xff}, true, nil},
		{"error resp not parsed", CodeErrorResp, []byte{0xff}, true, nil},
		{"unknown code", 150, nil, false, ErrUnknownCode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done, err := StreamDone(tc.code, tc.body)
			if done != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("StreamDone = %v, %v; want %v, %v", done, err, tc.want, tc.wantErr)
			}
			if rdone, ok, rerr := rpbDone(tc.code, tc.body); ok && rerr == nil && (err != nil || rdone != done) {
				t.Fatalf("rpb decode succeeded with %v, scan gave %v, %v", rdone, done, err)
			}
		})
	}
}

func TestRequestStreams(t *testing.T) {
	cases := []struct {
		name    string
		code    Code
		msg     proto.Message // nil: empty body
		want    bool
		wantErr error
	}{
		{"list keys always", CodeListKeysReq, &riak_kv.RpbListKeysReq{Bucket: []byte("b")}, true, nil},
		{"mapred always", CodeMapRedReq, &riak_kv.RpbMapRedReq{Request: []byte("{}"), ContentType: []byte("application/json")}, true, nil},
		{"cs bucket always", CodeCSBucketReq, &riak_kv.RpbCSBucketReq{Bucket: []byte("b"), StartKey: []byte("a")}, true, nil},
		{"ts list keys always", CodeTsListKeysReq, &riak_ts.TsListKeysReq{Table: []byte("t")}, true, nil},
		{"list buckets without stream", CodeListBucketsReq, &riak_kv.RpbListBucketsReq{Type: []byte("t")}, false, nil},
		{"list buckets stream=false", CodeListBucketsReq, &riak_kv.RpbListBucketsReq{Stream: no}, false, nil},
		{"list buckets stream=true", CodeListBucketsReq, &riak_kv.RpbListBucketsReq{Stream: yes, Timeout: proto.Uint32(5)}, true, nil},
		{"2i without stream", CodeIndexReq, &riak_kv.RpbIndexReq{Bucket: []byte("b"), Index: []byte("i_bin"), Qtype: riak_kv.RpbIndexReq_eq.Enum(), Key: []byte("v")}, false, nil},
		{"2i stream", CodeIndexReq, &riak_kv.RpbIndexReq{Bucket: []byte("b"), Index: []byte("i_bin"), Qtype: riak_kv.RpbIndexReq_range.Enum(), Stream: yes, MaxResults: proto.Uint32(10)}, true, nil},
		{"ts query without stream", CodeTsQueryReq, &riak_ts.TsQueryReq{Query: &riak_ts.TsInterpolation{Base: []byte("select 1")}}, false, nil},
		{"ts query stream", CodeTsQueryReq, &riak_ts.TsQueryReq{Query: &riak_ts.TsInterpolation{Base: []byte("select 1")}, Stream: yes}, true, nil},
		{"get never streams", CodeGetReq, &riak_kv.RpbGetReq{Bucket: []byte("b"), Key: []byte("k")}, false, nil},
		{"coverage never streams", CodeCoverageReq, &riak_kv.RpbCoverageReq{Bucket: []byte("b")}, false, nil},
		{"search never streams", CodeSearchQueryReq, nil, false, nil},
		{"response code", CodeListKeysResp, nil, false, nil},
		{"unknown code", 150, nil, false, ErrUnknownCode},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.msg != nil {
				body = mustMarshal(tc.msg)
			}
			got, err := RequestStreams(tc.code, body)
			if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("RequestStreams = %v, %v; want %v, %v", got, err, tc.want, tc.wantErr)
			}
			if rs, ok, rerr := rpbStream(tc.code, body); ok && (rerr != nil || rs != got) {
				t.Fatalf("rpb decode says %v, %v", rs, rerr)
			}
		})
	}
	if _, err := RequestStreams(CodeIndexReq, []byte{0x40, 0x80}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed 2i request: err = %v", err)
	}
}

func TestRequestKey(t *testing.T) {
	b, k, ty := []byte("bucket"), []byte("key"), []byte("maps")
	def := []byte("default")
	cases := []struct {
		name    string
		code    Code
		body    []byte
		want    Key
		wantOK  bool
		wantErr error
	}{
		{"get default type", CodeGetReq, mustMarshal(&riak_kv.RpbGetReq{Bucket: b, Key: k, R: proto.Uint32(2)}), Key{def, b, k}, true, nil},
		{"get typed", CodeGetReq, mustMarshal(&riak_kv.RpbGetReq{Bucket: b, Key: k, Type: ty}), Key{ty, b, k}, true, nil},
		{"put with key", CodePutReq, mustMarshal(&riak_kv.RpbPutReq{Bucket: b, Key: k, Type: ty, Content: &riak_kv.RpbContent{Value: bytes.Repeat([]byte("v"), 1000)}}), Key{ty, b, k}, true, nil},
		{"put without key", CodePutReq, mustMarshal(&riak_kv.RpbPutReq{Bucket: b, Content: &riak_kv.RpbContent{Value: []byte("v")}}), Key{def, b, nil}, false, nil},
		{"delete", CodeDelReq, mustMarshal(&riak_kv.RpbDelReq{Bucket: b, Key: k, Type: ty, Vclock: []byte("vc")}), Key{ty, b, k}, true, nil},
		{"preflist", CodeGetBucketKeyPreflistReq, mustMarshal(&riak_kv.RpbGetBucketKeyPreflistReq{Bucket: b, Key: k, Type: ty}), Key{ty, b, k}, true, nil},
		{"counter update", CodeCounterUpdateReq, mustMarshal(&riak_kv.RpbCounterUpdateReq{Bucket: b, Key: k, Amount: proto.Int64(3)}), Key{def, b, k}, true, nil},
		{"counter get", CodeCounterGetReq, mustMarshal(&riak_kv.RpbCounterGetReq{Bucket: b, Key: k}), Key{def, b, k}, true, nil},
		{"dt fetch", CodeDtFetchReq, mustMarshal(&riak_dt.DtFetchReq{Bucket: b, Key: k, Type: ty}), Key{ty, b, k}, true, nil},
		{"dt update", CodeDtUpdateReq, mustMarshal(&riak_dt.DtUpdateReq{Bucket: b, Key: k, Type: ty, Op: &riak_dt.DtOp{CounterOp: &riak_dt.CounterOp{Increment: proto.Int64(1)}}}), Key{ty, b, k}, true, nil},
		{"dt update without key", CodeDtUpdateReq, mustMarshal(&riak_dt.DtUpdateReq{Bucket: b, Type: ty, Op: &riak_dt.DtOp{}}), Key{ty, b, nil}, false, nil},
		{"empty key is a key", CodeGetReq, mustMarshal(&riak_kv.RpbGetReq{Bucket: b, Key: []byte{}}), Key{def, b, []byte{}}, true, nil},
		{"last bucket wins", CodeGetReq, protowire.AppendBytes(protowire.AppendTag(mustMarshal(&riak_kv.RpbGetReq{Bucket: []byte("old"), Key: k}), 1, protowire.BytesType), b), Key{def, b, k}, true, nil},
		{"no key affinity for list keys", CodeListKeysReq, mustMarshal(&riak_kv.RpbListKeysReq{Bucket: b}), Key{}, false, nil},
		{"no key affinity for unknown code", 150, []byte{0xff}, Key{}, false, nil},
		{"malformed", CodeGetReq, []byte{0x0a, 0x09, 'b'}, Key{}, false, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := RequestKey(tc.code, tc.body)
			if ok != tc.wantOK || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("RequestKey ok, err = %v, %v; want %v, %v", ok, err, tc.wantOK, tc.wantErr)
			}
			if !bytes.Equal(got.Type, tc.want.Type) || !bytes.Equal(got.Bucket, tc.want.Bucket) || !bytes.Equal(got.Key, tc.want.Key) {
				t.Fatalf("RequestKey = %q/%q/%q, want %q/%q/%q", got.Type, got.Bucket, got.Key, tc.want.Type, tc.want.Bucket, tc.want.Key)
			}
			if rk, rok, app, rerr := rpbKey(tc.code, tc.body); app && rerr == nil {
				if rok != ok || !bytes.Equal(rk.Type, got.Type) || !bytes.Equal(rk.Bucket, got.Bucket) || !bytes.Equal(rk.Key, got.Key) {
					t.Fatalf("rpb decode says %q/%q/%q ok=%v", rk.Type, rk.Bucket, rk.Key, rok)
				}
			}
		})
	}
}

func TestRequestKeyDoesNotAllocate(t *testing.T) {
	body := mustMarshal(&riak_kv.RpbPutReq{Bucket: []byte("b"), Key: []byte("k"), Content: &riak_kv.RpbContent{Value: make([]byte, 4096)}})
	if n := testing.AllocsPerRun(100, func() { _, _, _ = RequestKey(CodePutReq, body) }); n != 0 {
		t.Fatalf("RequestKey allocs = %v", n)
	}
	done := mustMarshal(&riak_kv.RpbListKeysResp{Keys: keys(100), Done: yes})
	if n := testing.AllocsPerRun(100, func() { _, _ = StreamDone(CodeListKeysResp, done) }); n != 0 {
		t.Fatalf("StreamDone allocs = %v", n)
	}
}
