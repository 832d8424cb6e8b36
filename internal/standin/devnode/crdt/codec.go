package crdt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ContentType marks an object whose value is a stored data type (Riak
// stores its CRDTs in ordinary objects too, under a binary format of its own).
const ContentType = "application/x-devnode-crdt"

// ErrCorrupt: stored bytes or a context that this package did not produce.
var ErrCorrupt = errors.New("crdt: invalid encoding")

// maxDepth bounds map nesting in decoded data.
const maxDepth = 32

type valueWire struct {
	Version int      `json:"v"`
	Kind    Kind     `json:"kind"`
	Counter *Counter `json:"counter,omitempty"`
	Set     *Set     `json:"set,omitempty"`
	Map     *Map     `json:"map,omitempty"`
	HLL     *HLL     `json:"hll,omitempty"`
	GSet    *GSet    `json:"gset,omitempty"`
}

// Encode returns the stored form of v.
func Encode(v *Value) []byte {
	b, err := json.Marshal(valueWire{Version: 1, Kind: v.Kind, Counter: v.Counter, Set: v.Set, Map: v.Map, HLL: v.HLL, GSet: v.GSet})
	if err != nil {
		panic(fmt.Sprintf("crdt: encode: %v", err)) // only plain data: cannot happen
	}
	return b
}

// Decode parses and checks a stored value.
func Decode(b []byte) (*Value, error) {
	var w valueWire
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if w.Version != 1 {
		return nil, fmt.Errorf("%w: version %d", ErrCorrupt, w.Version)
	}
	v := &Value{Kind: w.Kind, Counter: w.Counter, Set: w.Set, Map: w.Map, HLL: w.HLL, GSet: w.GSet}
	var err error
	switch w.Kind {
	case KindCounter:
		err = checkOnly(v.Counter != nil, v.Set, v.Map, v.HLL, v.GSet)
	case KindSet:
		if err = checkOnly(v.Set != nil, v.Counter, v.Map, v.HLL, v.GSet); err == nil {
			err = v.Set.normalize()
		}
	case KindMap:
		if err = checkOnly(v.Map != nil, v.Counter, v.Set, v.HLL, v.GSet); err == nil {
			err = v.Map.normalize(0)
		}
	case KindHLL:
		if err = checkOnly(v.HLL != nil, v.Counter, v.Set, v.Map, v.GSet); err == nil {
			v.HLL.Hashes = slices.Compact(slices.Sorted(slices.Values(v.HLL.Hashes)))
		}
	case KindGSet:
		if err = checkOnly(v.GSet != nil, v.Counter, v.Set, v.Map, v.HLL); err == nil {
			v.GSet.Elems = slices.Compact(slices.Sorted(slices.Values(v.GSet.Elems)))
		}
	default:
		err = fmt.Errorf("%w: kind %q", ErrCorrupt, w.Kind)
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

func checkOnly(have bool, others ...any) error {
	if !have {
		return fmt.Errorf("%w: value missing", ErrCorrupt)
	}
	for _, o := range others {
		switch o := o.(type) {
		case *Counter:
			have = o != nil
		case *Set:
			have = o != nil
		case *Map:
			have = o != nil
		case *HLL:
			have = o != nil
		case *GSet:
			have = o != nil
		}
		if have {
			return fmt.Errorf("%w: values of two kinds", ErrCorrupt)
		}
	}
	return nil
}

func (s *Set) normalize() error {
	if s.Clock == nil {
		s.Clock = VClock{}
	}
	if s.Elems == nil {
		s.Elems = map[string][]Dot{}
	}
	for e, ds := range s.Elems {
		if len(ds) == 0 {
			return fmt.Errorf("%w: set element without dots", ErrCorrupt)
		}
		s.Elems[e] = sortDots(ds)
	}
	// Canonical form: deferred removes sorted, those already covered run.
	s.Deferred = mergeDeferred(s.Deferred, nil)
	s.applyDeferred()
	return nil
}

func (f *Flag) normalize() {
	if f.Clock == nil {
		f.Clock = VClock{}
	}
	f.Dots = sortDots(f.Dots)
}

func (m *Map) normalize(depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: maps nested deeper than %d", ErrCorrupt, maxDepth)
	}
	if m.Clock == nil {
		m.Clock = VClock{}
	}
	if m.Fields == nil {
		m.Fields = map[FieldKey]*Field{}
	}
	for k, f := range m.Fields {
		if f == nil || len(f.Entries) == 0 {
			return fmt.Errorf("%w: map field without entries", ErrCorrupt)
		}
		seen := map[Dot]bool{}
		for i := range f.Entries {
			e := &f.Entries[i]
			if seen[e.Dot] {
				return fmt.Errorf("%w: map field with a dot twice", ErrCorrupt)
			}
			seen[e.Dot] = true
			if err := e.FieldValue.normalize(k.Kind, depth); err != nil {
				return err
			}
		}
		slices.SortFunc(f.Entries, func(x, y FieldEntry) int { return compareDots(x.Dot, y.Dot) })
	}
	m.Deferred = mergeMapDeferred(m.Deferred, nil)
	m.applyDeferred()
	return nil
}

// normalize checks a field value holds exactly its kind's member.
func (f *FieldValue) normalize(k FieldKind, depth int) error {
	set := []bool{f.Counter != nil, f.Set != nil, f.Register != nil, f.Flag != nil, f.Map != nil}
	idx := map[FieldKind]int{FieldCounter: 0, FieldSet: 1, FieldRegister: 2, FieldFlag: 3, FieldMap: 4}
	i, ok := idx[k]
	n := 0
	for _, s := range set {
		if s {
			n++
		}
	}
	if !ok || n != 1 || !set[i] {
		return fmt.Errorf("%w: map field value does not match its kind %q", ErrCorrupt, k)
	}
	switch k {
	case FieldSet:
		return f.Set.normalize()
	case FieldFlag:
		f.Flag.normalize()
	case FieldMap:
		return f.Map.normalize(depth + 1)
	}
	return nil
}

type fieldWire struct {
	Key   FieldKey `json:"key"`
	Field *Field   `json:"field"`
}

type mapWire struct {
	Clock    VClock        `json:"clock,omitempty"`
	Fields   []fieldWire   `json:"fields,omitempty"`
	Deferred []mapDeferred `json:"deferred,omitempty"`
}

// MarshalJSON writes the fields as a list, in key order.
func (m *Map) MarshalJSON() ([]byte, error) {
	w := mapWire{Clock: m.Clock, Deferred: m.Deferred}
	for _, k := range m.Keys() {
		w.Fields = append(w.Fields, fieldWire{k, m.Fields[k]})
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads MarshalJSON's form; duplicate fields are an error.
func (m *Map) UnmarshalJSON(b []byte) error {
	var w mapWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	m.Clock, m.Deferred, m.Fields = w.Clock, w.Deferred, make(map[FieldKey]*Field, len(w.Fields))
	for _, f := range w.Fields {
		if _, dup := m.Fields[f.Key]; dup {
			return fmt.Errorf("%w: duplicate map field", ErrCorrupt)
		}
		m.Fields[f.Key] = f.Field
	}
	return nil
}

// contextMagic starts every context this package issues.
const contextMagic = 0xd7

// EncodeContext returns the opaque context for a clock: actors sorted,
// each a length-prefixed name and a counter.
func EncodeContext(c VClock) []byte {
	b := []byte{contextMagic}
	for _, a := range slices.Sorted(maps.Keys(c)) {
		b = binary.AppendUvarint(b, uint64(len(a)))
		b = append(b, a...)
		b = binary.AppendUvarint(b, c[a])
	}
	return b
}

// DecodeContext parses a context from EncodeContext.
func DecodeContext(b []byte) (VClock, error) {
	if len(b) == 0 || b[0] != contextMagic {
		return nil, fmt.Errorf("%w: context", ErrCorrupt)
	}
	b = b[1:]
	c := VClock{}
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: context", ErrCorrupt)
		}
		a := string(b[k : k+int(n)])
		b = b[k+int(n):]
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, fmt.Errorf("%w: context", ErrCorrupt)
		}
		if _, dup := c[a]; dup {
			return nil, fmt.Errorf("%w: context", ErrCorrupt)
		}
		c[a] = v
		b = b[k:]
	}
	return c, nil
}
