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

// Field is a map entry: the dots of the updates that keep it present
// (observed-remove, as set elements) and its value.
type Field struct {
	Dots     []Dot     `json:"dots"`
	Counter  *Counter  `json:"counter,omitempty"`
	Set      *Set      `json:"set,omitempty"`
	Register *Register `json:"register,omitempty"`
	Flag     *Flag     `json:"flag,omitempty"`
	Map      *Map      `json:"map,omitempty"`
}

// Map is Riak's map: fields present while an update's dot survives;
// values merge by their own type.
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

func newField(k FieldKind) *Field {
	f := &Field{}
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

// touch marks field k updated by actor (a fresh dot replaces those seen)
// and returns it, creating it empty when absent.
func (m *Map) touch(actor string, k FieldKey) *Field {
	f, ok := m.Fields[k]
	if !ok {
		f = newField(k.Kind)
		m.Fields[k] = f
	}
	f.Dots = []Dot{m.Clock.next(actor)}
	return f
}

// RemoveField removes a field, as Set.Remove removes an element.
func (m *Map) RemoveField(k FieldKey, ctx VClock) error {
	if ctx != nil && !m.Clock.Descends(ctx) {
		m.Deferred = append(m.Deferred, mapDeferred{Ctx: maps.Clone(ctx), Fields: []FieldKey{k}})
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
	var keep []Dot
	for _, d := range f.Dots {
		if !ctx.Covers(d) {
			keep = append(keep, d)
		}
	}
	if len(keep) == 0 {
		delete(m.Fields, k)
	} else {
		f.Dots = keep
	}
	return nil
}

// MergeMap merges two maps: presence as an OR-set, values by type.
func MergeMap(a, b *Map) *Map {
	out := &Map{Clock: mergeClock(a.Clock, b.Clock), Fields: map[FieldKey]*Field{}}
	for k, fa := range a.Fields {
		fb := b.Fields[k]
		var db []Dot
		if fb != nil {
			db = fb.Dots
		}
		d := mergeDots(fa.Dots, a.Clock, db, b.Clock)
		if len(d) == 0 {
			continue
		}
		var f *Field
		if fb != nil {
			f = mergeField(k.Kind, fa, fb)
		} else {
			c := *fa
			f = &c
		}
		f.Dots = d
		out.Fields[k] = f
	}
	for k, fb := range b.Fields {
		if _, done := a.Fields[k]; done {
			continue
		}
		if d := mergeDots(nil, a.Clock, fb.Dots, b.Clock); len(d) > 0 {
			f := *fb
			f.Dots = d
			out.Fields[k] = &f
		}
	}
	all := append(slices.Clone(a.Deferred), b.Deferred...)
	for i := range all {
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
	out.Deferred = slices.CompactFunc(all, func(x, y mapDeferred) bool { return key(x) == key(y) })
	out.applyDeferred()
	return out
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

func mergeField(k FieldKind, a, b *Field) *Field {
	f := &Field{}
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
