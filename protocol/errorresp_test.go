package protocol

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/basho/riak-go-client/rpb/riak"
	"github.com/golang/protobuf/proto"
)

func TestErrorRespRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		msg  string
		code uint32
	}{
		{"typical", "no node available", 1},
		{"zero code is still encoded", "", 0},
		{"max code", "x", 1<<32 - 1},
		{"long utf-8 message", strings.Repeat("ошибка ", 100), 42},
		{"binary message", "\x00\xff\x80", 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fr := ErrorResp(tc.msg, tc.code)
			if !bytes.Equal(AppendErrorResp([]byte("pre"), tc.msg, tc.code), append([]byte("pre"), fr...)) {
				t.Fatal("AppendErrorResp differs from ErrorResp")
			}
			// The frame decodes with riak-go-client's RpbErrorResp.
			f, err := NewReader(bytes.NewReader(fr), 0).ReadFrame()
			if err != nil || f.Code != CodeErrorResp || f.Size() != len(fr) {
				t.Fatalf("ReadFrame = %v (%d bytes), %v", f.Code, f.Size(), err)
			}
			var rm riak.RpbErrorResp
			if err := proto.Unmarshal(f.Body, &rm); err != nil {
				t.Fatalf("rpb decode: %v", err)
			}
			if string(rm.GetErrmsg()) != tc.msg || rm.GetErrcode() != tc.code || rm.Errcode == nil {
				t.Fatalf("rpb decoded %q/%d", rm.GetErrmsg(), rm.GetErrcode())
			}
			// It matches MarshalFrame of the rpb message byte for byte.
			want, err := MarshalFrame(CodeErrorResp, &riak.RpbErrorResp{Errmsg: []byte(tc.msg), Errcode: proto.Uint32(tc.code)})
			if err != nil || !bytes.Equal(fr, want) {
				t.Fatalf("ErrorResp = %x, rpb frame %x (%v)", fr, want, err)
			}
			// ParseErrorResp reads it back.
			msg, code, err := ParseErrorResp(f.Body)
			if err != nil || msg != tc.msg || code != tc.code {
				t.Fatalf("ParseErrorResp = %q, %d, %v", msg, code, err)
			}
		})
	}
}

func TestParseErrorResp(t *testing.T) {
	cases := []struct {
		name     string
		body     []byte
		wantMsg  string
		wantCode uint32
		wantErr  bool
	}{
		{"rpb encoded", mustMarshal(&riak.RpbErrorResp{Errmsg: []byte("{not_found}"), Errcode: proto.Uint32(3)}), "{not_found}", 3, false},
		{"fields reversed", []byte{0x10, 0x05, 0x0a, 0x01, 'x'}, "x", 5, false},
		{"unknown field skipped", []byte{0x0a, 0x01, 'x', 0x18, 0x01, 0x10, 0x02}, "x", 2, false},
		{"empty body", nil, "", 0, false},
		{"errcode wider than 32 bits truncates like rpb", []byte{0x10, 0x80, 0x80, 0x80, 0x80, 0x10}, "", 0, false},
		{"truncated", []byte{0x0a, 0x05, 'x'}, "", 0, true},
		{"garbage", []byte{0xff, 0xff}, "", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, code, err := ParseErrorResp(tc.body)
			if (err != nil) != tc.wantErr || msg != tc.wantMsg || code != tc.wantCode {
				t.Fatalf("ParseErrorResp = %q, %d, %v", msg, code, err)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			if rmsg, rcode, rerr := rpbErrorResp(tc.body); rerr == nil && (err != nil || rmsg != msg || rcode != code) {
				t.Fatalf("rpb decode says %q, %d", rmsg, rcode)
			}
		})
	}
}

func TestErrorType(t *testing.T) {
	e, err := ParseError(ErrorResp("overload", 503)[HeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	if e.Error() != "riak: overload (errcode 503)" {
		t.Fatalf("Error() = %q", e.Error())
	}
	var target *Error
	if !errors.As(error(e), &target) || target.Code != 503 {
		t.Fatal("errors.As failed")
	}
	if !bytes.Equal(e.Frame(), ErrorResp("overload", 503)) {
		t.Fatal("Frame differs from ErrorResp")
	}
	if _, err := ParseError([]byte{0xff}); err == nil {
		t.Fatal("ParseError of garbage: no error")
	}
}
