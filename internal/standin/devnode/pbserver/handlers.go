package pbserver

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	rpbRiak "github.com/basho/riak-go-client/rpb/riak"
	rpbRiakKV "github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/protocol"
)

// dispatch appends the answer to one request to c.out. Streaming handlers
// also flush each batch as it is produced.
func (c *conn) dispatch(code protocol.Code, body []byte) {
	switch code {
	case protocol.CodePingReq:
		c.ping()
	case protocol.CodeGetServerInfoReq:
		c.serverInfo()
	case protocol.CodeGetClientIDReq:
		c.getClientID()
	case protocol.CodeSetClientIDReq:
		c.setClientID(body)
	case protocol.CodeGetReq:
		c.get(body)
	case protocol.CodePutReq:
		c.put(body)
	case protocol.CodeDelReq:
		c.del(body)
	case protocol.CodeListBucketsReq:
		c.listBuckets(body)
	case protocol.CodeListKeysReq:
		c.listKeys(body)
	case protocol.CodeIndexReq:
		c.index(body)
	case protocol.CodeGetBucketReq:
		c.getBucket(body)
	case protocol.CodeSetBucketReq:
		c.setBucket(body)
	case protocol.CodeResetBucketReq:
		c.resetBucket(body)
	case protocol.CodeGetBucketTypeReq:
		c.getBucketType(body)
	case protocol.CodeSetBucketTypeReq:
		c.setBucketType(body)
	case protocol.CodeGetBucketKeyPreflistReq:
		c.preflist(body)
	case protocol.CodeDtFetchReq:
		c.dtFetch(body)
	case protocol.CodeDtUpdateReq:
		c.dtUpdate(body)
	default:
		c.other(code, body)
	}
}

func (c *conn) fail(msg string) { c.out = protocol.AppendErrorResp(c.out, msg, 0) }

func (c *conn) failErr(err error) { c.out = appendServiceError(c.out, err) }

func (c *conn) empty(code protocol.Code) { c.out = protocol.AppendHeader(c.out, code, 0) }

// unmarshal decodes a request body into an rpb message, answering
// "invalid RpbXReq: ..." when it cannot. Missing required fields are
// decoding errors, as for Riak's decoder.
func (c *conn) unmarshal(code protocol.Code, body []byte, m proto.Message) bool {
	if err := proto.Unmarshal(body, m); err != nil {
		c.fail(invalidBody(code, err))
		return false
	}
	return true
}

// other answers every code the server does not serve itself: the
// Extension's, then unknown codes, response codes and unsupported
// requests, each with an RpbErrorResp; the connection carries on.
func (c *conn) other(code protocol.Code, body []byte) {
	if ext := c.srv.Extension; ext != nil {
		if rc, rb, ok := ext(c.ctx, code, body); ok {
			c.out = protocol.AppendFrame(c.out, rc, rb)
			return
		}
	}
	m, known := protocol.Lookup(code)
	switch {
	case !known || m.Embedded() || riakHasNoService(code):
		c.fail(protocol.UnknownCodeMsg(code))
	case code == protocol.CodeStartTLS:
		c.fail("Security not enabled; STARTTLS not allowed.")
	case !m.Request:
		c.fail(m.Name + " is a response, not a request")
	default:
		c.fail(m.Name + " is " + notSupported)
	}
}

// reqCtx bounds a listing or query by the request's timeout (ms).
func (c *conn) reqCtx(timeoutMS uint32) (context.Context, context.CancelFunc) {
	if timeoutMS == 0 {
		return c.ctx, func() {}
	}
	return context.WithTimeout(c.ctx, time.Duration(timeoutMS)*time.Millisecond)
}

// typeName returns the bucket type of a request: "" (the default type)
// when absent, else the interned name. present-but-empty is refused by
// checkLocation.
func (c *conn) typeName(has bool, b []byte) string {
	if !has {
		return ""
	}
	return c.intern(&c.lastType, b)
}

// checkLocation validates an object request's bucket, key and type with
// Riak's messages. keyRequired is false for puts, whose key may be absent
// (the server generates one) but not empty.
func (c *conn) checkLocation(code protocol.Code, m *objReq, keyRequired bool) bool {
	switch {
	case !m.hasBucket:
		c.fail("invalid " + code.String() + ": missing required field bucket")
	case len(m.bucket) == 0:
		c.fail("Bucket cannot be zero-length")
	case keyRequired && !m.hasKey:
		c.fail("invalid " + code.String() + ": missing required field key")
	case m.hasKey && len(m.key) == 0:
		c.fail("Key cannot be zero-length")
	case m.hasType && len(m.typ) == 0:
		c.fail("Type cannot be zero-length")
	default:
		return true
	}
	return false
}

// decodeVClock decodes a client's vclock field; empty is the empty clock.
func (c *conn) decodeVClock(field string, b []byte) (kv.VClock, bool) {
	vc, err := kv.DecodeVClock(b)
	if err != nil {
		c.fail(field + ": " + err.Error())
		return nil, false
	}
	return vc, true
}

func (c *conn) ping() {
	if err := c.svc.Ping(c.ctx); err != nil {
		c.failErr(err)
		return
	}
	c.empty(protocol.CodePingResp)
}

func (c *conn) serverInfo() {
	info := c.svc.Info()
	c.out = protocol.AppendHeader(c.out, protocol.CodeGetServerInfoResp, sizeBytesField(len(info.Node))+sizeBytesField(len(info.Version)))
	c.out = appendStringField(c.out, 1, info.Node)
	c.out = appendStringField(c.out, 2, info.Version)
}

// getClientID answers the connection's client id: the one set, else a
// random 4-byte id chosen on first use, as Riak does. Client ids are
// legacy (vclocks use vnode ids) and only echoed.
func (c *conn) getClientID() {
	if c.clientID == nil {
		c.clientID = make([]byte, 4)
		rand.Read(c.clientID)
	}
	c.out = protocol.AppendHeader(c.out, protocol.CodeGetClientIDResp, sizeBytesField(len(c.clientID)))
	c.out = appendBytesField(c.out, 1, c.clientID)
}

func (c *conn) setClientID(body []byte) {
	var m rpbRiakKV.RpbSetClientIdReq
	if !c.unmarshal(protocol.CodeSetClientIDReq, body, &m) {
		return
	}
	c.clientID = cloneBytes(m.ClientId)
	c.empty(protocol.CodeSetClientIDResp)
}

func (c *conn) get(body []byte) {
	m := &c.req
	if err := decodeGetReq(body, m); err != nil {
		c.fail(invalidBody(protocol.CodeGetReq, err))
		return
	}
	if !c.checkLocation(protocol.CodeGetReq, m, true) {
		return
	}
	req := kv.GetRequest{
		Type:          c.typeName(m.hasType, m.typ),
		Bucket:        c.intern(&c.lastBucket, m.bucket),
		Key:           string(m.key),
		Head:          m.head.isTrue(),
		DeletedVClock: m.deletedVClock.isTrue(),
	}
	if m.hasIfModified {
		vc, ok := c.decodeVClock("if_modified", m.ifModified)
		if !ok {
			return
		}
		req.IfModified = vc
	}
	res, err := c.svc.Get(c.ctx, req, m.quorum())
	switch {
	case err != nil:
		c.failErr(err)
	case res.Unchanged:
		c.out = appendUnchangedResp(c.out)
	case !res.Found:
		// Not found: an empty RpbGetResp, which riak-go-client reads as
		// IsNotFound. A tombstone asked for with deletedvclock: its clock
		// only, so the client can write over it (IsTombstone).
		if req.DeletedVClock && len(res.Object.VClock) > 0 {
			c.vc = res.Object.VClock.AppendEncode(c.vc[:0])
			c.out = appendObjectResp(c.out, protocol.CodeGetResp, nil, false, c.vc, "")
		} else {
			c.empty(protocol.CodeGetResp)
		}
	default:
		c.vc = res.Object.VClock.AppendEncode(c.vc[:0])
		c.out = appendObjectResp(c.out, protocol.CodeGetResp, res.Object.Siblings, req.Head, c.vc, "")
	}
}

func (c *conn) put(body []byte) {
	m := &c.req
	if err := decodePutReq(body, m); err != nil {
		c.fail(invalidBody(protocol.CodePutReq, err))
		return
	}
	if !c.checkLocation(protocol.CodePutReq, m, false) {
		return
	}
	if !m.hasContent {
		c.fail("invalid RpbPutReq: missing required field content")
		return
	}
	if m.asis.isTrue() {
		c.fail("RpbPutReq with asis is " + notSupported)
		return
	}
	vc, ok := c.decodeVClock("vclock", m.vclock)
	if !ok {
		return
	}
	req := kv.PutRequest{
		Type:          c.typeName(m.hasType, m.typ),
		Bucket:        c.intern(&c.lastBucket, m.bucket),
		Key:           string(m.key), // "" when absent: the service generates one
		VClock:        vc,
		Content:       c.toContent(&m.content),
		IfNotModified: m.ifNotModified.isTrue(),
		IfNoneMatch:   m.ifNoneMatch.isTrue(),
		ReturnBody:    m.returnBody.isTrue(),
		ReturnHead:    m.returnHead.isTrue(),
	}
	res, err := c.svc.Put(c.ctx, req, m.quorum())
	if err != nil {
		c.failErr(err)
		return
	}
	// Like riak_kv_pb_object: the key only when generated; contents and
	// clock only with return_body or return_head (values blanked when
	// return_head is set); otherwise an empty RpbPutResp.
	genKey := ""
	if !m.hasKey {
		genKey = res.Key
	}
	if req.ReturnBody || req.ReturnHead {
		c.vc = res.Object.VClock.AppendEncode(c.vc[:0])
		c.out = appendObjectResp(c.out, protocol.CodePutResp, res.Object.Siblings, req.ReturnHead, c.vc, genKey)
		return
	}
	c.out = appendObjectResp(c.out, protocol.CodePutResp, nil, false, nil, genKey)
}

func (c *conn) del(body []byte) {
	m := &c.req
	if err := decodeDelReq(body, m); err != nil {
		c.fail(invalidBody(protocol.CodeDelReq, err))
		return
	}
	if !c.checkLocation(protocol.CodeDelReq, m, true) {
		return
	}
	vc, ok := c.decodeVClock("vclock", m.vclock)
	if !ok {
		return
	}
	req := kv.DeleteRequest{
		Type:   c.typeName(m.hasType, m.typ),
		Bucket: c.intern(&c.lastBucket, m.bucket),
		Key:    string(m.key),
		VClock: vc,
	}
	// Deleting a missing key succeeds, as in Riak.
	if err := c.svc.Delete(c.ctx, req, m.quorum()); err != nil && !errors.Is(err, kv.ErrNotFound) {
		c.failErr(err)
		return
	}
	c.empty(protocol.CodeDelResp)
}

// listBuckets answers RpbListBucketsReq: with stream set, one
// RpbListBucketsResp per batch and a last one with done; otherwise a
// single RpbListBucketsResp with every bucket.
func (c *conn) listBuckets(body []byte) {
	var m rpbRiakKV.RpbListBucketsReq
	if !c.unmarshal(protocol.CodeListBucketsReq, body, &m) {
		return
	}
	if m.Type != nil && len(m.Type) == 0 {
		c.fail("Type cannot be zero-length")
		return
	}
	ctx, cancel := c.reqCtx(m.GetTimeout())
	defer cancel()
	typ := c.typeName(m.Type != nil, m.Type)
	if m.GetStream() {
		err := c.svc.ListBuckets(ctx, typ, func(bs []string) error {
			if len(bs) == 0 {
				return nil
			}
			c.out = appendListResp(c.out, protocol.CodeListBucketsResp, bs, false)
			return c.flush()
		})
		c.endStream(err, func() { c.out = appendListResp(c.out, protocol.CodeListBucketsResp, nil, true) })
		return
	}
	var all []string
	err := c.svc.ListBuckets(ctx, typ, func(bs []string) error {
		all = append(all, bs...)
		return nil
	})
	if err != nil {
		c.failErr(err)
		return
	}
	c.out = appendListResp(c.out, protocol.CodeListBucketsResp, all, false)
}

// endStream finishes a streamed answer: the final frame (last), or an
// RpbErrorResp if the stream failed; nothing if the client is gone.
func (c *conn) endStream(err error, last func()) {
	switch {
	case c.werr != nil:
	case err != nil:
		c.failErr(err)
	default:
		last()
	}
}

// listKeys answers RpbListKeysReq, which always streams: one
// RpbListKeysResp per batch, then one with done.
func (c *conn) listKeys(body []byte) {
	var m rpbRiakKV.RpbListKeysReq
	if !c.unmarshal(protocol.CodeListKeysReq, body, &m) {
		return
	}
	switch {
	case len(m.Bucket) == 0:
		c.fail("Bucket cannot be zero-length")
		return
	case m.Type != nil && len(m.Type) == 0:
		c.fail("Type cannot be zero-length")
		return
	}
	ctx, cancel := c.reqCtx(m.GetTimeout())
	defer cancel()
	err := c.svc.ListKeys(ctx, c.typeName(m.Type != nil, m.Type), string(m.Bucket), func(keys []string) error {
		if len(keys) == 0 {
			return nil
		}
		c.out = appendListResp(c.out, protocol.CodeListKeysResp, keys, false)
		return c.flush()
	})
	c.endStream(err, func() { c.out = appendListResp(c.out, protocol.CodeListKeysResp, nil, true) })
}

// index answers RpbIndexReq as riak_kv_pb_index does. Terms are returned
// (results instead of keys) only for range queries other than $bucket.
// Without stream: one RpbIndexResp with every result and, when a page
// ended at max_results with more to come, the continuation. With stream:
// one RpbIndexResp per batch, then one with done and the continuation.
func (c *conn) index(body []byte) {
	var m rpbRiakKV.RpbIndexReq
	if !c.unmarshal(protocol.CodeIndexReq, body, &m) {
		return
	}
	isRange := m.GetQtype() == rpbRiakKV.RpbIndexReq_range
	switch {
	case len(m.Bucket) == 0:
		c.fail("Bucket cannot be zero-length")
		return
	case m.Type != nil && len(m.Type) == 0:
		c.fail("Type cannot be zero-length")
		return
	case !isRange && m.Key == nil:
		c.fail("Invalid equality query undefined")
		return
	case isRange && (m.RangeMin == nil || m.RangeMax == nil):
		c.fail("Invalid range query: a range needs range_min and range_max")
		return
	case len(m.CoverContext) > 0:
		c.fail("RpbIndexReq with cover_context (coverage queries) is " + notSupported)
		return
	case m.GetReturnBody():
		c.fail("RpbIndexReq with return_body is " + notSupported)
		return
	}
	q := kv.IndexQuery{
		Type:         c.typeName(m.Type != nil, m.Type),
		Bucket:       string(m.Bucket),
		Index:        string(m.Index),
		Range:        isRange,
		Term:         string(m.Key),
		Min:          string(m.RangeMin),
		Max:          string(m.RangeMax),
		MaxResults:   m.GetMaxResults(),
		Continuation: string(m.Continuation),
		TermRegex:    string(m.TermRegex),
	}
	if q.Index == kv.IndexBucket {
		// Riak treats any $bucket query as "every key of the bucket".
		q.Range, q.Term = false, q.Bucket
	}
	q.ReturnTerms = m.GetReturnTerms() && q.Range
	ctx, cancel := c.reqCtx(m.GetTimeout())
	defer cancel()
	if m.GetStream() {
		cont, err := c.svc.IndexQuery(ctx, q, func(rs []kv.IndexResult) error {
			if len(rs) == 0 {
				return nil
			}
			c.out = appendIndexResp(c.out, rs, q.ReturnTerms, "", false)
			return c.flush()
		})
		c.endStream(err, func() { c.out = appendIndexResp(c.out, nil, false, cont, true) })
		return
	}
	var all []kv.IndexResult
	cont, err := c.svc.IndexQuery(ctx, q, func(rs []kv.IndexResult) error {
		all = append(all, rs...)
		return nil
	})
	if err != nil {
		c.failErr(err)
		return
	}
	c.out = appendIndexResp(c.out, all, q.ReturnTerms, cont, false)
}

func (c *conn) marshal(code protocol.Code, m proto.Message) {
	out, err := protocol.AppendMarshalFrame(c.out, code, m)
	if err != nil {
		c.fail("devnode: cannot encode " + code.String() + ": " + err.Error())
		return
	}
	c.out = out
}

func (c *conn) getBucket(body []byte) {
	var m rpbRiak.RpbGetBucketReq
	if !c.unmarshal(protocol.CodeGetBucketReq, body, &m) {
		return
	}
	p, err := c.svc.BucketProps(c.ctx, string(m.Type), string(m.Bucket))
	if err != nil {
		c.failErr(err)
		return
	}
	c.marshal(protocol.CodeGetBucketResp, &rpbRiak.RpbGetBucketResp{Props: propsToRpb(p)})
}

func (c *conn) setBucket(body []byte) {
	var m rpbRiak.RpbSetBucketReq
	if !c.unmarshal(protocol.CodeSetBucketReq, body, &m) {
		return
	}
	u, err := propsFromRpb(m.Props)
	if err == nil {
		err = c.svc.SetBucketProps(c.ctx, string(m.Type), string(m.Bucket), u)
	}
	if err != nil {
		c.failErr(err)
		return
	}
	c.empty(protocol.CodeSetBucketResp)
}

func (c *conn) resetBucket(body []byte) {
	var m rpbRiak.RpbResetBucketReq
	if !c.unmarshal(protocol.CodeResetBucketReq, body, &m) {
		return
	}
	if err := c.svc.ResetBucketProps(c.ctx, string(m.Type), string(m.Bucket)); err != nil {
		c.failErr(err)
		return
	}
	c.empty(protocol.CodeResetBucketResp)
}

func (c *conn) getBucketType(body []byte) {
	var m rpbRiak.RpbGetBucketTypeReq
	if !c.unmarshal(protocol.CodeGetBucketTypeReq, body, &m) {
		return
	}
	bt, err := c.svc.BucketType(c.ctx, string(m.Type))
	if err != nil {
		c.failErr(err)
		return
	}
	c.marshal(protocol.CodeGetBucketResp, &rpbRiak.RpbGetBucketResp{Props: propsToRpb(bt.Props)})
}

func (c *conn) setBucketType(body []byte) {
	var m rpbRiak.RpbSetBucketTypeReq
	if !c.unmarshal(protocol.CodeSetBucketTypeReq, body, &m) {
		return
	}
	u, err := propsFromRpb(m.Props)
	if err == nil {
		err = c.svc.SetBucketTypeProps(c.ctx, string(m.Type), u)
	}
	if err != nil {
		c.failErr(err)
		return
	}
	c.empty(protocol.CodeSetBucketResp)
}

func (c *conn) preflist(body []byte) {
	var m rpbRiakKV.RpbGetBucketKeyPreflistReq
	if !c.unmarshal(protocol.CodeGetBucketKeyPreflistReq, body, &m) {
		return
	}
	pl, err := c.svc.Preflist(c.ctx, string(m.Type), string(m.Bucket), string(m.Key))
	if err != nil {
		c.failErr(err)
		return
	}
	c.marshal(protocol.CodeGetBucketKeyPreflistResp, preflistToRpb(pl))
}
