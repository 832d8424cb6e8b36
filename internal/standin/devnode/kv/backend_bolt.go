package kv

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BoltOptions configure the disk backend. The zero value is the safe
// default.
type BoltOptions struct {
	// NoSync skips fsync on commit (bolt's DB.NoSync): much faster puts,
	// but a machine crash (not a process kill) can lose acknowledged
	// writes or corrupt the file. `rmf devnode --sync=false` sets it.
	// Default false: every acknowledged write is on disk.
	NoSync bool
	// Timeout bounds the wait for the file lock held by another process.
	// Default 1s.
	Timeout time.Duration
}

// Bolt top-level buckets.
var (
	bktObjects    = []byte("objects")    // object key -> encoded Object
	bktIndex      = []byte("index")      // index key -> empty
	bktTombstones = []byte("tombstones") // object key -> empty, tombstone-only objects
	bktMeta       = []byte("meta")       // namespace -> nested bucket (key -> value)
)

// BoltBackend stores everything in one go.etcd.io/bbolt file: ACID
// transactions, one writer at a time, readers in parallel, fsync on each
// commit unless BoltOptions.NoSync. Objects, index entries, the set of
// tombstones and metadata live in separate bolt buckets, keyed as
// described in encoding.go, so 2i queries and key listings are range
// scans.
type BoltBackend struct {
	db *bolt.DB
}

// OpenBoltBackend opens (creating if needed) the bolt file at path.
func OpenBoltBackend(path string, opts BoltOptions) (*BoltBackend, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        opts.Timeout,
		NoSync:         opts.NoSync,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("kv: open %s: %w", path, err)
	}
	db.MaxBatchSize = BulkConcurrency
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bktObjects, bktIndex, bktTombstones, bktMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("kv: init %s: %w", path, err)
	}
	return &BoltBackend{db: db}, nil
}

func boltErr(err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Get implements Backend.
func (b *BoltBackend) Get(k ObjectKey) (obj Object, found bool, err error) {
	key := appendObjKey(make([]byte, 0, 64), k)
	err = b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktObjects).Get(key)
		if v == nil {
			return nil
		}
		found = true
		obj, err = decodeObject(v)
		return err
	})
	return obj, found, boltErr(err)
}

// Put implements Backend.
func (b *BoltBackend) Put(k ObjectKey, obj Object, del, add []IndexEntry) error {
	return b.put(k, obj, del, add, b.db.Update)
}

// PutBatched is Put for bulk writers (a handoff): concurrent calls share
// one transaction and one fsync (bolt's DB.Batch), at the price of up to
// MaxBatchDelay of latency each.
func (b *BoltBackend) PutBatched(k ObjectKey, obj Object, del, add []IndexEntry) error {
	return b.put(k, obj, del, add, b.db.Batch)
}

func (b *BoltBackend) put(k ObjectKey, obj Object, del, add []IndexEntry, update func(func(*bolt.Tx) error) error) error {
	key := appendObjKey(make([]byte, 0, 64), k)
	val := encodeObject(make([]byte, 0, obj.Size()+64), &obj)
	idel, err := boltIndexKeys(k, del)
	if err != nil {
		return err
	}
	iadd, err := boltIndexKeys(k, add)
	if err != nil {
		return err
	}
	return boltErr(update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bktObjects).Put(key, val); err != nil {
			return err
		}
		tb := tx.Bucket(bktTombstones)
		if obj.IsTombstone() {
			if err := tb.Put(key, nil); err != nil {
				return err
			}
		} else if err := tb.Delete(key); err != nil {
			return err
		}
		return applyIndex(tx.Bucket(bktIndex), idel, iadd)
	}))
}

func applyIndex(ib *bolt.Bucket, del, add [][]byte) error {
	for _, ik := range del {
		if err := ib.Delete(ik); err != nil {
			return err
		}
	}
	for _, ik := range add {
		if err := ib.Put(ik, nil); err != nil {
			return err
		}
	}
	return nil
}

func boltIndexKeys(k ObjectKey, es []IndexEntry) ([][]byte, error) {
	if len(es) == 0 {
		return nil, nil
	}
	out := make([][]byte, len(es))
	for i, e := range es {
		ik, err := indexKey(nil, k, e)
		if err != nil {
			return nil, err
		}
		if len(ik) > bolt.MaxKeySize {
			return nil, fmt.Errorf("%w: index entry too long", ErrInvalidIndex)
		}
		out[i] = ik
	}
	return out, nil
}

// Delete implements Backend.
func (b *BoltBackend) Delete(k ObjectKey, del []IndexEntry) error {
	key := appendObjKey(nil, k)
	idel, err := boltIndexKeys(k, del)
	if err != nil {
		return err
	}
	return boltErr(b.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bktObjects).Delete(key); err != nil {
			return err
		}
		if err := tx.Bucket(bktTombstones).Delete(key); err != nil {
			return err
		}
		return applyIndex(tx.Bucket(bktIndex), idel, nil)
	}))
}

// ScanKeys implements Backend.
func (b *BoltBackend) ScanKeys(typ, bucket, from, to string, limit int) (out []string, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		out = scanKeys(tx.Bucket(bktObjects).Cursor(), typ, bucket, from, to, limit)
		return nil
	})
	return out, boltErr(err)
}

// ScanBuckets implements Backend.
func (b *BoltBackend) ScanBuckets(typ, after string, limit int) (out []string, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		out, err = scanBuckets(tx.Bucket(bktObjects).Cursor(), typ, after, limit)
		return err
	})
	return out, boltErr(err)
}

// ScanIndex implements Backend.
func (b *BoltBackend) ScanIndex(typ, bucket, index, fromTerm, fromKey, toTerm string, limit int) (out []IndexResult, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		out, err = scanIndex(tx.Bucket(bktIndex).Cursor(), typ, bucket, index, fromTerm, fromKey, toTerm, limit)
		return err
	})
	return out, boltErr(err)
}

// Tombstones implements Backend.
func (b *BoltBackend) Tombstones(fn func(ObjectKey) error) error {
	var ks []ObjectKey
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktTombstones).ForEach(func(k, _ []byte) error {
			ok, valid := decodeObjKey(k)
			if !valid {
				return fmt.Errorf("%w: tombstone key", ErrCorrupt)
			}
			ks = append(ks, ok)
			return nil
		})
	})
	if err != nil {
		return boltErr(err)
	}
	for _, k := range ks {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}

// MetaGet implements Backend.
func (b *BoltBackend) MetaGet(ns, key string) (val []byte, found bool, err error) {
	err = b.db.View(func(tx *bolt.Tx) error {
		nb := tx.Bucket(bktMeta).Bucket([]byte(ns))
		if nb == nil {
			return nil
		}
		if v := nb.Get([]byte(key)); v != nil {
			val, found = append([]byte{}, v...), true
		}
		return nil
	})
	return val, found, boltErr(err)
}

// MetaPut implements Backend.
func (b *BoltBackend) MetaPut(ns, key string, value []byte) error {
	if ns == "" || key == "" || len(key) > bolt.MaxKeySize {
		return fmt.Errorf("kv: meta namespace and key must be 1..%d bytes", bolt.MaxKeySize)
	}
	return boltErr(b.db.Update(func(tx *bolt.Tx) error {
		nb, err := tx.Bucket(bktMeta).CreateBucketIfNotExists([]byte(ns))
		if err != nil {
			return err
		}
		return nb.Put([]byte(key), append([]byte{}, value...))
	}))
}

// MetaDelete implements Backend.
func (b *BoltBackend) MetaDelete(ns, key string) error {
	return boltErr(b.db.Update(func(tx *bolt.Tx) error {
		nb := tx.Bucket(bktMeta).Bucket([]byte(ns))
		if nb == nil || key == "" {
			return nil
		}
		return nb.Delete([]byte(key))
	}))
}

// MetaScan implements Backend, in key order.
func (b *BoltBackend) MetaScan(ns string, fn func(key string, value []byte) error) error {
	type kv struct {
		k string
		v []byte
	}
	var all []kv
	err := b.db.View(func(tx *bolt.Tx) error {
		nb := tx.Bucket(bktMeta).Bucket([]byte(ns))
		if nb == nil {
			return nil
		}
		return nb.ForEach(func(k, v []byte) error {
			all = append(all, kv{string(k), append([]byte{}, v...)})
			return nil
		})
	})
	if err != nil {
		return boltErr(err)
	}
	for _, e := range all {
		if err := fn(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// Close implements Backend.
func (b *BoltBackend) Close() error { return b.db.Close() }

// Path returns the bolt file's path.
func (b *BoltBackend) Path() string { return b.db.Path() }
