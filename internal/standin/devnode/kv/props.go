package kv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Quorum is a replica count for r, w, pr, pw, dw and rw: a number, or one
// of the symbolic values, encoded as Riak's protocol buffers API encodes
// them (RpbBucketProps, RpbGetReq ...).
type Quorum uint32

// Riak's symbolic quorum values.
const (
	QuorumOne     Quorum = 4294967294 // "one": 1
	QuorumQuorum  Quorum = 4294967293 // "quorum": n_val/2 + 1
	QuorumAll     Quorum = 4294967292 // "all": n_val
	QuorumDefault Quorum = 4294967291 // "default": the bucket's value
)

// String returns "one", "quorum", "all", "default" or the number.
func (q Quorum) String() string {
	switch q {
	case QuorumOne:
		return "one"
	case QuorumQuorum:
		return "quorum"
	case QuorumAll:
		return "all"
	case QuorumDefault:
		return "default"
	}
	return strconv.FormatUint(uint64(q), 10)
}

// ParseQuorum parses "one", "quorum", "all", "default" or a decimal number
// (the PB special values, e.g. 4294967293 for quorum, are accepted too).
func ParseQuorum(s string) (Quorum, error) {
	switch s {
	case "one":
		return QuorumOne, nil
	case "quorum":
		return QuorumQuorum, nil
	case "all":
		return QuorumAll, nil
	case "default":
		return QuorumDefault, nil
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v > uint64(QuorumOne) {
		return 0, fmt.Errorf("%w: quorum %q", ErrInvalidProps, s)
	}
	return Quorum(v), nil
}

// IsSymbolic reports whether q is one of the named values.
func (q Quorum) IsSymbolic() bool { return q >= QuorumDefault }

// Resolve turns q into a replica count for a bucket with n_val nVal;
// "default" resolves through bucketDefault (which must not itself be
// "default"). Numbers larger than nVal are an error.
func (q Quorum) Resolve(nVal uint32, bucketDefault Quorum) (uint32, error) {
	if q == QuorumDefault {
		q = bucketDefault
	}
	switch q {
	case QuorumOne:
		return 1, nil
	case QuorumQuorum:
		return nVal/2 + 1, nil
	case QuorumAll:
		return nVal, nil
	case QuorumDefault:
		return 0, fmt.Errorf("%w: quorum default has no bucket value", ErrInvalidProps)
	}
	if uint32(q) > nVal {
		return 0, fmt.Errorf("%w: quorum %d exceeds n_val %d", ErrInvalidProps, q, nVal)
	}
	return uint32(q), nil
}

// MarshalJSON writes the symbolic name as a string, numbers as numbers
// (Riak's HTTP props format).
func (q Quorum) MarshalJSON() ([]byte, error) {
	if q.IsSymbolic() {
		return json.Marshal(q.String())
	}
	return strconv.AppendUint(nil, uint64(q), 10), nil
}

// UnmarshalJSON accepts a number or a string ("quorum", "2").
func (q *Quorum) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("%w: quorum %s", ErrInvalidProps, b)
		}
	} else {
		s = string(b)
	}
	v, err := ParseQuorum(s)
	if err != nil {
		return err
	}
	*q = v
	return nil
}

// BucketProps are a bucket's effective properties: Riak's defaults,
// overlaid with its bucket type's properties, overlaid with the bucket's
// own.
type BucketProps struct {
	NVal          uint32 // replicas; default 3
	AllowMult     bool   // keep siblings; false on the default type, true on created types
	LastWriteWins bool   // overwrite without reading (devnode: newest write wins)
	R, W          Quorum // default quorum
	PR, PW        Quorum // default 0
	DW, RW        Quorum // default quorum
	NotFoundOK    bool   // default true
	BasicQuorum   bool   // default false
	// Vclock pruning settings, reported to clients; the devnode does not
	// prune (a handful of actors never needs it).
	SmallVClock, BigVClock uint32 // default 50
	YoungVClock            uint32 // default 20 (seconds)
	OldVClock              uint32 // default 86400 (seconds)
	// Datatype is a bucket type's Riak data type (counter, set, map, hll,
	// gset; "" for none). Set when the type is created, immutable after;
	// it implies allow_mult.
	Datatype string
	// Extra holds properties the devnode stores and reports but does not
	// interpret (precommit, postcommit, backend, search_index ...).
	Extra map[string]json.RawMessage
}

// DefaultProps returns Riak's default bucket properties. allowMult is the
// type-dependent default: false for the default type, true for created
// types.
func DefaultProps(allowMult bool) BucketProps {
	return BucketProps{
		NVal: 3, AllowMult: allowMult,
		R: QuorumQuorum, W: QuorumQuorum, PR: 0, PW: 0, DW: QuorumQuorum, RW: QuorumQuorum,
		NotFoundOK: true, BasicQuorum: false,
		SmallVClock: 50, BigVClock: 50, YoungVClock: 20, OldVClock: 86400,
	}
}

// PropsUpdate is a partial set of properties: nil fields are unset. It is
// what SetBucketProps and CreateBucketType take and what is stored per
// bucket and per type.
type PropsUpdate struct {
	NVal          *uint32
	AllowMult     *bool
	LastWriteWins *bool
	R, W          *Quorum
	PR, PW        *Quorum
	DW, RW        *Quorum
	NotFoundOK    *bool
	BasicQuorum   *bool
	SmallVClock   *uint32
	BigVClock     *uint32
	YoungVClock   *uint32
	OldVClock     *uint32
	Datatype      *string
	Extra         map[string]json.RawMessage
}

// Ptr returns a pointer to v, for building a PropsUpdate.
func Ptr[T any](v T) *T { return &v }

// IsEmpty reports whether u sets nothing.
func (u PropsUpdate) IsEmpty() bool {
	return u.NVal == nil && u.AllowMult == nil && u.LastWriteWins == nil && u.R == nil && u.W == nil &&
		u.PR == nil && u.PW == nil && u.DW == nil && u.RW == nil && u.NotFoundOK == nil &&
		u.BasicQuorum == nil && u.SmallVClock == nil && u.BigVClock == nil && u.YoungVClock == nil &&
		u.OldVClock == nil && u.Datatype == nil && len(u.Extra) == 0
}

// Apply returns p with u's set fields overlaid.
func (p BucketProps) Apply(u PropsUpdate) BucketProps {
	set(&p.NVal, u.NVal)
	set(&p.AllowMult, u.AllowMult)
	set(&p.LastWriteWins, u.LastWriteWins)
	set(&p.R, u.R)
	set(&p.W, u.W)
	set(&p.PR, u.PR)
	set(&p.PW, u.PW)
	set(&p.DW, u.DW)
	set(&p.RW, u.RW)
	set(&p.NotFoundOK, u.NotFoundOK)
	set(&p.BasicQuorum, u.BasicQuorum)
	set(&p.SmallVClock, u.SmallVClock)
	set(&p.BigVClock, u.BigVClock)
	set(&p.YoungVClock, u.YoungVClock)
	set(&p.OldVClock, u.OldVClock)
	set(&p.Datatype, u.Datatype)
	if len(u.Extra) > 0 {
		p.Extra = maps.Clone(p.Extra)
		if p.Extra == nil {
			p.Extra = make(map[string]json.RawMessage, len(u.Extra))
		}
		maps.Copy(p.Extra, u.Extra)
	}
	return p
}

// Merge returns u with v's set fields overlaid (v wins).
func (u PropsUpdate) Merge(v PropsUpdate) PropsUpdate {
	setP(&u.NVal, v.NVal)
	setP(&u.AllowMult, v.AllowMult)
	setP(&u.LastWriteWins, v.LastWriteWins)
	setP(&u.R, v.R)
	setP(&u.W, v.W)
	setP(&u.PR, v.PR)
	setP(&u.PW, v.PW)
	setP(&u.DW, v.DW)
	setP(&u.RW, v.RW)
	setP(&u.NotFoundOK, v.NotFoundOK)
	setP(&u.BasicQuorum, v.BasicQuorum)
	setP(&u.SmallVClock, v.SmallVClock)
	setP(&u.BigVClock, v.BigVClock)
	setP(&u.YoungVClock, v.YoungVClock)
	setP(&u.OldVClock, v.OldVClock)
	setP(&u.Datatype, v.Datatype)
	if len(v.Extra) > 0 {
		u.Extra = maps.Clone(u.Extra)
		if u.Extra == nil {
			u.Extra = make(map[string]json.RawMessage, len(v.Extra))
		}
		maps.Copy(u.Extra, v.Extra)
	}
	return u
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

func setP[T any](dst **T, src *T) {
	if src != nil {
		v := *src
		*dst = &v
	}
}

// Validate checks effective properties: n_val at least 1; every numeric
// quorum at most n_val; r, w and rw at least 1.
func (p BucketProps) Validate() error {
	if p.NVal < 1 || p.NVal > 1024 {
		return fmt.Errorf("%w: n_val must be 1..1024, got %d", ErrInvalidProps, p.NVal)
	}
	if p.Datatype != "" {
		if !ValidDatatype(p.Datatype) {
			return &PropError{"datatype", p.Datatype + " not supported for bucket datatype property"}
		}
		if !p.AllowMult {
			return &PropError{"allow_mult", "Data Type buckets must be allow_mult=true"}
		}
		if raw, ok := p.Extra["hll_precision"]; ok && p.Datatype == "hll" {
			if _, ok := hllPrecision(raw); !ok {
				return hllPrecisionError(raw)
			}
		}
	}
	for _, q := range []struct {
		name string
		v    Quorum
		min  uint32
	}{{"r", p.R, 1}, {"w", p.W, 1}, {"rw", p.RW, 1}, {"pr", p.PR, 0}, {"pw", p.PW, 0}, {"dw", p.DW, 0}} {
		if q.v.IsSymbolic() {
			continue
		}
		if uint32(q.v) < q.min || uint32(q.v) > p.NVal {
			return fmt.Errorf("%w: %s must be %d..n_val (%d) or one/quorum/all/default, got %d", ErrInvalidProps, q.name, q.min, p.NVal, q.v)
		}
	}
	return nil
}

// ValidDatatype reports whether s is a Riak data type a bucket type can
// hold (riak_kv_crdt's supported modules).
func ValidDatatype(s string) bool {
	switch s {
	case "counter", "set", "map", "hll", "gset":
		return true
	}
	return false
}

// unsupportedProps are properties whose semantics the devnode lacks.
var unsupportedProps = map[string]func(json.RawMessage) bool{
	// Each reports whether the value asks for semantics the devnode lacks.
	"consistent": func(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("true")) },
	"write_once": func(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("true")) },
}

// PropError is a property riak_kv_bucket refuses, with its reason in
// Riak's words. It wraps ErrInvalidProps.
type PropError struct {
	Prop, Reason string
}

func (e *PropError) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrInvalidProps, e.Prop, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidProps) hold.
func (e *PropError) Unwrap() error { return ErrInvalidProps }

// RiakErrorMessage is riak_kv_pb_bucket's answer: its ~p of the errors.
func (e *PropError) RiakErrorMessage() string {
	return fmt.Sprintf("Invalid bucket properties: [{%s,%s}]", e.Prop, strconv.Quote(e.Reason))
}

// DefaultHLLPrecision is Riak's hll_precision for hll bucket types.
const DefaultHLLPrecision = 14

// hllPrecision reads hll_precision (a number or a numeric string) and
// checks Riak's range, 4..16.
func hllPrecision(raw json.RawMessage) (int, bool) {
	p, err := jsonUint32(raw)
	if err != nil || *p < 4 || *p > 16 {
		return 0, false
	}
	return int(*p), true
}

func hllPrecisionError(raw json.RawMessage) error {
	return &PropError{"hll_precision", string(bytes.TrimSpace(raw)) + " not supported for Hyperloglog precision property for bucket type. " +
		"Precision must be an integer between 4 and 16, inclusive (3 < p < 17) and precision can be reduced but never increased after initial setting"}
}

// withHLLDefault reports hll_precision 14 for hll types that do not set it,
// as Riak stores it at creation.
func (p BucketProps) withHLLDefault() BucketProps {
	if p.Datatype == "hll" && p.Extra["hll_precision"] == nil {
		p.Extra = maps.Clone(p.Extra)
		if p.Extra == nil {
			p.Extra = map[string]json.RawMessage{}
		}
		p.Extra["hll_precision"] = json.RawMessage(strconv.Itoa(DefaultHLLPrecision))
	}
	return p
}

// CheckDatatypeUpdate checks an update of an existing bucket's or active
// type's props against its current ones as riak_kv_bucket validates an
// update: a datatype, once set, cannot change (nor be set where there was
// none), and allow_mult must stay true.
func CheckDatatypeUpdate(cur BucketProps, u PropsUpdate) error {
	if u.Datatype != nil && *u.Datatype != cur.Datatype {
		if cur.Datatype == "" {
			return &PropError{"datatype", "`datatype` must not be defined."}
		}
		return &PropError{"datatype", *u.Datatype + " not supported for bucket datatype property"}
	}
	if cur.Datatype != "" && u.AllowMult != nil && !*u.AllowMult {
		return &PropError{"allow_mult", "Cannot change datatype bucket from allow_mult=true"}
	}
	if raw, ok := u.Extra["hll_precision"]; ok && cur.Datatype == "hll" {
		next, ok := hllPrecision(raw)
		old, _ := hllPrecision(cur.Extra["hll_precision"])
		if !ok || (old != 0 && next > old) {
			return hllPrecisionError(raw)
		}
	}
	return nil
}

// ParseProps parses bucket or bucket type properties in Riak's HTTP JSON
// form, either wrapped ({"props":{...}}) or bare ({...}). Known properties
// are type-checked; quorums accept numbers or names; booleans accept JSON
// booleans or the strings "true"/"false". Properties the devnode does not
// interpret are kept in Extra, except datatype, consistent=true and
// write_once=true, which are refused with ErrUnsupportedProp. Only syntax
// is checked here; BucketProps.Validate checks values.
func ParseProps(data []byte) (PropsUpdate, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return PropsUpdate{}, fmt.Errorf("%w: %v", ErrInvalidProps, err)
	}
	if inner, ok := raw["props"]; ok && len(raw) == 1 {
		raw = nil
		if err := json.Unmarshal(inner, &raw); err != nil || raw == nil {
			return PropsUpdate{}, fmt.Errorf("%w: \"props\" must be an object", ErrInvalidProps)
		}
	}
	var u PropsUpdate
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		v := raw[name]
		var err error
		switch name {
		case "n_val":
			u.NVal, err = jsonUint32(v)
		case "allow_mult":
			u.AllowMult, err = jsonBool(v)
		case "last_write_wins":
			u.LastWriteWins, err = jsonBool(v)
		case "notfound_ok":
			u.NotFoundOK, err = jsonBool(v)
		case "basic_quorum":
			u.BasicQuorum, err = jsonBool(v)
		case "r":
			u.R, err = jsonQuorum(v)
		case "w":
			u.W, err = jsonQuorum(v)
		case "pr":
			u.PR, err = jsonQuorum(v)
		case "pw":
			u.PW, err = jsonQuorum(v)
		case "dw":
			u.DW, err = jsonQuorum(v)
		case "rw":
			u.RW, err = jsonQuorum(v)
		case "small_vclock":
			u.SmallVClock, err = jsonUint32(v)
		case "big_vclock":
			u.BigVClock, err = jsonUint32(v)
		case "young_vclock":
			u.YoungVClock, err = jsonUint32(v)
		case "old_vclock":
			u.OldVClock, err = jsonUint32(v)
		case "datatype":
			var dt string
			if json.Unmarshal(v, &dt) != nil {
				err = fmt.Errorf("want a string")
			} else {
				u.Datatype = &dt
			}
		case "name", "type":
			// Riak's GET props echoes these; they are not settable.
		default:
			if bad, ok := unsupportedProps[name]; ok && bad(v) {
				return PropsUpdate{}, fmt.Errorf("%w: %s", ErrUnsupportedProp, name)
			}
			if u.Extra == nil {
				u.Extra = make(map[string]json.RawMessage)
			}
			u.Extra[name] = append(json.RawMessage(nil), v...)
		}
		if err != nil {
			return PropsUpdate{}, fmt.Errorf("%w: %s: %v", ErrInvalidProps, name, err)
		}
	}
	return u, nil
}

func jsonUint32(v json.RawMessage) (*uint32, error) {
	var n uint32
	if err := json.Unmarshal(v, &n); err != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, fmt.Errorf("want a non-negative integer")
		}
		x, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("want a non-negative integer")
		}
		n = uint32(x)
	}
	return &n, nil
}

func jsonBool(v json.RawMessage) (*bool, error) {
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		var s string
		if json.Unmarshal(v, &s) != nil || (s != "true" && s != "false") {
			return nil, fmt.Errorf("want true or false")
		}
		b = s == "true"
	}
	return &b, nil
}

func jsonQuorum(v json.RawMessage) (*Quorum, error) {
	var q Quorum
	if err := q.UnmarshalJSON(bytes.TrimSpace(v)); err != nil {
		return nil, fmt.Errorf("want a number or one/quorum/all/default")
	}
	return &q, nil
}

// MarshalJSON writes the update in ParseProps's bare form.
func (u PropsUpdate) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 16)
	for k, v := range u.Extra {
		m[k] = v
	}
	putIf(m, "n_val", u.NVal)
	putIf(m, "allow_mult", u.AllowMult)
	putIf(m, "last_write_wins", u.LastWriteWins)
	putIf(m, "r", u.R)
	putIf(m, "w", u.W)
	putIf(m, "pr", u.PR)
	putIf(m, "pw", u.PW)
	putIf(m, "dw", u.DW)
	putIf(m, "rw", u.RW)
	putIf(m, "notfound_ok", u.NotFoundOK)
	putIf(m, "basic_quorum", u.BasicQuorum)
	putIf(m, "small_vclock", u.SmallVClock)
	putIf(m, "big_vclock", u.BigVClock)
	putIf(m, "young_vclock", u.YoungVClock)
	putIf(m, "old_vclock", u.OldVClock)
	putIf(m, "datatype", u.Datatype)
	return json.Marshal(m)
}

func putIf[T any](m map[string]any, k string, p *T) {
	if p != nil {
		m[k] = *p
	}
}

// UnmarshalJSON is ParseProps.
func (u *PropsUpdate) UnmarshalJSON(b []byte) error {
	v, err := ParseProps(b)
	if err != nil {
		return err
	}
	*u = v
	return nil
}

// MarshalJSON writes the properties as Riak's HTTP API shows them inside
// {"props": ...}: quorums as names or numbers, Extra alongside.
func (p BucketProps) MarshalJSON() ([]byte, error) {
	return p.asUpdate().MarshalJSON()
}

func (p BucketProps) asUpdate() PropsUpdate {
	u := PropsUpdate{
		NVal: &p.NVal, AllowMult: &p.AllowMult, LastWriteWins: &p.LastWriteWins,
		R: &p.R, W: &p.W, PR: &p.PR, PW: &p.PW, DW: &p.DW, RW: &p.RW,
		NotFoundOK: &p.NotFoundOK, BasicQuorum: &p.BasicQuorum,
		SmallVClock: &p.SmallVClock, BigVClock: &p.BigVClock, YoungVClock: &p.YoungVClock, OldVClock: &p.OldVClock,
		Extra: p.Extra,
	}
	if p.Datatype != "" {
		u.Datatype = &p.Datatype
	}
	return u
}

// TypeStatus is a bucket type's lifecycle state.
type TypeStatus string

// Bucket type states (Riak also has "ready", between created and active,
// while the type propagates; a single store has nothing to wait for).
const (
	TypeCreated TypeStatus = "created"
	TypeActive  TypeStatus = "active"
)

// DefaultType is the bucket type that always exists.
const DefaultType = "default"

// BucketType describes a bucket type.
type BucketType struct {
	Name   string
	Status TypeStatus
	// Props are the type's effective properties (defaults overlaid with
	// the type's own).
	Props BucketProps
}

// typeRecord is what is persisted per type.
type typeRecord struct {
	Status TypeStatus  `json:"status"`
	Props  PropsUpdate `json:"props"`
}

func validTypeName(name string) error {
	if name == "" || len(name) > MaxTypeLen {
		return fmt.Errorf("%w: must be 1..%d bytes", ErrInvalidBucketType, MaxTypeLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7F || c == '/' {
			return fmt.Errorf("%w: %q: printable ASCII without spaces or '/'", ErrInvalidBucketType, name)
		}
	}
	return nil
}
