// Package pbserver is the devnode's Riak Protocol Buffers API server: it
// reads Riak PB frames (protocol), answers them from a service.Service
// with Riak KV's semantics and wire conventions, and writes Riak's answers,
// so that riak-go-client and other Riak clients work against the devnode
// unchanged. It is a development stand-in, not Riak: the server version
// says devnode, and requests Riak KV 3.2.3 serves but the devnode does
// not (MapReduce, legacy counters, ...) are answered with an RpbErrorResp
// saying they are "not supported by devnode (RMF-Go development node; not
// Riak)". Requests Riak KV 3.2.3 has no service for (legacy search,
// Yokozuna, coverage, time series, RpbAuthReq with security off) and codes
// it does not know get its own answer, "Unknown message code: N", and
// RpbStartTls its "Security not enabled; STARTTLS not allowed.".
//
// # Served requests
//
// RpbPingReq, RpbGetServerInfoReq, RpbGetClientIdReq / RpbSetClientIdReq
// (per connection), RpbGetReq, RpbPutReq, RpbDelReq, RpbListBucketsReq
// (streamed or not), RpbListKeysReq (streamed), RpbIndexReq (exact and
// range, $bucket and $key, terms, pagination, regex; streamed or not),
// RpbGetBucketReq / RpbSetBucketReq / RpbResetBucketReq,
// RpbGetBucketTypeReq / RpbSetBucketTypeReq,
// RpbGetBucketKeyPreflistReq, and DtFetchReq / DtUpdateReq (Riak data
// types, package crdt; riak_kv_pb_crdt's answers and error texts). Answers follow riak_kv_pb_object and its
// siblings: a missing key is an empty RpbGetResp, a tombstone asked for
// with deletedvclock is an RpbGetResp with only its clock, an unchanged
// object (if_modified) is RpbGetResp{unchanged}, a put answers contents
// and clock only with return_body / return_head and the key only when it
// generated it, and failures are RpbErrorResp with Riak's strings
// ("modified", "match_found", "notfound", "timeout", "Bucket cannot be
// zero-length" ...) and errcode 0, as riak_api sends.
//
// # Connections
//
// Each connection has one goroutine: it reads a frame, answers it with one
// write (one per batch for streamed answers) and reads the next, so
// answers come in request order. Bad input never affects other
// connections. An unknown code, a response code sent as a request, a
// known but unsupported request, an undecodable body ("invalid RpbXReq:
// ...") and an empty frame are each answered with RpbErrorResp and the
// connection goes on; a frame over MaxFrameSize is answered and the
// connection closed (the rest of the stream cannot be trusted); a stream
// ending inside a frame is closed quietly. A panic while serving a request
// is recovered, logged and answered with RpbErrorResp.
//
// # Performance
//
// The hot requests (get, put, delete) are decoded straight from the read
// buffer into a per-connection structure and their answers encoded
// straight into a per-connection write buffer (wire.go), without the
// generated rpb structs; frames are read with protocol.Reader, one read
// syscall per request in steady state. Other requests use the rpb types.
package pbserver
