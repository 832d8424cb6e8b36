package crdt

import (
	"errors"
	"fmt"
)

// ErrWrongOp means an operation of one kind was sent to a value of
// another (Riak: "Operation type is `set` but  bucket type is `map`.").
var ErrWrongOp = errors.New("crdt: operation does not match the data type")

// CounterOp increments (negative: decrements).
type CounterOp struct{ Inc int64 }

// SetOp adds, then removes, elements.
type SetOp struct{ Adds, Removes [][]byte }

// FlagOp enables (true) or disables a flag.
type FlagOp struct{ Enable bool }

// RegisterOp assigns a register.
type RegisterOp struct{ Value []byte }

// MapUpdate updates one field with the op of its kind.
type MapUpdate struct {
	Field    FieldKey
	Counter  *CounterOp
	Set      *SetOp
	Register *RegisterOp
	Flag     *FlagOp
	Map      *MapOp
}

// MapOp removes and updates fields.
type MapOp struct {
	Removes []FieldKey
	Updates []MapUpdate
}

// AddOp adds elements to an HLL or a GSet.
type AddOp struct{ Adds [][]byte }

// Op is one DtUpdateReq operation: exactly one field is set.
type Op struct {
	Counter *CounterOp
	Set     *SetOp
	Map     *MapOp
	HLL     *AddOp
	GSet    *AddOp
}

// Kind is the data type the op is for ("" when none is set).
func (o Op) Kind() Kind {
	switch {
	case o.Counter != nil:
		return KindCounter
	case o.Set != nil:
		return KindSet
	case o.Map != nil:
		return KindMap
	case o.HLL != nil:
		return KindHLL
	case o.GSet != nil:
		return KindGSet
	}
	return ""
}

// Clock is a source of time for registers (nanoseconds).
type Clock func() int64

// ApplyOp applies op to v in place as actor. ctx is the client's context
// (nil: none): removes then drop only what the client saw. On error v
// may be partly changed and must be dropped.
func ApplyOp(v *Value, op Op, actor string, ctx VClock, now Clock) error {
	if op.Kind() != v.Kind {
		return fmt.Errorf("%w: %s on %s", ErrWrongOp, op.Kind(), v.Kind)
	}
	switch v.Kind {
	case KindCounter:
		v.Counter.Increment(actor, op.Counter.Inc)
	case KindSet:
		return applySet(v.Set, op.Set, actor, ctx)
	case KindMap:
		return applyMap(v.Map, op.Map, actor, ctx, now)
	case KindHLL:
		v.HLL.Add(op.HLL.Adds...)
	case KindGSet:
		v.GSet.Add(op.GSet.Adds...)
	}
	return nil
}

func applySet(s *Set, op *SetOp, actor string, ctx VClock) error {
	for _, e := range op.Adds {
		s.Add(actor, e)
	}
	for _, e := range op.Removes {
		if err := s.Remove(e, ctx); err != nil {
			return err
		}
	}
	return nil
}

func applyMap(m *Map, op *MapOp, actor string, ctx VClock, now Clock) error {
	for _, k := range op.Removes {
		if err := m.RemoveField(k, ctx); err != nil {
			return err
		}
	}
	for _, u := range op.Updates {
		if err := checkUpdate(u); err != nil {
			return err
		}
		err := m.update(actor, u.Field, func(f *FieldValue) error {
			switch u.Field.Kind {
			case FieldCounter:
				f.Counter.Increment(actor, u.Counter.Inc)
			case FieldSet:
				// The context is the map's; a nested set's removes check
				// the set as this replica has it.
				return applySet(f.Set, u.Set, actor, nil)
			case FieldRegister:
				ts := now()
				if ts <= f.Register.TS {
					ts = f.Register.TS + 1 // later than what it replaces
				}
				f.Register = &Register{Value: append([]byte(nil), u.Register.Value...), TS: ts, Actor: actor}
			case FieldFlag:
				if u.Flag.Enable {
					f.Flag.Enable(actor)
				} else {
					f.Flag.Disable()
				}
			case FieldMap:
				return applyMap(f.Map, u.Map, actor, nil, now)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func checkUpdate(u MapUpdate) error {
	ok := false
	switch u.Field.Kind {
	case FieldCounter:
		ok = u.Counter != nil
	case FieldSet:
		ok = u.Set != nil
	case FieldRegister:
		ok = u.Register != nil
	case FieldFlag:
		ok = u.Flag != nil
	case FieldMap:
		ok = u.Map != nil
	}
	if !ok {
		return fmt.Errorf("%w: map field %s_%s", ErrWrongOp, u.Field.Name, u.Field.Kind)
	}
	return nil
}
