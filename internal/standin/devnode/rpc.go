package devnode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/ring"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
)

// The devnode's internal protocol: JSON over HTTP on the node's HTTP port,
// under InternalPrefix. It carries replica reads and writes, forwarded
// writes, listings, metadata and gossip between the members of a devnode
// cluster. It is not part of Riak's API; clients never need it.
const InternalPrefix = "/_devnode/v1/"

// maxInternalBody bounds an internal request body (an object plus JSON overhead).
const maxInternalBody = 128 << 20

// transportError marks a failure to reach a peer (as opposed to an answer).
type transportError struct{ err error }

func (e *transportError) Error() string { return "devnode: peer unreachable: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func isTransport(err error) bool {
	var te *transportError
	return errors.As(err, &te)
}

// sentinels travel between nodes by their message, so a forwarded write
// fails with the same error as a local one.
var sentinels = []error{
	kv.ErrNotFound, kv.ErrModified, kv.ErrExists, kv.ErrInvalidBucketType, kv.ErrInvalidBucket,
	kv.ErrInvalidKey, kv.ErrInvalidContent, kv.ErrInvalidVClock, kv.ErrInvalidIndex, kv.ErrInvalidQuery,
	kv.ErrInvalidContinuation, kv.ErrInvalidProps, kv.ErrUnsupportedProp, kv.ErrTooLarge,
	kv.ErrTooManySiblings, kv.ErrNoType, kv.ErrTypeNotActive, kv.ErrTypeExists,
	service.ErrQuorum, service.ErrUnavailable,
}

type errorBody struct {
	Error string `json:"error"`
	Kind  string `json:"kind,omitempty"`
}

func encodeError(err error) errorBody {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return errorBody{Error: err.Error(), Kind: s.Error()}
		}
	}
	return errorBody{Error: err.Error()}
}

func decodeError(b errorBody) error {
	for _, s := range sentinels {
		if b.Kind == s.Error() {
			if s == service.ErrUnavailable {
				return &transportError{err: fmt.Errorf("%w: %s", s, b.Error)}
			}
			return fmt.Errorf("%w (remote: %s)", s, b.Error)
		}
	}
	return errors.New("devnode: remote: " + b.Error)
}

// Wire types carry names, keys and terms as []byte (base64 in JSON): Riak
// keys are arbitrary bytes, which JSON strings would mangle.

type keyRef struct {
	Type   []byte `json:"type"`
	Bucket []byte `json:"bucket"`
	Key    []byte `json:"key"`
}

func ref(typ, bucket, key string) keyRef {
	return keyRef{[]byte(typ), []byte(bucket), []byte(key)}
}

type storeArgs struct {
	keyRef
	Object kv.Object `json:"object"`
}

// putArgs is a forwarded put: the request's names and content travel in
// byte-safe fields, the rest of kv.PutRequest as it is.
type putArgs struct {
	keyRef
	Req     kv.PutRequest  `json:"req"`
	Content kv.Object      `json:"content"` // one sibling: the new content
	Q       service.Quorum `json:"q"`
}

func newPutArgs(req kv.PutRequest, q service.Quorum) putArgs {
	a := putArgs{keyRef: ref(req.Type, req.Bucket, req.Key), Content: kv.Object{Siblings: []kv.Content{req.Content}}, Q: q}
	req.Type, req.Bucket, req.Key, req.Content = "", "", "", kv.Content{}
	a.Req = req
	return a
}

func (a putArgs) request() (kv.PutRequest, error) {
	if len(a.Content.Siblings) != 1 {
		return kv.PutRequest{}, fmt.Errorf("%w: forwarded put without content", kv.ErrInvalidContent)
	}
	req := a.Req
	req.Type, req.Bucket, req.Key, req.Content = string(a.Type), string(a.Bucket), string(a.Key), a.Content.Siblings[0]
	return req, nil
}

type deleteArgs struct {
	keyRef
	VClock kv.VClock      `json:"vclock"`
	Q      service.Quorum `json:"q"`
}

func (a deleteArgs) request() kv.DeleteRequest {
	return kv.DeleteRequest{Type: string(a.Type), Bucket: string(a.Bucket), Key: string(a.Key), VClock: a.VClock}
}

type listArgs struct {
	Type   []byte `json:"type"`
	Bucket []byte `json:"bucket,omitempty"`
}

type listReply struct {
	Items [][]byte `json:"items"`
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func toStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// indexArgs is kv.IndexQuery with its byte fields made safe.
type indexArgs struct {
	Type, Bucket, Index, Term, Min, Max []byte
	Range, ReturnTerms                  bool
	MaxResults                          uint32
	Continuation, TermRegex             []byte
}

func newIndexArgs(q kv.IndexQuery) indexArgs {
	return indexArgs{[]byte(q.Type), []byte(q.Bucket), []byte(q.Index), []byte(q.Term), []byte(q.Min), []byte(q.Max),
		q.Range, q.ReturnTerms, q.MaxResults, []byte(q.Continuation), []byte(q.TermRegex)}
}

func (a indexArgs) query() kv.IndexQuery {
	return kv.IndexQuery{Type: string(a.Type), Bucket: string(a.Bucket), Index: string(a.Index), Range: a.Range,
		Term: string(a.Term), Min: string(a.Min), Max: string(a.Max), ReturnTerms: a.ReturnTerms,
		MaxResults: a.MaxResults, Continuation: string(a.Continuation), TermRegex: string(a.TermRegex)}
}

type indexResult struct {
	Term []byte `json:"t,omitempty"`
	Key  []byte `json:"k"`
}

type indexReply struct {
	Results      []indexResult `json:"results"`
	Continuation []byte        `json:"continuation"`
}

type handoffArgs struct {
	Node string `json:"node"`
}

// peerClient calls other members' internal endpoints on behalf of member self.
type peerClient struct {
	self string
	http *http.Client
}

// peerIdleConns bounds the idle connections kept to one peer. Every call
// in flight holds a connection of its own (HTTP/1.1), so a peer that
// stalls for 50 ms leaves its callers with a connection per call of those
// 50 ms; at 64 they closed the excess on its answers and dialled again at
// its next stall (570 connections a second with one peer frozen 50 ms of
// every 100). Riak's members share one connection and do not churn.
const peerIdleConns = 1024

func newPeerClient(self string) *peerClient {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: peerIdleConns,
		IdleConnTimeout:     60 * time.Second,
	}
	return &peerClient{self: self, http: &http.Client{Transport: tr}}
}

// headerTo names the member an internal request is meant for. A node
// answers a request meant for another name with 421 Misdirected Request:
// the member that had this address is gone and another node (of this
// cluster or another one) now listens there. The sender treats that member
// as unreachable; without the check, gossip would merge two clusters into
// one ring and writes, reads and catch-up would go to a stranger.
const headerTo = "X-Devnode-To"

// headerFrom names the member that sends an internal request.
const headerFrom = "X-Devnode-From"

// newRequest builds an internal request to member to.
func (p *peerClient) newRequest(ctx context.Context, to Member, op, contentType string, body []byte) (*http.Request, error) {
	if to.HTTP == "" {
		return nil, &transportError{err: fmt.Errorf("%s: no address for member %q", op, to.Name)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+to.HTTP+InternalPrefix+op, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(headerTo, to.Name)
	req.Header.Set(headerFrom, p.self)
	return req, nil
}

// misdirected reports a 421 reply: another node listens at the member's address.
func misdirected(op string, to Member, resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return &transportError{err: fmt.Errorf("%s: %s at %s is not that member: %s", op, to.Name, to.HTTP, bytes.TrimSpace(data))}
}

func (p *peerClient) call(ctx context.Context, to Member, op string, args, reply any) error {
	body, err := json.Marshal(args)
	if err != nil {
		return err
	}
	resp, err := p.send(ctx, to, op, "application/json", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if reply == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxInternalBody)).Decode(reply); err != nil {
		return &transportError{err: fmt.Errorf("%s: bad reply: %w", op, err)}
	}
	return nil
}

// callBinary is call for the replica operations, whose request and reply
// are binary (kv.AppendReplica) rather than JSON; errors still come as JSON.
func (p *peerClient) callBinary(ctx context.Context, to Member, op string, body []byte) ([]byte, error) {
	resp, err := p.send(ctx, to, op, binaryContentType, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxInternalBody+1))
	if err != nil {
		return nil, &transportError{err: fmt.Errorf("%s: reply: %w", op, err)}
	}
	if len(data) > maxInternalBody {
		return nil, &transportError{err: fmt.Errorf("%s: reply over %d bytes", op, maxInternalBody)}
	}
	return data, nil
}

// send posts one internal request and returns a 200 answer; any other
// status becomes the error it carries.
func (p *peerClient) send(ctx context.Context, to Member, op, contentType string, body []byte) (*http.Response, error) {
	req, err := p.newRequest(ctx, to, op, contentType, body)
	if err != nil {
		return nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // our deadline or cancellation, not the peer's fault
		}
		return nil, &transportError{err: err}
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusMisdirectedRequest {
		return nil, misdirected(op, to, resp)
	}
	var eb errorBody
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
		return nil, &transportError{err: fmt.Errorf("%s: HTTP %d: %s", op, resp.StatusCode, bytes.TrimSpace(data))}
	}
	return nil, decodeError(eb)
}

func (p *peerClient) fetch(ctx context.Context, to Member, typ, bucket, key string) (kv.Object, bool, error) {
	name := kv.ObjectKey{Type: typ, Bucket: bucket, Key: key}
	data, err := p.callBinary(ctx, to, "fetch", kv.AppendReplica(nil, name, nil))
	if err != nil {
		return kv.Object{}, false, err
	}
	got, obj, found, err := kv.DecodeReplica(data)
	if err == nil && got != name {
		err = fmt.Errorf("answer for %q/%q/%q", got.Type, got.Bucket, got.Key)
	}
	if err != nil {
		return kv.Object{}, false, &transportError{err: fmt.Errorf("fetch: bad reply: %w", err)}
	}
	return obj, found, nil
}

func (p *peerClient) store(ctx context.Context, to Member, typ, bucket, key string, obj kv.Object) error {
	_, err := p.callBinary(ctx, to, "store", kv.AppendReplica(nil, kv.ObjectKey{Type: typ, Bucket: bucket, Key: key}, &obj))
	return err
}

// storeBulk merges many replicas on to (a handoff) in one request.
func (p *peerClient) storeBulk(ctx context.Context, to Member, objs []storeArgs) error {
	return p.call(ctx, to, "store-bulk", objs, nil)
}

func (p *peerClient) put(ctx context.Context, to Member, req kv.PutRequest, q service.Quorum) (kv.PutResult, error) {
	var r kv.PutResult
	err := p.call(ctx, to, "put", newPutArgs(req, q), &r)
	if err == nil {
		r.Key = req.Key
	}
	return r, err
}

func (p *peerClient) del(ctx context.Context, to Member, req kv.DeleteRequest, q service.Quorum) error {
	return p.call(ctx, to, "delete", deleteArgs{keyRef: ref(req.Type, req.Bucket, req.Key), VClock: req.VClock, Q: q}, nil)
}

func (p *peerClient) buckets(ctx context.Context, to Member, typ string) ([]string, error) {
	var r listReply
	err := p.call(ctx, to, "buckets", listArgs{Type: []byte(typ)}, &r)
	return toStrings(r.Items), err
}

func (p *peerClient) keys(ctx context.Context, to Member, typ, bucket string) ([]string, error) {
	var r listReply
	err := p.call(ctx, to, "keys", listArgs{Type: []byte(typ), Bucket: []byte(bucket)}, &r)
	return toStrings(r.Items), err
}

func (p *peerClient) index(ctx context.Context, to Member, q kv.IndexQuery) ([]kv.IndexResult, string, error) {
	var r indexReply
	err := p.call(ctx, to, "index", newIndexArgs(q), &r)
	out := make([]kv.IndexResult, len(r.Results))
	for i, x := range r.Results {
		out[i] = kv.IndexResult{Term: string(x.Term), Key: string(x.Key)}
	}
	return out, string(r.Continuation), err
}

func (p *peerClient) applyMeta(ctx context.Context, to Member, m ClusterMeta) error {
	return p.call(ctx, to, "meta/apply", m, nil)
}

func (p *peerClient) meta(ctx context.Context, to Member) (ClusterMeta, error) {
	var m ClusterMeta
	err := p.call(ctx, to, "meta", struct{}{}, &m)
	return m, err
}

func (p *peerClient) gossip(ctx context.Context, to Member, m Membership) (Membership, error) {
	var out Membership
	err := p.call(ctx, to, "gossip", m, &out)
	return out, err
}

func (p *peerClient) ping(ctx context.Context, to Member) error {
	return p.call(ctx, to, "ping", struct{}{}, nil)
}

// handoff streams from the peer at addr every object of which node is a
// primary replica, calling fn for each.
func (p *peerClient) handoff(ctx context.Context, to Member, node string, fn func(storeArgs) error) error {
	body, _ := json.Marshal(handoffArgs{Node: node})
	req, err := p.newRequest(ctx, to, "handoff", "application/json", body)
	if err != nil {
		return err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return &transportError{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusMisdirectedRequest {
		return misdirected("handoff", to, resp)
	}
	if resp.StatusCode != http.StatusOK {
		return &transportError{err: fmt.Errorf("handoff: HTTP %d", resp.StatusCode)}
	}
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var a storeArgs
		if err := dec.Decode(&a); errors.Is(err, io.EOF) {
			// Only the end marker says the sender walked its whole store.
			return &transportError{err: errors.New("handoff stream ended without its end marker")}
		} else if err != nil {
			return &transportError{err: fmt.Errorf("handoff stream: %w", err)}
		}
		if len(a.Key) == 0 {
			return nil // the end marker
		}
		if err := fn(a); err != nil {
			return err
		}
	}
}

// binaryContentType marks the replica operations' bodies (kv.AppendReplica).
const binaryContentType = "application/x-devnode-replica"

// writeInternalError answers an internal request with err, by its sentinel.
func writeInternalError(w http.ResponseWriter, err error) {
	status := http.StatusBadRequest
	if errors.Is(err, service.ErrUnavailable) {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(encodeError(err))
}

// internalHandler serves InternalPrefix for the other members.
func (c *Cluster) internalHandler() http.Handler {
	mux := http.NewServeMux()
	handle := func(op string, fn func(r *http.Request) (any, error)) {
		mux.HandleFunc("POST "+InternalPrefix+op, func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, maxInternalBody)
			reply, err := fn(r)
			if err != nil {
				writeInternalError(w, err)
				return
			}
			if reply == nil {
				reply = struct{}{}
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(reply)
		})
	}
	// handleBinary serves a replica operation: its request and its answer
	// are kv.AppendReplica's form.
	handleBinary := func(op string, fn func(r *http.Request, k kv.ObjectKey, obj kv.Object, hasObject bool) ([]byte, error)) {
		mux.HandleFunc("POST "+InternalPrefix+op, func(w http.ResponseWriter, r *http.Request) {
			var k kv.ObjectKey
			var obj kv.Object
			var hasObject bool
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInternalBody))
			if err == nil {
				k, obj, hasObject, err = kv.DecodeReplica(body)
			}
			if err != nil {
				writeInternalError(w, fmt.Errorf("%w: bad internal request: %v", kv.ErrInvalidQuery, err))
				return
			}
			reply, err := fn(r, k, obj, hasObject)
			if err != nil {
				writeInternalError(w, err)
				return
			}
			w.Header().Set("Content-Type", binaryContentType)
			_, _ = w.Write(reply)
		})
	}
	decode := func(r *http.Request, v any) error {
		if err := json.NewDecoder(r.Body).Decode(v); err != nil {
			return fmt.Errorf("%w: bad internal request: %v", kv.ErrInvalidQuery, err)
		}
		return nil
	}
	// Replica operations are served even before the node is ready: a
	// catching-up node must still accept writes for its keys.
	// ping answers whenever the node is reachable, ready or still catching
	// up: a catching-up node must still receive writes and metadata.
	handle("ping", func(*http.Request) (any, error) { return nil, nil })
	handleBinary("fetch", func(r *http.Request, k kv.ObjectKey, _ kv.Object, hasObject bool) ([]byte, error) {
		if hasObject {
			return nil, fmt.Errorf("%w: bad internal request: fetch with an object", kv.ErrInvalidQuery)
		}
		obj, found, err := c.engine.FetchReplica(r.Context(), k.Type, k.Bucket, k.Key)
		switch {
		case err != nil:
			return nil, err
		case !found:
			return kv.AppendReplica(nil, k, nil), nil // the name alone: not found
		}
		return kv.AppendReplica(nil, k, &obj), nil
	})
	handleBinary("store", func(r *http.Request, k kv.ObjectKey, obj kv.Object, hasObject bool) ([]byte, error) {
		if !hasObject {
			return nil, fmt.Errorf("%w: bad internal request: store without an object", kv.ErrInvalidQuery)
		}
		_, _, err := c.engine.StoreReplica(r.Context(), k.Type, k.Bucket, k.Key, obj)
		return nil, err
	})
	handle("store-bulk", func(r *http.Request) (any, error) {
		var objs []storeArgs
		if err := decode(r, &objs); err != nil {
			return nil, err
		}
		_, err := c.engine.StoreReplicas(r.Context(), replicas(objs))
		return nil, err
	})
	handle("put", func(r *http.Request) (any, error) {
		var a putArgs
		if err := decode(r, &a); err != nil {
			return nil, err
		}
		return c.coordinateForwarded(r.Context(), a)
	})
	handle("delete", func(r *http.Request) (any, error) {
		var a deleteArgs
		if err := decode(r, &a); err != nil {
			return nil, err
		}
		return nil, c.deleteForwarded(r.Context(), a)
	})
	handle("buckets", func(r *http.Request) (any, error) {
		var a listArgs
		if err := decode(r, &a); err != nil {
			return nil, err
		}
		var out listReply
		err := c.engine.ListBuckets(r.Context(), string(a.Type), func(b []string) error { out.Items = append(out.Items, toBytes(b)...); return nil })
		return out, err
	})
	handle("keys", func(r *http.Request) (any, error) {
		var a listArgs
		if err := decode(r, &a); err != nil {
			return nil, err
		}
		var out listReply
		err := c.engine.ListKeys(r.Context(), string(a.Type), string(a.Bucket), func(k []string) error { out.Items = append(out.Items, toBytes(k)...); return nil })
		return out, err
	})
	handle("index", func(r *http.Request) (any, error) {
		var a indexArgs
		if err := decode(r, &a); err != nil {
			return nil, err
		}
		var out indexReply
		cont, err := c.engine.IndexQuery(r.Context(), a.query(), func(rs []kv.IndexResult) error {
			for _, x := range rs {
				out.Results = append(out.Results, indexResult{Term: []byte(x.Term), Key: []byte(x.Key)})
			}
			return nil
		})
		out.Continuation = []byte(cont)
		return out, err
	})
	handle("meta", func(*http.Request) (any, error) { return c.meta.snapshot(), nil })
	handle("meta/apply", func(r *http.Request) (any, error) {
		var m ClusterMeta
		if err := decode(r, &m); err != nil {
			return nil, err
		}
		return nil, c.meta.apply(m)
	})
	handle("gossip", func(r *http.Request) (any, error) {
		var m Membership
		if err := decode(r, &m); err != nil {
			return nil, err
		}
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %v", kv.ErrInvalidQuery, err)
		}
		merged, err := c.mergeMembership(m)
		if from := r.Header.Get(headerFrom); err == nil && from != "" {
			if _, ok := merged.Get(from); ok {
				// A (re)starting member announces itself before it catches
				// up: from now on it gets the writes of its keys.
				c.markUp(from)
			}
		}
		return merged, err
	})
	mux.HandleFunc("POST "+InternalPrefix+"handoff", func(w http.ResponseWriter, r *http.Request) {
		var a handoffArgs
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&a); err != nil || a.Node == "" {
			http.Error(w, "bad handoff request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		err := c.objectsFor(r.Context(), a.Node, func(a storeArgs) error { return enc.Encode(a) })
		if err != nil {
			c.log.Warn("handoff stream failed", "to", a.Node, "err", err)
			return // the missing end marker tells the receiver the stream is incomplete
		}
		_ = enc.Encode(storeArgs{})
		_ = bw.Flush()
	})
	return c.checkAddressee(mux)
}

// checkAddressee refuses internal requests meant for another member (see headerTo).
func (c *Cluster) checkAddressee(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to := r.Header.Get(headerTo); to != c.self.Name {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMisdirectedRequest)
			_ = json.NewEncoder(w).Encode(errorBody{Error: fmt.Sprintf("this is %s, not %q", c.self.Name, to)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// coordinateForwarded coordinates a write another member forwarded here.
// It does not forward again, whatever this node's view of the ring: one hop at most.
func (c *Cluster) coordinateForwarded(ctx context.Context, a putArgs) (kv.PutResult, error) {
	req, err := a.request()
	if err != nil {
		return kv.PutResult{}, err
	}
	props, err := c.engine.BucketProps(req.Type, req.Bucket)
	if err != nil {
		return kv.PutResult{}, err
	}
	n := nVal(props, a.Q)
	wq, err := c.writeQuorum(props, a.Q, n, false)
	if err != nil {
		return kv.PutResult{}, err
	}
	pl := c.preflist(req.Type, req.Bucket, req.Key, n, a.Q.SloppyQuorum)
	return c.coordinatePut(ctx, req, pl, wq)
}

func (c *Cluster) deleteForwarded(ctx context.Context, a deleteArgs) error {
	req := a.request()
	props, err := c.engine.BucketProps(req.Type, req.Bucket)
	if err != nil {
		return err
	}
	n := nVal(props, a.Q)
	wq, err := c.writeQuorum(props, a.Q, n, true)
	if err != nil {
		return err
	}
	pl := c.preflist(req.Type, req.Bucket, req.Key, n, a.Q.SloppyQuorum)
	return c.coordinateDelete(ctx, req, pl, wq)
}

// objectsFor walks the local store and emits every live object of which
// node is a primary replica (what node must hold after a restart).
func (c *Cluster) objectsFor(ctx context.Context, node string, emit func(storeArgs) error) error {
	_, r := c.snapshot()
	return c.walkObjects(ctx, func(a storeArgs, nval uint32) error {
		if !isPrimary(r, node, string(a.Type), string(a.Bucket), string(a.Key), nval) {
			return nil
		}
		return emit(a)
	})
}

// walkObjects calls fn for every live object of the local store, with its
// bucket's n_val, in active bucket types.
func (c *Cluster) walkObjects(ctx context.Context, fn func(a storeArgs, nval uint32) error) error {
	for _, bt := range c.engine.BucketTypes() {
		if bt.Status != kv.TypeActive {
			continue
		}
		var buckets []string
		if err := c.engine.ListBuckets(ctx, bt.Name, func(b []string) error { buckets = append(buckets, b...); return nil }); err != nil {
			return err
		}
		for _, b := range buckets {
			props, err := c.engine.BucketProps(bt.Name, b)
			if err != nil {
				return err
			}
			var keys []string
			if err := c.engine.ListKeys(ctx, bt.Name, b, func(k []string) error { keys = append(keys, k...); return nil }); err != nil {
				return err
			}
			for _, k := range keys {
				obj, found, err := c.engine.FetchReplica(ctx, bt.Name, b, k)
				if err != nil {
					return err
				}
				if found {
					if err := fn(storeArgs{ref(bt.Name, b, k), obj}, props.NVal); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func isPrimary(r *ring.Ring, node, typ, bucket, key string, n uint32) bool {
	for _, e := range r.Preflist([]byte(typ), []byte(bucket), []byte(key), int(n), nil) {
		if e.Node == node {
			return true
		}
	}
	return false
}

func replicas(objs []storeArgs) []kv.Replica {
	rs := make([]kv.Replica, len(objs))
	for i, a := range objs {
		rs[i] = kv.Replica{Type: string(a.Type), Bucket: string(a.Bucket), Key: string(a.Key), Object: a.Object}
	}
	return rs
}

// Handoff batches: a bulk store carries up to bulkObjects objects or about
// bulkBytes of values, whichever comes first.
const (
	bulkObjects = 256
	bulkBytes   = 8 << 20
)

// bulkBuffer collects objects for bulk stores and flushes full batches.
type bulkBuffer struct {
	objs  []storeArgs
	size  int
	flush func([]storeArgs) error
}

func (b *bulkBuffer) add(a storeArgs) error {
	b.objs = append(b.objs, a)
	b.size += a.Object.Size()
	if len(b.objs) >= bulkObjects || b.size >= bulkBytes {
		return b.done()
	}
	return nil
}

// done flushes what is left.
func (b *bulkBuffer) done() error {
	if len(b.objs) == 0 {
		return nil
	}
	err := b.flush(b.objs)
	b.objs, b.size = nil, 0
	return err
}
