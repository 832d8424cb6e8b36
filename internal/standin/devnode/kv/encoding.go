package kv

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
)

// Storage key layout, shared by both backends so their orderings agree.
//
//	object key:  lp(type) lp(bucket) key
//	index key:   lp(type) lp(bucket) lp(index) term' key
//
// lp(x) is uvarint(len(x)) followed by x: prefix-free, so all keys of one
// bucket (or one index) are contiguous. term' is order-preserving:
//
//	_int: 8 bytes big-endian of the int64 with its sign bit flipped
//	_bin: the term with 0x00 escaped as 0x00 0xFF, then 0x00 0x01
//
// so byte order of index keys is (term, key) order, numeric for _int.

// ObjectKey names an object.
type ObjectKey struct {
	Type, Bucket, Key string
}

func appendLP(dst []byte, s string) []byte { return appendLenString(dst, s) }

func appendBucketPrefix(dst []byte, typ, bucket string) []byte {
	return appendLP(appendLP(dst, typ), bucket)
}

func appendObjKey(dst []byte, k ObjectKey) []byte {
	return append(appendBucketPrefix(dst, k.Type, k.Bucket), k.Key...)
}

func decodeObjKey(b []byte) (ObjectKey, bool) {
	r := reader{buf: b}
	t := r.str(MaxTypeLen)
	bk := r.str(MaxBucketLen)
	if r.err != nil {
		return ObjectKey{}, false
	}
	return ObjectKey{Type: t, Bucket: bk, Key: string(b[r.off:])}, true
}

func appendIndexPrefix(dst []byte, typ, bucket, index string) []byte {
	return appendLP(appendBucketPrefix(dst, typ, bucket), index)
}

// appendTerm appends term' (see above); term must already be valid for
// kind (canonical decimal for _int).
func appendTerm(dst []byte, kind indexKind, term string) ([]byte, error) {
	if kind == indexInt {
		v, err := parseIntTerm(term)
		if err != nil {
			return nil, err
		}
		return binary.BigEndian.AppendUint64(dst, uint64(v)^(1<<63)), nil
	}
	for i := 0; i < len(term); i++ {
		if term[i] == 0 {
			dst = append(dst, 0, 0xFF)
		} else {
			dst = append(dst, term[i])
		}
	}
	return append(dst, 0, 1), nil
}

// splitTerm splits "term' key" back into the (decoded) term and key.
func splitTerm(kind indexKind, b []byte) (term, key string, ok bool) {
	if kind == indexInt {
		if len(b) < 8 {
			return "", "", false
		}
		v := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
		return strconv.FormatInt(v, 10), string(b[8:]), true
	}
	t := make([]byte, 0, 16)
	for i := 0; i+1 < len(b); i++ {
		if b[i] != 0 {
			t = append(t, b[i])
			continue
		}
		switch b[i+1] {
		case 0xFF:
			t = append(t, 0)
			i++
		case 1:
			return string(t), string(b[i+2:]), true
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// prefixEnd returns the smallest key greater than every key starting with
// p, or nil if there is none (p is all 0xFF).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Object value layout (disk backend):
//
//	byte 0x01 format, byte flags (bit 0: tombstone-only)
//	lp(vclock) uvarint nsiblings, then per sibling:
//	  byte flags (bit 0: deleted), lp(value), lp(content-type), lp(charset),
//	  lp(content-encoding), lp(vtag), zigzag(sec), uvarint(usec),
//	  uvarint n, n × {lp(key) lp(value)}   user metadata
//	  uvarint n, n × {lp(bucket) lp(key) lp(tag)}   links
//	  uvarint n, n × {lp(name) lp(term)}   indexes
const objFormat = 0x01

const flagTombstone = 1

func encodeObject(dst []byte, o *Object) []byte {
	var flags byte
	if o.IsTombstone() {
		flags |= flagTombstone
	}
	dst = append(dst, objFormat, flags)
	dst = binary.AppendUvarint(dst, uint64(vclockSize(o.VClock)))
	dst = o.VClock.AppendEncode(dst)
	dst = binary.AppendUvarint(dst, uint64(len(o.Siblings)))
	for i := range o.Siblings {
		c := &o.Siblings[i]
		var f byte
		if c.Deleted {
			f = 1
		}
		dst = append(dst, f)
		dst = appendLenBytes(dst, c.Value)
		dst = appendLenString(dst, c.ContentType)
		dst = appendLenString(dst, c.Charset)
		dst = appendLenString(dst, c.ContentEncoding)
		dst = appendLenString(dst, c.VTag)
		var sec, usec int64
		if !c.LastMod.IsZero() {
			sec, usec = c.LastMod.Unix(), int64(c.LastMod.Nanosecond()/1000)
		}
		dst = binary.AppendVarint(dst, sec)
		dst = binary.AppendUvarint(dst, uint64(usec))
		dst = binary.AppendUvarint(dst, uint64(len(c.UserMeta)))
		for _, p := range c.UserMeta {
			dst = appendLenString(dst, p.Key)
			dst = appendLenBytes(dst, p.Value)
		}
		dst = binary.AppendUvarint(dst, uint64(len(c.Links)))
		for _, l := range c.Links {
			dst = appendLenString(dst, l.Bucket)
			dst = appendLenString(dst, l.Key)
			dst = appendLenString(dst, l.Tag)
		}
		dst = binary.AppendUvarint(dst, uint64(len(c.Indexes)))
		for _, p := range c.Indexes {
			dst = appendLenString(dst, p.Key)
			dst = appendLenBytes(dst, p.Value)
		}
	}
	return dst
}

func vclockSize(vc VClock) int {
	if len(vc) == 0 {
		return 0
	}
	n := 1 + uvarintLen(uint64(len(vc)))
	for _, d := range vc {
		n += uvarintLen(uint64(len(d.Actor))) + len(d.Actor) + uvarintLen(d.Counter) + uvarintLen(uint64(d.Timestamp<<1^(d.Timestamp>>63)))
	}
	return n
}

// valueIsTombstone reads the flags byte of an encoded object.
func valueIsTombstone(v []byte) bool { return len(v) >= 2 && v[1]&flagTombstone != 0 }

// decodeObject parses encodeObject's form into a fresh Object that does
// not alias b. It never panics; malformed input yields ErrCorrupt.
func decodeObject(b []byte) (Object, error) {
	r := reader{buf: b}
	if r.byte() != objFormat {
		return Object{}, fmt.Errorf("%w: unknown object format", ErrCorrupt)
	}
	r.byte() // flags: derived data
	vc, err := DecodeVClock(r.lenBytes(MaxVClockEntries * (MaxActorLen + 24)))
	if err != nil || r.err != nil {
		return Object{}, fmt.Errorf("%w: vclock: %v", ErrCorrupt, err)
	}
	n := r.uvarint()
	if r.err != nil || n > uint64(r.remaining()) {
		return Object{}, fmt.Errorf("%w: sibling count", ErrCorrupt)
	}
	o := Object{VClock: vc, Siblings: make([]Content, 0, n)}
	for range n {
		var c Content
		c.Deleted = r.byte()&1 != 0
		if v := r.lenBytes(r.remaining()); v != nil {
			c.Value = append(make([]byte, 0, len(v)), v...)
		}
		c.ContentType = r.str(MaxMetaLen)
		c.Charset = r.str(MaxMetaLen)
		c.ContentEncoding = r.str(MaxMetaLen)
		c.VTag = r.str(MaxMetaLen)
		sec, usec := r.varint(), r.uvarint()
		if usec >= 1e6 {
			r.fail()
		}
		if sec != 0 || usec != 0 {
			c.LastMod = time.Unix(sec, int64(usec)*1000).UTC()
		}
		c.UserMeta = decodePairs(&r)
		if m := r.uvarint(); m > 0 && m <= uint64(r.remaining()) {
			c.Links = make([]Link, 0, m)
			for range m {
				c.Links = append(c.Links, Link{Bucket: r.str(MaxBucketLen), Key: r.str(MaxKeyLen), Tag: r.str(MaxMetaLen)})
			}
		} else if m > 0 {
			r.fail()
		}
		c.Indexes = decodePairs(&r)
		if r.err != nil {
			return Object{}, fmt.Errorf("%w: sibling", ErrCorrupt)
		}
		o.Siblings = append(o.Siblings, c)
	}
	if r.remaining() != 0 {
		return Object{}, fmt.Errorf("%w: trailing bytes", ErrCorrupt)
	}
	return o, nil
}

func decodePairs(r *reader) []Pair {
	m := r.uvarint()
	if m == 0 || r.err != nil {
		return nil
	}
	if m > uint64(r.remaining()) {
		r.fail()
		return nil
	}
	ps := make([]Pair, 0, m)
	for range m {
		k := r.str(MaxMetaLen)
		v := r.lenBytes(r.remaining())
		ps = append(ps, Pair{Key: k, Value: append([]byte{}, v...)})
	}
	return ps
}

// continuationFormat is the first byte of a decoded continuation token.
const continuationFormat = 'c'

// encodeContinuation returns the opaque 2i continuation token resuming a
// query after (term, key): URL-safe base64 (no padding) of
// 'c' lp(term) key.
func encodeContinuation(term, key string) string {
	b := make([]byte, 0, 2+len(term)+len(key)+2)
	b = append(b, continuationFormat)
	b = appendLenString(b, term)
	b = append(b, key...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeContinuation parses encodeContinuation's token. It never panics.
func decodeContinuation(s string) (term, key string, err error) {
	if len(s) > 4*(MaxIndexTermLen+MaxKeyLen) {
		return "", "", fmt.Errorf("%w: too long", ErrInvalidContinuation)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrInvalidContinuation, err)
	}
	r := reader{buf: b}
	if r.byte() != continuationFormat {
		return "", "", fmt.Errorf("%w: unknown format", ErrInvalidContinuation)
	}
	term = r.str(MaxIndexTermLen)
	if r.err != nil || r.remaining() == 0 || r.remaining() > MaxKeyLen {
		return "", "", fmt.Errorf("%w: malformed", ErrInvalidContinuation)
	}
	return term, string(b[r.off:]), nil
}
