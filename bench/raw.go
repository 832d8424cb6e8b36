package bench

import (
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rmf-go/rmf/protocol"
)

// The raw driver speaks Riak PB frames over one connection per worker,
// encoding RpbGetReq, RpbPutReq and RpbDelReq by hand: no protobuf
// reflection, no allocation per operation, so the load generator costs as
// little CPU as possible and the target's cost shows.

type rawDriver struct{ cfg DriverConfig }

func newRawDriver(cfg DriverConfig) *rawDriver { return &rawDriver{cfg: cfg} }

func (d *rawDriver) NewWorker(i int) (Worker, error) {
	return &rawWorker{
		addr:    d.cfg.PBAddrs[i%len(d.cfg.PBAddrs)],
		bucket:  []byte(d.cfg.Bucket),
		timeout: d.cfg.Timeout,
		wbuf:    make([]byte, 0, 4096),
	}, nil
}

func (d *rawDriver) Close() error { return nil }

type rawWorker struct {
	addr    string
	bucket  []byte
	timeout time.Duration
	nc      net.Conn
	rd      *protocol.Reader
	wbuf    []byte
	vclock  []byte
}

var contentType = []byte("application/octet-stream")

func (w *rawWorker) Do(op Op, key, value []byte) error {
	switch op {
	case OpGet:
		_, err := w.get(key)
		return err
	case OpPut:
		return w.put(key, nil, value)
	case OpUpdate:
		vc, err := w.get(key)
		if err != nil {
			return err
		}
		w.vclock = append(w.vclock[:0], vc...)
		return w.put(key, w.vclock, value)
	case OpDelete:
		return w.del(key)
	}
	return fmt.Errorf("bench: raw: unknown op %v", op)
}

func (w *rawWorker) get(key []byte) (vclock []byte, err error) {
	b := w.begin(protocol.CodeGetReq)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, w.bucket)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, key)
	f, err := w.roundTrip(b, protocol.CodeGetResp)
	if err != nil {
		return nil, err
	}
	// RpbGetResp: vclock is field 2 (absent when not found).
	for body := f.Body; len(body) > 0; {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			return nil, fmt.Errorf("bench: raw: %w: RpbGetResp", protocol.ErrMalformed)
		}
		body = body[n:]
		m := protowire.ConsumeFieldValue(num, typ, body)
		if m < 0 {
			return nil, fmt.Errorf("bench: raw: %w: RpbGetResp", protocol.ErrMalformed)
		}
		if num == 2 && typ == protowire.BytesType {
			vclock, _ = protowire.ConsumeBytes(body)
		}
		body = body[m:]
	}
	return vclock, nil
}

func (w *rawWorker) put(key, vclock, value []byte) error {
	b := w.begin(protocol.CodePutReq)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, w.bucket)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, key)
	if len(vclock) > 0 {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, vclock)
	}
	// content (field 4): RpbContent{value: 1, content_type: 2}
	contentLen := 1 + protowire.SizeBytes(len(value)) + 1 + protowire.SizeBytes(len(contentType))
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(contentLen))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, value)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, contentType)
	_, err := w.roundTrip(b, protocol.CodePutResp)
	return err
}

func (w *rawWorker) del(key []byte) error {
	b := w.begin(protocol.CodeDelReq)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, w.bucket)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, key)
	_, err := w.roundTrip(b, protocol.CodeDelResp)
	return err
}

// begin starts a frame in wbuf; roundTrip fills in its length.
func (w *rawWorker) begin(code protocol.Code) []byte {
	return protocol.AppendHeader(w.wbuf[:0], code, 0)
}

// roundTrip sends the frame in b and reads one answer: want, or an
// RpbErrorResp (returned as *protocol.Error, the connection kept). Any
// other failure drops the connection; the next operation redials.
func (w *rawWorker) roundTrip(b []byte, want protocol.Code) (protocol.Frame, error) {
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	w.wbuf = b[:0]
	if w.nc == nil {
		nc, err := net.DialTimeout("tcp", w.addr, w.timeout)
		if err != nil {
			time.Sleep(10 * time.Millisecond) // do not spin on a dead target
			return protocol.Frame{}, err
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		w.nc = nc
		if w.rd == nil {
			w.rd = protocol.NewReader(nc, 0)
		} else {
			w.rd.Reset(nc)
		}
	}
	if err := w.nc.SetDeadline(time.Now().Add(w.timeout)); err != nil {
		return protocol.Frame{}, w.drop(err)
	}
	if _, err := w.nc.Write(b); err != nil {
		return protocol.Frame{}, w.drop(err)
	}
	f, err := w.rd.ReadFrame()
	if err != nil {
		return protocol.Frame{}, w.drop(err)
	}
	switch f.Code {
	case want:
		return f, nil
	case protocol.CodeErrorResp:
		e, err := protocol.ParseError(f.Body)
		if err != nil {
			return protocol.Frame{}, w.drop(err)
		}
		return protocol.Frame{}, e
	}
	return protocol.Frame{}, w.drop(fmt.Errorf("bench: raw: got %v, want %v", f.Code, want))
}

func (w *rawWorker) drop(err error) error {
	if w.nc != nil {
		_ = w.nc.Close()
		w.nc = nil
	}
	return err
}

func (w *rawWorker) Close() error { return w.drop(nil) }
