package pbserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/service"
	"github.com/rmf-go/rmf/protocol"
)

const (
	// initialOut is the write buffer's starting capacity.
	initialOut = 4 << 10
	// maxRetainedOut: a write buffer grown past this by a large answer is
	// dropped after the write, so one big object does not pin memory.
	maxRetainedOut = 1 << 20
	// lingerTime and lingerBytes bound how long, and how much, a connection
	// being closed after an error keeps reading, so that the error reaches
	// the client instead of being destroyed by a reset.
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

// conn is one client connection. Its goroutine reads a request, answers it
// (appending to out, written with one Write per response or streamed
// batch) and reads the next, so requests are answered in order.
type conn struct {
	srv    *Server
	svc    service.Service
	log    *slog.Logger
	nc     net.Conn  // nil for a bare handler (tests, fuzzing)
	w      io.Writer // nc, or the handler's sink
	ctx    context.Context
	cancel context.CancelFunc
	rd     *protocol.Reader

	out  []byte // the answer being built
	werr error  // first write error: the connection is finished

	clientID []byte // RpbSetClientIdReq / RpbGetClientIdReq state

	req objReq // decode target of get, put and delete requests
	vc  []byte // scratch for encoded vector clocks

	// The last strings made from the wire, reused while the bytes repeat:
	// a client usually sends one type, a few buckets, one content type.
	lastType, lastBucket, lastCT, lastCharset, lastEncoding string
}

func newConn(s *Server, nc net.Conn) *conn {
	return &conn{
		srv: s, svc: s.Service, log: s.logger(), nc: nc, w: nc,
		rd:  protocol.NewReader(nc, s.MaxFrameSize),
		out: make([]byte, 0, initialOut),
	}
}

// serve runs the connection until the client leaves, a fatal protocol
// error, a write error, the server's shutdown, or cancellation of ctx.
func (c *conn) serve() {
	stop := context.AfterFunc(c.ctx, func() { c.nc.Close() })
	defer func() {
		stop()
		c.cancel()
		c.nc.Close()
		c.srv.trackConn(c, false)
	}()
	idle := c.srv.IdleTimeout
	for c.werr == nil {
		if c.srv.closing.Load() {
			return
		}
		if idle > 0 {
			c.nc.SetReadDeadline(time.Now().Add(idle))
			// Shutdown may have set its past deadline just before ours.
			if c.srv.closing.Load() {
				return
			}
		}
		f, err := c.rd.ReadFrame()
		if err != nil {
			switch {
			case errors.Is(err, protocol.ErrUnknownCode):
				// The whole frame was read and came with the error: the
				// handler answers it (or an Extension does).
			case errors.Is(err, protocol.ErrEmptyFrame):
				c.out = protocol.AppendErrorResp(c.out, "empty frame: a message needs at least a code byte", 0)
				c.flush()
				continue
			case errors.Is(err, protocol.ErrFrameTooLarge):
				c.log.Debug("pb frame too large; closing", "remote", c.nc.RemoteAddr(), "err", err)
				c.out = protocol.AppendErrorResp(c.out, fmt.Sprintf("frame too large: the limit is %d bytes", c.rd.MaxFrameSize()), 0)
				if c.flush() == nil {
					c.linger()
				}
				return
			default:
				if !errors.Is(err, io.EOF) && !c.srv.closing.Load() && c.ctx.Err() == nil {
					c.log.Debug("pb connection closed", "remote", c.nc.RemoteAddr(), "err", err)
				}
				return
			}
		}
		c.handle(f.Code, f.Body)
	}
}

// linger half-closes the connection and discards what the client still
// sends for a moment, so that closing does not reset the connection before
// the client has read the last answer.
func (c *conn) linger() {
	type closeWriter interface{ CloseWrite() error }
	cw, ok := c.nc.(closeWriter)
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, c.nc, lingerBytes)
}

// flush writes the pending answer. After a write error the connection is
// finished and further answers are dropped.
func (c *conn) flush() error {
	if c.werr == nil && len(c.out) > 0 {
		if c.nc != nil && c.srv.WriteTimeout > 0 {
			c.nc.SetWriteDeadline(time.Now().Add(c.srv.WriteTimeout))
		}
		_, c.werr = c.w.Write(c.out)
	}
	if cap(c.out) > maxRetainedOut {
		c.out = make([]byte, 0, initialOut)
	} else {
		c.out = c.out[:0]
	}
	return c.werr
}

// handle answers one request frame, whatever it holds: it always writes a
// complete answer (an RpbErrorResp if nothing else), and a panic while
// serving is recovered, logged and answered with RpbErrorResp, so a bad
// request or a Service bug never takes down other connections. body
// aliases the read buffer and is valid only during the call.
func (c *conn) handle(code protocol.Code, body []byte) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("pb request panicked", "code", code.String(), "panic", r, "stack", string(debug.Stack()))
			c.out = protocol.AppendErrorResp(c.out[:0], "devnode: internal error serving "+code.String(), 0)
			c.flush()
		}
	}()
	c.dispatch(code, body)
	c.flush()
}

// intern returns string(b), reusing *last when the bytes are the same.
func (c *conn) intern(last *string, b []byte) string {
	if string(b) != *last {
		*last = string(b)
	}
	return *last
}
