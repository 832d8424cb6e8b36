package kv

import "errors"

// Sentinel errors. Operations wrap them with %w and a short context; test
// with errors.Is. Where Riak has a well-known error string the message
// follows it ("notfound", "modified", "match_found").
var (
	// ErrNotFound: the object does not exist or is a tombstone
	// (if_not_modified on a missing key).
	ErrNotFound = errors.New("kv: notfound")
	// ErrModified: if_not_modified was set and the supplied vclock is not
	// the stored one.
	ErrModified = errors.New("kv: modified")
	// ErrExists: if_none_match was set and a live object exists.
	ErrExists = errors.New("kv: match_found")

	ErrInvalidBucketType = errors.New("kv: invalid bucket type name")
	ErrInvalidBucket     = errors.New("kv: invalid bucket name")
	ErrInvalidKey        = errors.New("kv: invalid key")
	ErrInvalidContent    = errors.New("kv: invalid content")
	ErrInvalidVClock     = errors.New("kv: invalid vclock")
	ErrInvalidIndex      = errors.New("kv: invalid secondary index")
	ErrInvalidQuery      = errors.New("kv: invalid index query")
	// ErrInvalidContinuation: a 2i continuation token that this package
	// did not produce.
	ErrInvalidContinuation = errors.New("kv: invalid continuation")
	ErrInvalidProps        = errors.New("kv: invalid bucket properties")
	// ErrUnsupportedProp: a bucket property whose semantics the devnode
	// does not implement (datatype, consistent, write_once).
	ErrUnsupportedProp = errors.New("kv: unsupported bucket property")

	// ErrTooLarge: the resulting object would exceed Options.MaxObjectSize.
	ErrTooLarge = errors.New("kv: object too large")
	// ErrTooManySiblings: the put would exceed Options.MaxSiblings.
	ErrTooManySiblings = errors.New("kv: too many siblings")

	// ErrNoType: the bucket type does not exist.
	ErrNoType = errors.New("kv: no bucket type")
	// ErrTypeNotActive: the bucket type exists but has not been activated.
	ErrTypeNotActive = errors.New("kv: bucket type not active")
	// ErrTypeExists: CreateBucketType on an existing type.
	ErrTypeExists = errors.New("kv: bucket type already exists")

	// ErrCorrupt: stored bytes could not be decoded.
	ErrCorrupt = errors.New("kv: corrupt stored data")
	// ErrClosed: the engine or backend has been closed.
	ErrClosed = errors.New("kv: closed")
)
