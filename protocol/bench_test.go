package protocol

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"
)

func BenchmarkReadFrame(b *testing.B) {
	for _, size := range []int{100, 4096, 256 << 10} {
		fr := frame(CodePutReq, make([]byte, size)...)
		data := bytes.Repeat(fr, max(1, (64<<10)/len(fr)))
		cases := []struct {
			name string
			src  func() io.Reader
		}{
			// One frame per Read: a request/response connection.
			{"readahead/frame-per-read", func() io.Reader { return &loopReader{data: fr, chunk: len(fr)} }},
			// Reads return whatever is there: pipelined frames.
			{"readahead/pipelined", func() io.Reader { return &loopReader{data: data, chunk: 64 << 10} }},
			{"bufio/pipelined", func() io.Reader { return bufio.NewReader(&loopReader{data: data, chunk: 64 << 10}) }},
		}
		for _, tc := range cases {
			b.Run(tc.name+"/"+byteSize(size), func(b *testing.B) {
				rd := NewReader(tc.src(), 0)
				b.SetBytes(int64(len(fr)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := rd.ReadFrame(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func byteSize(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

func BenchmarkAppendFrame(b *testing.B) {
	body := make([]byte, 100)
	buf := make([]byte, 0, 512)
	b.SetBytes(int64(HeaderSize + len(body)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFrame(buf[:0], CodeGetReq, body)
	}
}

func BenchmarkWriteFrame(b *testing.B) {
	body := make([]byte, 100)
	b.SetBytes(int64(HeaderSize + len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteFrame(io.Discard, CodeGetReq, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamDone(b *testing.B) {
	cases := []struct {
		name string
		code Code
		msg  proto.Message
	}{
		{"listkeys-100keys", CodeListKeysResp, &riak_kv.RpbListKeysResp{Keys: keys(100)}},
		{"listkeys-done", CodeListKeysResp, &riak_kv.RpbListKeysResp{Done: yes}},
		{"index-results-done", CodeIndexResp, &riak_kv.RpbIndexResp{Keys: keys(20), Continuation: []byte("c"), Done: yes}},
		{"get-resp", CodeGetResp, &riak_kv.RpbGetResp{Vclock: []byte("x")}},
	}
	for _, tc := range cases {
		body := mustMarshal(tc.msg)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := StreamDone(tc.code, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The rpb decode StreamDone replaces, for comparison.
	body := mustMarshal(&riak_kv.RpbListKeysResp{Keys: keys(100)})
	b.Run("listkeys-100keys/rpb-unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		var m riak_kv.RpbListKeysResp
		for b.Loop() {
			if err := proto.Unmarshal(body, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRequestKey(b *testing.B) {
	body := mustMarshal(&riak_kv.RpbPutReq{Bucket: []byte("bucket"), Key: []byte("key"), Type: []byte("t"),
		Content: &riak_kv.RpbContent{Value: make([]byte, 1024)}})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := RequestKey(CodePutReq, body); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkAppendErrorResp(b *testing.B) {
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendErrorResp(buf[:0], "no node available", 1)
	}
}

func BenchmarkMarshalFrame(b *testing.B) {
	req := &riak_kv.RpbGetReq{Bucket: []byte("bucket"), Key: []byte("key")}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendMarshalFrame(buf[:0], CodeGetReq, req); err != nil {
			b.Fatal(err)
		}
	}
}
