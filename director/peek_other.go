//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package director

// peek cannot peek on this platform: idle connections are assumed usable
// (a failure is still detected when the request is written or answered).
func (bc *backendConn) peek(fd uintptr) {
	bc.peekOpen = true
}
