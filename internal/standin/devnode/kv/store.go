package kv

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Clock tells the time. Tests inject a fake one to drive tombstone reaping
// without sleeping.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Options configure an Engine. Every zero value is a documented default.
type Options struct {
	// Backend stores the data. Default: a new MemoryBackend. The Engine
	// owns it and closes it on Close.
	Backend Backend
	// Actor is this node's vclock actor id (1..MaxActorLen bytes).
	// Default: an 8-byte random id generated on first open and persisted
	// in the backend, so a disk store keeps its actor across restarts
	// (like a Riak vnode id).
	Actor string
	// Clock supplies timestamps (LastMod, vclock entries, reaping).
	// Default: the system clock.
	Clock Clock
	// TombstoneDelay is how long a tombstone-only object is kept before
	// it is reaped: Riak's delete_mode in milliseconds. Default 3s,
	// Riak's default.
	TombstoneDelay time.Duration
	// KeepTombstones never reaps tombstones (Riak's delete_mode = keep).
	KeepTombstones bool
	// ReapInterval is how often a background goroutine reaps due
	// tombstones. Default 500ms; negative disables the goroutine (call
	// ReapTombstones yourself).
	ReapInterval time.Duration
	// MaxObjectSize bounds an object's size (Object.Size, all siblings).
	// Default DefaultMaxObjectSize (50 MiB).
	MaxObjectSize int
	// MaxSiblings bounds the siblings a put may create. Default
	// DefaultMaxSiblings (100).
	MaxSiblings int
}

// Metadata namespaces in the backend.
const (
	nsTypes  = "kv.types"
	nsBProps = "kv.bprops"
	nsNode   = "kv.node"
	nsUser   = "meta"
)

const lockStripes = 256

// Engine implements Riak KV object semantics (vector clocks, siblings,
// tombstones, bucket properties and types, listing, secondary indexes)
// over a Backend. It is safe for concurrent use; operations on one key
// are serialised by a lock striped by key, so each read-modify-write is
// atomic.
//
// Two levels of API:
//   - coordinator level, what a single node serving clients does: Get,
//     Put, Delete, ListBuckets, ListKeys, IndexQuery, bucket props/types;
//   - replica level, for a cluster layer doing n_val replication, read
//     repair and hinted catch-up: FetchReplica and StoreReplica (merge an
//     object from another node by vclock), with the pure helpers Merge,
//     Reconcile and CoordinatePut.
type Engine struct {
	be    Backend
	actor string
	clock Clock
	opts  Options

	seed  maphash.Seed
	locks [lockStripes]paddedMutex

	pmu    sync.RWMutex
	types  map[string]typeState
	bprops map[bucketID]PropsUpdate

	rmu   sync.Mutex
	reaps reapHeap

	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

type paddedMutex struct {
	sync.Mutex
	_ [56]byte
}

type bucketID struct{ typ, bucket string }

// typeState is a bucket type's record and its effective properties.
type typeState struct {
	rec typeRecord
	eff BucketProps
}

func newTypeState(name string, rec typeRecord) typeState {
	return typeState{rec: rec, eff: DefaultProps(name != DefaultType).Apply(rec.Props).withHLLDefault()}
}

// Open starts an engine over opts.Backend, loading bucket types, bucket
// properties and the tombstones awaiting reaping. If it fails, it closes
// the backend.
func Open(opts Options) (*Engine, error) {
	if opts.Backend == nil {
		opts.Backend = NewMemoryBackend()
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	if opts.TombstoneDelay <= 0 {
		opts.TombstoneDelay = 3 * time.Second
	}
	if opts.ReapInterval == 0 {
		opts.ReapInterval = 500 * time.Millisecond
	}
	if opts.MaxObjectSize <= 0 {
		opts.MaxObjectSize = DefaultMaxObjectSize
	}
	if opts.MaxSiblings <= 0 {
		opts.MaxSiblings = DefaultMaxSiblings
	}
	e := &Engine{
		be: opts.Backend, clock: opts.Clock, opts: opts, seed: maphash.MakeSeed(),
		types:  map[string]typeState{DefaultType: newTypeState(DefaultType, typeRecord{Status: TypeActive})},
		bprops: make(map[bucketID]PropsUpdate),
		stop:   make(chan struct{}), done: make(chan struct{}),
	}
	if err := e.load(); err != nil {
		opts.Backend.Close()
		return nil, err
	}
	if opts.ReapInterval > 0 {
		go e.reapLoop(opts.ReapInterval)
	} else {
		close(e.done)
	}
	return e, nil
}

func (e *Engine) load() error {
	e.actor = e.opts.Actor
	if e.actor == "" {
		v, ok, err := e.be.MetaGet(nsNode, "actor")
		if err != nil {
			return fmt.Errorf("kv: load actor: %w", err)
		}
		if !ok || len(v) == 0 || len(v) > MaxActorLen {
			var b [8]byte
			rand.Read(b[:])
			v = b[:]
			if err := e.be.MetaPut(nsNode, "actor", v); err != nil {
				return fmt.Errorf("kv: save actor: %w", err)
			}
		}
		e.actor = string(v)
	} else if len(e.actor) > MaxActorLen {
		return fmt.Errorf("%w: actor longer than %d bytes", ErrInvalidVClock, MaxActorLen)
	}
	err := e.be.MetaScan(nsTypes, func(name string, v []byte) error {
		var rec typeRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("%w: bucket type %q: %v", ErrCorrupt, name, err)
		}
		if name == DefaultType {
			rec.Status = TypeActive
		}
		e.types[name] = newTypeState(name, rec)
		return nil
	})
	if err != nil {
		return fmt.Errorf("kv: load bucket types: %w", err)
	}
	err = e.be.MetaScan(nsBProps, func(key string, v []byte) error {
		r := reader{buf: []byte(key)}
		typ, bucket := r.str(MaxTypeLen), r.str(MaxBucketLen)
		var u PropsUpdate
		if r.err != nil || r.remaining() != 0 {
			return fmt.Errorf("%w: bucket props key", ErrCorrupt)
		}
		if err := json.Unmarshal(v, &u); err != nil {
			return fmt.Errorf("%w: bucket props: %v", ErrCorrupt, err)
		}
		e.bprops[bucketID{typ, bucket}] = u
		return nil
	})
	if err != nil {
		return fmt.Errorf("kv: load bucket props: %w", err)
	}
	now := e.now()
	return e.be.Tombstones(func(k ObjectKey) error {
		e.scheduleReap(k, now)
		return nil
	})
}

// Close stops the reaper and closes the backend.
func (e *Engine) Close() error {
	var err error
	e.closeOnce.Do(func() {
		close(e.stop)
		<-e.done
		err = e.be.Close()
	})
	return err
}

// Actor returns this engine's vclock actor id.
func (e *Engine) Actor() string { return e.actor }

// Backend returns the engine's backend.
func (e *Engine) Backend() Backend { return e.be }

func (e *Engine) now() time.Time { return e.clock.Now().UTC().Truncate(time.Microsecond) }

func (e *Engine) lock(k ObjectKey) *paddedMutex {
	h := maphash.String(e.seed, k.Key) ^ maphash.String(e.seed, k.Bucket)*31 ^ maphash.String(e.seed, k.Type)*961
	m := &e.locks[h%lockStripes]
	m.Lock()
	return m
}

// objectKey validates and normalises a (type, bucket, key) triple: an
// empty type is the default type.
func objectKey(typ, bucket, key string) (ObjectKey, error) {
	k, err := bucketKey(typ, bucket)
	if err != nil {
		return k, err
	}
	if key == "" || len(key) > MaxKeyLen {
		return k, fmt.Errorf("%w: must be 1..%d bytes", ErrInvalidKey, MaxKeyLen)
	}
	k.Key = key
	return k, nil
}

func bucketKey(typ, bucket string) (ObjectKey, error) {
	if typ == "" {
		typ = DefaultType
	} else if err := validTypeName(typ); err != nil {
		return ObjectKey{}, err
	}
	if bucket == "" || len(bucket) > MaxBucketLen {
		return ObjectKey{}, fmt.Errorf("%w: must be 1..%d bytes", ErrInvalidBucket, MaxBucketLen)
	}
	return ObjectKey{Type: typ, Bucket: bucket}, nil
}

// GetRequest is a read (RpbGetReq). Quorum options belong to the
// cluster layer and are not here.
type GetRequest struct {
	Type, Bucket, Key string
	// Head returns metadata only: siblings' values are nil.
	Head bool
	// DeletedVClock returns the clock of a tombstone in GetResult.Object
	// (still Found=false), so a client can write over it.
	DeletedVClock bool
	// IfModified, if non-nil, skips the body when the stored clock equals
	// it: the result is Found with Unchanged set and only the clock.
	IfModified VClock
}

// GetResult is a read's outcome. A missing key is not an error.
type GetResult struct {
	// Found is false for a missing key or a tombstone-only object.
	Found bool
	// Unchanged is set when IfModified matched.
	Unchanged bool
	// Tombstone is set when the key holds only tombstones.
	Tombstone bool
	// Object holds the siblings (tombstone siblings included, flagged
	// Deleted, when at least one is live) and the clock. For a tombstone
	// with DeletedVClock it holds only the clock.
	Object Object
}

// Get reads an object.
func (e *Engine) Get(ctx context.Context, req GetRequest) (GetResult, error) {
	if err := ctx.Err(); err != nil {
		return GetResult{}, err
	}
	k, err := objectKey(req.Type, req.Bucket, req.Key)
	if err != nil {
		return GetResult{}, err
	}
	if err := e.typeActive(k.Type); err != nil {
		return GetResult{}, err
	}
	obj, found, err := e.be.Get(k)
	if err != nil || !found {
		return GetResult{}, err
	}
	if obj.IsTombstone() {
		res := GetResult{Tombstone: true}
		if req.DeletedVClock {
			res.Object.VClock = obj.VClock
		}
		return res, nil
	}
	if req.IfModified != nil && obj.VClock.Equal(req.IfModified) {
		return GetResult{Found: true, Unchanged: true, Object: Object{VClock: obj.VClock}}, nil
	}
	if req.Head {
		for i := range obj.Siblings {
			obj.Siblings[i].Value = nil
		}
	}
	return GetResult{Found: true, Object: obj}, nil
}

// PutRequest is a coordinated write (RpbPutReq).
type PutRequest struct {
	Type, Bucket, Key string
	// VClock is the clock the client read (nil for a blind write).
	VClock VClock
	// Content is the new value. VTag, LastMod and Deleted are assigned
	// by the engine. The engine copies it; the caller may reuse it.
	Content Content
	// IfNotModified fails with ErrModified unless VClock equals the
	// stored clock, and with ErrNotFound if there is no live object.
	IfNotModified bool
	// IfNoneMatch fails with ErrExists if a live object exists.
	IfNoneMatch bool
	// ReturnBody returns the stored object (all siblings).
	ReturnBody bool
	// ReturnHead returns the stored object without values.
	ReturnHead bool
}

// PutResult is a write's outcome.
type PutResult struct {
	Key string
	// Object is the stored object: its VClock always; its siblings only
	// with ReturnBody (values) or ReturnHead (metadata).
	Object Object
}

// Put writes an object as the coordinating node (see CoordinatePut).
func (e *Engine) Put(ctx context.Context, req PutRequest) (PutResult, error) {
	if err := ctx.Err(); err != nil {
		return PutResult{}, err
	}
	k, err := objectKey(req.Type, req.Bucket, req.Key)
	if err != nil {
		return PutResult{}, err
	}
	props, err := e.props(k.Type, k.Bucket)
	if err != nil {
		return PutResult{}, err
	}
	if !req.VClock.valid() {
		return PutResult{}, fmt.Errorf("%w: not canonical", ErrInvalidVClock)
	}
	if s := req.Content.Size(); s > e.opts.MaxObjectSize {
		return PutResult{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, s)
	}
	c, err := prepareContent(&req.Content)
	if err != nil {
		return PutResult{}, err
	}
	now := e.now()
	c.VTag, c.LastMod, c.Deleted = NewVTag(), now, false

	m := e.lock(k)
	defer m.Unlock()
	cur, _, err := e.current(k)
	if err != nil {
		return PutResult{}, err
	}
	if req.IfNoneMatch && cur.IsLive() {
		return PutResult{}, ErrExists
	}
	if req.IfNotModified {
		if !cur.IsLive() {
			return PutResult{}, ErrNotFound
		}
		if !cur.VClock.Equal(req.VClock) {
			return PutResult{}, ErrModified
		}
	}
	next := CoordinatePut(cur, req.VClock, c, e.actor, now, props)
	if len(next.Siblings) > e.opts.MaxSiblings {
		return PutResult{}, fmt.Errorf("%w: %d > %d", ErrTooManySiblings, len(next.Siblings), e.opts.MaxSiblings)
	}
	if s := next.Size(); s > e.opts.MaxObjectSize {
		return PutResult{}, fmt.Errorf("%w: %d bytes with siblings", ErrTooLarge, s)
	}
	if err := e.store(k, cur, next); err != nil {
		return PutResult{}, err
	}
	res := PutResult{Key: k.Key, Object: Object{VClock: next.VClock}}
	switch {
	case req.ReturnBody:
		res.Object = next.Clone()
	case req.ReturnHead:
		res.Object = next.Head()
	}
	return res, nil
}

// DeleteRequest is a delete (RpbDelReq).
type DeleteRequest struct {
	Type, Bucket, Key string
	// VClock is the clock the client read. Nil means the stored clock
	// (like Riak, which reads before deleting): the tombstone then
	// replaces every sibling. A stale clock on an allow_mult bucket makes
	// the tombstone a sibling of the newer values.
	VClock VClock
}

// Delete writes a tombstone over an object; missing keys are not an
// error. The tombstone is reaped after Options.TombstoneDelay.
func (e *Engine) Delete(ctx context.Context, req DeleteRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k, err := objectKey(req.Type, req.Bucket, req.Key)
	if err != nil {
		return err
	}
	props, err := e.props(k.Type, k.Bucket)
	if err != nil {
		return err
	}
	if !req.VClock.valid() {
		return fmt.Errorf("%w: not canonical", ErrInvalidVClock)
	}
	now := e.now()
	m := e.lock(k)
	defer m.Unlock()
	cur, found, err := e.current(k)
	if err != nil || !found || cur.IsTombstone() {
		return err
	}
	incoming := req.VClock
	if incoming == nil {
		incoming = cur.VClock
	}
	tomb := Content{Deleted: true, VTag: NewVTag(), LastMod: now}
	next := CoordinatePut(cur, incoming, tomb, e.actor, now, props)
	return e.store(k, cur, next)
}

// FetchReplica returns the object stored locally under the key exactly as
// stored, tombstones included: the replica-level read of a get
// coordinator or read repair.
func (e *Engine) FetchReplica(ctx context.Context, typ, bucket, key string) (Object, bool, error) {
	if err := ctx.Err(); err != nil {
		return Object{}, false, err
	}
	k, err := objectKey(typ, bucket, key)
	if err != nil {
		return Object{}, false, err
	}
	if err := e.typeActive(k.Type); err != nil {
		return Object{}, false, err
	}
	return e.be.Get(k)
}

// StoreReplica merges obj, a version of the object from another node, into
// the local copy (riak_kv_vnode's non-coordinating put): Merge by vclock,
// then, if the bucket has allow_mult=false or last_write_wins, keep only
// the most recent sibling. It writes only if the result differs from what
// was stored, and returns the resulting object and whether it wrote.
// obj must carry a non-empty canonical clock; its siblings' VTag, LastMod
// and Deleted are kept as given.
func (e *Engine) StoreReplica(ctx context.Context, typ, bucket, key string, obj Object) (Object, bool, error) {
	return e.storeReplica(ctx, typ, bucket, key, obj, false)
}

// BulkConcurrency is how many objects StoreReplicas merges at once; a
// bolt backend commits up to this many in one transaction.
const BulkConcurrency = 64

// Replica is one object of a bulk store.
type Replica struct {
	Type, Bucket, Key string
	Object            Object
}

// StoreReplicas merges many replicas (a handoff) as StoreReplica does,
// BulkConcurrency at a time, sharing the backend's commits where it can
// (bolt: one fsync per batch instead of one per object). It returns how
// many changed the store and the first error.
func (e *Engine) StoreReplicas(ctx context.Context, rs []Replica) (stored int, err error) {
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, BulkConcurrency)
	)
	for _, r := range rs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			_, wrote, err := e.storeReplica(ctx, r.Type, r.Bucket, r.Key, r.Object, true)
			mu.Lock()
			defer mu.Unlock()
			if wrote {
				stored++
			}
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("kv: store replica %s/%s/%s: %w", r.Type, r.Bucket, r.Key, err)
			}
		}()
	}
	wg.Wait()
	return stored, firstErr
}

func (e *Engine) storeReplica(ctx context.Context, typ, bucket, key string, obj Object, bulk bool) (Object, bool, error) {
	if err := ctx.Err(); err != nil {
		return Object{}, false, err
	}
	k, err := objectKey(typ, bucket, key)
	if err != nil {
		return Object{}, false, err
	}
	props, err := e.props(k.Type, k.Bucket)
	if err != nil {
		return Object{}, false, err
	}
	if err := validateObject(&obj, e.opts.MaxObjectSize); err != nil {
		return Object{}, false, err
	}
	in := Object{VClock: obj.VClock, Siblings: make([]Content, len(obj.Siblings))}
	for i := range obj.Siblings {
		c, err := prepareContent(&obj.Siblings[i])
		if err != nil {
			return Object{}, false, err
		}
		if c.Deleted {
			c.Indexes = nil
		}
		c.LastMod = c.LastMod.UTC().Truncate(time.Microsecond)
		in.Siblings[i] = c
	}
	m := e.lock(k)
	defer m.Unlock()
	cur, found, err := e.current(k)
	if err != nil {
		return Object{}, false, err
	}
	next := Merge(cur, in)
	if !props.AllowMult || props.LastWriteWins {
		next = next.mostRecentOnly()
	}
	if found && sameObject(cur, next) {
		return cur.Clone(), false, nil
	}
	if err := e.storeWith(k, cur, next, bulk); err != nil {
		return Object{}, false, err
	}
	return next.Clone(), true, nil
}

// sameObject reports whether a and b hold the same clock and siblings.
func sameObject(a, b Object) bool {
	if !a.VClock.Equal(b.VClock) || len(a.Siblings) != len(b.Siblings) {
		return false
	}
	for i := range b.Siblings {
		if !slices.ContainsFunc(a.Siblings, func(c Content) bool { return sameContent(&c, &b.Siblings[i]) }) {
			return false
		}
	}
	return true
}

// sharedGetter is implemented by backends that can return a stored object
// without copying it (MemoryBackend).
type sharedGetter interface {
	getShared(k ObjectKey) (Object, bool, error)
}

// current reads k for a read-modify-write under k's lock. The result must
// not be modified and must be cloned before it reaches a caller.
func (e *Engine) current(k ObjectKey) (Object, bool, error) {
	if sg, ok := e.be.(sharedGetter); ok {
		return sg.getShared(k)
	}
	return e.be.Get(k)
}

// store writes next over cur, updating index entries, and schedules a
// tombstone for reaping.
func (e *Engine) store(k ObjectKey, cur, next Object) error { return e.storeWith(k, cur, next, false) }

// batchPutter is a Backend whose concurrent puts can share a commit.
type batchPutter interface {
	PutBatched(k ObjectKey, obj Object, del, add []IndexEntry) error
}

func (e *Engine) storeWith(k ObjectKey, cur, next Object, bulk bool) error {
	del, add := diffEntries(cur.IndexEntries(), next.IndexEntries())
	put := e.be.Put
	if bp, ok := e.be.(batchPutter); ok && bulk {
		put = bp.PutBatched
	}
	if err := put(k, next, del, add); err != nil {
		return err
	}
	if next.IsTombstone() {
		e.scheduleReap(k, tombstoneTime(next))
	}
	return nil
}

func tombstoneTime(o Object) time.Time {
	var t time.Time
	for i := range o.Siblings {
		if o.Siblings[i].LastMod.After(t) {
			t = o.Siblings[i].LastMod
		}
	}
	return t
}

// listBatch is the page size of listing and 2i scans.
const listBatch = 1000

// ListBuckets streams, in batches, the names of the buckets of a bucket
// type that hold at least one live object. fn may keep the slice. It
// stops at fn's first error, which it returns, or when ctx is done.
func (e *Engine) ListBuckets(ctx context.Context, typ string, fn func(buckets []string) error) error {
	if typ == "" {
		typ = DefaultType
	}
	if err := e.typeActive(typ); err != nil {
		return err
	}
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		bs, err := e.be.ScanBuckets(typ, after, listBatch)
		if err != nil || len(bs) == 0 {
			return err
		}
		if err := fn(bs); err != nil {
			return err
		}
		after = bs[len(bs)-1]
	}
}

// ListKeys streams, in batches and key order, the keys of a bucket that
// hold a live object (tombstones excluded). fn may keep the slice. It
// stops at fn's first error, which it returns, or when ctx is done.
func (e *Engine) ListKeys(ctx context.Context, typ, bucket string, fn func(keys []string) error) error {
	k, err := bucketKey(typ, bucket)
	if err != nil {
		return err
	}
	if err := e.typeActive(k.Type); err != nil {
		return err
	}
	from := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ks, err := e.be.ScanKeys(k.Type, k.Bucket, from, "", listBatch)
		if err != nil || len(ks) == 0 {
			return err
		}
		if err := fn(ks); err != nil {
			return err
		}
		from = ks[len(ks)-1] + "\x00"
	}
}

// Special 2i index names.
const (
	IndexBucket = "$bucket" // every key of the bucket (exact query)
	IndexKey    = "$key"    // keys themselves as terms
)

// IndexQuery is a secondary index query (RpbIndexReq).
type IndexQuery struct {
	Type, Bucket string
	// Index is a name ending in _int or _bin, or IndexBucket / IndexKey.
	Index string
	// Range selects a range query over [Min, Max] (inclusive); otherwise
	// an exact query for Term. _int terms are decimal integers.
	Range    bool
	Term     string
	Min, Max string
	// ReturnTerms fills IndexResult.Term.
	ReturnTerms bool
	// MaxResults pages the results (0: unlimited).
	MaxResults uint32
	// Continuation resumes after the previous page (from IndexQuery's
	// return value).
	Continuation string
	// TermRegex filters a range query on a _bin index or $key by a
	// regular expression on the term (Go RE2 syntax).
	TermRegex string
}

// IndexQuery runs q, streaming results in (term, key) order, in batches,
// to fn (which may keep the slice). Tombstones are never matched. With
// MaxResults, it returns a continuation token when, and only when, more
// results follow; pass it back in q.Continuation for the next page. Like
// Riak, a range query yields a key once per matching term.
func (e *Engine) IndexQuery(ctx context.Context, q IndexQuery, fn func([]IndexResult) error) (continuation string, err error) {
	k, err := bucketKey(q.Type, q.Bucket)
	if err != nil {
		return "", err
	}
	if err := e.typeActive(k.Type); err != nil {
		return "", err
	}
	var cterm, ckey string
	hasCont := q.Continuation != ""
	if hasCont {
		if cterm, ckey, err = decodeContinuation(q.Continuation); err != nil {
			return "", err
		}
	}
	var re *regexp.Regexp
	if q.TermRegex != "" {
		if !q.Range || strings.HasSuffix(q.Index, "_int") || q.Index == IndexBucket {
			return "", fmt.Errorf("%w: term_regex needs a range query on a _bin index or $key", ErrInvalidQuery)
		}
		if re, err = regexp.Compile(q.TermRegex); err != nil {
			return "", fmt.Errorf("%w: term_regex: %v", ErrInvalidQuery, err)
		}
	}

	// next returns the following page of raw results, empty when done.
	var next func(limit int) ([]IndexResult, error)
	switch q.Index {
	case IndexBucket, IndexKey:
		from, to := "", ""
		switch {
		case q.Index == IndexBucket && q.Range:
			return "", fmt.Errorf("%w: $bucket supports exact queries only", ErrInvalidQuery)
		case q.Index == IndexKey && q.Range:
			from, to = q.Min, q.Max
		case q.Index == IndexKey:
			from, to = q.Term, q.Term
		}
		if q.Index == IndexKey && (to == "" || from > to) {
			return "", nil // no key is <= "" or in an empty range
		}
		if hasCont && ckey+"\x00" > from {
			from = ckey + "\x00"
		}
		isKey := q.Index == IndexKey
		next = func(limit int) ([]IndexResult, error) {
			ks, err := e.be.ScanKeys(k.Type, k.Bucket, from, to, limit)
			if err != nil || len(ks) == 0 {
				return nil, err
			}
			from = ks[len(ks)-1] + "\x00"
			out := make([]IndexResult, len(ks))
			for i, key := range ks {
				out[i].Key = key
				if isKey {
					out[i].Term = key
				}
			}
			return out, nil
		}
	default:
		kind, err := parseIndexName(q.Index)
		if err != nil {
			return "", err
		}
		lo, hi := q.Term, q.Term
		if q.Range {
			lo, hi = q.Min, q.Max
		}
		cmp := strings.Compare
		if kind == indexInt {
			var a, b int64
			if a, err = parseIntTerm(lo); err == nil {
				b, err = parseIntTerm(hi)
			}
			if err != nil {
				return "", fmt.Errorf("%w: %v", ErrInvalidQuery, err)
			}
			lo, hi = fmt.Sprint(a), fmt.Sprint(b)
			cmp = compareIntTerms
		} else if len(lo) > MaxIndexTermLen || len(hi) > MaxIndexTermLen {
			return "", fmt.Errorf("%w: term too long", ErrInvalidQuery)
		}
		if cmp(lo, hi) > 0 {
			return "", nil
		}
		fromTerm, fromKey := lo, ""
		if hasCont {
			if kind == indexInt {
				if _, err := parseIntTerm(cterm); err != nil {
					return "", fmt.Errorf("%w: not an integer term", ErrInvalidContinuation)
				}
			}
			if cmp(cterm, lo) >= 0 {
				fromTerm, fromKey = cterm, ckey+"\x00"
			}
			if cmp(fromTerm, hi) > 0 {
				return "", nil
			}
		}
		next = func(limit int) ([]IndexResult, error) {
			rs, err := e.be.ScanIndex(k.Type, k.Bucket, q.Index, fromTerm, fromKey, hi, limit)
			if err != nil || len(rs) == 0 {
				return nil, err
			}
			last := rs[len(rs)-1]
			fromTerm, fromKey = last.Term, last.Key+"\x00"
			return rs, nil
		}
	}

	maxRes := int(q.MaxResults)
	emitted := 0
	var last IndexResult
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		limit := listBatch
		if maxRes > 0 {
			limit = min(limit, maxRes-emitted+1)
		}
		rs, err := next(limit)
		if err != nil || len(rs) == 0 {
			return "", err
		}
		out := rs[:0]
		more := false
		for _, r := range rs {
			if re != nil && !re.MatchString(r.Term) {
				continue
			}
			if maxRes > 0 && emitted == maxRes {
				more = true
				break
			}
			last = r
			emitted++
			if !q.ReturnTerms {
				r.Term = ""
			}
			out = append(out, r)
		}
		if len(out) > 0 {
			if err := fn(slices.Clip(out)); err != nil {
				return "", err
			}
		}
		if more {
			return encodeContinuation(last.Term, last.Key), nil
		}
	}
}

func compareIntTerms(a, b string) int {
	x, _ := parseIntTerm(a)
	y, _ := parseIntTerm(b)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// props returns a bucket's effective properties; its type must be active.
func (e *Engine) props(typ, bucket string) (BucketProps, error) {
	e.pmu.RLock()
	defer e.pmu.RUnlock()
	ts, err := e.activeType(typ)
	if err != nil {
		return BucketProps{}, err
	}
	p := ts.eff
	if u, ok := e.bprops[bucketID{typ, bucket}]; ok {
		p = p.Apply(u)
	}
	return p, nil
}

// activeType returns an active type's state; pmu must be held.
func (e *Engine) activeType(typ string) (typeState, error) {
	ts, ok := e.types[typ]
	if !ok {
		return ts, fmt.Errorf("%w %q", ErrNoType, typ)
	}
	if ts.rec.Status != TypeActive {
		return ts, fmt.Errorf("%w: %q", ErrTypeNotActive, typ)
	}
	return ts, nil
}

func (e *Engine) typeActive(typ string) error {
	e.pmu.RLock()
	defer e.pmu.RUnlock()
	_, err := e.activeType(typ)
	return err
}

// BucketProps returns a bucket's effective properties: Riak's defaults,
// overlaid with its type's, overlaid with its own. The type must be
// active.
func (e *Engine) BucketProps(typ, bucket string) (BucketProps, error) {
	k, err := bucketKey(typ, bucket)
	if err != nil {
		return BucketProps{}, err
	}
	p, err := e.props(k.Type, k.Bucket)
	p.Extra = maps.Clone(p.Extra)
	return p, err
}

// SetBucketProps overlays u on a bucket's own properties, validates the
// resulting effective properties, and persists them. The type must be
// active.
func (e *Engine) SetBucketProps(typ, bucket string, u PropsUpdate) error {
	k, err := bucketKey(typ, bucket)
	if err != nil {
		return err
	}
	e.pmu.Lock()
	defer e.pmu.Unlock()
	ts, err := e.activeType(k.Type)
	if err != nil {
		return err
	}
	id := bucketID{k.Type, k.Bucket}
	// As riak_kv_bucket: buckets of the default type may set anything
	// (data types there are legacy counters); typed buckets keep their
	// type's datatype.
	if k.Type != DefaultType {
		if err := CheckDatatypeUpdate(ts.eff.Apply(e.bprops[id]), u); err != nil {
			return err
		}
	}
	merged := e.bprops[id].Merge(u)
	if err := ts.eff.Apply(merged).Validate(); err != nil {
		return err
	}
	v, err := json.Marshal(merged)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidProps, err)
	}
	if err := e.be.MetaPut(nsBProps, string(appendBucketPrefix(nil, k.Type, k.Bucket)), v); err != nil {
		return err
	}
	e.bprops[id] = merged
	return nil
}

// ResetBucketProps drops a bucket's own properties, so it has its type's.
func (e *Engine) ResetBucketProps(typ, bucket string) error {
	k, err := bucketKey(typ, bucket)
	if err != nil {
		return err
	}
	e.pmu.Lock()
	defer e.pmu.Unlock()
	if _, ok := e.types[k.Type]; !ok {
		return fmt.Errorf("%w %q", ErrNoType, k.Type)
	}
	if err := e.be.MetaDelete(nsBProps, string(appendBucketPrefix(nil, k.Type, k.Bucket))); err != nil {
		return err
	}
	delete(e.bprops, bucketID{k.Type, k.Bucket})
	return nil
}

// BucketType describes a bucket type (any status).
func (e *Engine) BucketType(name string) (BucketType, error) {
	if name == "" {
		name = DefaultType
	}
	e.pmu.RLock()
	defer e.pmu.RUnlock()
	ts, ok := e.types[name]
	if !ok {
		return BucketType{}, fmt.Errorf("%w %q", ErrNoType, name)
	}
	return describe(name, ts), nil
}

func describe(name string, ts typeState) BucketType {
	p := ts.eff
	p.Extra = maps.Clone(p.Extra)
	return BucketType{Name: name, Status: ts.rec.Status, Props: p}
}

// BucketTypes lists every bucket type, by name.
func (e *Engine) BucketTypes() []BucketType {
	e.pmu.RLock()
	defer e.pmu.RUnlock()
	out := make([]BucketType, 0, len(e.types))
	for _, name := range slices.Sorted(maps.Keys(e.types)) {
		out = append(out, describe(name, e.types[name]))
	}
	return out
}

// CreateBucketType creates a type in state created, with props u over
// Riak's defaults (allow_mult defaults to true for created types). It
// cannot be used until ActivateBucketType.
func (e *Engine) CreateBucketType(name string, u PropsUpdate) error {
	if err := validTypeName(name); err != nil {
		return err
	}
	e.pmu.Lock()
	defer e.pmu.Unlock()
	if _, ok := e.types[name]; ok {
		return fmt.Errorf("%w: %q", ErrTypeExists, name)
	}
	return e.saveType(name, typeRecord{Status: TypeCreated, Props: PropsUpdate{}.Merge(u)})
}

// ActivateBucketType makes a created type usable. Activating an active
// type is a no-op.
func (e *Engine) ActivateBucketType(name string) error {
	e.pmu.Lock()
	defer e.pmu.Unlock()
	ts, ok := e.types[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrNoType, name)
	}
	if ts.rec.Status == TypeActive {
		return nil
	}
	ts.rec.Status = TypeActive
	return e.saveType(name, ts.rec)
}

// UpdateBucketType overlays u on a type's properties (created or active;
// the default type too, like RpbSetBucketTypeReq).
func (e *Engine) UpdateBucketType(name string, u PropsUpdate) error {
	if name == "" {
		name = DefaultType
	}
	e.pmu.Lock()
	defer e.pmu.Unlock()
	ts, ok := e.types[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrNoType, name)
	}
	if ts.rec.Status == TypeActive || name == DefaultType {
		if err := CheckDatatypeUpdate(ts.eff, u); err != nil {
			return err
		}
	}
	rec := ts.rec
	rec.Props = rec.Props.Merge(u)
	return e.saveType(name, rec)
}

// saveType validates and persists a type record; pmu must be held.
func (e *Engine) saveType(name string, tr typeRecord) error {
	ts := newTypeState(name, tr)
	if err := ts.eff.Validate(); err != nil {
		return err
	}
	v, err := json.Marshal(tr)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidProps, err)
	}
	if err := e.be.MetaPut(nsTypes, name, v); err != nil {
		return err
	}
	e.types[name] = ts
	return nil
}

// GetMeta reads a small record stored for another layer (ring metadata
// and the like).
func (e *Engine) GetMeta(key string) ([]byte, bool, error) {
	if key == "" {
		return nil, false, fmt.Errorf("%w: empty meta key", ErrInvalidKey)
	}
	return e.be.MetaGet(nsUser, key)
}

// PutMeta stores a small record for another layer, durably on the disk
// backend.
func (e *Engine) PutMeta(key string, value []byte) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: meta key must be 1..%d bytes", ErrInvalidKey, MaxKeyLen)
	}
	return e.be.MetaPut(nsUser, key, value)
}

// DeleteMeta removes a record stored with PutMeta.
func (e *Engine) DeleteMeta(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty meta key", ErrInvalidKey)
	}
	return e.be.MetaDelete(nsUser, key)
}

// Tombstone reaping.

type reapItem struct {
	k   ObjectKey
	due time.Time
}

type reapHeap []reapItem

func (h reapHeap) Len() int           { return len(h) }
func (h reapHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h reapHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *reapHeap) Push(x any)        { *h = append(*h, x.(reapItem)) }
func (h *reapHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

func (e *Engine) scheduleReap(k ObjectKey, deleted time.Time) {
	if e.opts.KeepTombstones {
		return
	}
	e.rmu.Lock()
	heap.Push(&e.reaps, reapItem{k: k, due: deleted.Add(e.opts.TombstoneDelay)})
	e.rmu.Unlock()
}

// ReapTombstones removes every tombstone-only object whose newest
// tombstone is at least TombstoneDelay old (by Options.Clock), and returns
// how many it removed. The background reaper calls it every
// ReapInterval; tests with a fake clock call it directly.
func (e *Engine) ReapTombstones(ctx context.Context) (int, error) {
	if e.opts.KeepTombstones {
		return 0, nil
	}
	now := e.now()
	var due []ObjectKey
	e.rmu.Lock()
	for len(e.reaps) > 0 && !e.reaps[0].due.After(now) {
		due = append(due, heap.Pop(&e.reaps).(reapItem).k)
	}
	e.rmu.Unlock()
	n := 0
	for i, k := range due {
		if err := ctx.Err(); err != nil {
			for _, k := range due[i:] {
				e.scheduleReap(k, now.Add(-e.opts.TombstoneDelay))
			}
			return n, err
		}
		reaped, err := e.reapOne(k, now)
		if err != nil {
			return n, err
		}
		if reaped {
			n++
		}
	}
	return n, nil
}

func (e *Engine) reapOne(k ObjectKey, now time.Time) (bool, error) {
	m := e.lock(k)
	defer m.Unlock()
	obj, found, err := e.current(k)
	if err != nil || !found || !obj.IsTombstone() {
		return false, err
	}
	if t := tombstoneTime(obj); now.Before(t.Add(e.opts.TombstoneDelay)) {
		// Deleted again since scheduled, or the clock stepped back.
		e.scheduleReap(k, t)
		return false, nil
	}
	return true, e.be.Delete(k, nil)
}

func (e *Engine) reapLoop(every time.Duration) {
	defer close(e.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.ReapTombstones(context.Background())
		}
	}
}
