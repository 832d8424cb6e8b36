//go:build !linux

package director

import "net"

// fastConn is the net.Conn itself on this platform (see fastio_linux.go).
type fastConn struct {
	net.Conn
	sent int
}

func (c *fastConn) init(nc net.Conn) { c.Conn = nc }

// send writes req now.
func (c *fastConn) send(req []byte) error {
	n, err := c.Write(req)
	c.sent = n
	return err
}
