package crdt

import (
	"cmp"
	"maps"
	"slices"
)

// FieldKind is the type of a map field (Riak's embedded types).
type FieldKind string

// The embedded types.
const (
	FieldCounter  FieldKind = "counter"
	FieldSet      FieldKind = "set"
	FieldRegister FieldKind = "register"
	FieldFlag     FieldKind = "flag"
	FieldMap      FieldKind = "map"
)

// ParseFieldKind checks an embedded type name.
func ParseFieldKind(s string) (FieldKind, bool) {
	switch k := FieldKind(s); k {
	case FieldCounter, FieldSet, FieldRegister, FieldFlag, FieldMap:
		return k, true
	}
	return "", false
}

// FieldKey names a map field: a name and a type (a map may hold a counter
// and a set under the same name).
type FieldKey struct {
	Name string    `json:"name"`
	Kind FieldKind `json:"kind"`
}

func compareFieldKeys(a, b FieldKey) int {
	if c := cmp.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return cmp.Compare(a.Kind, b.Kind)
}

// FieldValue is a field's value: the member of its kind is set.
type FieldValue struct {
	Counter  *Counter  `json:"counter,omitempty"`
	Set      *Set      `json:"set,omitempty"`
	Register *Register `json:"register,omitempty"`
	Flag     *Flag     `json:"flag,omitempty"`
	Map      *Map      `json:"map,omitempty"`
}

// FieldEntry is one update's value of a field, under the update's dot.
// The value under a dot never changes, so entries merge as set elements do.
type FieldEntry struct {
	Dot Dot `json:"dot"`
	FieldValue
}

// Field is a map entry, as riak_dt_map keeps it: the values of the updates
// not yet removed, each under its dot (observed-remove, as set elements).
// Its value is their merge; an update replaces the entries it saw with one.
type Field struct {
	Entries []FieldEntry `json:"entries"`
}

// Map is Riak's map: fields present while an update's entry survives.
type Map struct {
	Clock    VClock
	Fields   map[FieldKey]*Field
	Deferred []mapDeferred
}

type mapDeferred struct {
	Ctx    VClock     `json:"ctx"`
	Fields []FieldKey `json:"fields"`
}

// NewMap returns an empty map.
func NewMap() *Map { return &Map{Clock: VClock{}, Fields: map[FieldKey]*Field{}} }

func emptyValue(k FieldKind) FieldValue {
	var f FieldValue
	switch k {
	case FieldCounter:
		f.Counter = &Counter{}
	case FieldSet:
		f.Set = NewSet()
	case FieldRegister:
		f.Register = &Register{}
	case FieldFlag:
		f.Flag = &Flag{}
	case FieldMap:
		f.Map = NewMap()
	}
	return f
}

// Keys returns the field keys, sorted.
func (m *Map) Keys() []FieldKey {
	return slices.SortedFunc(maps.Keys(m.Fields), compareFieldKeys)
}

// Value returns a field's value (the merge of its entries), nil when absent.
// The result must not be changed.
func (m *Map) Value(k FieldKey) *FieldValue {
	f, ok := m.Fields[k]
	if !ok || len(f.Entries) == 0 {
		return nil
	}
	v := f.Entries[0].FieldValue
	for _, e := range f.Entries[1:] {
		v = mergeValue(k.Kind, v, e.FieldValue)
	}
	return &v
}

// update applies fn to a copy of field k's value (empty when absent) and
// stores the result as the field's one entry, under a fresh dot of actor.
func (m *Map) update(actor string, k FieldKey, fn func(*FieldValue) error) error {
	var v FieldValue
	if cur := m.Value(k); cur != nil {
		v = cloneValue(k.Kind, *cur)
	} else {
		v = emptyValue(k.Kind)
	}
	if err := fn(&v); err != nil {
		return err
	}
	m.Fields[k] = &Field{Entries: []FieldEntry{{Dot: m.Clock.next(actor), FieldValue: v}}}
	return nil
}

// cloneValue deep-copies a field value (through the stored encoding).
func cloneValue(k FieldKind, v FieldValue) FieldValue {
	tmp := NewMap()
	tmp.Fields[FieldKey{Kind: k}] = &Field{Entries: []FieldEntry{{Dot: Dot{"c", 1}, FieldValue: v}}}
	c := Clone(&Value{Kind: KindMap, Map: tmp})
	return c.Map.Fields[FieldKey{Kind: k}].Entries[0].FieldValue
}

// RemoveField removes a field, as Set.Remove removes an element.
func (m *Map) RemoveField(k FieldKey, ctx VClock) error {
	if ctx != nil && !m.Clock.Descends(ctx) {
		m.Deferred = mergeMapDeferred(m.Deferred, []mapDeferred{{Ctx: maps.Clone(ctx), Fields: []FieldKey{k}}})
		return nil
	}
	f, ok := m.Fields[k]
	if !ok {
		return &PreconditionError{Field: &k}
	}
	if ctx == nil {
		delete(m.Fields, k)
		return nil
	}
	var keep []FieldEntry
	for _, e := range f.Entries {
		if !ctx.Covers(e.Dot) {
			keep = append(keep, e)
		}
	}
	if len(keep) == 0 {
		delete(m.Fields, k)
	} else {
		m.Fields[k] = &Field{Entries: keep}
	}
	return nil
}

// MergeMap merges two maps: each field's entries as an OR-set of dots.
func MergeMap(a, b *Map) *Map {
	out := &Map{Clock: mergeClock(a.Clock, b.Clock), Fields: map[FieldKey]*Field{}}
	keys := maps.Clone(a.Fields)
	maps.Copy(keys, b.Fields)
	for k := range keys {
		var ea, eb []FieldEntry
		if f := a.Fields[k]; f != nil {
			ea = f.Entries
		}
		if f := b.Fields[k]; f != nil {
			eb = f.Entries
		}
		if e := mergeEntries(ea, a.Clock, eb, b.Clock); len(e) > 0 {
			out.Fields[k] = &Field{Entries: e}
		}
	}
	out.Deferred = mergeMapDeferred(a.Deferred, b.Deferred)
	out.applyDeferred()
	return out
}

// mergeEntries is mergeDots for entries carrying values.
func mergeEntries(ea []FieldEntry, ca VClock, eb []FieldEntry, cb VClock) []FieldEntry {
	byDot := map[Dot]FieldEntry{}
	for _, e := range ea {
		byDot[e.Dot] = e
	}
	for _, e := range eb {
		if _, ok := byDot[e.Dot]; !ok {
			byDot[e.Dot] = e
		}
	}
	var da, db []Dot
	for _, e := range ea {
		da = append(da, e.Dot)
	}
	for _, e := range eb {
		db = append(db, e.Dot)
	}
	var out []FieldEntry
	for _, d := range mergeDots(da, ca, db, cb) {
		out = append(out, byDot[d])
	}
	return out
}

// mergeMapDeferred is the union of two deferred-remove lists in canonical
// order, so that merges are commutative and idempotent in encoding too.
func mergeMapDeferred(a, b []mapDeferred) []mapDeferred {
	all := append(slices.Clone(a), b...)
	for i := range all {
		if all[i].Ctx == nil {
			all[i].Ctx = VClock{}
		}
		all[i].Fields = slices.CompactFunc(slices.SortedFunc(slices.Values(all[i].Fields), compareFieldKeys),
			func(x, y FieldKey) bool { return x == y })
	}
	key := func(d mapDeferred) string {
		s := string(EncodeContext(d.Ctx))
		for _, f := range d.Fields {
			s += "\x00" + f.Name + "\x00" + string(f.Kind)
		}
		return s
	}
	slices.SortFunc(all, func(x, y mapDeferred) int { return cmp.Compare(key(x), key(y)) })
	return slices.CompactFunc(all, func(x, y mapDeferred) bool { return key(x) == key(y) })
}

func (m *Map) applyDeferred() {
	var left []mapDeferred
	for _, d := range m.Deferred {
		if !m.Clock.Descends(d.Ctx) {
			left = append(left, d)
			continue
		}
		for _, k := range d.Fields {
			_ = m.RemoveField(k, d.Ctx)
		}
	}
	m.Deferred = left
}

func mergeValue(k FieldKind, a, b FieldValue) FieldValue {
	var f FieldValue
	switch k {
	case FieldCounter:
		f.Counter = MergeCounter(a.Counter, b.Counter)
	case FieldSet:
		f.Set = MergeSet(a.Set, b.Set)
	case FieldRegister:
		f.Register = MergeRegister(a.Register, b.Register)
	case FieldFlag:
		f.Flag = MergeFlag(a.Flag, b.Flag)
	case FieldMap:
		f.Map = MergeMap(a.Map, b.Map)
	}
	return f
}
