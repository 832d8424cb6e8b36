package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"
)

func TestAppendFrame(t *testing.T) {
	cases := []struct {
		name string
		dst  []byte
		code Code
		body []byte
		want []byte
	}{
		{"empty body", nil, CodePingReq, nil, []byte{0, 0, 0, 1, 1}},
		{"body", nil, CodeGetReq, []byte{0xa, 0}, []byte{0, 0, 0, 3, 9, 0xa, 0}},
		{"appends", []byte("xy"), CodeStartTLS, nil, []byte{'x', 'y', 0, 0, 0, 1, 255}},
		{"300-byte body", nil, CodePutReq, make([]byte, 300), frame(CodePutReq, make([]byte, 300)...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := AppendFrame(tc.dst, tc.code, tc.body); !bytes.Equal(got, tc.want) {
				t.Fatalf("AppendFrame = %x, want %x", got, tc.want)
			}
		})
	}
}

func TestAppendHeaderPanicsOnNegative(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	AppendHeader(nil, CodeGetReq, -1)
}

// countingWriter records each Write call.
type countingWriter struct {
	writes [][]byte
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func TestWriteFrameRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		code Code
		body []byte
	}{
		{"ping", CodePingReq, nil},
		{"small", CodeGetReq, []byte("hello")},
		{"pool limit", CodePutReq, bytes.Repeat([]byte{7}, maxPooledWrite-HeaderSize)},
		{"beyond pool", CodePutReq, bytes.Repeat([]byte{9}, maxPooledWrite+1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w countingWriter
			if err := WriteFrame(&w, tc.code, tc.body); err != nil {
				t.Fatal(err)
			}
			if len(w.writes) != 1 {
				t.Fatalf("%d Write calls, want 1", len(w.writes))
			}
			f, err := NewReader(bytes.NewReader(w.writes[0]), 0).ReadFrame()
			if err != nil || f.Code != tc.code || !bytes.Equal(f.Body, tc.body) {
				t.Fatalf("read back %v (%d bytes) %v", f.Code, len(f.Body), err)
			}
		})
	}
}

type failWriter struct{}

var errWrite = errors.New("write failed")

func (failWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestWriteFrameError(t *testing.T) {
	if err := WriteFrame(failWriter{}, CodePingReq, nil); err != errWrite {
		t.Fatalf("err = %v", err)
	}
}

func TestMarshalFrame(t *testing.T) {
	req := &riak_kv.RpbGetReq{Bucket: []byte("b"), Key: []byte("k"), Type: []byte("t"), R: proto.Uint32(2)}
	b, err := MarshalFrame(CodeGetReq, req)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := proto.Marshal(req)
	if !bytes.Equal(b, frame(CodeGetReq, want...)) {
		t.Fatalf("MarshalFrame = %x, want %x", b, frame(CodeGetReq, want...))
	}
	rd := NewReader(bytes.NewReader(b), 0)
	f, err := rd.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	var got riak_kv.RpbGetReq
	if err := proto.Unmarshal(f.Body, &got); err != nil || !proto.Equal(&got, req) {
		t.Fatalf("decoded %v (%v), want %v", &got, err, req)
	}
	if _, err := rd.ReadFrame(); err != io.EOF {
		t.Fatalf("trailing data: %v", err)
	}

	// Appending keeps dst and handles an empty message.
	b, err = AppendMarshalFrame([]byte{1, 2}, CodeListBucketsReq, &riak_kv.RpbListBucketsReq{})
	if err != nil || !bytes.Equal(b, []byte{1, 2, 0, 0, 0, 1, byte(CodeListBucketsReq)}) {
		t.Fatalf("AppendMarshalFrame = %x, %v", b, err)
	}
}

func TestMarshalFrameErrors(t *testing.T) {
	// RpbGetReq requires bucket and key.
	dst := []byte{9}
	b, err := AppendMarshalFrame(dst, CodeGetReq, &riak_kv.RpbGetReq{Bucket: []byte("b")})
	if err == nil || !bytes.Equal(b, dst) {
		t.Fatalf("missing required field: %x, %v", b, err)
	}
	if _, err := MarshalFrame(CodeGetReq, nil); err == nil {
		t.Fatal("nil message: no error")
	}
}
