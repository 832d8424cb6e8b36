package kv

import (
	"encoding/binary"
	"errors"
)

var errShort = errors.New("short or malformed input")

// reader is a bounds-checked decoder over a byte slice. The first error
// sticks; after it every read returns zero values, so decoders check err
// once per record instead of after every field.
type reader struct {
	buf []byte
	off int
	err error
}

func (r *reader) remaining() int { return len(r.buf) - r.off }

func (r *reader) fail() { r.err = errShort; r.off = len(r.buf) }

func (r *reader) byte() byte {
	if r.err != nil || r.off >= len(r.buf) {
		r.fail()
		return 0
	}
	b := r.buf[r.off]
	r.off++
	return b
}

// uvarint reads a minimally encoded unsigned varint.
func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf[r.off:])
	if n <= 0 || n != uvarintLen(v) {
		r.fail()
		return 0
	}
	r.off += n
	return v
}

// varint reads a minimally encoded zigzag varint.
func (r *reader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

// bytes returns the next n bytes, aliasing the input.
func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > r.remaining() {
		r.fail()
		return nil
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// lenBytes reads a uvarint length then that many bytes (aliasing).
func (r *reader) lenBytes(maxLen int) []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(maxLen) || n > uint64(r.remaining()) {
		r.fail()
		return nil
	}
	return r.bytes(int(n))
}

func (r *reader) str(maxLen int) string { return string(r.lenBytes(maxLen)) }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func appendLenBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendLenString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}
