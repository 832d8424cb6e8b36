package protocol

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed: a message body is not valid protobuf wire format.
var ErrMalformed = errors.New("protocol: malformed message body")

// The functions here read single top-level fields straight from the wire
// instead of decoding whole rpb messages: a proxy calls them on every frame,
// and a full decode would copy keys and values. They walk the top level the
// way protobuf-go does (same tag and field-number checks, unknown fields and
// groups skipped, a field with an unexpected wire type treated as unknown,
// the last occurrence of a singular field winning), but skip nested
// messages without parsing them. So whenever the rpb decode succeeds they
// agree with it (the tests and fuzz targets check this), and they may
// accept a body whose nested messages the rpb decode would reject.

// nextField consumes one field tag from b, rejecting what protobuf-go
// rejects at the top level of a message.
func nextField(b []byte) (protowire.Number, protowire.Type, int) {
	var tag uint64
	n := 1
	if len(b) > 0 && b[0] < 0x80 {
		tag = uint64(b[0])
	} else if tag, n = protowire.ConsumeVarint(b); n < 0 {
		return 0, 0, -1
	}
	num := tag >> 3
	if num < uint64(protowire.MinValidNumber) || num > uint64(protowire.MaxValidNumber) {
		return 0, 0, -1
	}
	typ := protowire.Type(tag & 7)
	if typ == protowire.EndGroupType {
		return 0, 0, -1
	}
	return protowire.Number(num), typ, n
}

// skipField returns the size of the value of field num at the start of b,
// or a negative number if it is malformed. Short bytes and varint values,
// the bulk of keys and bucket lists, take a fast path.
func skipField(num protowire.Number, typ protowire.Type, b []byte) int {
	if len(b) > 0 && b[0] < 0x80 {
		switch typ {
		case protowire.BytesType:
			if n := 1 + int(b[0]); n <= len(b) {
				return n
			}
			return -1
		case protowire.VarintType:
			return 1
		}
	}
	return protowire.ConsumeFieldValue(num, typ, b)
}

// eachField calls visit with every field of msg, in order: its number,
// its wire type and its value (a varint's bytes, a length-delimited
// field's payload, a fixed field's bytes). ErrMalformed when msg does not
// parse; visit may have seen some fields by then.
func eachField(msg []byte, visit func(num protowire.Number, typ protowire.Type, v []byte)) error {
	for b := msg; len(b) > 0; {
		num, typ, n := nextField(b)
		if n < 0 {
			return ErrMalformed
		}
		b = b[n:]
		m := skipField(num, typ, b)
		if m < 0 {
			return ErrMalformed
		}
		v := b[:m]
		if typ == protowire.BytesType {
			_, k := protowire.ConsumeVarint(v) // the length, valid: skipField took it
			v = v[k:]
		}
		visit(num, typ, v)
		b = b[m:]
	}
	return nil
}

// scanBool returns the last value of the singular bool field num (< 16) in
// b, or def when the field is absent.
func scanBool(b []byte, num protowire.Number, def bool) (bool, error) {
	v := def
	boolTag := byte(num) << 3 // one-byte tag, varint wire type
	for len(b) > 0 {
		// Fast paths, inlined: a short bytes field with a one-byte tag
		// (keys, buckets), and the flag itself as a one-byte varint.
		if len(b) > 1 && b[1] < 0x80 {
			c, l := b[0], b[1]
			if c < 0x80 && c&7 == byte(protowire.BytesType) && c>>3 != 0 {
				n := 2 + int(l)
				if n > len(b) {
					return false, ErrMalformed
				}
				b = b[n:]
				continue
			}
			if c == boolTag {
				v, b = l != 0, b[2:]
				continue
			}
		}
		fn, typ, n := nextField(b)
		if n < 0 {
			return false, ErrMalformed
		}
		b = b[n:]
		if fn == num && typ == protowire.VarintType {
			x, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return false, ErrMalformed
			}
			v = x != 0
			b = b[m:]
			continue
		}
		m := skipField(fn, typ, b)
		if m < 0 {
			return false, ErrMalformed
		}
		b = b[m:]
	}
	return v, nil
}

// doneField says where a streamed response keeps its done flag.
type doneField struct {
	num protowire.Number // 0: the code has no done field
	def bool             // value when absent
}

var doneFields = func() (t [256]doneField) {
	t[CodeListBucketsResp] = doneField{2, false}
	t[CodeListKeysResp] = doneField{2, false}
	t[CodeMapRedResp] = doneField{3, false}
	t[CodeIndexResp] = doneField{4, false}
	t[CodeCSBucketResp] = doneField{3, false}
	t[CodeIndexBodyResp] = doneField{3, false}
	// TsQueryResp declares done with [default = true]: a single,
	// non-streamed answer carries no done field and is complete.
	t[CodeTsQueryResp] = doneField{3, true}
	t[CodeTsListKeysResp] = doneField{2, false}
	return t
}()

// StreamDone reports whether a response frame ends its exchange. For a code
// with a done field (RpbListBucketsResp, RpbListKeysResp, RpbMapRedResp,
// RpbIndexResp, RpbIndexBodyResp, RpbCSBucketResp, TsQueryResp,
// TsListKeysResp) it decodes that field; RpbErrorResp and every other known
// code end the exchange. Only consult it for requests that stream (see
// RequestStreams): a non-streamed RpbListBucketsResp or RpbIndexResp carries
// no done field yet is the whole answer. A malformed body or an unknown code
// is an error; it never panics.
func StreamDone(code Code, body []byte) (bool, error) {
	if d := doneFields[code]; d.num != 0 {
		done, err := scanBool(body, d.num, d.def)
		if err != nil {
			return false, fmt.Errorf("%w: %v", err, code)
		}
		return done, nil
	}
	if !code.Known() {
		return false, fmt.Errorf("%w %d", ErrUnknownCode, uint8(code))
	}
	return true, nil
}

// streamFlagField is the field number of a request's stream flag.
var streamFlagField = func() (t [256]protowire.Number) {
	t[CodeListBucketsReq] = 2
	t[CodeIndexReq] = 8
	t[CodeTsQueryReq] = 2
	return t
}()

// RequestStreams reports whether the answer to a request is a stream of
// frames ended by a done flag (see StreamDone). List keys, MapReduce, CS
// bucket folds and TS list keys always stream; list buckets, 2i queries and
// TS queries stream only when their stream field is set, which is decoded
// from body. Other known codes return false; an unknown code or a
// malformed body is an error.
func RequestStreams(code Code, body []byte) (bool, error) {
	m := &table[code]
	if m.Name == "" {
		return false, fmt.Errorf("%w %d", ErrUnknownCode, uint8(code))
	}
	if !m.Request || !m.Streaming {
		return false, nil
	}
	if !m.StreamFlag {
		return true, nil
	}
	s, err := scanBool(body, streamFlagField[code], false)
	if err != nil {
		return false, fmt.Errorf("%w: %v", err, code)
	}
	return s, nil
}

// Key identifies the object a request addresses, for key affinity. The
// slices alias the request body (Type may alias a shared "default"); treat
// them as read-only.
type Key struct {
	Type, Bucket, Key []byte
}

// defaultType is the bucket type Riak assumes when a request names none.
var defaultType = []byte("default")

// keyFields gives the field numbers of a request's bucket, key and type.
type keyFields struct {
	bucket, key, typ protowire.Number // typ 0: the request has no type field
}

var keyFieldsByCode = func() (t [256]keyFields) {
	t[CodeGetReq] = keyFields{1, 2, 13}
	t[CodePutReq] = keyFields{1, 2, 16}
	t[CodeDelReq] = keyFields{1, 2, 13}
	t[CodeGetBucketKeyPreflistReq] = keyFields{1, 2, 3}
	t[CodeCounterUpdateReq] = keyFields{1, 2, 0}
	t[CodeCounterGetReq] = keyFields{1, 2, 0}
	t[CodeDtFetchReq] = keyFields{1, 2, 3}
	t[CodeDtUpdateReq] = keyFields{1, 2, 3}
	return t
}()

// RequestKey extracts the bucket type, bucket and key of a get, put,
// delete, preflist, counter or data-type request. ok is false for other
// codes and when the body has no bucket or no key (a put or data-type
// update without a key lets Riak choose one); Type is "default" when the
// request names none. A malformed body is an error.
func RequestKey(code Code, body []byte) (k Key, ok bool, err error) {
	f := keyFieldsByCode[code]
	if f.bucket == 0 {
		return Key{}, false, nil
	}
	var hasB, hasK bool
	for b := body; len(b) > 0; {
		fn, typ, n := nextField(b)
		if n < 0 {
			return Key{}, false, fmt.Errorf("%w: %v", ErrMalformed, code)
		}
		b = b[n:]
		if typ == protowire.BytesType && (fn == f.bucket || fn == f.key || fn == f.typ) {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return Key{}, false, fmt.Errorf("%w: %v", ErrMalformed, code)
			}
			b = b[m:]
			v = v[:len(v):len(v)]
			switch fn {
			case f.bucket:
				k.Bucket, hasB = v, true
			case f.key:
				k.Key, hasK = v, true
			default:
				k.Type = v
			}
			continue
		}
		m := skipField(fn, typ, b)
		if m < 0 {
			return Key{}, false, fmt.Errorf("%w: %v", ErrMalformed, code)
		}
		b = b[m:]
	}
	if k.Type == nil {
		k.Type = defaultType[:len(defaultType):len(defaultType)]
	}
	return k, hasB && hasK, nil
}
