package kv

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Limits of a vector clock. Decode rejects anything larger.
const (
	// MaxActorLen is the longest actor id, in bytes. Riak's vnode actor
	// ids are 8 bytes; legacy client ids 4.
	MaxActorLen = 255
	// MaxVClockEntries is the most entries a clock may hold. A devnode
	// cluster has a handful of actors; this bound only stops hostile input.
	MaxVClockEntries = 1024
)

// vclockFormat is the first byte of an encoded, non-empty clock.
const vclockFormat = 0x01

// Dot is one entry of a vector clock: how many updates Actor has
// coordinated, and when (Unix seconds) it last did.
type Dot struct {
	Actor     string
	Counter   uint64
	Timestamp int64
}

// VClock is a vector clock in canonical form: entries sorted by actor,
// actors unique and non-empty, counters at least 1. The nil clock is the
// empty clock (an object that was never written).
//
// A VClock is a value: no function or method modifies its receiver or
// arguments in place; each returns a new clock. Clocks can therefore be
// shared freely between objects.
type VClock []Dot

// Counter returns actor's counter, 0 if actor has no entry.
func (vc VClock) Counter(actor string) uint64 {
	if i, ok := vc.find(actor); ok {
		return vc[i].Counter
	}
	return 0
}

func (vc VClock) find(actor string) (int, bool) {
	return slices.BinarySearchFunc(vc, actor, func(d Dot, a string) int {
		return strings.Compare(d.Actor, a)
	})
}

// Increment returns a copy of vc with actor's counter raised by one and
// its timestamp set to now.
func (vc VClock) Increment(actor string, now time.Time) VClock {
	i, ok := vc.find(actor)
	out := make(VClock, len(vc), len(vc)+1)
	copy(out, vc)
	if ok {
		out[i].Counter++
		out[i].Timestamp = now.Unix()
		return out
	}
	return slices.Insert(out, i, Dot{Actor: actor, Counter: 1, Timestamp: now.Unix()})
}

// Descends reports whether vc has seen every event b has: for every actor
// in b, vc's counter is at least b's. Every clock descends the empty clock
// and itself.
func (vc VClock) Descends(b VClock) bool { return Descends(vc, b) }

// Descends reports whether a descends b (see VClock.Descends).
func Descends(a, b VClock) bool {
	i := 0
	for _, d := range b {
		for i < len(a) && a[i].Actor < d.Actor {
			i++
		}
		if i == len(a) || a[i].Actor != d.Actor || a[i].Counter < d.Counter {
			return false
		}
	}
	return true
}

// Equal reports whether vc and b describe the same history (each descends
// the other). Timestamps are not compared.
func (vc VClock) Equal(b VClock) bool {
	if len(vc) != len(b) {
		return false
	}
	for i := range vc {
		if vc[i].Actor != b[i].Actor || vc[i].Counter != b[i].Counter {
			return false
		}
	}
	return true
}

// Dominates reports whether vc strictly descends b: it descends b and is
// not equal to it.
func (vc VClock) Dominates(b VClock) bool { return Descends(vc, b) && !vc.Equal(b) }

// Concurrent reports whether neither clock descends the other.
func (vc VClock) Concurrent(b VClock) bool { return !Descends(vc, b) && !Descends(b, vc) }

// MergeVClocks returns the least clock that descends all of clocks: per
// actor the highest counter, with that entry's timestamp (the later one on
// a tie).
func MergeVClocks(clocks ...VClock) VClock {
	var out VClock
	for _, c := range clocks {
		out = merge2(out, c)
	}
	return out
}

func merge2(a, b VClock) VClock {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make(VClock, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i].Actor < b[j].Actor:
			out = append(out, a[i])
			i++
		case a[i].Actor > b[j].Actor:
			out = append(out, b[j])
			j++
		default:
			d := a[i]
			if b[j].Counter > d.Counter || (b[j].Counter == d.Counter && b[j].Timestamp > d.Timestamp) {
				d = b[j]
			}
			out = append(out, d)
			i++
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// Merge returns MergeVClocks(vc, b).
func (vc VClock) Merge(b VClock) VClock { return merge2(vc, b) }

// String renders the clock for logs: actor ids in hex.
func (vc VClock) String() string {
	var sb strings.Builder
	sb.WriteByte('[')
	for i, d := range vc {
		if i > 0 {
			sb.WriteByte(' ')
		}
		fmt.Fprintf(&sb, "%x:%d", d.Actor, d.Counter)
	}
	sb.WriteByte(']')
	return sb.String()
}

// Encode returns the clock's stable binary form, the opaque vclock bytes
// clients see. The empty clock encodes to nil. Layout:
//
//	0x01                      format
//	uvarint n                 number of entries
//	n × { uvarint len(actor), actor, uvarint counter, zigzag-varint timestamp }
//
// Entries appear in canonical (sorted) order, so equal clocks encode to
// equal bytes and Encode(Decode(b)) == b for every b Decode accepts.
func (vc VClock) Encode() []byte {
	if len(vc) == 0 {
		return nil
	}
	return vc.AppendEncode(make([]byte, 0, 2+len(vc)*16))
}

// AppendEncode appends Encode's form of vc to dst.
func (vc VClock) AppendEncode(dst []byte) []byte {
	if len(vc) == 0 {
		return dst
	}
	dst = append(dst, vclockFormat)
	dst = binary.AppendUvarint(dst, uint64(len(vc)))
	for _, d := range vc {
		dst = binary.AppendUvarint(dst, uint64(len(d.Actor)))
		dst = append(dst, d.Actor...)
		dst = binary.AppendUvarint(dst, d.Counter)
		dst = binary.AppendVarint(dst, d.Timestamp)
	}
	return dst
}

// DecodeVClock parses Encode's form. Empty input is the empty clock. It
// rejects (with ErrInvalidVClock, never a panic) unknown formats,
// truncated or trailing bytes, non-minimal varints, empty or oversized
// actors, zero counters and entries out of canonical order.
func DecodeVClock(b []byte) (VClock, error) {
	if len(b) == 0 {
		return nil, nil
	}
	r := reader{buf: b}
	if f := r.byte(); f != vclockFormat {
		return nil, fmt.Errorf("%w: unknown format %#x", ErrInvalidVClock, f)
	}
	n := r.uvarint()
	if r.err != nil || n == 0 || n > MaxVClockEntries || n > uint64(r.remaining())/4 {
		return nil, fmt.Errorf("%w: bad entry count", ErrInvalidVClock)
	}
	vc := make(VClock, 0, n)
	for range n {
		al := r.uvarint()
		if r.err != nil || al == 0 || al > MaxActorLen {
			return nil, fmt.Errorf("%w: bad actor length", ErrInvalidVClock)
		}
		actor := r.bytes(int(al))
		counter := r.uvarint()
		ts := r.varint()
		if r.err != nil {
			return nil, fmt.Errorf("%w: truncated", ErrInvalidVClock)
		}
		if counter == 0 {
			return nil, fmt.Errorf("%w: zero counter", ErrInvalidVClock)
		}
		d := Dot{Actor: string(actor), Counter: counter, Timestamp: ts}
		if len(vc) > 0 && vc[len(vc)-1].Actor >= d.Actor {
			return nil, fmt.Errorf("%w: entries out of order", ErrInvalidVClock)
		}
		vc = append(vc, d)
	}
	if r.remaining() != 0 {
		return nil, fmt.Errorf("%w: trailing bytes", ErrInvalidVClock)
	}
	return vc, nil
}

// valid reports whether vc is in canonical form.
func (vc VClock) valid() bool {
	if len(vc) > MaxVClockEntries {
		return false
	}
	for i, d := range vc {
		if d.Actor == "" || len(d.Actor) > MaxActorLen || d.Counter == 0 {
			return false
		}
		if i > 0 && vc[i-1].Actor >= d.Actor {
			return false
		}
	}
	return true
}
