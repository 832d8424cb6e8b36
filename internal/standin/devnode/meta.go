package devnode

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

// ClusterMeta is the cluster-wide metadata of a devnode cluster: bucket
// types and bucket properties (Riak keeps these in its ring metadata).
// Every entry carries the time it was set; a merge keeps the newest, so
// nodes converge however the updates reach them.
type ClusterMeta struct {
	Types   map[string]TypeMeta   `json:"types,omitempty"`
	Buckets map[string]BucketMeta `json:"buckets,omitempty"` // key: type + "/" + bucket
}

// TypeMeta is a bucket type's props as set by an operator.
type TypeMeta struct {
	Props kv.PropsUpdate `json:"props"`
	At    time.Time      `json:"at"`
}

// BucketMeta is a bucket's own props; nil Props means reset to the type's.
type BucketMeta struct {
	Type   string          `json:"type"`
	Bucket string          `json:"bucket"`
	Props  *kv.PropsUpdate `json:"props,omitempty"`
	At     time.Time       `json:"at"`
}

const metaKey = "devnode.cluster_meta"

// metaStore owns ClusterMeta: it applies entries to the engine and
// persists them in the engine's metadata.
type metaStore struct {
	engine *kv.Engine
	mu     sync.Mutex
	cur    ClusterMeta
}

func newMetaStore(e *kv.Engine) *metaStore {
	ms := &metaStore{engine: e, cur: ClusterMeta{Types: map[string]TypeMeta{}, Buckets: map[string]BucketMeta{}}}
	if data, ok, err := e.GetMeta(metaKey); err == nil && ok {
		var m ClusterMeta
		if json.Unmarshal(data, &m) == nil {
			for k, v := range m.Types {
				ms.cur.Types[k] = v
			}
			for k, v := range m.Buckets {
				ms.cur.Buckets[k] = v
			}
		}
	}
	return ms
}

// snapshot returns a copy of the metadata.
func (ms *metaStore) snapshot() ClusterMeta {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := ClusterMeta{Types: map[string]TypeMeta{}, Buckets: map[string]BucketMeta{}}
	for k, v := range ms.cur.Types {
		out.Types[k] = v
	}
	for k, v := range ms.cur.Buckets {
		out.Buckets[k] = v
	}
	return out
}

// setType creates (if create) or updates a bucket type here, returning the
// change to send to the other members.
func (ms *metaStore) setType(name string, u kv.PropsUpdate, active, create bool) (ClusterMeta, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if !create {
		if _, err := ms.engine.BucketType(name); err != nil {
			return ClusterMeta{}, err
		}
	}
	tm := TypeMeta{Props: u, At: time.Now().UTC()}
	if old, ok := ms.cur.Types[name]; ok && !create {
		// An update of an existing type keeps what was set before.
		merged, err := mergeUpdates(old.Props, u)
		if err != nil {
			return ClusterMeta{}, err
		}
		tm.Props = merged
	}
	if err := ms.applyType(name, tm); err != nil {
		return ClusterMeta{}, err
	}
	ms.cur.Types[name] = tm
	return ClusterMeta{Types: map[string]TypeMeta{name: tm}}, ms.persist()
}

// mergeUpdates overlays u on base (both in ParseProps's bare JSON form).
func mergeUpdates(base, u kv.PropsUpdate) (kv.PropsUpdate, error) {
	var a, b map[string]json.RawMessage
	ab, _ := json.Marshal(base)
	bb, _ := json.Marshal(u)
	if err := json.Unmarshal(ab, &a); err != nil {
		return kv.PropsUpdate{}, err
	}
	if err := json.Unmarshal(bb, &b); err != nil {
		return kv.PropsUpdate{}, err
	}
	if a == nil {
		a = map[string]json.RawMessage{}
	}
	for k, v := range b {
		a[k] = v
	}
	out, _ := json.Marshal(a)
	return kv.ParseProps(out)
}

func (ms *metaStore) applyType(name string, tm TypeMeta) error {
	if name == "default" {
		return ms.engine.UpdateBucketType(name, tm.Props)
	}
	if _, err := ms.engine.BucketType(name); errors.Is(err, kv.ErrNoType) {
		if err := ms.engine.CreateBucketType(name, tm.Props); err != nil {
			return err
		}
		return ms.engine.ActivateBucketType(name)
	} else if err != nil && !errors.Is(err, kv.ErrTypeNotActive) {
		return err
	}
	if err := ms.engine.UpdateBucketType(name, tm.Props); err != nil && !errors.Is(err, kv.ErrTypeNotActive) {
		return err
	}
	if err := ms.engine.ActivateBucketType(name); err != nil && !errors.Is(err, kv.ErrTypeExists) {
		return err
	}
	return nil
}

// setBucket sets (u non-nil) or resets a bucket's props here.
func (ms *metaStore) setBucket(typ, bucket string, u *kv.PropsUpdate) (ClusterMeta, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	bm := BucketMeta{Type: typ, Bucket: bucket, Props: u, At: time.Now().UTC()}
	if err := ms.applyBucket(bm); err != nil {
		return ClusterMeta{}, err
	}
	ms.cur.Buckets[typ+"/"+bucket] = bm
	return ClusterMeta{Buckets: map[string]BucketMeta{typ + "/" + bucket: bm}}, ms.persist()
}

func (ms *metaStore) applyBucket(bm BucketMeta) error {
	if bm.Props == nil {
		return ms.engine.ResetBucketProps(bm.Type, bm.Bucket)
	}
	return ms.engine.SetBucketProps(bm.Type, bm.Bucket, *bm.Props)
}

// apply merges metadata from a peer: newer entries win and are applied.
func (ms *metaStore) apply(m ClusterMeta) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var errs []error
	changed := false
	// Types first: bucket props may name a type created in the same batch.
	for name, tm := range m.Types {
		if old, ok := ms.cur.Types[name]; ok && !tm.At.After(old.At) {
			continue
		}
		if err := ms.applyType(name, tm); err != nil {
			errs = append(errs, fmt.Errorf("bucket type %s: %w", name, err))
			continue
		}
		ms.cur.Types[name] = tm
		changed = true
	}
	for k, bm := range m.Buckets {
		if old, ok := ms.cur.Buckets[k]; ok && !bm.At.After(old.At) {
			continue
		}
		if err := ms.applyBucket(bm); err != nil {
			errs = append(errs, fmt.Errorf("bucket %s: %w", k, err))
			continue
		}
		ms.cur.Buckets[k] = bm
		changed = true
	}
	if changed {
		errs = append(errs, ms.persist())
	}
	return errors.Join(errs...)
}

func (ms *metaStore) persist() error {
	data, err := json.Marshal(ms.cur)
	if err != nil {
		return err
	}
	return ms.engine.PutMeta(metaKey, data)
}
