package bench

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

// Op is one kind of operation a worker performs.
type Op uint8

// The operations. Update is a get followed by a put carrying the vclock the
// get returned (a read-modify-write, as riak-go-client applications do).
const (
	OpGet Op = iota
	OpPut
	OpUpdate
	OpDelete
	numOps
)

var opNames = [numOps]string{"get", "put", "update", "delete"}

// String returns the op's name as used in --ops and in file names.
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// Ops returns every op in order.
func Ops() []Op { return []Op{OpGet, OpPut, OpUpdate, OpDelete} }

// ParseOp parses an op name.
func ParseOp(s string) (Op, error) {
	for i, n := range opNames {
		if s == n {
			return Op(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown op %q (want get, put, update or delete)", ErrBadWorkload, s)
}

// Errors of the configuration parsers. Use errors.Is.
var (
	ErrBadWorkload  = errors.New("bench: bad workload")
	ErrBadKeyDist   = errors.New("bench: bad key distribution")
	ErrBadValueSize = errors.New("bench: bad value size")
)

// Mix is a weighted operation mix, e.g. get:4,put:4,update:1,delete:1.
// The zero Mix has no ops; Pick panics on it.
type Mix struct {
	Weights [numOps]int
	total   int
}

// Named workloads for --workload.
var namedWorkloads = map[string]string{
	"read-heavy":  "get:18,put:1,update:1",
	"balanced":    "get:4,put:4,update:1,delete:1",
	"write-heavy": "get:2,put:7,update:1",
}

// WorkloadNames lists the names --workload accepts.
func WorkloadNames() []string {
	names := make([]string, 0, len(namedWorkloads))
	for n := range namedWorkloads {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NamedWorkload returns the mix of a named workload (read-heavy, balanced,
// write-heavy).
func NamedWorkload(name string) (Mix, error) {
	spec, ok := namedWorkloads[name]
	if !ok {
		return Mix{}, fmt.Errorf("%w: unknown workload %q (want one of %s)", ErrBadWorkload, name, strings.Join(WorkloadNames(), ", "))
	}
	return ParseMix(spec)
}

// ParseMix parses "op:weight[,op:weight...]". A weight is a non-negative
// integer; at least one must be positive; an op may appear once.
func ParseMix(spec string) (Mix, error) {
	var m Mix
	var seen [numOps]bool
	if strings.TrimSpace(spec) == "" {
		return m, fmt.Errorf("%w: empty op mix", ErrBadWorkload)
	}
	for _, part := range strings.Split(spec, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return Mix{}, fmt.Errorf("%w: %q: want op:weight", ErrBadWorkload, part)
		}
		op, err := ParseOp(strings.TrimSpace(name))
		if err != nil {
			return Mix{}, err
		}
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 0 || n > 1_000_000 {
			return Mix{}, fmt.Errorf("%w: %q: weight must be an integer 0..1000000", ErrBadWorkload, part)
		}
		if seen[op] {
			return Mix{}, fmt.Errorf("%w: op %s given twice", ErrBadWorkload, op)
		}
		seen[op] = true
		m.Weights[op] = n
		m.total += n
	}
	if m.total == 0 {
		return Mix{}, fmt.Errorf("%w: every weight is 0", ErrBadWorkload)
	}
	return m, nil
}

// String formats the mix as ParseMix reads it.
func (m Mix) String() string {
	var parts []string
	for _, op := range Ops() {
		if m.Weights[op] > 0 {
			parts = append(parts, op.String()+":"+strconv.Itoa(m.Weights[op]))
		}
	}
	return strings.Join(parts, ",")
}

// Has reports whether op has a positive weight.
func (m Mix) Has(op Op) bool { return m.Weights[op] > 0 }

// Pick draws an op with probability proportional to its weight.
func (m Mix) Pick(r *rand.Rand) Op {
	n := r.IntN(m.total)
	for op, w := range m.Weights {
		if n < w {
			return Op(op)
		}
		n -= w
	}
	panic("bench: Pick on an empty Mix")
}

// KeyDist names a key distribution.
type KeyDist string

// Key distributions (basho_bench's uniform_int, pareto_int and
// sequential_int).
const (
	KeyUniform    KeyDist = "uniform"
	KeyPareto     KeyDist = "pareto"
	KeySequential KeyDist = "sequential"
)

// KeyGen draws key numbers in [0, n). Safe for concurrent use when each
// goroutine passes its own *rand.Rand.
type KeyGen struct {
	dist KeyDist
	n    uint64
	seq  atomic.Uint64
}

// paretoShape is basho_bench's ?PARETO_SHAPE; the scale is 20% of the key
// space, which sends about 80% of draws to the lowest 20% of keys.
const paretoShape = 1.5

// NewKeyGen returns a generator of n keys with distribution dist.
func NewKeyGen(dist KeyDist, n int) (*KeyGen, error) {
	switch dist {
	case KeyUniform, KeyPareto, KeySequential:
	default:
		return nil, fmt.Errorf("%w: %q (want uniform, pareto or sequential)", ErrBadKeyDist, string(dist))
	}
	if n <= 0 {
		return nil, fmt.Errorf("%w: --keys must be positive, got %d", ErrBadKeyDist, n)
	}
	return &KeyGen{dist: dist, n: uint64(n)}, nil
}

// Next returns the next key number.
func (g *KeyGen) Next(r *rand.Rand) uint64 {
	switch g.dist {
	case KeySequential:
		return (g.seq.Add(1) - 1) % g.n
	case KeyPareto:
		// basho_bench: trunc((U^(-1/shape) - 1) * mean*(shape-1)) rem n.
		mean := float64(g.n) * 0.2
		u := 1 - r.Float64() // (0, 1]
		v := (math.Pow(u, -1/paretoShape) - 1) * mean * (paretoShape - 1)
		if v >= float64(math.MaxUint64/2) || math.IsInf(v, 0) || math.IsNaN(v) {
			return g.n - 1
		}
		return uint64(v) % g.n
	default:
		return r.Uint64N(g.n)
	}
}

// AppendKey appends the key named by number k.
func AppendKey(dst []byte, k uint64) []byte {
	return strconv.AppendUint(dst, k, 10)
}

// ValueSize is a fixed value size or a uniform range [Min, Max].
type ValueSize struct{ Min, Max int }

// MaxValueSize bounds --value-size.
const MaxValueSize = 16 << 20

// ParseValueSize parses "N" or "MIN-MAX" (bytes).
func ParseValueSize(s string) (ValueSize, error) {
	lo, hi, rng := strings.Cut(strings.TrimSpace(s), "-")
	a, err := strconv.Atoi(lo)
	if err != nil {
		return ValueSize{}, fmt.Errorf("%w: %q: want N or MIN-MAX bytes", ErrBadValueSize, s)
	}
	b := a
	if rng {
		if b, err = strconv.Atoi(hi); err != nil {
			return ValueSize{}, fmt.Errorf("%w: %q: want N or MIN-MAX bytes", ErrBadValueSize, s)
		}
	}
	v := ValueSize{Min: a, Max: b}
	return v, v.Validate()
}

// Validate checks 0 <= Min <= Max <= MaxValueSize.
func (v ValueSize) Validate() error {
	switch {
	case v.Min < 0 || v.Max < 0:
		return fmt.Errorf("%w: %s: negative", ErrBadValueSize, v)
	case v.Min > v.Max:
		return fmt.Errorf("%w: %s: MIN greater than MAX", ErrBadValueSize, v)
	case v.Max > MaxValueSize:
		return fmt.Errorf("%w: %s: larger than %d bytes", ErrBadValueSize, v, MaxValueSize)
	}
	return nil
}

// String formats the size as ParseValueSize reads it.
func (v ValueSize) String() string {
	if v.Min == v.Max {
		return strconv.Itoa(v.Min)
	}
	return strconv.Itoa(v.Min) + "-" + strconv.Itoa(v.Max)
}

// Next draws a size.
func (v ValueSize) Next(r *rand.Rand) int {
	if v.Max <= v.Min {
		return v.Min
	}
	return v.Min + r.IntN(v.Max-v.Min+1)
}

// valueSource hands out value bytes: slices of one random buffer, so a put
// costs no allocation and values are not trivially compressible.
type valueSource struct {
	buf  []byte
	size ValueSize
}

func newValueSource(size ValueSize, seed uint64) *valueSource {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	buf := make([]byte, size.Max+4096)
	for i := 0; i+8 <= len(buf); i += 8 {
		x := r.Uint64()
		for j := 0; j < 8; j++ {
			buf[i+j] = byte(x >> (8 * j))
		}
	}
	return &valueSource{buf: buf, size: size}
}

func (s *valueSource) next(r *rand.Rand) []byte {
	n := s.size.Next(r)
	off := r.IntN(len(s.buf) - n + 1)
	return s.buf[off : off+n]
}
