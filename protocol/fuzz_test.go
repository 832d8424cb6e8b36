package protocol

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/basho/riak-go-client/rpb/riak"
	"github.com/basho/riak-go-client/rpb/riak_dt"
	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/basho/riak-go-client/rpb/riak_ts"
	"github.com/golang/protobuf/proto"
)

// fuzzStep is one ReadFrame outcome in comparable form.
type fuzzStep struct {
	code Code
	body string
	has  bool  // a frame was returned
	err  error // sentinel or io.EOF
}

// refParse is an independent, obviously correct frame parser over a byte
// slice: the expected outcome of reading data with a Reader.
func refParse(data []byte, max int) []fuzzStep {
	var out []fuzzStep
	for {
		if len(data) == 0 {
			return append(out, fuzzStep{err: io.EOF})
		}
		if len(data) < 4 {
			return append(out, fuzzStep{err: ErrTruncatedFrame})
		}
		n := binary.BigEndian.Uint32(data)
		switch {
		case n == 0:
			out = append(out, fuzzStep{err: ErrEmptyFrame})
			data = data[4:]
			continue
		case uint64(n) > uint64(max):
			return append(out, fuzzStep{err: ErrFrameTooLarge})
		case uint64(len(data)) < 4+uint64(n):
			return append(out, fuzzStep{err: ErrTruncatedFrame})
		}
		s := fuzzStep{code: Code(data[4]), body: string(data[5 : 4+n]), has: true}
		if m, _ := Lookup(s.code); m.Embedded() {
			s.err = ErrUnknownCode
		}
		out = append(out, s)
		data = data[4+n:]
	}
}

// sentinel maps a Reader error to the sentinel it wraps; ok is false for
// any other error.
func sentinel(err error) (s error, ok bool) {
	if err == nil {
		return nil, true
	}
	for _, s := range []error{ErrEmptyFrame, ErrFrameTooLarge, ErrTruncatedFrame, ErrUnknownCode, io.EOF} {
		if errors.Is(err, s) {
			return s, true
		}
	}
	return err, false
}

// readSteps reads src to its end, checking per-frame invariants.
func readSteps(t *testing.T, src io.Reader, max int, total int) []fuzzStep {
	rd := NewReader(src, max)
	var out []fuzzStep
	consumed := 0
	for i := 0; i <= total+1; i++ {
		f, err := rd.ReadFrame()
		serr, ok := sentinel(err)
		if !ok {
			t.Fatalf("unexpected error %v", err)
		}
		s := fuzzStep{err: serr}
		if f.Body != nil {
			s.code, s.body, s.has = f.Code, string(f.Body), true
			if len(f.Body)+1 > rd.MaxFrameSize() {
				t.Fatalf("body of %d bytes exceeds limit %d", len(f.Body), rd.MaxFrameSize())
			}
			raw := rd.Raw()
			if !bytes.Equal(raw, AppendFrame(nil, f.Code, f.Body)) {
				t.Fatalf("Raw %x does not encode frame %v %x", raw, f.Code, f.Body)
			}
			consumed += len(raw)
		} else if rd.Raw() != nil {
			t.Fatalf("Raw set without a frame (err %v)", err)
		}
		out = append(out, s)
		switch s.err {
		case nil, ErrUnknownCode:
			if !s.has {
				t.Fatalf("no frame with err %v", err)
			}
			continue
		case ErrEmptyFrame:
			consumed += 4
			continue
		case io.EOF:
			if consumed != total {
				t.Fatalf("EOF after %d of %d bytes", consumed, total)
			}
		case ErrTruncatedFrame, ErrFrameTooLarge:
			if consumed >= total {
				t.Fatalf("%v with nothing left (%d of %d)", err, consumed, total)
			}
			if _, again := rd.ReadFrame(); !errors.Is(again, s.err) {
				t.Fatalf("%v not sticky: then %v", s.err, again)
			}
		}
		return out
	}
	t.Fatalf("no terminal error after %d reads of %d bytes", total+2, total)
	return nil
}

func FuzzReadFrame(f *testing.F) {
	get := mustMarshal(&riak_kv.RpbGetReq{Bucket: []byte("b"), Key: []byte("k")})
	f.Add([]byte{}, uint16(0))
	f.Add(frame(CodePingReq), uint16(0))
	f.Add(cat(frame(CodeGetReq, get...), frame(CodePingReq), frame(CodeStartTLS)), uint16(0))
	f.Add(cat(frame(CodeGetReq, get...), frame(CodeGetReq, get...)), uint16(len(get)+1))
	f.Add(frame(CodeGetReq, get...), uint16(len(get)))
	f.Add(cat([]byte{0, 0, 0, 0}, frame(CodePingReq)), uint16(0))
	f.Add([]byte{0, 0, 0}, uint16(0))
	f.Add([]byte{0, 0, 0, 9, 9, 1}, uint16(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0}, uint16(0))
	f.Add(cat(frame(150, 1, 2), frame(CodeTsRange), frame(CodePingResp)), uint16(7))
	f.Add(ErrorResp("boom", 1), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, max uint16) {
		limit := int(max)
		if limit == 0 {
			limit = DefaultMaxFrameSize
		}
		want := refParse(data, limit)
		for name, src := range map[string]io.Reader{
			"readahead": struct{ io.Reader }{bytes.NewReader(data)},
			"onebyte":   iotest.OneByteReader(bytes.NewReader(data)),
			"bufio":     bufio.NewReaderSize(bytes.NewReader(data), 16),
		} {
			got := readSteps(t, src, int(max), len(data))
			if len(got) != len(want) {
				t.Fatalf("%s: %d steps, reference %d:\n%+v\n%+v", name, len(got), len(want), got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s: step %d = %+v, reference %+v", name, i, got[i], want[i])
				}
			}
		}
	})
}

func FuzzStreamDone(f *testing.F) {
	for _, tc := range streamDoneCases {
		f.Add(byte(tc.code), mustMarshal(tc.msg))
	}
	f.Add(byte(CodeListKeysResp), []byte{0x10, 0x01, 0x10, 0x00})
	f.Add(byte(CodeTsQueryResp), []byte{0x18, 0x00})
	f.Add(byte(CodeIndexResp), []byte{0x23, 0x20, 0x01, 0x24})
	f.Add(byte(CodeMapRedResp), []byte{0x0c})
	f.Add(byte(CodeErrorResp), ErrorResp("x", 1)[HeaderSize:])
	f.Add(byte(150), []byte{})
	f.Fuzz(func(t *testing.T, code byte, body []byte) {
		c := Code(code)
		done, err := StreamDone(c, body)
		if !c.Known() {
			if !errors.Is(err, ErrUnknownCode) || done {
				t.Fatalf("unknown code %d: %v, %v", code, done, err)
			}
			return
		}
		rdone, hasDone, rerr := rpbDone(c, body)
		switch {
		case !hasDone:
			if err != nil || !done {
				t.Fatalf("%v without done field: %v, %v", c, done, err)
			}
		case rerr == nil:
			if err != nil || done != rdone {
				t.Fatalf("%v: scan %v, %v; rpb %v", c, done, err, rdone)
			}
		case err != nil && !errors.Is(err, ErrMalformed):
			t.Fatalf("%v: error %v is not ErrMalformed", c, err)
		}
		if c == CodeErrorResp {
			msg, ecode, perr := ParseErrorResp(body)
			if rmsg, rcode, rerr := rpbErrorResp(body); rerr == nil && (perr != nil || msg != rmsg || ecode != rcode) {
				t.Fatalf("ParseErrorResp %q %d %v; rpb %q %d", msg, ecode, perr, rmsg, rcode)
			}
		}
	})
}

func FuzzRequestKey(f *testing.F) {
	b, k := []byte("b"), []byte("k")
	seeds := []struct {
		code Code
		msg  proto.Message
	}{
		{CodeGetReq, &riak_kv.RpbGetReq{Bucket: b, Key: k, Type: []byte("t")}},
		{CodePutReq, &riak_kv.RpbPutReq{Bucket: b, Content: &riak_kv.RpbContent{Value: []byte("v")}}},
		{CodeDelReq, &riak_kv.RpbDelReq{Bucket: b, Key: k}},
		{CodeGetBucketKeyPreflistReq, &riak_kv.RpbGetBucketKeyPreflistReq{Bucket: b, Key: k}},
		{CodeCounterUpdateReq, &riak_kv.RpbCounterUpdateReq{Bucket: b, Key: k, Amount: proto.Int64(1)}},
		{CodeCounterGetReq, &riak_kv.RpbCounterGetReq{Bucket: b, Key: k}},
		{CodeDtFetchReq, &riak_dt.DtFetchReq{Bucket: b, Key: k, Type: []byte("maps")}},
		{CodeDtUpdateReq, &riak_dt.DtUpdateReq{Bucket: b, Type: []byte("sets"), Op: &riak_dt.DtOp{}}},
		{CodeListBucketsReq, &riak_kv.RpbListBucketsReq{Stream: yes}},
		{CodeIndexReq, &riak_kv.RpbIndexReq{Bucket: b, Index: []byte("i"), Qtype: riak_kv.RpbIndexReq_eq.Enum(), Stream: yes}},
		{CodeTsQueryReq, &riak_ts.TsQueryReq{Stream: no}},
		{CodeSetBucketReq, &riak.RpbSetBucketReq{Bucket: b, Props: &riak.RpbBucketProps{}}},
	}
	for _, s := range seeds {
		f.Add(byte(s.code), mustMarshal(s.msg))
	}
	f.Fuzz(func(t *testing.T, code byte, body []byte) {
		c := Code(code)
		key, ok, err := RequestKey(c, body)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("RequestKey error %v is not ErrMalformed", err)
		}
		if rk, rok, applicable, rerr := rpbKey(c, body); !applicable {
			if ok || err != nil {
				t.Fatalf("%v: RequestKey = %v, %v for a code without key", c, ok, err)
			}
		} else if rerr == nil {
			if err != nil || ok != rok || !bytes.Equal(key.Type, rk.Type) || !bytes.Equal(key.Bucket, rk.Bucket) || !bytes.Equal(key.Key, rk.Key) {
				t.Fatalf("%v: scan %q/%q/%q ok=%v err=%v; rpb %q/%q/%q ok=%v", c, key.Type, key.Bucket, key.Key, ok, err, rk.Type, rk.Bucket, rk.Key, rok)
			}
		}

		streams, err := RequestStreams(c, body)
		if !c.Known() {
			if !errors.Is(err, ErrUnknownCode) {
				t.Fatalf("RequestStreams(%d): %v", code, err)
			}
			return
		}
		if rs, flagged, rerr := rpbStream(c, body); flagged && rerr == nil && (err != nil || rs != streams) {
			t.Fatalf("%v: RequestStreams %v, %v; rpb %v", c, streams, err, rs)
		}
		m, _ := Lookup(c)
		if !m.StreamFlag && (err != nil || streams != (m.Request && m.Streaming)) {
			t.Fatalf("%v: RequestStreams %v, %v for a fixed code", c, streams, err)
		}
	})
}

func FuzzParseHTTPPath(f *testing.F) {
	for _, p := range []string{"/ping", "/types/t/buckets/b/keys/k", "/buckets/b/index/i/1/2",
		"/riak/b", "/ts/v1/tables/t/keys/a/1", "/search/query/i?q=x", "/buckets/b/keys/a%2Fb", "//"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, err := ParseHTTPPath(path)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("error %v is not ErrBadPath", err)
			}
			return
		}
		if rt.Kind == HTTPUnknown || rt.Kind.String() == "" {
			t.Fatalf("parsed %q to unknown kind", path)
		}
		switch rt.Kind {
		case HTTPObject, HTTPPreflist:
			if rt.Bucket == "" || rt.Key == "" || rt.Type == "" {
				t.Fatalf("%q: incomplete object route %+v", path, rt)
			}
		case HTTPKeys, HTTPBucketProps, HTTPIndex, HTTPDatatype, HTTPLegacyBucket:
			if rt.Bucket == "" || rt.Type == "" {
				t.Fatalf("%q: route without bucket %+v", path, rt)
			}
		}
		if rt.Kind == HTTPIndex && (rt.Index == "" || len(rt.Values) < 1 || len(rt.Values) > 2) {
			t.Fatalf("%q: bad index route %+v", path, rt)
		}
	})
}
