package kv

import (
	"bytes"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
)

// MemoryBackend keeps everything in process memory: objects in a hash map
// (gets and overwrites cost one map operation and a copy), and two ordered
// skiplists (object keys, index entries) that change only when a key
// appears, disappears, or changes tombstone state, or when index entries
// change. Nothing survives Close. The zero value is not usable; call
// NewMemoryBackend.
type MemoryBackend struct {
	mu     sync.RWMutex
	objs   map[ObjectKey]*memObject
	keys   skiplist // object key -> {format, flags} (see valueIsTombstone)
	index  skiplist // index key -> nil
	meta   map[string]map[string][]byte
	closed bool
}

type memObject struct {
	obj  Object
	tomb bool
}

var (
	memLive = []byte{objFormat, 0}
	memTomb = []byte{objFormat, flagTombstone}
)

// NewMemoryBackend returns an empty memory backend.
func NewMemoryBackend() *MemoryBackend {
	return &MemoryBackend{
		objs: make(map[ObjectKey]*memObject),
		keys: newSkiplist(), index: newSkiplist(),
		meta: make(map[string]map[string][]byte),
	}
}

// Get implements Backend.
func (m *MemoryBackend) Get(k ObjectKey) (Object, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Object{}, false, ErrClosed
	}
	e, ok := m.objs[k]
	if !ok {
		return Object{}, false, nil
	}
	return e.obj.Clone(), true, nil
}

// getShared is Get without the copy, for the Engine's read-modify-write
// paths, which never modify what they read (stored objects are
// immutable: Put replaces them whole).
func (m *MemoryBackend) getShared(k ObjectKey) (Object, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Object{}, false, ErrClosed
	}
	e, ok := m.objs[k]
	if !ok {
		return Object{}, false, nil
	}
	return e.obj, true, nil
}

// Put implements Backend.
func (m *MemoryBackend) Put(k ObjectKey, obj Object, del, add []IndexEntry) error {
	idel, err := m.indexKeys(k, del)
	if err != nil {
		return err
	}
	iadd, err := m.indexKeys(k, add)
	if err != nil {
		return err
	}
	tomb := obj.IsTombstone()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	e, ok := m.objs[k]
	switch {
	case !ok:
		m.objs[k] = &memObject{obj: obj, tomb: tomb}
		m.keys.set(appendObjKey(nil, k), flagsValue(tomb))
	case e.tomb != tomb:
		e.obj, e.tomb = obj, tomb
		m.keys.set(appendObjKey(nil, k), flagsValue(tomb))
	default:
		e.obj = obj
	}
	for _, ik := range idel {
		m.index.delete(ik)
	}
	for _, ik := range iadd {
		m.index.set(ik, nil)
	}
	return nil
}

func flagsValue(tomb bool) []byte {
	if tomb {
		return memTomb
	}
	return memLive
}

func (m *MemoryBackend) indexKeys(k ObjectKey, es []IndexEntry) ([][]byte, error) {
	if len(es) == 0 {
		return nil, nil
	}
	out := make([][]byte, len(es))
	for i, e := range es {
		ik, err := indexKey(nil, k, e)
		if err != nil {
			return nil, err
		}
		out[i] = ik
	}
	return out, nil
}

// Delete implements Backend.
func (m *MemoryBackend) Delete(k ObjectKey, del []IndexEntry) error {
	idel, err := m.indexKeys(k, del)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if _, ok := m.objs[k]; ok {
		delete(m.objs, k)
		m.keys.delete(appendObjKey(nil, k))
	}
	for _, ik := range idel {
		m.index.delete(ik)
	}
	return nil
}

// ScanKeys implements Backend.
func (m *MemoryBackend) ScanKeys(typ, bucket, from, to string, limit int) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	return scanKeys(m.keys.cursor(), typ, bucket, from, to, limit), nil
}

// ScanBuckets implements Backend.
func (m *MemoryBackend) ScanBuckets(typ, after string, limit int) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	return scanBuckets(m.keys.cursor(), typ, after, limit)
}

// ScanIndex implements Backend.
func (m *MemoryBackend) ScanIndex(typ, bucket, index, fromTerm, fromKey, toTerm string, limit int) ([]IndexResult, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, ErrClosed
	}
	return scanIndex(m.index.cursor(), typ, bucket, index, fromTerm, fromKey, toTerm, limit)
}

// Tombstones implements Backend.
func (m *MemoryBackend) Tombstones(fn func(ObjectKey) error) error {
	m.mu.RLock()
	var ks []ObjectKey
	for k, e := range m.objs {
		if e.tomb {
			ks = append(ks, k)
		}
	}
	m.mu.RUnlock()
	for _, k := range ks {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

// MetaGet implements Backend.
func (m *MemoryBackend) MetaGet(ns, key string) ([]byte, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, false, ErrClosed
	}
	v, ok := m.meta[ns][key]
	return bytes.Clone(v), ok, nil
}

// MetaPut implements Backend.
func (m *MemoryBackend) MetaPut(ns, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.meta[ns] == nil {
		m.meta[ns] = make(map[string][]byte)
	}
	m.meta[ns][key] = append([]byte{}, value...)
	return nil
}

// MetaDelete implements Backend.
func (m *MemoryBackend) MetaDelete(ns, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	delete(m.meta[ns], key)
	return nil
}

// MetaScan implements Backend, in key order.
func (m *MemoryBackend) MetaScan(ns string, fn func(key string, value []byte) error) error {
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	space := maps.Clone(m.meta[ns])
	m.mu.RUnlock()
	for _, k := range slices.Sorted(maps.Keys(space)) {
		if err := fn(k, space[k]); err != nil {
			return err
		}
	}
	return nil
}

// Close implements Backend; the data is dropped.
func (m *MemoryBackend) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.objs, m.meta = nil, nil
	m.keys, m.index = newSkiplist(), newSkiplist()
	return nil
}

// skiplist is an ordered map from byte strings to byte strings. Not safe
// for concurrent use: MemoryBackend's lock guards it.
type skiplist struct {
	head  *slNode
	level int
}

const slMaxLevel = 32

type slNode struct {
	key, val []byte
	next     []*slNode
}

func newSkiplist() skiplist {
	return skiplist{head: &slNode{next: make([]*slNode, slMaxLevel)}, level: 1}
}

// findGE returns the first node with key >= k, filling prev (if non-nil)
// with the last node before it on every level.
func (s *skiplist) findGE(k []byte, prev *[slMaxLevel]*slNode) *slNode {
	x := s.head
	for i := s.level - 1; i >= 0; i-- {
		for x.next[i] != nil && bytes.Compare(x.next[i].key, k) < 0 {
			x = x.next[i]
		}
		if prev != nil {
			prev[i] = x
		}
	}
	return x.next[0]
}

func (s *skiplist) set(k, v []byte) {
	var prev [slMaxLevel]*slNode
	if n := s.findGE(k, &prev); n != nil && bytes.Equal(n.key, k) {
		n.val = v
		return
	}
	lvl := 1
	for lvl < slMaxLevel && rand.Uint32()&3 == 0 {
		lvl++
	}
	for i := s.level; i < lvl; i++ {
		prev[i] = s.head
	}
	if lvl > s.level {
		s.level = lvl
	}
	n := &slNode{key: k, val: v, next: make([]*slNode, lvl)}
	for i := range lvl {
		n.next[i] = prev[i].next[i]
		prev[i].next[i] = n
	}
}

func (s *skiplist) delete(k []byte) {
	var prev [slMaxLevel]*slNode
	n := s.findGE(k, &prev)
	if n == nil || !bytes.Equal(n.key, k) {
		return
	}
	for i := range n.next {
		if prev[i].next[i] == n {
			prev[i].next[i] = n.next[i]
		}
	}
	for s.level > 1 && s.head.next[s.level-1] == nil {
		s.level--
	}
}

func (s *skiplist) cursor() *slCursor { return &slCursor{s: s} }

type slCursor struct {
	s *skiplist
	n *slNode
}

func (c *slCursor) Seek(k []byte) ([]byte, []byte) {
	c.n = c.s.findGE(k, nil)
	return c.kv()
}

func (c *slCursor) Next() ([]byte, []byte) {
	if c.n != nil {
		c.n = c.n.next[0]
	}
	return c.kv()
}

func (c *slCursor) kv() ([]byte, []byte) {
	if c.n == nil {
		return nil, nil
	}
	return c.n.key, c.n.val
}
