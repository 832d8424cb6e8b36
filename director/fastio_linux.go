//go:build linux

package director

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// fastConn reads and writes a non-blocking socket with raw system calls
// through syscall.RawConn. The runtime poller still parks the goroutine
// when the socket is not ready and still enforces deadlines, but the
// calls themselves do not enter the scheduler's syscall state (they never
// block: the socket is non-blocking), so no P is handed off while a
// loopback write delivers to its peer. Connections without a RawConn
// (test hooks) use the net.Conn.
type fastConn struct {
	nc net.Conn
	rc syscall.RawConn

	rfn, wfn func(fd uintptr) bool // bound once: no allocation per call
	rbuf     []byte
	rn       int
	rerr     error
	wbuf     []byte
	wn       int
	werr     error

	// pending is a request that the next Read writes before it waits for
	// the answer (see send); sent counts its bytes written so far.
	pending []byte
	sent    int
	partial bool

	// Polled serving (pollRead): Read runs inside the connection's own
	// RawConn.Read, on fd, and returns errWouldBlock instead of waiting.
	polled bool
	fd     uintptr
	// drained: the last read came back short, so the socket had no more
	// data; until the poller reports it readable again, a read would find
	// none. With skip, Read then returns errReadSkipped without reading:
	// the caller must bound the wait, since a short read does not prove
	// that no end of stream is pending (clientConn.endCheck).
	drained, skip bool
	// reads counts read system calls while polled (for tests).
	reads atomic.Uint64
}

// pollRead runs step inside one read of the socket through its RawConn,
// at once and again whenever the poller reports the socket readable,
// until step returns true; it reports false, having run nothing, when
// the connection has no RawConn. Inside, Read reads with one system call
// and returns errWouldBlock when the socket is empty; step then returns
// false to wait. The poller's readiness is reset only when a RawConn.Read
// begins, never between the calls of step, so a read that came back
// short needs no further read (EAGAIN) to learn that the socket has no
// data: with skip, Read returns errReadSkipped instead. Data that comes
// after the short read wakes the wait, even data that came while step
// was busy with a request (a client that pipelines). That saves the read
// a request/answer client costs per request otherwise. The error is the
// wait's: a deadline, the connection closed.
func (c *fastConn) pollRead(skip bool, step func() bool) (bool, error) {
	if c.rc == nil {
		return false, nil
	}
	c.polled, c.skip = true, skip
	err := c.rc.Read(func(fd uintptr) bool {
		c.fd, c.drained = fd, false // called at once or because it is readable
		return step()
	})
	c.polled = false
	return true, err
}

// pollReadOnce is Read while polled: one read system call, errWouldBlock
// when there is nothing to read, errReadSkipped (no call) when a short
// read said so already.
func (c *fastConn) pollReadOnce(b []byte) (int, error) {
	if c.drained && c.skip {
		return 0, errReadSkipped
	}
	c.reads.Add(1)
	n, e := sysRead(c.fd, b)
	switch e {
	case 0:
		if n == 0 {
			return 0, io.EOF
		}
		c.drained = n < len(b)
		return n, nil
	case syscall.EAGAIN:
		c.drained = true
		return 0, errWouldBlock
	default:
		return 0, e
	}
}

// sysRead is one read(2) of fd into b (not empty), repeated if a signal
// interrupted it. The count means nothing unless the errno is 0.
func sysRead(fd uintptr, b []byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e != syscall.EINTR {
			return int(n), e
		}
	}
}

// sysWrite is one write(2) of b (not empty) to fd, as sysRead.
func sysWrite(fd uintptr, b []byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		if e != syscall.EINTR {
			return int(n), e
		}
	}
}

// send makes the next Read write req first, then wait for the answer
// without the read attempt that would find nothing yet: the answer cannot
// arrive before its request. (The poller's readiness is reset when Read
// starts; an event from before, such as the node closing the idle
// connection, is then reported again by the reset that writing to a
// closed connection provokes.) Errors come from that Read; a failure
// before the whole of req was written is a *sendError saying how much was.
func (c *fastConn) send(req []byte) error {
	c.sent = 0
	if c.rc == nil {
		if n, err := c.nc.Write(req); err != nil {
			return &sendError{written: n, err: err}
		}
		return nil
	}
	c.pending = req
	return nil
}

func (c *fastConn) init(nc net.Conn) {
	c.nc = nc
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
			c.rfn, c.wfn = c.rawRead, c.rawWrite
		}
	}
}

// Read reads what is available, waiting until something is.
func (c *fastConn) Read(b []byte) (int, error) {
	if c.rc == nil || len(b) == 0 {
		return c.nc.Read(b)
	}
	if c.polled {
		return c.pollReadOnce(b)
	}
	c.rbuf, c.rn, c.rerr = b, 0, nil
	req := c.pending
	err := c.rc.Read(c.rfn)
	c.rbuf = nil
	if c.partial { // the socket buffer filled: write the rest the usual way
		rest := c.pending[c.sent:]
		c.pending, c.partial = nil, false
		if err != nil {
			return 0, &sendError{written: c.sent, err: err}
		}
		n, werr := c.Write(rest)
		c.sent += n
		if werr != nil {
			return 0, &sendError{written: c.sent, err: werr}
		}
		return c.Read(b)
	}
	c.pending = nil
	if err == nil {
		err = c.rerr
	}
	switch {
	case err != nil && c.sent < len(req): // the request was not all written
		return 0, &sendError{written: c.sent, err: err}
	case err != nil:
		return 0, err
	case c.rn == 0:
		return 0, io.EOF
	}
	return c.rn, nil
}

func (c *fastConn) rawRead(fd uintptr) bool {
	for c.pending != nil {
		if c.sent == len(c.pending) {
			c.pending = nil
			return false // wait for the answer
		}
		n, e := sysWrite(fd, c.pending[c.sent:])
		switch e {
		case 0:
			c.sent += n
		case syscall.EAGAIN:
			c.partial = true
			return true
		default:
			c.rerr = e
			return true
		}
	}
	n, e := sysRead(fd, c.rbuf)
	switch e {
	case 0:
		c.rn = n
		return true
	case syscall.EAGAIN:
		return false // park until readable
	default:
		c.rerr = e
		return true
	}
}

// Write writes all of p, waiting while the socket buffer is full.
func (c *fastConn) Write(b []byte) (int, error) {
	if c.rc == nil || len(b) == 0 {
		return c.nc.Write(b)
	}
	c.wbuf, c.wn, c.werr = b, 0, nil
	err := c.rc.Write(c.wfn)
	n := c.wn
	c.wbuf = nil
	if err == nil {
		err = c.werr
	}
	return n, err
}

func (c *fastConn) rawWrite(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		n, e := sysWrite(fd, c.wbuf[c.wn:])
		switch e {
		case 0:
			c.wn += n
		case syscall.EAGAIN:
			return false // park until writable
		default:
			c.werr = e
			return true
		}
	}
	return true
}
