package crdt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
)

// BucketError is why a bucket cannot hold data types; its message is
// Riak's (riak_kv_pb_crdt, riak_kv_wm_crdt).
type BucketError struct {
	NoType   bool   // the bucket type does not exist
	Type     string // the bucket type
	NotMult  bool   // allow_mult is false
	Datatype string // the bucket's datatype ("" for none); else unsupported
}

func (e *BucketError) Error() string {
	switch {
	case e.NoType:
		return fmt.Sprintf("Error no bucket type `<<%q>>`", e.Type)
	case e.NotMult:
		return "Bucket must be allow_mult=true"
	}
	return fmt.Sprintf("Bucket datatype `%s` is not a supported type", datatypeName(e.Datatype))
}

func datatypeName(dt string) string {
	if dt == "" {
		return "undefined"
	}
	return dt
}

// HTTPMessage is the error text riak_kv_wm_crdt answers with.
func (e *BucketError) HTTPMessage() string {
	switch {
	case e.NoType:
		return "Unknown bucket type: " + e.Type + "\n"
	case e.NotMult:
		return "Bucket must be allow_mult=true\n"
	}
	return fmt.Sprintf("Bucket datatype '%s' is not a supported type.\n", datatypeName(e.Datatype))
}

// BucketKind returns the data type a bucket holds, or a *BucketError.
func BucketKind(ctx context.Context, svc service.Service, typ, bucket string) (Kind, error) {
	p, err := svc.BucketProps(ctx, typ, bucket)
	if errors.Is(err, kv.ErrNoType) {
		return "", &BucketError{NoType: true, Type: typ}
	}
	if err != nil {
		return "", err
	}
	if !p.AllowMult {
		return "", &BucketError{NotMult: true, Type: typ, Datatype: p.Datatype}
	}
	k, ok := ParseKind(p.Datatype)
	if !ok {
		return "", &BucketError{Type: typ, Datatype: p.Datatype}
	}
	return k, nil
}

// Read is a fetched value.
type Read struct {
	Found  bool
	Value  *Value // the empty value of the kind when not found
	VClock kv.VClock
}

// Fetch reads a key through svc and merges its siblings by CRDT merge
// (siblings that are not data types, written by a plain put, are left out).
func Fetch(ctx context.Context, svc service.Service, kind Kind, typ, bucket, key string, q service.Quorum) (Read, error) {
	res, err := svc.Get(ctx, kv.GetRequest{Type: typ, Bucket: bucket, Key: key, DeletedVClock: true}, q)
	if err != nil {
		return Read{}, err
	}
	r := Read{Value: New(kind), VClock: res.Object.VClock}
	if !res.Found {
		return r, nil
	}
	for _, s := range res.Object.Siblings {
		if s.Deleted || s.ContentType != ContentType {
			continue
		}
		v, err := Decode(s.Value)
		if err != nil {
			return Read{}, fmt.Errorf("%s/%s/%s: %w", typ, bucket, key, err)
		}
		if v.Kind != kind {
			continue
		}
		if r.Found {
			r.Value = Merge(r.Value, v)
		} else {
			r.Value, r.Found = v, true // decoded afresh: nothing shares it
		}
	}
	return r, nil
}

// Update is one DtUpdateReq.
type Update struct {
	Type, Bucket string
	Key          string // "": generate one
	Op           Op
	Context      []byte // the client's context; nil: none
	Quorum       service.Quorum
}

// Updated is an update's outcome: the key (generated or given) and the
// value written.
type Updated struct {
	Key   string
	Value *Value
}

// actorSuffix makes this process's actors distinct from an earlier run's:
// a node that lost its memory backend must not reuse its old dots.
var actorSuffix = func() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// keyLocks serialise read-apply-write cycles per key on this process, so
// one actor never issues the same dot twice.
var (
	keyLocks [256]sync.Mutex
	lockSeed = maphash.MakeSeed()
)

func lockFor(node, typ, bucket, key string) *sync.Mutex {
	var h maphash.Hash
	h.SetSeed(lockSeed)
	for _, s := range []string{node, typ, bucket, key} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	return &keyLocks[h.Sum64()%uint64(len(keyLocks))]
}

// Apply runs Riak's update: read the key (siblings merged), apply the op
// as this node's actor, write the result with the clock read (which
// resolves the siblings it merged). kind is the bucket's datatype.
func Apply(ctx context.Context, svc service.Service, kind Kind, u Update) (Updated, error) {
	if u.Op.Kind() != kind {
		return Updated{}, &OpKindError{Op: u.Op.Kind(), Bucket: kind}
	}
	var opCtx VClock
	if len(u.Context) > 0 {
		c, err := DecodeContext(u.Context)
		if err != nil {
			return Updated{}, err
		}
		opCtx = c
	}
	key := u.Key
	if key == "" {
		key = NewKey()
	}
	node := svc.Info().Node
	mu := lockFor(node, u.Type, u.Bucket, key)
	mu.Lock()
	defer mu.Unlock()
	r, err := Fetch(ctx, svc, kind, u.Type, u.Bucket, key, service.Quorum{Timeout: u.Quorum.Timeout})
	if err != nil {
		return Updated{}, err
	}
	v := r.Value
	if err := ApplyOp(v, u.Op, node+"/"+actorSuffix, opCtx, func() int64 { return time.Now().UnixNano() }); err != nil {
		return Updated{}, err
	}
	_, err = svc.Put(ctx, kv.PutRequest{
		Type: u.Type, Bucket: u.Bucket, Key: key, VClock: r.VClock,
		Content: kv.Content{Value: Encode(v), ContentType: ContentType},
	}, u.Quorum)
	if err != nil {
		return Updated{}, err
	}
	return Updated{Key: key, Value: v}, nil
}

// OpKindError is an operation for another data type than the bucket's.
type OpKindError struct{ Op, Bucket Kind }

func (e *OpKindError) Error() string {
	return fmt.Sprintf("Operation type is `%s` but  bucket type is `%s`.", e.Op, e.Bucket)
}

const keyAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewKey returns a random key like Riak's generated ones (base 62).
func NewKey() string {
	b := make([]byte, 22)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = keyAlphabet[int(b[i])%len(keyAlphabet)]
	}
	return string(b)
}
