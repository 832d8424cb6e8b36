package protocol

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// Error is an RpbErrorResp: Riak's answer to a request that failed.
type Error struct {
	Msg  string
	Code uint32
}

// Error formats the error as "riak: MSG (errcode N)".
func (e *Error) Error() string {
	return "riak: " + e.Msg + " (errcode " + strconv.FormatUint(uint64(e.Code), 10) + ")"
}

// Frame returns e as a complete RpbErrorResp frame.
func (e *Error) Frame() []byte { return ErrorResp(e.Msg, e.Code) }

// UnknownCodeMsg is Riak's errmsg for a message code no PB service
// handles (riak_api_pb_server, errcode 0): what Riak KV 3 answers for
// Yokozuna, Riak TS and codes it does not know, and for every code for a
// moment while it stops.
func UnknownCodeMsg(code Code) string {
	return "Unknown message code: " + strconv.Itoa(int(code))
}

// ErrorResp returns a complete encoded frame (code 0) carrying
// RpbErrorResp{errmsg: msg, errcode: errcode}.
func ErrorResp(msg string, errcode uint32) []byte {
	return AppendErrorResp(make([]byte, 0, HeaderSize+errorBodySize(msg, errcode)), msg, errcode)
}

func errorBodySize(msg string, errcode uint32) int {
	return 1 + protowire.SizeBytes(len(msg)) + 1 + protowire.SizeVarint(uint64(errcode))
}

// AppendErrorResp appends an RpbErrorResp frame to dst. Both fields are
// required in riak.proto, so both are always encoded.
func AppendErrorResp(dst []byte, msg string, errcode uint32) []byte {
	dst = AppendHeader(dst, CodeErrorResp, errorBodySize(msg, errcode))
	dst = protowire.AppendTag(dst, 1, protowire.BytesType)
	dst = protowire.AppendString(dst, msg)
	dst = protowire.AppendTag(dst, 2, protowire.VarintType)
	return protowire.AppendVarint(dst, uint64(errcode))
}

// ParseErrorResp decodes an RpbErrorResp body. A missing field reads as its
// zero value; a malformed body is an error.
func ParseErrorResp(body []byte) (msg string, code uint32, err error) {
	var m []byte
	for b := body; len(b) > 0; {
		fn, typ, n := nextField(b)
		if n < 0 {
			return "", 0, fmt.Errorf("%w: %v", ErrMalformed, CodeErrorResp)
		}
		b = b[n:]
		switch {
		case fn == 1 && typ == protowire.BytesType:
			v, k := protowire.ConsumeBytes(b)
			if k < 0 {
				return "", 0, fmt.Errorf("%w: %v", ErrMalformed, CodeErrorResp)
			}
			m, b = v, b[k:]
		case fn == 2 && typ == protowire.VarintType:
			v, k := protowire.ConsumeVarint(b)
			if k < 0 {
				return "", 0, fmt.Errorf("%w: %v", ErrMalformed, CodeErrorResp)
			}
			code, b = uint32(v), b[k:]
		default:
			k := skipField(fn, typ, b)
			if k < 0 {
				return "", 0, fmt.Errorf("%w: %v", ErrMalformed, CodeErrorResp)
			}
			b = b[k:]
		}
	}
	return string(m), code, nil
}

// ParseError decodes an RpbErrorResp body into an *Error.
func ParseError(body []byte) (*Error, error) {
	msg, code, err := ParseErrorResp(body)
	if err != nil {
		return nil, err
	}
	return &Error{Msg: msg, Code: code}, nil
}
