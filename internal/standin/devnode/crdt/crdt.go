// Package crdt holds the devnode's Riak Data Types: counters (PN-counter),
// sets (OR-set without tombstones, with contexts for removes), maps (of
// counters, sets, LWW registers, enable-wins flags and nested maps), HLLs
// and grow-only sets. The types are pure values with a convergent Merge
// (commutative, associative, idempotent), operations applied by one actor
// (ApplyOp), a stored encoding and Riak's JSON forms; Fetch and Apply run
// Riak's read, merge, apply, write cycle over a service.Service.
package crdt

import (
	"bytes"
	"cmp"
	"maps"
	"slices"
)

// Kind is a top-level data type, as Riak's bucket type datatype property
// names it.
type Kind string

// The top-level kinds.
const (
	KindCounter Kind = "counter"
	KindSet     Kind = "set"
	KindMap     Kind = "map"
	KindHLL     Kind = "hll"
	KindGSet    Kind = "gset"
)

// ParseKind checks a datatype property value.
func ParseKind(s string) (Kind, bool) {
	switch k := Kind(s); k {
	case KindCounter, KindSet, KindMap, KindHLL, KindGSet:
		return k, true
	}
	return "", false
}

// VClock is a version vector: the highest event counter seen per actor.
type VClock map[string]uint64

// Covers reports whether dot d has been seen by c.
func (c VClock) Covers(d Dot) bool { return c[d.Actor] >= d.N }

// Descends reports whether c has seen everything o has.
func (c VClock) Descends(o VClock) bool {
	for a, n := range o {
		if c[a] < n {
			return false
		}
	}
	return true
}

func mergeClock(a, b VClock) VClock {
	out := maps.Clone(a)
	if out == nil {
		out = VClock{}
	}
	for k, v := range b {
		out[k] = max(out[k], v)
	}
	return out
}

// Dot is one event: an actor's n-th.
type Dot struct {
	Actor string `json:"a"`
	N     uint64 `json:"n"`
}

// next returns a new dot of actor on c and records it.
func (c VClock) next(actor string) Dot {
	c[actor]++
	return Dot{actor, c[actor]}
}

func compareDots(a, b Dot) int {
	if c := cmp.Compare(a.Actor, b.Actor); c != 0 {
		return c
	}
	return cmp.Compare(a.N, b.N)
}

func sortDots(ds []Dot) []Dot {
	slices.SortFunc(ds, compareDots)
	return slices.Compact(ds)
}

// mergeDots merges the dots of one element (or field) of two observed-remove
// collections with clocks ca and cb: a dot survives when both sides have
// it, or one side has it and the other has not seen it (so did not remove
// it). ORSWOT's merge rule.
func mergeDots(da []Dot, ca VClock, db []Dot, cb VClock) []Dot {
	var out []Dot
	inB := make(map[Dot]bool, len(db))
	for _, d := range db {
		inB[d] = true
	}
	inA := make(map[Dot]bool, len(da))
	for _, d := range da {
		inA[d] = true
		if inB[d] || !cb.Covers(d) {
			out = append(out, d)
		}
	}
	for _, d := range db {
		if !inA[d] && !ca.Covers(d) {
			out = append(out, d)
		}
	}
	return sortDots(out)
}

// Counter is a PN-counter: per-actor increment and decrement totals.
type Counter struct {
	P map[string]uint64 `json:"p,omitempty"`
	N map[string]uint64 `json:"n,omitempty"`
}

// Value is the counter's value.
func (c *Counter) Value() int64 {
	var v int64
	for _, n := range c.P {
		v += int64(n)
	}
	for _, n := range c.N {
		v -= int64(n)
	}
	return v
}

// Increment adds by (negative: decrements) as actor.
func (c *Counter) Increment(actor string, by int64) {
	if by >= 0 {
		if c.P == nil {
			c.P = map[string]uint64{}
		}
		c.P[actor] += uint64(by)
		return
	}
	if c.N == nil {
		c.N = map[string]uint64{}
	}
	c.N[actor] += uint64(-by)
}

func maxMap(a, b map[string]uint64) map[string]uint64 {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := maps.Clone(a)
	if out == nil {
		out = map[string]uint64{}
	}
	for k, v := range b {
		out[k] = max(out[k], v)
	}
	return out
}

// MergeCounter merges two counters: per-actor maxima.
func MergeCounter(a, b *Counter) *Counter {
	return &Counter{P: maxMap(a.P, b.P), N: maxMap(a.N, b.N)}
}

// deferred is a remove whose context the replica had not seen yet: it is
// applied once the replica's clock descends the context (ORSWOT's deferred
// operations), so a remove that arrives before the add it saw still wins.
type deferred struct {
	Ctx   VClock   `json:"ctx"`
	Elems []string `json:"elems"`
}

// Set is an OR-set without tombstones (Riak's ORSWOT): each element carries
// the dots of the adds that put it there; a remove drops the dots it saw.
type Set struct {
	Clock    VClock           `json:"clock,omitempty"`
	Elems    map[string][]Dot `json:"elems,omitempty"`
	Deferred []deferred       `json:"deferred,omitempty"`
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{Clock: VClock{}, Elems: map[string][]Dot{}} }

// Value returns the elements, sorted.
func (s *Set) Value() [][]byte {
	out := make([][]byte, 0, len(s.Elems))
	for _, e := range slices.Sorted(maps.Keys(s.Elems)) {
		out = append(out, []byte(e))
	}
	return out
}

// Contains reports whether e is in the set.
func (s *Set) Contains(e []byte) bool { _, ok := s.Elems[string(e)]; return ok }

// Add adds e as actor: one fresh dot replaces those seen.
func (s *Set) Add(actor string, e []byte) {
	s.Elems[string(e)] = []Dot{s.Clock.next(actor)}
}

// Remove removes e. With a context (what the client saw), only the dots
// the context covers go, and a context this replica has not yet seen is
// kept until it has; without one, every dot goes. Removing an element that
// is not there is Riak's precondition error.
func (s *Set) Remove(e []byte, ctx VClock) error {
	if ctx != nil && !s.Clock.Descends(ctx) {
		s.Deferred = mergeDeferred(s.Deferred, []deferred{{Ctx: maps.Clone(ctx), Elems: []string{string(e)}}})
		return nil
	}
	dots, ok := s.Elems[string(e)]
	if !ok {
		return &PreconditionError{Elem: e}
	}
	if ctx == nil {
		delete(s.Elems, string(e))
		return nil
	}
	keep := dots[:0:0]
	for _, d := range dots {
		if !ctx.Covers(d) {
			keep = append(keep, d)
		}
	}
	if len(keep) == 0 {
		delete(s.Elems, string(e))
	} else {
		s.Elems[string(e)] = keep
	}
	return nil
}

// MergeSet merges two sets.
func MergeSet(a, b *Set) *Set {
	out := &Set{Clock: mergeClock(a.Clock, b.Clock), Elems: map[string][]Dot{}}
	for e, da := range a.Elems {
		if d := mergeDots(da, a.Clock, b.Elems[e], b.Clock); len(d) > 0 {
			out.Elems[e] = d
		}
	}
	for e, db := range b.Elems {
		if _, done := a.Elems[e]; done {
			continue
		}
		if d := mergeDots(nil, a.Clock, db, b.Clock); len(d) > 0 {
			out.Elems[e] = d
		}
	}
	out.Deferred = mergeDeferred(a.Deferred, b.Deferred)
	out.applyDeferred()
	return out
}

func mergeDeferred(a, b []deferred) []deferred {
	out := append(slices.Clone(a), b...)
	// Canonical order and no duplicates, so merge stays idempotent and
	// commutative in its encoding too.
	for i := range out {
		if out[i].Ctx == nil {
			out[i].Ctx = VClock{}
		}
		out[i].Elems = slices.Compact(slices.Sorted(slices.Values(out[i].Elems)))
	}
	slices.SortFunc(out, func(x, y deferred) int { return bytes.Compare(deferredKey(x), deferredKey(y)) })
	return slices.CompactFunc(out, func(x, y deferred) bool { return bytes.Equal(deferredKey(x), deferredKey(y)) })
}

func deferredKey(d deferred) []byte {
	b := EncodeContext(d.Ctx)
	for _, e := range d.Elems {
		b = append(b, 0)
		b = append(b, e...)
	}
	return b
}

// applyDeferred runs the deferred removes whose context is now covered.
func (s *Set) applyDeferred() {
	var left []deferred
	for _, d := range s.Deferred {
		if !s.Clock.Descends(d.Ctx) {
			left = append(left, d)
			continue
		}
		for _, e := range d.Elems {
			_ = s.Remove([]byte(e), d.Ctx) // absent by now: nothing to do
		}
	}
	s.Deferred = left
}

// Register is a last-write-wins register; ties on time break on actor,
// then value, so every replica picks the same.
type Register struct {
	Value []byte `json:"v"`
	TS    int64  `json:"ts"`
	Actor string `json:"a"`
}

// MergeRegister keeps the later assignment.
func MergeRegister(a, b *Register) *Register {
	if registerLess(a, b) {
		return b
	}
	return a
}

func registerLess(a, b *Register) bool {
	if a.TS != b.TS {
		return a.TS < b.TS
	}
	if a.Actor != b.Actor {
		return a.Actor < b.Actor
	}
	return bytes.Compare(a.Value, b.Value) < 0
}

// Flag is an enable-wins flag: enabled while some enable's dot survives.
type Flag struct {
	Clock VClock `json:"clock,omitempty"`
	Dots  []Dot  `json:"dots,omitempty"`
}

// Value reports whether the flag is enabled.
func (f *Flag) Value() bool { return len(f.Dots) > 0 }

// Enable enables the flag as actor.
func (f *Flag) Enable(actor string) {
	if f.Clock == nil {
		f.Clock = VClock{}
	}
	f.Dots = []Dot{f.Clock.next(actor)}
}

// Disable drops the enables seen; a concurrent enable wins.
func (f *Flag) Disable() { f.Dots = nil }

// MergeFlag merges two flags.
func MergeFlag(a, b *Flag) *Flag {
	return &Flag{Clock: mergeClock(a.Clock, b.Clock), Dots: mergeDots(a.Dots, a.Clock, b.Dots, b.Clock)}
}

// GSet is a grow-only set.
type GSet struct {
	Elems []string `json:"elems,omitempty"` // sorted, unique
}

// Add adds elements.
func (g *GSet) Add(es ...[]byte) {
	for _, e := range es {
		g.Elems = append(g.Elems, string(e))
	}
	g.Elems = slices.Compact(slices.Sorted(slices.Values(g.Elems)))
}

// Value returns the elements, sorted.
func (g *GSet) Value() [][]byte {
	out := make([][]byte, len(g.Elems))
	for i, e := range g.Elems {
		out[i] = []byte(e)
	}
	return out
}

// MergeGSet is the union.
func MergeGSet(a, b *GSet) *GSet {
	out := &GSet{Elems: slices.Clone(a.Elems)}
	for _, e := range b.Elems {
		out.Elems = append(out.Elems, e)
	}
	out.Elems = slices.Compact(slices.Sorted(slices.Values(out.Elems)))
	return out
}

// HLL counts distinct elements. The devnode keeps the exact set of 64-bit
// element hashes (a grow-only set), so its estimate is exact (up to hash
// collisions) where Riak's HyperLogLog is approximate: Riak's answer for
// small sets is exact too, and within its error bound for large ones.
type HLL struct {
	Hashes []uint64 `json:"h,omitempty"` // sorted, unique
}

// Add adds elements.
func (h *HLL) Add(es ...[]byte) {
	for _, e := range es {
		h.Hashes = append(h.Hashes, hash64(e))
	}
	h.Hashes = slices.Compact(slices.Sorted(slices.Values(h.Hashes)))
}

// Value is the cardinality.
func (h *HLL) Value() uint64 { return uint64(len(h.Hashes)) }

// MergeHLL is the union.
func MergeHLL(a, b *HLL) *HLL {
	out := &HLL{Hashes: append(slices.Clone(a.Hashes), b.Hashes...)}
	out.Hashes = slices.Compact(slices.Sorted(slices.Values(out.Hashes)))
	return out
}

// hash64 is FNV-1a, 64 bits.
func hash64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
