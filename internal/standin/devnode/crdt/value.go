package crdt

import (
	"fmt"
	"strconv"
	"strings"
)

// Value is one stored data type value, of its bucket type's kind.
type Value struct {
	Kind    Kind
	Counter *Counter
	Set     *Set
	Map     *Map
	HLL     *HLL
	GSet    *GSet
}

// New returns the empty value of a kind.
func New(k Kind) *Value {
	v := &Value{Kind: k}
	switch k {
	case KindCounter:
		v.Counter = &Counter{}
	case KindSet:
		v.Set = NewSet()
	case KindMap:
		v.Map = NewMap()
	case KindHLL:
		v.HLL = &HLL{}
	case KindGSet:
		v.GSet = &GSet{}
	}
	return v
}

// Merge merges two values of the same kind; values of different kinds
// (a bucket type's datatype cannot change, so only corrupt data has them)
// keep a.
func Merge(a, b *Value) *Value {
	if a.Kind != b.Kind {
		return a
	}
	out := &Value{Kind: a.Kind}
	switch a.Kind {
	case KindCounter:
		out.Counter = MergeCounter(a.Counter, b.Counter)
	case KindSet:
		out.Set = MergeSet(a.Set, b.Set)
	case KindMap:
		out.Map = MergeMap(a.Map, b.Map)
	case KindHLL:
		out.HLL = MergeHLL(a.HLL, b.HLL)
	case KindGSet:
		out.GSet = MergeGSet(a.GSet, b.GSet)
	}
	// The parts merged from one side are shared with it; a copy keeps a
	// later in-place ApplyOp on the result from changing a or b.
	return Clone(out)
}

// Clone returns a deep copy of v.
func Clone(v *Value) *Value {
	c, err := Decode(Encode(v))
	if err != nil {
		panic(fmt.Sprintf("crdt: clone: %v", err)) // Encode's output always decodes
	}
	return c
}

// Context is what a client gets back with a set or map and sends with a
// remove: the clock of the value it saw. Counters, HLLs and GSets have
// none (nil).
func (v *Value) Context() VClock {
	switch v.Kind {
	case KindSet:
		return v.Set.Clock
	case KindMap:
		return v.Map.Clock
	}
	return nil
}

// PreconditionError is Riak's answer to a remove of what is not there
// (riak_dt's {precondition, {not_present, X}}).
type PreconditionError struct {
	Elem  []byte    // a set element
	Field *FieldKey // or a map field
}

// riakMods are the riak_dt modules Riak names in precondition errors.
var riakMods = map[FieldKind]string{
	FieldCounter: "riak_dt_emcntr", FieldSet: "riak_dt_orswot", FieldRegister: "riak_dt_lwwreg",
	FieldFlag: "riak_dt_od_flag", FieldMap: "riak_dt_map",
}

func (e *PreconditionError) Error() string {
	if e.Field != nil {
		return fmt.Sprintf("{precondition,{not_present,{%s,%s}}}", erlBinary([]byte(e.Field.Name)), riakMods[e.Field.Kind])
	}
	return fmt.Sprintf("{precondition,{not_present,%s}}", erlBinary(e.Elem))
}

// erlBinary prints b as Erlang's ~p prints a binary.
func erlBinary(b []byte) string {
	printable := true
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			printable = false
			break
		}
	}
	if printable {
		return "<<" + strconv.Quote(string(b)) + ">>"
	}
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = strconv.Itoa(int(c))
	}
	return "<<" + strings.Join(parts, ",") + ">>"
}
