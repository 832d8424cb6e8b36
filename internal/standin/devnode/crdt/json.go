package crdt

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Riak's JSON forms of data type operations and values (riak_kv_crdt_json),
// for the HTTP API.

// JSONError is a malformed operation; Msg is riak_kv_wm_crdt's text.
type JSONError struct{ Msg string }

func (e *JSONError) Error() string { return e.Msg }

func badOp(kind string, v any) error {
	b, _ := json.Marshal(v)
	return &JSONError{Msg: fmt.Sprintf("Invalid operation on datatype '%s': %s\n", kind, b)}
}

// maxJSONDepth bounds nested map operations in a request.
const maxJSONDepth = 32

// OpFromJSON parses an update request body for a bucket of kind k: the
// operation and the context (nil when none; base64 in the body's
// "context" field).
func OpFromJSON(k Kind, body []byte) (Op, VClock, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Op{}, nil, &JSONError{Msg: fmt.Sprintf("Couldn't decode JSON: %v\n", err)}
	}
	if dec.More() {
		return Op{}, nil, &JSONError{Msg: "Couldn't decode JSON: trailing data\n"}
	}
	var ctx VClock
	if obj, ok := v.(map[string]any); ok {
		if c, ok := obj["context"]; ok {
			s, ok := c.(string)
			raw, err := base64.StdEncoding.DecodeString(s)
			if !ok || err != nil {
				return Op{}, nil, &JSONError{Msg: "Couldn't decode JSON: invalid context\n"}
			}
			if ctx, err = DecodeContext(raw); err != nil {
				return Op{}, nil, &JSONError{Msg: "Couldn't decode JSON: invalid context\n"}
			}
			delete(obj, "context")
		}
	}
	var op Op
	var err error
	switch k {
	case KindCounter:
		op.Counter, err = counterOpJSON(v)
	case KindSet:
		op.Set, err = setOpJSON("set", v, true)
	case KindGSet, KindHLL:
		var s *SetOp
		s, err = setOpJSON(string(k), v, false)
		if err == nil {
			if k == KindGSet {
				op.GSet = &AddOp{Adds: s.Adds}
			} else {
				op.HLL = &AddOp{Adds: s.Adds}
			}
		}
	case KindMap:
		op.Map, err = mapOpJSON(v, 0)
	default:
		err = fmt.Errorf("crdt: unknown kind %q", k)
	}
	return op, ctx, err
}

func jsonInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func counterOpJSON(v any) (*CounterOp, error) {
	if i, ok := jsonInt(v); ok {
		return &CounterOp{Inc: i}, nil
	}
	switch v := v.(type) {
	case string:
		switch v {
		case "increment":
			return &CounterOp{Inc: 1}, nil
		case "decrement":
			return &CounterOp{Inc: -1}, nil
		}
	case map[string]any:
		if len(v) == 1 {
			if i, ok := jsonInt(v["increment"]); ok {
				return &CounterOp{Inc: i}, nil
			}
			if i, ok := jsonInt(v["decrement"]); ok {
				return &CounterOp{Inc: -i}, nil
			}
		}
	}
	return nil, badOp("counter", v)
}

func setOpJSON(kind string, v any, removes bool) (*SetOp, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badOp(kind, v)
	}
	op := &SetOp{}
	for verb, arg := range obj {
		switch {
		case verb == "add" || (removes && verb == "remove"):
			s, ok := arg.(string)
			if !ok {
				return nil, badOp(kind, v)
			}
			if verb == "add" {
				op.Adds = append(op.Adds, []byte(s))
			} else {
				op.Removes = append(op.Removes, []byte(s))
			}
		case verb == "add_all" || (removes && verb == "remove_all"):
			list, ok := arg.([]any)
			if !ok {
				return nil, badOp(kind, v)
			}
			for _, e := range list {
				s, ok := e.(string)
				if !ok {
					return nil, badOp(kind, v)
				}
				if verb == "add_all" {
					op.Adds = append(op.Adds, []byte(s))
				} else {
					op.Removes = append(op.Removes, []byte(s))
				}
			}
		default:
			return nil, badOp(kind, v)
		}
	}
	return op, nil
}

// fieldFromJSON splits "name_type" (riak_kv_crdt_json's ^(.*)_(type)$).
func fieldFromJSON(s string) (FieldKey, error) {
	i := strings.LastIndexByte(s, '_')
	if i >= 0 {
		if k, ok := ParseFieldKind(s[i+1:]); ok {
			return FieldKey{Name: s[:i], Kind: k}, nil
		}
	}
	return FieldKey{}, &JSONError{Msg: fmt.Sprintf("Invalid map field name '%s'\n", s)}
}

func mapOpJSON(v any, depth int) (*MapOp, error) {
	obj, ok := v.(map[string]any)
	if !ok || depth > maxJSONDepth {
		return nil, badOp("map", v)
	}
	op := &MapOp{}
	for verb, arg := range obj {
		switch verb {
		case "remove":
			var names []any
			switch a := arg.(type) {
			case string:
				names = []any{a}
			case []any:
				names = a
			default:
				return nil, badOp("map", v)
			}
			for _, n := range names {
				s, ok := n.(string)
				if !ok {
					return nil, badOp("map", v)
				}
				k, err := fieldFromJSON(s)
				if err != nil {
					return nil, err
				}
				op.Removes = append(op.Removes, k)
			}
		case "update":
			ups, ok := arg.(map[string]any)
			if !ok {
				return nil, badOp("map", v)
			}
			for name, fop := range ups {
				k, err := fieldFromJSON(name)
				if err != nil {
					return nil, err
				}
				u := MapUpdate{Field: k}
				switch k.Kind {
				case FieldCounter:
					u.Counter, err = counterOpJSON(fop)
				case FieldSet:
					u.Set, err = setOpJSON("set", fop, true)
				case FieldRegister:
					u.Register, err = registerOpJSON(fop)
				case FieldFlag:
					switch fop {
					case "enable":
						u.Flag = &FlagOp{Enable: true}
					case "disable":
						u.Flag = &FlagOp{}
					default:
						err = badOp("flag", fop)
					}
				case FieldMap:
					u.Map, err = mapOpJSON(fop, depth+1)
				}
				if err != nil {
					return nil, err
				}
				op.Updates = append(op.Updates, u)
			}
		default:
			return nil, badOp("map", v)
		}
	}
	return op, nil
}

func registerOpJSON(v any) (*RegisterOp, error) {
	switch v := v.(type) {
	case string:
		return &RegisterOp{Value: []byte(v)}, nil
	case map[string]any:
		if s, ok := v["assign"].(string); ok && len(v) == 1 {
			return &RegisterOp{Value: []byte(s)}, nil
		}
	}
	return nil, badOp("register", v)
}

// ToJSON renders a fetch or returnbody answer: {"type":..,"value":..}
// plus "context" (base64) when asked for and the type has one.
func ToJSON(v *Value, includeContext bool) ([]byte, error) {
	out := struct {
		Type    Kind   `json:"type"`
		Value   any    `json:"value"`
		Context string `json:"context,omitempty"`
	}{Type: v.Kind}
	switch v.Kind {
	case KindCounter:
		out.Value = v.Counter.Value()
	case KindSet:
		out.Value = stringList(v.Set.Value())
	case KindMap:
		out.Value = mapJSON(v.Map)
	case KindHLL:
		out.Value = v.HLL.Value()
	case KindGSet:
		out.Value = stringList(v.GSet.Value())
	}
	if c := v.Context(); includeContext && c != nil {
		out.Context = base64.StdEncoding.EncodeToString(EncodeContext(c))
	}
	return json.Marshal(out)
}

func stringList(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func mapJSON(m *Map) map[string]any {
	out := make(map[string]any, len(m.Fields))
	for k := range m.Fields {
		f := m.Value(k)
		var v any
		switch k.Kind {
		case FieldCounter:
			v = f.Counter.Value()
		case FieldSet:
			v = stringList(f.Set.Value())
		case FieldRegister:
			v = string(f.Register.Value)
		case FieldFlag:
			v = f.Flag.Value()
		case FieldMap:
			v = mapJSON(f.Map)
		}
		out[k.Name+"_"+string(k.Kind)] = v
	}
	return out
}
