//go:build linux || darwin || freebsd || netbsd || openbsd

package director

import "syscall"

// alive reports whether an idle connection still looks usable: a
// non-blocking MSG_PEEK finds nothing to read. End of stream (the node
// closed it), an error, or unexpected bytes mean it is not. One syscall,
// no allocation; connections without a file descriptor (test hooks) pass.
func (bc *backendConn) alive() bool {
	if bc.rc == nil {
		return true
	}
	if err := bc.rc.Read(bc.peekFn); err != nil {
		return false
	}
	return bc.peekErr == syscall.EAGAIN || bc.peekErr == syscall.EWOULDBLOCK
}

// peek is the RawConn callback of alive; it never waits.
func (bc *backendConn) peek(fd uintptr) bool {
	bc.peekN, _, bc.peekErr = syscall.Recvfrom(int(fd), bc.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return true
}
