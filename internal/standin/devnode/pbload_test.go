package devnode

import (
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rmf-go/rmf/protocol"
)

// pbLoad is one load worker's Riak client: plain PB on one connection per
// node, requests round-robin over the nodes, a request that fails (a broken
// connection or an RpbErrorResp) tried again on the next node, three tries
// in all, as riak-go-client does. The
// load tests restart nodes under it, and riak-go-client 1.7.0's node health
// check reads the node's state unlocked (Node.ensureHealthCheckCanContinue
// formats stateData for a debug line it then drops), a data race the race
// detector reports whenever a node changes state during a check. Reads
// and writes for assertions after the load still go through riak-go-client.
type pbLoad struct {
	addrs []string
	conns []*pbConn
	next  int
}

type pbConn struct {
	nc net.Conn
	rd *protocol.Reader
}

const pbLoadTimeout = 5 * time.Second

func newPBLoad(addrs ...string) *pbLoad {
	return &pbLoad{addrs: addrs, conns: make([]*pbConn, len(addrs))}
}

func (c *pbLoad) close() {
	for i, pc := range c.conns {
		if pc != nil {
			_ = pc.nc.Close()
			c.conns[i] = nil
		}
	}
}

// errTransport marks a failure of the connection, not of Riak.
var errTransport = errors.New("pbload: connection failed")

// pbLoadTries is how many times a request is tried (riak-go-client's
// default).
const pbLoadTries = 3

// call sends one request and returns the answer's body; an RpbErrorResp
// is returned as a *protocol.Error.
func (c *pbLoad) call(code protocol.Code, body []byte, want protocol.Code) ([]byte, error) {
	var err error
	for range pbLoadTries {
		i := c.next % len(c.addrs)
		c.next++
		var out []byte
		if out, err = c.callOn(i, code, body, want); err == nil {
			return out, nil
		}
	}
	return nil, err
}

func (c *pbLoad) callOn(i int, code protocol.Code, body []byte, want protocol.Code) ([]byte, error) {
	pc := c.conns[i]
	if pc == nil {
		nc, err := net.DialTimeout("tcp", c.addrs[i], pbLoadTimeout)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errTransport, err)
		}
		pc = &pbConn{nc: nc, rd: protocol.NewReader(nc, 0)}
		c.conns[i] = pc
	}
	drop := func(err error) error {
		_ = pc.nc.Close()
		c.conns[i] = nil
		return fmt.Errorf("%w: %s: %v", errTransport, c.addrs[i], err)
	}
	_ = pc.nc.SetDeadline(time.Now().Add(pbLoadTimeout))
	if _, err := pc.nc.Write(protocol.AppendFrame(nil, code, body)); err != nil {
		return nil, drop(err)
	}
	fr, err := pc.rd.ReadFrame()
	if err != nil {
		return nil, drop(err)
	}
	switch fr.Code {
	case want:
		return fr.Body, nil
	case protocol.CodeErrorResp:
		pe, perr := protocol.ParseError(fr.Body)
		if perr != nil {
			return nil, drop(perr)
		}
		return nil, pe
	}
	return nil, drop(fmt.Errorf("answer code %d, want %d", fr.Code, want))
}

// RpbPutReq and RpbGetReq fields (riak_kv.proto): bucket 1, key 2,
// content 4 (put); RpbContent: value 1, content_type 2; RpbGetResp:
// content 1 (repeated).
func appendBucketKey(b []byte, bucket, key string) []byte {
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, bucket)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendString(b, key)
}

// store writes value under bucket/key of the default bucket type.
func (c *pbLoad) store(bucket, key, value string) error {
	var content []byte
	content = protowire.AppendTag(content, 1, protowire.BytesType)
	content = protowire.AppendString(content, value)
	content = protowire.AppendTag(content, 2, protowire.BytesType)
	content = protowire.AppendString(content, "text/plain")
	body := appendBucketKey(nil, bucket, key)
	body = protowire.AppendTag(body, 4, protowire.BytesType)
	body = protowire.AppendBytes(body, content)
	_, err := c.call(protocol.CodePutReq, body, protocol.CodePutResp)
	return err
}

// fetch returns the values of bucket/key (nil when not found).
func (c *pbLoad) fetch(bucket, key string) ([]string, error) {
	resp, err := c.call(protocol.CodeGetReq, appendBucketKey(nil, bucket, key), protocol.CodeGetResp)
	if err != nil {
		return nil, err
	}
	var vals []string
	for len(resp) > 0 {
		num, typ, n := protowire.ConsumeTag(resp)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		resp = resp[n:]
		if num == 1 && typ == protowire.BytesType {
			content, m := protowire.ConsumeBytes(resp)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			v, err := contentValue(content)
			if err != nil {
				return nil, err
			}
			vals = append(vals, v)
			resp = resp[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, resp)
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		resp = resp[m:]
	}
	return vals, nil
}

func contentValue(b []byte) (string, error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return "", protowire.ParseError(m)
			}
			return string(v), nil
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return "", protowire.ParseError(m)
		}
		b = b[m:]
	}
	return "", nil
}
