package protocol

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// RpbGetResp and RpbGetReq field numbers (riak_kv.proto).
const (
	getRespContent   = 1
	getRespUnchanged = 3

	getReqR           = 3
	getReqBasicQuorum = 5
	getReqNotFoundOK  = 6
)

// GetRespFound reports whether an RpbGetResp body answers with an object:
// content, or "unchanged" to an if_modified read. A body with neither
// (perhaps only the vclock of a tombstone, with deletedvclock) is Riak's
// "not found".
func GetRespFound(body []byte) (bool, error) {
	for len(body) > 0 {
		num, typ, n := nextField(body)
		if n < 0 {
			return false, ErrMalformed
		}
		body = body[n:]
		m := skipField(num, typ, body)
		if m < 0 {
			return false, ErrMalformed
		}
		switch {
		case num == getRespContent && typ == protowire.BytesType:
			return true, nil
		case num == getRespUnchanged && typ == protowire.VarintType:
			if v, _ := protowire.ConsumeVarint(body); v != 0 {
				return true, nil
			}
		}
		body = body[m:]
	}
	return false, nil
}

// AppendConfirmGetReq appends to dst an RpbGetReq frame asking what body
// (an RpbGetReq) asks, but answered "found" if any replica holds the
// object: r=1, notfound_ok=false, basic_quorum=false. Riak's get FSM then
// answers "not found" only once every replica said so (or failed), so a
// replica that has not yet received its data, answering first, no longer
// decides the read. Every other field (bucket, key, type, pr, head,
// deletedvclock, timeout, ...) is kept.
func AppendConfirmGetReq(dst, body []byte) ([]byte, error) {
	kept := make([]byte, 0, len(body)+6)
	for b := body; len(b) > 0; {
		num, typ, n := nextField(b)
		if n < 0 {
			return dst, ErrMalformed
		}
		m := skipField(num, typ, b[n:])
		if m < 0 {
			return dst, ErrMalformed
		}
		switch num {
		case getReqR, getReqBasicQuorum, getReqNotFoundOK:
		default:
			kept = append(kept, b[:n+m]...)
		}
		b = b[n+m:]
	}
	kept = protowire.AppendTag(kept, getReqR, protowire.VarintType)
	kept = protowire.AppendVarint(kept, 1)
	kept = protowire.AppendTag(kept, getReqBasicQuorum, protowire.VarintType)
	kept = protowire.AppendVarint(kept, 0)
	kept = protowire.AppendTag(kept, getReqNotFoundOK, protowire.VarintType)
	kept = protowire.AppendVarint(kept, 0)
	return AppendFrame(dst, CodeGetReq, kept), nil
}
