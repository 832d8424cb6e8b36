// Package service is the contract between the devnode's front ends (the
// Riak PB server and the Riak HTTP server) and whatever answers their
// requests: a single node's kv.Engine, or the cluster coordinator that
// spreads each request over the key's replicas with quorums. The front ends
// translate wire formats; the Service owns semantics.
package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

// ErrQuorum means too few replicas answered to satisfy the request's
// quorum (PB: RpbErrorResp "insufficient_vnodes..."; HTTP: 503).
var ErrQuorum = errors.New("service: quorum not met")

// QuorumError is a quorum failure Riak's FSMs report by name, such as
// {r_val_unsatisfied,2,1}: Want replicas were needed, Got answered.
type QuorumError struct {
	Name      string // r_val_unsatisfied, pr_val_unsatisfied, ...
	Want, Got uint32
	Cause     error // the last replica failure, if any
}

func (e *QuorumError) Error() string {
	msg := fmt.Sprintf("%v: %s: %d of %d", ErrQuorum, e.Name, e.Got, e.Want)
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *QuorumError) Unwrap() error { return ErrQuorum }

// RiakErrorMessage is riak_kv_pb_object's errmsg: the error tuple, printed.
func (e *QuorumError) RiakErrorMessage() string {
	return fmt.Sprintf("{%s,%d,%d}", e.Name, e.Want, e.Got)
}

// RiakHTTPText is riak_kv_wm_object's 503 body ("R-value unsatisfied: 1/2").
func (e *QuorumError) RiakHTTPText() string {
	label := strings.ToUpper(strings.TrimSuffix(e.Name, "_val_unsatisfied"))
	return fmt.Sprintf("%s-value unsatisfied: %d/%d", label, e.Got, e.Want)
}

// ErrUnavailable means the node is not ready to serve (starting, catching up, stopping).
var ErrUnavailable = errors.New("service: node not ready")

// Quorum holds a request's per-request consistency options, as sent by the
// client. Zero means "not given": the bucket's property applies. Values use
// Riak's PB encoding (kv.Quorum: a count, or one/quorum/all/default).
type Quorum struct {
	R, W, PR, PW, DW, RW kv.Quorum
	// NotFoundOK and BasicQuorum override the bucket's when non-nil.
	NotFoundOK, BasicQuorum *bool
	// Timeout bounds the request; zero means the node's default.
	Timeout time.Duration
	// NVal overrides the bucket's n_val for this request (Riak's n_val on get/put); zero: bucket's.
	NVal uint32
	// SloppyQuorum false forbids fallbacks (Riak's sloppy_quorum); nil: allowed.
	SloppyQuorum *bool
}

// PreflistEntry is one replica location of a key (RpbBucketKeyPreflistItem).
type PreflistEntry struct {
	Partition int64
	Node      string
	Primary   bool
}

// ServerInfo is what RpbGetServerInfoResp and /stats report.
type ServerInfo struct {
	Node    string
	Version string // says "devnode": this is not Riak
}

// Stats are counters for /stats.
type Stats map[string]any

// Service answers a Riak node's requests. Implementations are safe for
// concurrent use. Errors are kv's sentinels (kv.ErrNotFound is not used for
// reads: a missing key is GetResult.Found == false), ErrQuorum,
// ErrUnavailable, or context errors.
type Service interface {
	Info() ServerInfo
	Stats() Stats
	// Ping reports whether the node is ready to serve.
	Ping(ctx context.Context) error

	Get(ctx context.Context, req kv.GetRequest, q Quorum) (kv.GetResult, error)
	Put(ctx context.Context, req kv.PutRequest, q Quorum) (kv.PutResult, error)
	Delete(ctx context.Context, req kv.DeleteRequest, q Quorum) error

	// ListBuckets and ListKeys stream batches to fn until done or fn fails.
	ListBuckets(ctx context.Context, typ string, fn func(buckets []string) error) error
	ListKeys(ctx context.Context, typ, bucket string, fn func(keys []string) error) error
	// IndexQuery streams (term, key) ordered batches; see kv.Engine.IndexQuery.
	IndexQuery(ctx context.Context, q kv.IndexQuery, fn func([]kv.IndexResult) error) (continuation string, err error)

	BucketProps(ctx context.Context, typ, bucket string) (kv.BucketProps, error)
	SetBucketProps(ctx context.Context, typ, bucket string, u kv.PropsUpdate) error
	ResetBucketProps(ctx context.Context, typ, bucket string) error
	BucketType(ctx context.Context, name string) (kv.BucketType, error)
	// SetBucketTypeProps updates an active type's props (RpbSetBucketTypeReq).
	SetBucketTypeProps(ctx context.Context, name string, u kv.PropsUpdate) error

	Preflist(ctx context.Context, typ, bucket, key string) ([]PreflistEntry, error)
}
