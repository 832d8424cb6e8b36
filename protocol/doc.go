// Package protocol is RMF-Go's codec for Riak's wire formats: Protocol
// Buffers frames, the message-code table, RpbErrorResp, and the paths of
// Riak's HTTP API. It decodes from []byte and io.Reader and never dials;
// the director, the devnode and the bench tool build on it.
//
// # Frames
//
// Riak PB messages travel as frames:
//
//	+----------------------+--------+-------------------+
//	| length: 4 bytes (BE) | code:1 | protobuf body     |
//	+----------------------+--------+-------------------+
//
// length counts the code byte plus the body, so an empty message (RpbPingReq)
// has length 1. Reader reads frames with a size limit (DefaultMaxFrameSize,
// 64 MiB) and without allocating in steady state; AppendFrame, WriteFrame
// and MarshalFrame write them. Reader.Raw exposes a frame's encoded bytes so
// a proxy relays it without re-encoding.
//
// # Message table
//
// Lookup and Messages describe every code of riak-go-client v1.7.0 and of
// riak_pb's riak_pb_messages.csv (KV, bucket types, Yokozuna, coverage,
// data types, TS, replication, AAE folds, security). For each request the
// table gives:
//
//   - Responses: the codes that may answer it, besides RpbErrorResp, which
//     may answer anything.
//   - Streaming: the answer may span several frames until one carries
//     done = true. RpbListKeysReq, RpbMapRedReq, RpbCSBucketReq and
//     TsListKeysReq always stream; RpbListBucketsReq, RpbIndexReq and
//     TsQueryReq stream only when their stream field is set (StreamFlag; see
//     RequestStreams). StreamDone tells whether a response frame ends the
//     exchange. Coverage, search and Yokozuna requests have single answers.
//   - Retryable: the request only reads, so it may be sent again to another
//     node before any of its response has been relayed. Puts, deletes,
//     bucket and index changes, counter and data-type updates, TS writes
//     and queries (a TS query may be CREATE TABLE or INSERT), replication
//     queue operations and AAE folds that write are not.
//   - ConnScoped: the request reads or changes state held by one server
//     connection: RpbSetClientIdReq and RpbGetClientIdReq (the client id),
//     RpbStartTls (the connection becomes TLS) and RpbAuthReq (the
//     connection becomes authenticated). A proxy that spreads requests over
//     pooled backend connections must answer these itself or pin the client
//     to one backend connection.
//
// RequestKey extracts the bucket type, bucket and key of single-object
// requests for key affinity.
//
// # Errors
//
// Frame-level problems are the sentinels ErrEmptyFrame, ErrFrameTooLarge,
// ErrTruncatedFrame and ErrUnknownCode; bodies that are not protobuf are
// ErrMalformed. Riak's own error answer is built with ErrorResp and read with
// ParseErrorResp.
//
// # HTTP
//
// ParseHTTPPath recognises Riak's HTTP resources (objects, keys, buckets,
// props, 2i, data types, MapReduce, search, TS, ping, stats) and
// HTTPRetryable applies the same retry rule as the PB table.
package protocol
