//go:build !linux

package director

import "net"

// fastConn is the net.Conn itself on this platform (see fastio_linux.go).
type fastConn struct {
	net.Conn
}

func (c *fastConn) init(nc net.Conn) { c.Conn = nc }

// pollRead runs nothing here: serving reads the usual way.
func (c *fastConn) pollRead(bool, func() bool) (bool, error) { return false, nil }

// send writes req now; a failure is a *sendError saying how much of req
// was written.
func (c *fastConn) send(req []byte) error {
	if n, err := c.Write(req); err != nil {
		return &sendError{written: n, err: err}
	}
	return nil
}
