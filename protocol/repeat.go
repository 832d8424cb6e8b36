package protocol

import "google.golang.org/protobuf/encoding/protowire"

// RpbPutReq fields that make a put unsafe to repeat (riak_kv.proto).
const (
	putReqIfNotModified = 9
	putReqIfNoneMatch   = 10
	putReqAsis          = 13
)

// RepeatableWrite reports whether a write may be sent again, to another
// node, after an attempt that may have run it: whether running it twice
// leaves what running it once leaves. That holds for an RpbPutReq that is
// not conditional (if_not_modified, if_none_match) and not a replication
// put (asis): repeated, it stores the same value again (in an allow_mult
// bucket possibly as a second, identical sibling, as riak-go-client's own
// retries do). A conditional put that ran fails when repeated ("modified",
// "match_found") though it succeeded. An RpbDelReq is repeatable: deleting
// twice is deleting once. Nothing else is: counter increments
// (RpbCounterUpdateReq, DtUpdateReq) would count twice, and no data-type
// update is judged here. A body that does not parse is not repeatable.
func RepeatableWrite(code Code, body []byte) bool {
	switch code {
	case CodeDelReq:
		return wellFormed(body)
	case CodePutReq:
	default:
		return false
	}
	// The last occurrence of each flag wins, as in a full decode.
	var flags [putReqAsis + 1]bool
	err := eachField(body, func(num protowire.Number, typ protowire.Type, v []byte) {
		if typ == protowire.VarintType && (num == putReqIfNotModified || num == putReqIfNoneMatch || num == putReqAsis) {
			x, _ := protowire.ConsumeVarint(v)
			flags[num] = x != 0
		}
	})
	return err == nil && !flags[putReqIfNotModified] && !flags[putReqIfNoneMatch] && !flags[putReqAsis]
}

// wellFormed reports whether body is valid at the top level.
func wellFormed(body []byte) bool {
	return eachField(body, func(protowire.Number, protowire.Type, []byte) {}) == nil
}

// httpConditionals are the request headers that make a Riak HTTP write
// conditional, in canonical form.
var httpConditionals = [...]string{"If-None-Match", "If-Match", "If-Unmodified-Since", "If-Modified-Since"}

// HTTPRepeatableWrite is RepeatableWrite for Riak HTTP: a PUT or DELETE of
// one object (/types/T/buckets/B/keys/K, /buckets/B/keys/K, /riak/B/K)
// without a conditional header (If-None-Match, If-Match,
// If-Unmodified-Since, If-Modified-Since). Never a POST: one to a bucket
// creates a new object, with a new key, each time. header is an
// http.Header (canonical keys).
func HTTPRepeatableWrite(method string, rt HTTPRoute, header map[string][]string) bool {
	if (method != "PUT" && method != "DELETE") || rt.Kind != HTTPObject || rt.Key == "" {
		return false
	}
	for _, h := range httpConditionals {
		if _, ok := header[h]; ok {
			return false
		}
	}
	return true
}
