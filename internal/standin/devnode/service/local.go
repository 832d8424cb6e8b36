package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

// Version is the server version every devnode reports. It says devnode on
// purpose: clients and operators must never mistake it for Riak KV.
const Version = "devnode-0.1 (RMF-Go development node; not Riak KV)"

// Local serves every request from one node's engine: a cluster of one. Each
// key has exactly one replica, so quorum options are accepted and met
// trivially (a quorum larger than n_val is still refused, as Riak does).
type Local struct {
	Engine *kv.Engine
	Node   string // the node's name, e.g. dev1@127.0.0.1
}

var _ Service = (*Local)(nil)

// NewLocal returns a single-node service over engine.
func NewLocal(engine *kv.Engine, node string) *Local { return &Local{Engine: engine, Node: node} }

// Info implements Service.
func (l *Local) Info() ServerInfo { return ServerInfo{Node: l.Node, Version: Version} }

// Stats implements Service.
func (l *Local) Stats() Stats {
	return Stats{"nodename": l.Node, "riak_kv_version": Version, "ring_members": []string{l.Node}, "connected_nodes": []string{}}
}

// Ping implements Service.
func (l *Local) Ping(ctx context.Context) error { return ctx.Err() }

// NewKey returns a random key for a put without one, as Riak generates.
func NewKey() string {
	var b [15]byte
	rand.Read(b[:])
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString(b[:]), "=")
}

// Get implements Service.
func (l *Local) Get(ctx context.Context, req kv.GetRequest, q Quorum) (kv.GetResult, error) {
	if err := l.checkQuorum(req.Type, req.Bucket, q.R, q.PR); err != nil {
		return kv.GetResult{}, err
	}
	return l.Engine.Get(ctx, req)
}

// Put implements Service.
func (l *Local) Put(ctx context.Context, req kv.PutRequest, q Quorum) (kv.PutResult, error) {
	if err := l.checkQuorum(req.Type, req.Bucket, q.W, q.PW, q.DW); err != nil {
		return kv.PutResult{}, err
	}
	if req.Key == "" {
		req.Key = NewKey()
	}
	return l.Engine.Put(ctx, req)
}

// Delete implements Service.
func (l *Local) Delete(ctx context.Context, req kv.DeleteRequest, q Quorum) error {
	if err := l.checkQuorum(req.Type, req.Bucket, q.RW, q.W, q.PW, q.DW); err != nil {
		return err
	}
	return l.Engine.Delete(ctx, req)
}

// checkQuorum refuses explicit quorums that one node cannot meet: more than
// the bucket's n_val, like Riak's "n_val_violation".
func (l *Local) checkQuorum(typ, bucket string, qs ...kv.Quorum) error {
	props, err := l.Engine.BucketProps(typ, bucket)
	if err != nil {
		return err
	}
	for _, q := range qs {
		if q != 0 && !q.IsSymbolic() && uint32(q) > props.NVal {
			return fmt.Errorf("%w: quorum %d exceeds n_val %d", ErrQuorum, uint32(q), props.NVal)
		}
	}
	return nil
}

// ListBuckets implements Service.
func (l *Local) ListBuckets(ctx context.Context, typ string, fn func([]string) error) error {
	return l.Engine.ListBuckets(ctx, typ, fn)
}

// ListKeys implements Service.
func (l *Local) ListKeys(ctx context.Context, typ, bucket string, fn func([]string) error) error {
	return l.Engine.ListKeys(ctx, typ, bucket, fn)
}

// IndexQuery implements Service.
func (l *Local) IndexQuery(ctx context.Context, q kv.IndexQuery, fn func([]kv.IndexResult) error) (string, error) {
	return l.Engine.IndexQuery(ctx, q, fn)
}

// BucketProps implements Service.
func (l *Local) BucketProps(_ context.Context, typ, bucket string) (kv.BucketProps, error) {
	return l.Engine.BucketProps(typ, bucket)
}

// SetBucketProps implements Service.
func (l *Local) SetBucketProps(_ context.Context, typ, bucket string, u kv.PropsUpdate) error {
	return l.Engine.SetBucketProps(typ, bucket, u)
}

// ResetBucketProps implements Service.
func (l *Local) ResetBucketProps(_ context.Context, typ, bucket string) error {
	return l.Engine.ResetBucketProps(typ, bucket)
}

// BucketType implements Service.
func (l *Local) BucketType(_ context.Context, name string) (kv.BucketType, error) {
	return l.Engine.BucketType(name)
}

// SetBucketTypeProps implements Service.
func (l *Local) SetBucketTypeProps(_ context.Context, name string, u kv.PropsUpdate) error {
	return l.Engine.UpdateBucketType(name, u)
}

// Preflist implements Service: one primary, this node, on partition 0.
func (l *Local) Preflist(_ context.Context, typ, bucket, key string) ([]PreflistEntry, error) {
	if _, err := l.Engine.BucketProps(typ, bucket); err != nil {
		return nil, err
	}
	if key == "" {
		return nil, kv.ErrInvalidKey
	}
	return []PreflistEntry{{Partition: 0, Node: l.Node, Primary: true}}, nil
}
