// Package httpserver serves Riak KV's HTTP API over a devnode
// service.Service: the same paths (typed /types/T/buckets/B/..., default
// type /buckets/B/..., legacy /riak/B/K), headers (X-Riak-Vclock, ETag,
// Last-Modified, Link, X-Riak-Meta-*, X-Riak-Index-*, X-Riak-Deleted) and
// status codes (300 Multiple Choices with siblings, 304, 404, 412, ...) as
// Riak's webmachine resources. It is part of the devnode, a development
// stand-in for Riak KV; it is not Riak.
//
// New returns the http.Handler; Server wraps it in a net/http server with
// limits (header timeout, header size, body size, idle timeout) and a
// context-bound lifetime.
//
// # Resources
//
//	GET  /ping                                  200 "OK"
//	GET  /stats                                 JSON: Service.Stats, nodename, riak_kv_version
//	GET|HEAD|PUT|POST|DELETE .../keys/K          an object (also /riak/B/K)
//	POST .../buckets/B/keys, POST /riak/B       store under a generated key: 201 + Location
//	GET  .../buckets/B/keys?keys=true|stream     key listing (also /riak/B?keys=...)
//	GET  /types/T/buckets?buckets=true|stream    bucket listing (also /buckets, /riak)
//	GET|PUT|DELETE .../buckets/B/props           bucket properties (GET|PUT /riak/B)
//	GET|PUT /types/T/props                       bucket type properties
//	GET  .../buckets/B/index/I/V[/V2]            secondary index query
//	GET  .../keys/K/preflist                     the key's preference list
//	GET|POST /types/T/buckets/B/datatypes[/K]    Riak data types (riak_kv_wm_crdt)
//
// MapReduce (/mapred), Search (/search/...) and Time Series (/ts/...)
// answer 501 Not Implemented.
//
// # Differences from Riak
//
// The devnode follows Riak 2.x's riak_kv_wm_* resources; where it does not,
// it is listed here.
//
//   - A key or bucket listing without its parameter (keys=true|stream,
//     buckets=true|stream) is 400; Riak answers 200 with "{}".
//   - A quorum the node cannot meet (service.ErrQuorum, e.g. w larger than
//     n_val) is 503; Riak answers an n_val violation with 400.
//   - A put that would exceed the sibling limit (kv.ErrTooManySiblings) is
//     400; Riak answers 500.
//   - User metadata names and index names are case-insensitive in HTTP, and
//     Go canonicalises header names, so both are stored lower-cased and
//     without the X-Riak-Meta- / X-Riak-Index- prefix (Riak stores the
//     metadata header name as sent). Responses write them as stored.
//   - Metadata, index terms and link tags that cannot be written as an HTTP
//     header value (control characters; names that are not tokens) are
//     left out of responses rather than corrupting them. JSON bodies
//     replace invalid UTF-8 in keys and terms with U+FFFD.
//   - Link headers may use the /buckets/B/keys/K or the /riak/B/K form on
//     any resource; links to buckets (rel="up" or any rel) are accepted and
//     ignored. Riak accepts only its API version's form.
//   - Conditional PUTs are atomic where the engine allows it: "If-None-Match:
//     *" becomes kv's if_none_match, and a matching If-Match (or a
//     precondition passed with a clock equal to the stored one) becomes
//     if_not_modified on the clock that was checked, so a concurrent write
//     in between yields 412. Riak's check is advisory. Conditional DELETEs
//     are advisory, as in Riak. For non-GET methods a failed
//     If-Modified-Since is 412 (Riak's webmachine answers 304).
//   - Content negotiation only concerns objects (Accept against the stored
//     content type, 406 when nothing fits) and siblings (text/plain or
//     multipart/mixed); JSON resources ignore Accept and Accept-Encoding
//     (no gzip).
//   - A 404 for a deleted key (tombstone) always carries X-Riak-Vclock and
//     X-Riak-Deleted: true, as Riak's object resource does (it always reads
//     with deletedvclock); ?deletedvclock=true is accepted and changes
//     nothing.
//   - Streamed key and bucket listings are Riak's chunked sequence of JSON
//     objects ending with an empty batch; a streamed index query is Riak's
//     multipart/mixed body with one application/json part per batch and a
//     last part holding the continuation. An error after the stream has
//     started is sent as a final {"error":"..."} object or part.
//   - The props JSON is the devnode's set of properties (kv.BucketProps,
//     plus "name" for buckets), not every property Riak reports
//     (chash_keyfun, linkfun, ... are absent unless set).
//   - pagination_sort is validated and ignored: index results are always
//     sorted. asis is ignored.
//   - Data types in the default bucket type answer Riak's 301 to the
//     legacy counters URL, which the devnode does not serve (404 there).
//   - Data type values and register contents are written as JSON strings
//     (invalid UTF-8 becomes U+FFFD); the "context" is the devnode's own
//     opaque encoding, not Riak's, so contexts do not move between a devnode
//     and a Riak node.
package httpserver
