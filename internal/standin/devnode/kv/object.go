package kv

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Size limits applied to every stored object. They are generous: they
// exist so that hostile or broken input yields an error, not a huge
// allocation or a bolt failure.
const (
	// MaxTypeLen is the longest bucket type name, in bytes.
	MaxTypeLen = 255
	// MaxBucketLen and MaxKeyLen bound bucket names and keys, in bytes.
	MaxBucketLen = 4096
	MaxKeyLen    = 4096
	// MaxIndexNameLen bounds a secondary index name (with its suffix).
	MaxIndexNameLen = 255
	// MaxIndexTermLen bounds one secondary index term.
	MaxIndexTermLen = 4096
	// MaxMetaLen bounds content-type, charset, content-encoding, vtag,
	// user metadata keys and link tags.
	MaxMetaLen = 4096
	// DefaultMaxObjectSize is Options.MaxObjectSize's default: 50 MiB,
	// Riak's default max_object_size. The size of an object is the sum
	// of its siblings' values and metadata (see Object.Size).
	DefaultMaxObjectSize = 50 << 20
	// DefaultMaxSiblings is Options.MaxSiblings's default: 100, Riak's
	// default max_siblings.
	DefaultMaxSiblings = 100
)

// Pair is a key/value pair: user metadata or a secondary index entry
// (Key = index name, Value = term).
type Pair struct {
	Key   string
	Value []byte
}

// Link is a Riak link to another object.
type Link struct {
	Bucket, Key, Tag string
}

// Content is one sibling of an object: a value and its metadata.
type Content struct {
	Value           []byte
	ContentType     string
	Charset         string
	ContentEncoding string
	// VTag identifies the write that produced this content. Assigned by
	// the engine on every put; clients' values are ignored.
	VTag string
	// LastMod is when the content was written (microsecond precision,
	// UTC). Assigned by the engine on every put.
	LastMod  time.Time
	UserMeta []Pair
	Links    []Link
	// Indexes are secondary index entries. Names end in "_int" (terms
	// must parse as 64-bit integers; stored in canonical decimal) or
	// "_bin" (terms are arbitrary bytes).
	Indexes []Pair
	// Deleted marks a tombstone. Ignored on Put.
	Deleted bool
}

// Object is what is stored under a key: one or more siblings sharing one
// vector clock (Riak keeps one clock per object, not per sibling). The
// zero Object means "no object".
type Object struct {
	Siblings []Content
	VClock   VClock
}

// Exists reports whether o holds any content (live or tombstone).
func (o Object) Exists() bool { return len(o.Siblings) > 0 }

// IsTombstone reports whether o exists and every sibling is a tombstone.
// Reads treat such an object as not found.
func (o Object) IsTombstone() bool {
	if len(o.Siblings) == 0 {
		return false
	}
	for i := range o.Siblings {
		if !o.Siblings[i].Deleted {
			return false
		}
	}
	return true
}

// IsLive reports whether o has at least one non-tombstone sibling.
func (o Object) IsLive() bool { return o.Exists() && !o.IsTombstone() }

// Clone returns a deep copy of o (the clock is shared: clocks are values).
func (o Object) Clone() Object {
	if o.Siblings == nil {
		return Object{VClock: o.VClock}
	}
	out := Object{Siblings: make([]Content, len(o.Siblings)), VClock: o.VClock}
	for i := range o.Siblings {
		out.Siblings[i] = o.Siblings[i].Clone()
	}
	return out
}

// Head returns a copy of o whose siblings carry metadata only (Riak's
// head / return_head): values are nil.
func (o Object) Head() Object {
	out := o.Clone()
	for i := range out.Siblings {
		out.Siblings[i].Value = nil
	}
	return out
}

// Size is the object's accounted size: values plus metadata of every
// sibling. Options.MaxObjectSize bounds it.
func (o Object) Size() int {
	n := 0
	for i := range o.Siblings {
		n += o.Siblings[i].Size()
	}
	return n
}

// Clone returns a deep copy of c.
func (c Content) Clone() Content {
	c.Value = cloneBytes(c.Value)
	c.UserMeta = clonePairs(c.UserMeta)
	c.Indexes = clonePairs(c.Indexes)
	if c.Links != nil {
		c.Links = slices.Clone(c.Links)
	}
	return c
}

// Size is the content's accounted size.
func (c *Content) Size() int {
	n := len(c.Value) + len(c.ContentType) + len(c.Charset) + len(c.ContentEncoding) + len(c.VTag) + 16
	for _, p := range c.UserMeta {
		n += len(p.Key) + len(p.Value) + 4
	}
	for _, p := range c.Indexes {
		n += len(p.Key) + len(p.Value) + 4
	}
	for _, l := range c.Links {
		n += len(l.Bucket) + len(l.Key) + len(l.Tag) + 6
	}
	return n
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

func clonePairs(ps []Pair) []Pair {
	if ps == nil {
		return nil
	}
	out := make([]Pair, len(ps))
	for i, p := range ps {
		out[i] = Pair{Key: p.Key, Value: cloneBytes(p.Value)}
	}
	return out
}

// sameContent reports whether two siblings are the same write: same vtag,
// timestamp, tombstone flag and value.
func sameContent(a, b *Content) bool {
	return a.VTag == b.VTag && a.LastMod.Equal(b.LastMod) && a.Deleted == b.Deleted && bytes.Equal(a.Value, b.Value)
}

// compareContent orders siblings by (LastMod, VTag, Deleted, Value), so
// the newest write is last and merges are deterministic.
func compareContent(a, b *Content) int {
	if c := a.LastMod.Compare(b.LastMod); c != 0 {
		return c
	}
	if c := strings.Compare(a.VTag, b.VTag); c != 0 {
		return c
	}
	if a.Deleted != b.Deleted {
		if a.Deleted {
			return 1
		}
		return -1
	}
	return bytes.Compare(a.Value, b.Value)
}

// unionContents returns the siblings of a and b without duplicates, in
// compareContent order. The contents are shared with the inputs.
func unionContents(a, b []Content) []Content {
	out := make([]Content, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.SortStableFunc(out, func(x, y Content) int { return compareContent(&x, &y) })
	return slices.CompactFunc(out, func(x, y Content) bool { return sameContent(&x, &y) })
}

// Merge reconciles two versions of one object the way Riak's
// riak_object:syntactic_merge does. A missing object (no siblings) yields
// the other. If one clock strictly descends the other, the descendant
// wins whole. Otherwise (concurrent or equal clocks) the result holds the
// union of both sibling sets, duplicates (same vtag, timestamp and value)
// removed, ordered oldest first, under the merged clock.
//
// Merge is commutative on sibling sets: Merge(a, b) and Merge(b, a) hold
// the same siblings in the same order and equal clocks. The result may
// share memory with its arguments.
func Merge(a, b Object) Object {
	if !a.Exists() {
		if !b.Exists() {
			return Object{VClock: a.VClock.Merge(b.VClock)}
		}
		return b
	}
	if !b.Exists() {
		return a
	}
	ab, ba := Descends(a.VClock, b.VClock), Descends(b.VClock, a.VClock)
	switch {
	case ab && !ba:
		return a
	case ba && !ab:
		return b
	}
	return Object{Siblings: unionContents(a.Siblings, b.Siblings), VClock: a.VClock.Merge(b.VClock)}
}

// Reconcile merges replies from several replicas into one object (the get
// coordinator's job) and, when allowMult is false, keeps only the most
// recent sibling (Riak's enforce_allow_mult / most_recent_content).
func Reconcile(objs []Object, allowMult bool) Object {
	var out Object
	for _, o := range objs {
		out = Merge(out, o)
	}
	if !allowMult {
		out = out.mostRecentOnly()
	}
	return out
}

// MostRecent returns the sibling with the latest LastMod (ties broken by
// vtag, then tombstone last), or the zero Content if o has no siblings.
func (o Object) MostRecent() Content {
	if len(o.Siblings) == 0 {
		return Content{}
	}
	best := 0
	for i := 1; i < len(o.Siblings); i++ {
		if compareContent(&o.Siblings[i], &o.Siblings[best]) > 0 {
			best = i
		}
	}
	return o.Siblings[best]
}

func (o Object) mostRecentOnly() Object {
	if len(o.Siblings) <= 1 {
		return o
	}
	return Object{Siblings: []Content{o.MostRecent()}, VClock: o.VClock}
}

// CoordinatePut computes the object a coordinating node stores for a put
// of content c (a tombstone for a delete) carrying the client's clock
// incoming, over the stored object cur (zero if none), with actor as the
// coordinator's vclock actor. It follows riak_kv_vnode's put_merge:
//
//   - the new clock is merge(cur, incoming) incremented for actor, so it
//     dominates both;
//   - if last_write_wins or allow_mult=false, c replaces every sibling;
//   - otherwise, if incoming descends cur's clock, c replaces every
//     sibling (the client saw them all);
//   - otherwise c joins cur's siblings (a conflict).
//
// c must already carry its VTag and LastMod. The result shares memory with
// cur and c.
func CoordinatePut(cur Object, incoming VClock, c Content, actor string, now time.Time, props BucketProps) Object {
	clock := cur.VClock.Merge(incoming).Increment(actor, now)
	if props.LastWriteWins || !props.AllowMult || !cur.Exists() || Descends(incoming, cur.VClock) {
		return Object{Siblings: []Content{c}, VClock: clock}
	}
	return Object{Siblings: unionContents(cur.Siblings, []Content{c}), VClock: clock}
}

// base62 is the alphabet of generated vtags and keys.
const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomID returns 22 base62 characters carrying 128 random bits.
func randomID() string {
	var b [22]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := range 11 {
		b[i] = base62[hi%62]
		hi /= 62
		b[11+i] = base62[lo%62]
		lo /= 62
	}
	return string(b[:])
}

// NewVTag returns a fresh vtag: 22 random base62 characters, like Riak's.
func NewVTag() string { return randomID() }

// NewKey returns a fresh random key, for puts that name no key (Riak
// generates one and returns it to the client).
func NewKey() string { return randomID() }

// indexKind is the type of a secondary index, from its name's suffix.
type indexKind uint8

const (
	indexBin indexKind = iota + 1
	indexInt
)

func parseIndexName(name string) (indexKind, error) {
	if len(name) <= 4 || len(name) > MaxIndexNameLen || name[0] == '$' {
		return 0, fmt.Errorf("%w: bad name %q", ErrInvalidIndex, name)
	}
	switch name[len(name)-4:] {
	case "_int":
		return indexInt, nil
	case "_bin":
		return indexBin, nil
	}
	return 0, fmt.Errorf("%w: name %q must end in _int or _bin", ErrInvalidIndex, name)
}

// parseIntTerm parses an _int term like Riak's list_to_integer: optional
// sign, decimal digits, no spaces; limited to 64 bits.
func parseIntTerm(term string) (int64, error) {
	v, err := strconv.ParseInt(term, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: term %q is not a 64-bit integer", ErrInvalidIndex, term)
	}
	return v, nil
}

// IndexEntry is one (index, term) of an object, as stored. Terms of _int
// indexes are in canonical decimal.
type IndexEntry struct {
	Index, Term string
}

func compareEntry(a, b IndexEntry) int {
	if c := strings.Compare(a.Index, b.Index); c != 0 {
		return c
	}
	return strings.Compare(a.Term, b.Term)
}

// IndexEntries returns the object's index entries: those of its live
// siblings, sorted and without duplicates. Tombstones index nothing.
func (o Object) IndexEntries() []IndexEntry {
	var out []IndexEntry
	for i := range o.Siblings {
		c := &o.Siblings[i]
		if c.Deleted {
			continue
		}
		for _, p := range c.Indexes {
			out = append(out, IndexEntry{Index: p.Key, Term: string(p.Value)})
		}
	}
	if len(out) > 1 {
		slices.SortFunc(out, compareEntry)
		out = slices.Compact(out)
	}
	return out
}

// diffEntries returns the entries only in old (to delete) and only in new
// (to add). Both inputs are sorted and unique.
func diffEntries(old, new []IndexEntry) (del, add []IndexEntry) {
	i, j := 0, 0
	for i < len(old) && j < len(new) {
		switch c := compareEntry(old[i], new[j]); {
		case c < 0:
			del = append(del, old[i])
			i++
		case c > 0:
			add = append(add, new[j])
			j++
		default:
			i++
			j++
		}
	}
	return append(del, old[i:]...), append(add, new[j:]...)
}

// prepareContent validates c and returns a private, normalised copy:
// _int terms in canonical decimal, duplicate index entries removed.
func prepareContent(c *Content) (Content, error) {
	if len(c.ContentType) > MaxMetaLen || len(c.Charset) > MaxMetaLen || len(c.ContentEncoding) > MaxMetaLen || len(c.VTag) > MaxMetaLen {
		return Content{}, fmt.Errorf("%w: metadata field too long", ErrInvalidContent)
	}
	for _, p := range c.UserMeta {
		if p.Key == "" || len(p.Key) > MaxMetaLen {
			return Content{}, fmt.Errorf("%w: user metadata key must be 1..%d bytes", ErrInvalidContent, MaxMetaLen)
		}
	}
	for _, l := range c.Links {
		if l.Bucket == "" || len(l.Bucket) > MaxBucketLen || l.Key == "" || len(l.Key) > MaxKeyLen || len(l.Tag) > MaxMetaLen {
			return Content{}, fmt.Errorf("%w: link needs a bucket and key", ErrInvalidContent)
		}
	}
	out := c.Clone()
	for i := range out.Indexes {
		p := &out.Indexes[i]
		kind, err := parseIndexName(p.Key)
		if err != nil {
			return Content{}, err
		}
		if len(p.Value) > MaxIndexTermLen {
			return Content{}, fmt.Errorf("%w: term of %q longer than %d bytes", ErrInvalidIndex, p.Key, MaxIndexTermLen)
		}
		if kind == indexInt {
			v, err := parseIntTerm(string(p.Value))
			if err != nil {
				return Content{}, err
			}
			p.Value = strconv.AppendInt(p.Value[:0], v, 10)
		}
	}
	if len(out.Indexes) > 1 {
		slices.SortFunc(out.Indexes, func(a, b Pair) int {
			return cmp.Or(strings.Compare(a.Key, b.Key), bytes.Compare(a.Value, b.Value))
		})
		out.Indexes = slices.CompactFunc(out.Indexes, func(a, b Pair) bool {
			return a.Key == b.Key && bytes.Equal(a.Value, b.Value)
		})
	}
	return out, nil
}

// validateObject checks an object arriving from a replica.
func validateObject(o *Object, maxSize int) error {
	if !o.Exists() {
		return fmt.Errorf("%w: object has no siblings", ErrInvalidContent)
	}
	if len(o.VClock) == 0 || !o.VClock.valid() {
		return fmt.Errorf("%w: replica object needs a canonical, non-empty clock", ErrInvalidVClock)
	}
	if s := o.Size(); s > maxSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, s)
	}
	return nil
}
