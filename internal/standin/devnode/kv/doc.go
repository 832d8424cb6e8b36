// Package kv is the storage engine of the devnode: Riak KV object
// semantics over a pluggable backend, with no networking and no protocol
// buffers. The PB and HTTP servers convert their wire types to and from
// the plain types here; a cluster layer (ring, n_val replicas, quorums,
// read repair, hinted catch-up) builds on the replica-level API.
//
// It is a stand-in for Riak KV in tests and development, not Riak.
//
// # Objects and clocks
//
// An Object is one or more sibling Contents under one vector clock
// (VClock), as in Riak without dotted version vectors. Clocks have a
// compact, canonical binary encoding (VClock.Encode / DecodeVClock) that
// clients see as the opaque vclock bytes.
//
// A coordinated Put merges the client's clock with the stored one and
// increments this node's actor (CoordinatePut): a client that read the
// current clock replaces every sibling; a blind or stale write on an
// allow_mult bucket adds a sibling; with allow_mult=false or
// last_write_wins the new value replaces everything. Delete writes a
// tombstone the same way; tombstone-only objects read as not found and
// are reaped after Options.TombstoneDelay (Riak's delete_mode, 3s).
//
// Replicas exchange whole objects: StoreReplica merges an incoming
// version into the local one with Merge (riak_object:syntactic_merge).
//
// # Buckets
//
// Bucket properties are Riak's defaults, overlaid with the bucket type's,
// overlaid with the bucket's own. The "default" type always exists
// (allow_mult=false); created types default to allow_mult=true and must
// be activated before use. Quorum values use the PB encoding (Quorum).
//
// # Secondary indexes
//
// Index names end in _int (64-bit integers, numeric order) or _bin (byte
// order); $bucket and $key are built in. Queries stream results in
// (term, key) order and page with opaque continuation tokens.
//
// # Backends
//
// MemoryBackend (maps plus skiplists) and BoltBackend (one
// go.etcd.io/bbolt file, fsync per commit unless NoSync) share one key
// layout, described in encoding.go.
package kv
