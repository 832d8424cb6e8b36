package kv

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
)

// EncodeContinuation returns the 2i continuation token that resumes a query
// after (term, key): a cluster coordinator that merges several nodes' pages
// cuts the page itself and must hand out the same tokens the engine does.
func EncodeContinuation(term, key string) string { return encodeContinuation(term, key) }

// DecodeContinuation parses a continuation token; it never panics.
func DecodeContinuation(s string) (term, key string, err error) { return decodeContinuation(s) }

// CompareTerms returns the order IndexQuery yields terms in for index:
// numeric for _int indexes, byte order otherwise ($bucket, $key, _bin).
func CompareTerms(index string) func(a, b string) int {
	if strings.HasSuffix(index, "_int") {
		return compareIntTerms
	}
	return cmp.Compare[string]
}

// MarshalJSON encodes the object with the store's own binary codec (as a
// base64 JSON string). Clocks' actor ids, keys and metadata are arbitrary
// bytes, which plain JSON strings would mangle (invalid UTF-8 becomes U+FFFD).
func (o Object) MarshalJSON() ([]byte, error) {
	return json.Marshal(encodeObject(nil, &o))
}

// UnmarshalJSON decodes MarshalJSON's form, validating it as the store does.
func (o *Object) UnmarshalJSON(b []byte) error {
	var raw []byte
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if len(raw) == 0 {
		*o = Object{}
		return nil
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return err
	}
	*o = obj
	return nil
}

// MarshalJSON encodes the clock as the base64 of Encode, byte-exact.
func (vc VClock) MarshalJSON() ([]byte, error) { return json.Marshal(vc.Encode()) }

// UnmarshalJSON decodes MarshalJSON's form with DecodeVClock's validation.
func (vc *VClock) UnmarshalJSON(b []byte) error {
	var raw []byte
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidVClock, err)
	}
	v, err := DecodeVClock(raw)
	if err != nil {
		return err
	}
	*vc = v
	return nil
}

// AppendReplica appends a replica's name, and its object when o is not nil,
// in the binary form of the devnode's replica RPC: type, bucket and key
// length-prefixed, then the object as the store keeps it. JSON would carry
// the same bytes base64-encoded at several times the CPU, on the path of
// every read and write.
func AppendReplica(dst []byte, k ObjectKey, o *Object) []byte {
	dst = appendLP(appendBucketPrefix(dst, k.Type, k.Bucket), k.Key)
	if o != nil {
		dst = encodeObject(dst, o)
	}
	return dst
}

// DecodeReplica parses AppendReplica's form, validating names and object as
// the store does; hasObject reports whether an object followed the name.
func DecodeReplica(b []byte) (k ObjectKey, o Object, hasObject bool, err error) {
	r := reader{buf: b}
	k.Type = r.str(MaxTypeLen)
	k.Bucket = r.str(MaxBucketLen)
	k.Key = r.str(MaxKeyLen)
	if r.err != nil {
		return ObjectKey{}, Object{}, false, fmt.Errorf("%w: replica name", ErrCorrupt)
	}
	if r.remaining() == 0 {
		return k, Object{}, false, nil
	}
	o, err = decodeObject(b[r.off:])
	if err != nil {
		return ObjectKey{}, Object{}, false, err
	}
	return k, o, true, nil
}
