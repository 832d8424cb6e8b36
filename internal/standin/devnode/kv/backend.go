package kv

import (
	"bytes"
	"fmt"
)

// Backend stores objects, their secondary index entries, and small
// metadata records. It knows nothing of vector clocks or bucket
// properties: the Engine implements Riak's semantics on top and
// serialises writes to each key, so a Backend need only make each call
// atomic and safe for concurrent use.
//
// Scans are paged (from/limit): the Engine drives them in batches so that
// no lock or read transaction is held while a caller consumes results.
type Backend interface {
	// Get returns the object stored under k. The caller owns the result.
	Get(k ObjectKey) (obj Object, found bool, err error)
	// Put stores obj under k, deletes index entries del and adds add, all
	// in one atomic step. The backend takes ownership of obj.
	Put(k ObjectKey, obj Object, del, add []IndexEntry) error
	// Delete removes k and its index entries del.
	Delete(k ObjectKey, del []IndexEntry) error

	// ScanKeys returns up to limit keys of bucket (typ, bucket) holding a
	// live (non-tombstone) object, in byte order, with from <= key and,
	// unless to is "", key <= to.
	ScanKeys(typ, bucket, from, to string, limit int) ([]string, error)
	// ScanBuckets returns up to limit names of buckets of typ that hold a
	// live object, in backend order, starting after the bucket named after
	// ("" for the first page).
	ScanBuckets(typ, after string, limit int) ([]string, error)
	// ScanIndex returns up to limit entries of index (typ, bucket, index)
	// in (term, key) order, from (fromTerm, fromKey) inclusive through
	// every key of toTerm. Terms are as stored (canonical for _int).
	ScanIndex(typ, bucket, index, fromTerm, fromKey, toTerm string, limit int) ([]IndexResult, error)
	// Tombstones calls fn for every object whose siblings are all
	// tombstones (for reaping after a restart).
	Tombstones(fn func(ObjectKey) error) error

	// MetaGet, MetaPut, MetaDelete and MetaScan manage small records in
	// namespaces (bucket types, bucket properties, node metadata).
	MetaGet(ns, key string) ([]byte, bool, error)
	MetaPut(ns, key string, value []byte) error
	MetaDelete(ns, key string) error
	MetaScan(ns string, fn func(key string, value []byte) error) error

	Close() error
}

// IndexResult is one secondary index match.
type IndexResult struct {
	Term string // the matching term; empty unless asked for (ReturnTerms)
	Key  string
}

// cursor is what the shared scan code needs from an ordered store: the
// shape of bolt's *Cursor, also implemented by the memory skiplist.
type cursor interface {
	Seek(seek []byte) (key, value []byte)
	Next() (key, value []byte)
}

func scanKeys(c cursor, typ, bucket, from, to string, limit int) []string {
	prefix := appendBucketPrefix(nil, typ, bucket)
	start := append(append(make([]byte, 0, len(prefix)+len(from)), prefix...), from...)
	var out []string
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		key := k[len(prefix):]
		if to != "" && string(key) > to {
			break
		}
		if valueIsTombstone(v) {
			continue
		}
		out = append(out, string(key))
		if len(out) >= limit {
			break
		}
	}
	return out
}

func scanBuckets(c cursor, typ, after string, limit int) ([]string, error) {
	tp := appendLP(nil, typ)
	seek := prefixEnd(appendLP(append([]byte(nil), tp...), after))
	var out []string
	for seek != nil && len(out) < limit {
		k, v := c.Seek(seek)
		if k == nil || !bytes.HasPrefix(k, tp) {
			break
		}
		r := reader{buf: k[len(tp):]}
		name := r.lenBytes(MaxBucketLen)
		if r.err != nil {
			return nil, fmt.Errorf("%w: object key", ErrCorrupt)
		}
		bp := append([]byte(nil), k[:len(tp)+r.off]...)
		for ; k != nil && bytes.HasPrefix(k, bp); k, v = c.Next() {
			if !valueIsTombstone(v) {
				out = append(out, string(name))
				break
			}
		}
		seek = prefixEnd(bp)
	}
	return out, nil
}

func scanIndex(c cursor, typ, bucket, index, fromTerm, fromKey, toTerm string, limit int) ([]IndexResult, error) {
	kind, err := parseIndexName(index)
	if err != nil {
		return nil, err
	}
	prefix := appendIndexPrefix(nil, typ, bucket, index)
	start, err := appendTerm(append([]byte(nil), prefix...), kind, fromTerm)
	if err != nil {
		return nil, err
	}
	start = append(start, fromKey...)
	end, err := appendTerm(append([]byte(nil), prefix...), kind, toTerm)
	if err != nil {
		return nil, err
	}
	var out []IndexResult
	for k, _ := c.Seek(start); k != nil && len(out) < limit; k, _ = c.Next() {
		if !bytes.HasPrefix(k, end) && bytes.Compare(k, end) > 0 {
			break
		}
		term, key, ok := splitTerm(kind, k[len(prefix):])
		if !ok {
			return nil, fmt.Errorf("%w: index key", ErrCorrupt)
		}
		out = append(out, IndexResult{Term: term, Key: key})
	}
	return out, nil
}

func indexKey(dst []byte, k ObjectKey, e IndexEntry) ([]byte, error) {
	kind, err := parseIndexName(e.Index)
	if err != nil {
		return nil, err
	}
	dst, err = appendTerm(appendIndexPrefix(dst, k.Type, k.Bucket, e.Index), kind, e.Term)
	if err != nil {
		return nil, err
	}
	return append(dst, k.Key...), nil
}

// OpenBackend opens a backend by the names of `rmf devnode --backend`:
// "memory", or "disk" (a bolt file at path).
func OpenBackend(kind, path string, opts BoltOptions) (Backend, error) {
	switch kind {
	case "memory", "":
		return NewMemoryBackend(), nil
	case "disk", "bolt":
		return OpenBoltBackend(path, opts)
	}
	return nil, fmt.Errorf("kv: unknown backend %q (want memory or disk)", kind)
}
