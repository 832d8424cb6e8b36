// Package director is the RMF-Go sidecar: it makes a changing set of Riak
// nodes look like one always-up localhost endpoint. This package holds its
// Riak PB proxy core (Proxy), its Riak HTTP proxy (Proxy.HTTPHandler), its
// ZooKeeper discovery (Discovery), and its admin listener
// (Proxy.AdminHandler) over a go-memdb connection table (Proxy.Table).
//
// # Per-request balancing
//
// Each client connection is served by one goroutine. It reads a request
// frame (protocol.Reader, size limit), asks the balancer for a node
// (balancer.Set.Pick: least outstanding requests by default, among nodes
// that are healthy and whose circuit breaker is not open), writes the raw
// frame in one Write to an idle pooled connection to that node, reads the
// answer and writes it to the client in one Write, without re-encoding and
// without handing the request to another goroutine. A client connection is
// never tied to a node: the next request may go elsewhere, so node churn is
// invisible between requests. Requests a client pipelines are answered in
// order, and their answers are written together.
//
// Each node has a pool of backend connections: a LIFO idle list (at most
// MaxIdlePerNode; unused ones close after BackendIdleTimeout) and new
// connections dialed on demand (DialTimeout).
//
// # Streaming
//
// Answers that span several frames (list keys, MapReduce, CS bucket folds,
// and list buckets, 2i and TS queries with their stream flag: see
// protocol.RequestStreams and protocol.StreamDone) stay on one backend
// connection until the frame that ends them. Frames are written to the
// client as they come, at the latest whenever 32 KiB are pending or the
// node has nothing more buffered.
//
// # Connection-scoped requests: pinning
//
// RpbSetClientIdReq, RpbGetClientIdReq, RpbStartTls and RpbAuthReq read or
// change state held by the server connection they travel on
// (protocol.Message.ConnScoped). The first such request pins the client
// connection to one dedicated backend connection, taken from a node's pool
// and never returned to it: that request and every later one of the client
// go there, for the rest of the client connection's life. Pinned requests
// are not failed over (the state would be lost): if the pinned backend
// connection fails, the client gets an RpbErrorResp when nothing of the
// answer was relayed yet, and its connection is closed. After RpbStartTls is
// answered with RpbStartTls, the connection becomes a byte tunnel between
// the client and the node, which then run TLS (and RpbAuthReq) end to end.
//
// # Failover
//
// A request that fails before any byte of its answer reached the client is
// sent again to another node (Set.Pick excluding the nodes tried), up to
// MaxAttempts nodes and within RequestTimeout:
//
//   - always, when the node never received it: the dial failed, or not one
//     byte of it could be written;
//   - otherwise only when the protocol table marks it retryable
//     (protocol.Message.Retryable: reads). A write (put, delete, bucket
//     change, counter or data-type update, ...) that reached a node is not
//     repeated: the client gets an RpbErrorResp saying so.
//
// Before a non-retryable request is written on a reused connection, one
// non-blocking MSG_PEEK makes sure the node has not closed it while idle,
// so a write is not lost to a connection that died in the pool. A failure
// on a reused connection before any answer is retried once on the same node
// over a new connection. If a node fails after part of a streamed answer
// reached the client, the client connection is closed: never a duplicated
// or half-sent answer.
//
// When no node is available the director answers
// RpbErrorResp("director: no available Riak node ...") at once.
//
// # Circuit breakers and health
//
// Each attempt is bracketed by balancer.Node.Begin and its done function.
// Transport failures count against the node's breaker (balancer.Failure):
// dial errors, resets, end of stream in the middle of an answer, malformed
// answers and timeouts (TryTimeout, RequestTimeout). Riak's own answers,
// RpbErrorResp included (notfound, modified, ...), are successes. A client
// that goes away is no verdict on the node (balancer.Abandoned). After a
// transport failure the node's idle connections are closed: they are most
// likely dead too.
//
// Active checks: every HealthInterval one goroutine per node dials it,
// sends RpbPingReq and expects RpbPingResp within HealthTimeout, and
// records the result with balancer.Node.RecordCheck (Health thresholds).
//
// # HTTP proxy
//
// Proxy.HTTPHandler serves Riak's HTTP API over the same nodes (those with
// an HTTPAddr), breakers, health checks and settings as the PB proxy. Each
// request is checked (protocol.ParseHTTPPath: an unknown resource is 400),
// balanced with Set.Pick, and forwarded by net/http/httputil.ReverseProxy
// over a pooled http.Transport per node (MaxIdlePerNode idle connections,
// BackendIdleTimeout, DialTimeout, TryTimeout as the wait for response
// headers). Riak's headers (X-Riak-Vclock, X-Riak-Meta-*, X-Riak-Index-*,
// Link, ETag, Last-Modified, Content-Type, ...), bodies (multipart too) and
// status codes (300, 304, 404, 412, ...) pass untouched; hop-by-hop headers
// are removed both ways, X-Forwarded-For is appended, and every write of
// the response is flushed, so streamed listings (keys=stream,
// buckets=stream) and streamed 2i queries (stream=true) reach the client
// as the node sends them. Request bodies are bounded by MaxFrameSize (413).
//
// The ReverseProxy's transport does the balancing and failover: it returns
// only once a node's response headers have arrived, so every retry happens
// before anything of the response reached the client. A request that fails
// with a transport error (dial, reset, end of stream, TryTimeout) is sent to
// another node, up to MaxAttempts nodes within RequestTimeout:
//
//   - always when the dial failed: the node never got it;
//   - otherwise only when protocol.HTTPRetryable says it is safe (GET, HEAD,
//     OPTIONS, POST /mapred; such a request's body is read whole first, so
//     it can be sent again). A PUT, POST or DELETE that reached a node is
//     not repeated: the client gets 502 saying so.
//
// Transport failures count against the node's breaker (balancer.Failure)
// and close its idle HTTP connections. Every HTTP status from Riak, 5xx
// included, is an answer (balancer.Success) and is relayed, not retried:
// as with RpbErrorResp on PB, Riak's 503 (quorum not met, overload) comes
// from a live node, and the other nodes, in the same cluster, would
// generally answer the same while the retry doubled the load. A node that
// stops answering is caught by the transport errors and the active checks.
// If a node fails after the status line was relayed, the client's
// connection is cut (the response is incomplete, never silently short).
//
// The director's own answers are plain text starting with "director: ":
// 400 bad path, 413 body too large, 503 (with Retry-After) when no node
// with an HTTP address is available or the proxy is shutting down, 502 when
// the nodes tried all failed or a write failed after it was sent, 504 when
// RequestTimeout ran out. Shutdown waits for HTTP requests in flight (later
// ones get 503); Close and a forced Shutdown abort them. Both close the
// backend HTTP connections; removing a node closes its idle ones, and its
// busy ones after their response. The http.Server in front of the handler
// belongs to the caller. Active health checks start with the first Serve
// of a PB listener.
//
// # Limits
//
// MaxConns pauses accepting at the cap; IdleTimeout closes silent clients;
// RequestTimeout bounds a request, retries included, and a client that does
// not read its answers; MaxFrameSize bounds frames both ways: an oversized
// request is answered with RpbErrorResp and its connection closed. Unknown
// codes, empty frames and frames that are not requests are answered with
// RpbErrorResp and the connection goes on; garbage that breaks framing or a
// truncated frame closes that connection only.
//
// # Node changes
//
// SetNodes replaces the node set (static --node list, or discovery).
// Removed nodes are drained: no new requests, in-flight ones finish, idle
// connections close now and busy ones when their request ends.
//
// # Admin listener and connection table
//
// Proxy.AdminHandler serves GET / (an HTML status page, rendered on the
// server and refreshed by a small script from /status), GET /status
// (StatusDoc as JSON), GET /metrics (Prometheus text from a Collector that
// reads Stats at scrape time) and GET /health (200 while a node is
// available, else 503). Per node it shows state (up, down, draining),
// breaker, in flight, requests, failures, p50/p99 latency (a lock-free
// histogram of power-of-two microsecond buckets: one atomic add per
// request), backend connections (idle, busy, pinned); and the discovery
// source and freshness.
//
// Proxy.Table is a hashicorp/go-memdb table of nodes, backend connections
// and client connections, indexed by node and by state. Rows are written
// when a connection opens, is pinned, becomes a tunnel or closes, and when
// the node set changes: never per request. The columns traffic changes
// (a backend connection idle or busy, a node up or down) are updated in one
// batched write when Proxy.Table is called. Config.DisableConnTable turns
// it off, to measure that it costs the request path nothing.
//
// # Lifetimes
//
// Serve(ctx, ln) serves a listener until ctx ends (then its connections
// close at once) or until Shutdown (graceful: idle client connections
// close, busy ones after their current answer) or Close (immediate).
// Shutdown and Close also stop the health checkers and close every backend
// connection. Stats and Conns are snapshots for the admin page and metrics.
package director
