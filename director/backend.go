package director

import (
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/rmf-go/rmf/protocol"
)

// backendConn is one connection to a Riak node with its own frame reader.
// It is used by one request at a time, or pinned to one client. This file
// holds all of its I/O: sending a request (send), reading the answer (rd),
// deadlines (setDeadline) and the liveness peek of an idle connection
// (alive); the raw socket calls are in fastio_*.go and peek_*.go.
type backendConn struct {
	nc   net.Conn
	io   fastConn // reads and writes nc
	rd   *protocol.Reader
	pool *pool
	// tableID is the connection's row in the connection table.
	tableID string
	// idleSince is when the connection was put back, for BackendIdleTimeout.
	idleSince time.Time
	// rdl and wdl are the read and write deadlines last set on nc.
	rdl, wdl time.Time

	// rc and the peek fields serve alive(); peekFn is bound once so a
	// check does not allocate.
	rc       syscall.RawConn
	peekFn   func(fd uintptr)
	peekOpen bool // the last peek found the connection open and quiet
	peekBuf  [1]byte
}

func newBackendConn(nc net.Conn, pl *pool) *backendConn {
	bc := &backendConn{nc: nc, pool: pl}
	bc.io.init(nc)
	bc.rd = protocol.NewReader(&bc.io, pl.maxFrame)
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			bc.rc = rc
			bc.peekFn = bc.peek
		}
	}
	return bc
}

// sendError is a failure while a request was being written to a node: it
// says how many bytes of the request were written. written == 0: the
// node never received any of it.
type sendError struct {
	written int
	err     error
}

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// send sends req. The write may be deferred to the first read of the
// answer (fastConn.send); either way a failure before the whole request
// was written is a *sendError, reported by send or by that read.
func (bc *backendConn) send(req []byte) error { return bc.io.send(req) }

// notWritten reports whether err says that none of the request was
// written.
func notWritten(err error) bool {
	var se *sendError
	return errors.As(err, &se) && se.written == 0
}

// setDeadline sets nc's deadline to dl. With lenient, a deadline already
// set at or after dl is kept, and a new one is set slack later than dl, so
// that back-to-back requests on a connection do not each reset its timer:
// a request then times out between dl and dl+slack.
func (bc *backendConn) setDeadline(dl time.Time, lenient bool, slack time.Duration) {
	if lenient {
		if !bc.rdl.Before(dl) && !bc.wdl.Before(dl) {
			return
		}
		dl = dl.Add(slack)
	}
	bc.rdl, bc.wdl = dl, dl
	_ = bc.nc.SetDeadline(dl)
}

// setReadDeadline sets nc's read deadline to dl, exactly.
func (bc *backendConn) setReadDeadline(dl time.Time) {
	bc.rdl = dl
	_ = bc.nc.SetReadDeadline(dl)
}

// setReadDeadlineWithin makes nc's read deadline fall between earliest
// and latest (a hedge's): one already there is kept, else it becomes
// latest, so that the requests of the next moments on the connection
// keep it too instead of each resetting its timer (two clock readings
// and a timer update).
func (bc *backendConn) setReadDeadlineWithin(earliest, latest time.Time) {
	if !bc.rdl.Before(earliest) && !bc.rdl.After(latest) {
		return
	}
	bc.setReadDeadline(latest)
}

// setWriteDeadline makes nc's write deadline dl at the earliest, leniently
// as setDeadline does.
func (bc *backendConn) setWriteDeadline(dl time.Time, slack time.Duration) {
	if !bc.wdl.Before(dl) {
		return
	}
	bc.wdl = dl.Add(slack)
	_ = bc.nc.SetWriteDeadline(bc.wdl)
}

// alive reports whether an idle connection still looks usable: a
// non-blocking MSG_PEEK finds nothing to read. End of stream (the node
// closed it), an error, or unexpected bytes mean it is not. One syscall,
// no allocation; connections without a file descriptor (test hooks) pass.
//
// The peek runs through RawConn.Control, not Read: Read refuses to start
// once the connection's read deadline has passed, and a connection whose
// last exchange was a hedged read keeps the hedge's deadline, long passed.
func (bc *backendConn) alive() bool {
	if bc.rc == nil {
		return true
	}
	if err := bc.rc.Control(bc.peekFn); err != nil {
		return false
	}
	return bc.peekOpen
}

func (bc *backendConn) close() {
	_ = bc.nc.Close()
	bc.pool.forget(bc)
	bc.pool.table.removeBackend(bc.tableID)
}
