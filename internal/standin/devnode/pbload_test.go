package devnode

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"

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

// store writes value under bucket/key of the default bucket type.
func (c *pbLoad) store(bucket, key, value string) error {
	body, err := proto.Marshal(&riak_kv.RpbPutReq{Bucket: []byte(bucket), Key: []byte(key),
		Content: &riak_kv.RpbContent{Value: []byte(value), ContentType: []byte("text/plain")}})
	if err != nil {
		return err
	}
	_, err = c.call(protocol.CodePutReq, body, protocol.CodePutResp)
	return err
}

// fetch returns the values of bucket/key (nil when not found).
func (c *pbLoad) fetch(bucket, key string) ([]string, error) {
	body, err := proto.Marshal(&riak_kv.RpbGetReq{Bucket: []byte(bucket), Key: []byte(key)})
	if err != nil {
		return nil, err
	}
	resp, err := c.call(protocol.CodeGetReq, body, protocol.CodeGetResp)
	if err != nil {
		return nil, err
	}
	var got riak_kv.RpbGetResp
	if err := proto.Unmarshal(resp, &got); err != nil {
		return nil, err
	}
	var vals []string
	for _, content := range got.Content {
		vals = append(vals, string(content.Value))
	}
	return vals, nil
}
