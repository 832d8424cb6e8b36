package pbserver

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/protocol"
)

// This file decodes the hot requests (RpbGetReq, RpbPutReq, RpbDelReq) and
// encodes the hot responses (RpbGetResp, RpbPutResp, list and 2i answers)
// straight from and to the wire, without the generated rpb structs: no
// per-field pointers, no reflection, decode targets reused per connection.
// Decoding follows protobuf-go's rules (unknown fields and fields with an
// unexpected wire type skipped, the last occurrence of a singular field
// winning, repeated occurrences of an embedded message merged), so that
// whenever proto.Unmarshal accepts a body the result is the same; the tests
// and FuzzDecodeObjReqs check this. Missing required fields are reported
// by the handlers, not here.

var errMalformed = errors.New("malformed protobuf")

// wireField is one decoded field: a varint value in x, a length-delimited
// value in v (aliasing the input); other wire types carry nothing.
type wireField struct {
	num protowire.Number
	typ protowire.Type
	x   uint64
	v   []byte
}

// nextWireField consumes one field from b.
func nextWireField(b []byte, f *wireField) ([]byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num > protowire.MaxValidNumber {
		return nil, errMalformed
	}
	b = b[n:]
	f.num, f.typ = num, typ
	switch typ {
	case protowire.VarintType:
		f.x, n = protowire.ConsumeVarint(b)
	case protowire.BytesType:
		f.v, n = protowire.ConsumeBytes(b)
	default:
		n = protowire.ConsumeFieldValue(num, typ, b)
	}
	if n < 0 {
		return nil, errMalformed
	}
	return b[n:], nil
}

// optBool is an optional proto2 bool: unset, false or true.
type optBool uint8

const (
	boolUnset optBool = iota
	boolFalse
	boolTrue
)

func mkOptBool(x uint64) optBool {
	if x != 0 {
		return boolTrue
	}
	return boolFalse
}

// isTrue reports whether the field was sent as true.
func (o optBool) isTrue() bool { return o == boolTrue }

var trueVal, falseVal = true, false

// ptr returns nil when unset, else a pointer to a shared immutable bool.
func (o optBool) ptr() *bool {
	switch o {
	case boolTrue:
		return &trueVal
	case boolFalse:
		return &falseVal
	}
	return nil
}

// rpbPair is RpbPair: user metadata, index entries, 2i results.
type rpbPair struct{ key, value []byte }

// rpbLink is RpbLink.
type rpbLink struct{ bucket, key, tag []byte }

// rpbContent is RpbContent as decoded from a put.
type rpbContent struct {
	value, contentType, charset, contentEncoding, vtag []byte
	links                                              []rpbLink
	usermeta, indexes                                  []rpbPair
	lastMod, lastModUsecs                              uint32
	deleted                                            bool
}

func (c *rpbContent) reset() {
	*c = rpbContent{links: c.links[:0], usermeta: c.usermeta[:0], indexes: c.indexes[:0]}
}

// objReq is the union of RpbGetReq, RpbPutReq and RpbDelReq. A connection
// keeps one and decodes every object request into it.
type objReq struct {
	bucket, key, typ, vclock, ifModified []byte
	hasBucket, hasKey, hasType           bool
	hasIfModified, hasContent            bool

	r, pr, w, pw, dw, rw, timeout, nVal uint32

	basicQuorum, notFoundOK, sloppyQuorum optBool
	head, deletedVClock                   optBool
	returnBody, returnHead                optBool
	ifNotModified, ifNoneMatch, asis      optBool

	content rpbContent
}

func (m *objReq) reset() {
	c := m.content
	c.reset()
	*m = objReq{content: c}
}

// decodeGetReq decodes an RpbGetReq body into m.
func decodeGetReq(b []byte, m *objReq) error {
	m.reset()
	var f wireField
	for len(b) > 0 {
		var err error
		if b, err = nextWireField(b, &f); err != nil {
			return err
		}
		if f.typ == protowire.BytesType {
			switch f.num {
			case 1:
				m.bucket, m.hasBucket = f.v, true
			case 2:
				m.key, m.hasKey = f.v, true
			case 7:
				m.ifModified, m.hasIfModified = f.v, true
			case 13:
				m.typ, m.hasType = f.v, true
			}
			continue
		}
		if f.typ != protowire.VarintType {
			continue
		}
		switch f.num {
		case 3:
			m.r = uint32(f.x)
		case 4:
			m.pr = uint32(f.x)
		case 5:
			m.basicQuorum = mkOptBool(f.x)
		case 6:
			m.notFoundOK = mkOptBool(f.x)
		case 8:
			m.head = mkOptBool(f.x)
		case 9:
			m.deletedVClock = mkOptBool(f.x)
		case 10:
			m.timeout = uint32(f.x)
		case 11:
			m.sloppyQuorum = mkOptBool(f.x)
		case 12:
			m.nVal = uint32(f.x)
		}
	}
	return nil
}

// decodePutReq decodes an RpbPutReq body into m.
func decodePutReq(b []byte, m *objReq) error {
	m.reset()
	var f wireField
	for len(b) > 0 {
		var err error
		if b, err = nextWireField(b, &f); err != nil {
			return err
		}
		if f.typ == protowire.BytesType {
			switch f.num {
			case 1:
				m.bucket, m.hasBucket = f.v, true
			case 2:
				m.key, m.hasKey = f.v, true
			case 3:
				m.vclock = f.v
			case 4:
				// Repeated occurrences of a message field merge.
				if err := decodeContent(f.v, &m.content); err != nil {
					return err
				}
				m.hasContent = true
			case 16:
				m.typ, m.hasType = f.v, true
			}
			continue
		}
		if f.num == 4 {
			// protobuf-go allocates the content before it sees that the
			// wire type is wrong: an empty content, present.
			m.hasContent = true
		}
		if f.typ != protowire.VarintType {
			continue
		}
		switch f.num {
		case 5:
			m.w = uint32(f.x)
		case 6:
			m.dw = uint32(f.x)
		case 7:
			m.returnBody = mkOptBool(f.x)
		case 8:
			m.pw = uint32(f.x)
		case 9:
			m.ifNotModified = mkOptBool(f.x)
		case 10:
			m.ifNoneMatch = mkOptBool(f.x)
		case 11:
			m.returnHead = mkOptBool(f.x)
		case 12:
			m.timeout = uint32(f.x)
		case 13:
			m.asis = mkOptBool(f.x)
		case 14:
			m.sloppyQuorum = mkOptBool(f.x)
		case 15:
			m.nVal = uint32(f.x)
		}
	}
	return nil
}

// decodeDelReq decodes an RpbDelReq body into m.
func decodeDelReq(b []byte, m *objReq) error {
	m.reset()
	var f wireField
	for len(b) > 0 {
		var err error
		if b, err = nextWireField(b, &f); err != nil {
			return err
		}
		if f.typ == protowire.BytesType {
			switch f.num {
			case 1:
				m.bucket, m.hasBucket = f.v, true
			case 2:
				m.key, m.hasKey = f.v, true
			case 4:
				m.vclock = f.v
			case 13:
				m.typ, m.hasType = f.v, true
			}
			continue
		}
		if f.typ != protowire.VarintType {
			continue
		}
		switch f.num {
		case 3:
			m.rw = uint32(f.x)
		case 5:
			m.r = uint32(f.x)
		case 6:
			m.w = uint32(f.x)
		case 7:
			m.pr = uint32(f.x)
		case 8:
			m.pw = uint32(f.x)
		case 9:
			m.dw = uint32(f.x)
		case 10:
			m.timeout = uint32(f.x)
		case 11:
			m.sloppyQuorum = mkOptBool(f.x)
		case 12:
			m.nVal = uint32(f.x)
		}
	}
	return nil
}

// decodeContent merges an RpbContent body into c.
func decodeContent(b []byte, c *rpbContent) error {
	var f wireField
	for len(b) > 0 {
		var err error
		if b, err = nextWireField(b, &f); err != nil {
			return err
		}
		if f.typ == protowire.BytesType {
			switch f.num {
			case 1:
				c.value = f.v
			case 2:
				c.contentType = f.v
			case 3:
				c.charset = f.v
			case 4:
				c.contentEncoding = f.v
			case 5:
				c.vtag = f.v
			case 6:
				var l rpbLink
				if err := decodeLink(f.v, &l); err != nil {
					return err
				}
				c.links = append(c.links, l)
			case 9, 10:
				var p rpbPair
				if err := decodePair(f.v, &p); err != nil {
					return err
				}
				if f.num == 9 {
					c.usermeta = append(c.usermeta, p)
				} else {
					c.indexes = append(c.indexes, p)
				}
			}
			continue
		}
		if f.typ != protowire.VarintType {
			continue
		}
		switch f.num {
		case 7:
			c.lastMod = uint32(f.x)
		case 8:
			c.lastModUsecs = uint32(f.x)
		case 11:
			c.deleted = f.x != 0
		}
	}
	return nil
}

func decodeLink(b []byte, l *rpbLink) error {
	var f wireField
	for len(b) > 0 {
		var err error
		if b, err = nextWireField(b, &f); err != nil {
			return err
		}
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			l.bucket = f.v
		case 2:
			l.key = f.v
		case 3:
			l.tag = f.v
		}
	}
	return nil
}

func decodePair(b []byte, p *rpbPair) error {
	var f wireField
	for len(b) > 0 {
		var err error
		if b, err = nextWireField(b, &f); err != nil {
			return err
		}
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			p.key = f.v
		case 2:
			p.value = f.v
		}
	}
	return nil
}

// Encoding. Every encoder appends a complete frame to dst.

// sizeBytesField is the encoded size of a length-delimited field with a
// one-byte tag (field numbers up to 15).
func sizeBytesField(n int) int { return 1 + protowire.SizeBytes(n) }

func appendBytesField(dst []byte, num protowire.Number, v []byte) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, v)
}

func appendStringField(dst []byte, num protowire.Number, v string) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendString(dst, v)
}

func appendVarintField(dst []byte, num protowire.Number, v uint64) []byte {
	dst = protowire.AppendTag(dst, num, protowire.VarintType)
	return protowire.AppendVarint(dst, v)
}

func sizePair(k string, v []byte) int {
	return sizeBytesField(len(k)) + sizeBytesField(len(v))
}

func appendPair(dst []byte, num protowire.Number, k string, v []byte) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(sizePair(k, v)))
	dst = appendStringField(dst, 1, k)
	return appendBytesField(dst, 2, v)
}

func sizeLink(l *kv.Link) int {
	return sizeBytesField(len(l.Bucket)) + sizeBytesField(len(l.Key)) + sizeBytesField(len(l.Tag))
}

// sizeContent is the encoded size of c as an RpbContent (without its own
// tag and length). Like Riak, optional metadata is sent only when set and
// the value always (it is required); head sends it empty.
func sizeContent(c *kv.Content, head bool) int {
	n := sizeBytesField(0)
	if !head {
		n = sizeBytesField(len(c.Value))
	}
	for _, s := range [...]string{c.ContentType, c.Charset, c.ContentEncoding, c.VTag} {
		if s != "" {
			n += sizeBytesField(len(s))
		}
	}
	for i := range c.Links {
		n += sizeBytesField(sizeLink(&c.Links[i]))
	}
	if !c.LastMod.IsZero() {
		sec, usec := lastMod(c)
		n += 1 + protowire.SizeVarint(sec) + 1 + protowire.SizeVarint(usec)
	}
	for _, p := range c.UserMeta {
		n += sizeBytesField(sizePair(p.Key, p.Value))
	}
	for _, p := range c.Indexes {
		n += sizeBytesField(sizePair(p.Key, p.Value))
	}
	if c.Deleted {
		n += 2
	}
	return n
}

func lastMod(c *kv.Content) (sec, usec uint64) {
	t := c.LastMod
	return uint64(uint32(t.Unix())), uint64(t.Nanosecond() / 1000)
}

// appendContent appends c's RpbContent fields (no tag or length).
func appendContent(dst []byte, c *kv.Content, head bool) []byte {
	if head {
		dst = appendBytesField(dst, 1, nil)
	} else {
		dst = appendBytesField(dst, 1, c.Value)
	}
	if c.ContentType != "" {
		dst = appendStringField(dst, 2, c.ContentType)
	}
	if c.Charset != "" {
		dst = appendStringField(dst, 3, c.Charset)
	}
	if c.ContentEncoding != "" {
		dst = appendStringField(dst, 4, c.ContentEncoding)
	}
	if c.VTag != "" {
		dst = appendStringField(dst, 5, c.VTag)
	}
	for i := range c.Links {
		l := &c.Links[i]
		dst = protowire.AppendTag(dst, 6, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(sizeLink(l)))
		dst = appendStringField(dst, 1, l.Bucket)
		dst = appendStringField(dst, 2, l.Key)
		dst = appendStringField(dst, 3, l.Tag)
	}
	if !c.LastMod.IsZero() {
		sec, usec := lastMod(c)
		dst = appendVarintField(dst, 7, sec)
		dst = appendVarintField(dst, 8, usec)
	}
	for _, p := range c.UserMeta {
		dst = appendPair(dst, 9, p.Key, p.Value)
	}
	for _, p := range c.Indexes {
		dst = appendPair(dst, 10, p.Key, p.Value)
	}
	if c.Deleted {
		dst = appendVarintField(dst, 11, 1)
	}
	return dst
}

// appendObjectResp appends an RpbGetResp or RpbPutResp frame: the
// siblings as content (field 1; values empty with head), the encoded clock
// (field 2) when vclock is non-empty, and for a put the generated key
// (field 3) when key is non-empty. Both messages number these fields alike.
func appendObjectResp(dst []byte, code protocol.Code, sibs []kv.Content, head bool, vclock []byte, key string) []byte {
	n := 0
	for i := range sibs {
		n += sizeBytesField(sizeContent(&sibs[i], head))
	}
	if len(vclock) > 0 {
		n += sizeBytesField(len(vclock))
	}
	if key != "" {
		n += sizeBytesField(len(key))
	}
	dst = protocol.AppendHeader(dst, code, n)
	for i := range sibs {
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(sizeContent(&sibs[i], head)))
		dst = appendContent(dst, &sibs[i], head)
	}
	if len(vclock) > 0 {
		dst = appendBytesField(dst, 2, vclock)
	}
	if key != "" {
		dst = appendStringField(dst, 3, key)
	}
	return dst
}

// appendUnchangedResp appends RpbGetResp{unchanged: true}.
func appendUnchangedResp(dst []byte) []byte {
	dst = protocol.AppendHeader(dst, protocol.CodeGetResp, 2)
	return appendVarintField(dst, 3, 1)
}

// appendListResp appends an RpbListBucketsResp or RpbListKeysResp frame:
// names as field 1, done as field 2 when set. Both messages agree.
func appendListResp(dst []byte, code protocol.Code, names []string, done bool) []byte {
	n := 0
	for _, s := range names {
		n += sizeBytesField(len(s))
	}
	if done {
		n += 2
	}
	dst = protocol.AppendHeader(dst, code, n)
	for _, s := range names {
		dst = appendStringField(dst, 1, s)
	}
	if done {
		dst = appendVarintField(dst, 2, 1)
	}
	return dst
}

// appendIndexResp appends an RpbIndexResp frame: keys (field 1) or, with
// terms, results as RpbPair{key: term, value: key} (field 2); the
// continuation (3) when non-empty; done (4) when set.
func appendIndexResp(dst []byte, rs []kv.IndexResult, terms bool, continuation string, done bool) []byte {
	n := 0
	for i := range rs {
		if terms {
			n += sizeBytesField(sizeBytesField(len(rs[i].Term)) + sizeBytesField(len(rs[i].Key)))
		} else {
			n += sizeBytesField(len(rs[i].Key))
		}
	}
	if continuation != "" {
		n += sizeBytesField(len(continuation))
	}
	if done {
		n += 2
	}
	dst = protocol.AppendHeader(dst, protocol.CodeIndexResp, n)
	for i := range rs {
		if terms {
			dst = protowire.AppendTag(dst, 2, protowire.BytesType)
			dst = protowire.AppendVarint(dst, uint64(sizeBytesField(len(rs[i].Term))+sizeBytesField(len(rs[i].Key))))
			dst = appendStringField(dst, 1, rs[i].Term)
			dst = appendStringField(dst, 2, rs[i].Key)
		} else {
			dst = appendStringField(dst, 1, rs[i].Key)
		}
	}
	if continuation != "" {
		dst = appendStringField(dst, 3, continuation)
	}
	if done {
		dst = appendVarintField(dst, 4, 1)
	}
	return dst
}

// invalidBody formats the answer to an undecodable request body.
func invalidBody(code protocol.Code, err error) string {
	return fmt.Sprintf("invalid %v: %v", code, err)
}
