//go:build linux || darwin || freebsd || netbsd || openbsd

package director

import "syscall"

// peek is the RawConn.Control callback of backendConn.alive: one
// non-blocking MSG_PEEK; the connection is open and quiet when it would
// block. It never waits.
func (bc *backendConn) peek(fd uintptr) {
	_, _, err := syscall.Recvfrom(int(fd), bc.peekBuf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	bc.peekOpen = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
}
