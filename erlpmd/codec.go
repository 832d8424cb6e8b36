// Package erlpmd is an EPMD (Erlang Port Mapper Daemon) replacement whose
// registry is ZooKeeper: Erlang nodes register through any erlpmd and are
// found through any other, so Riak nodes on different Mesos agents find each
// other without port 4369. The wire codec in this file is pure: it reads and
// writes bytes and never touches a socket.
package erlpmd

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// EPMD request and response codes (erts "Distribution Protocol", EPMD section).
const (
	codeDumpReq      = 100
	codeKillReq      = 107
	codeNamesReq     = 110
	codeStopReq      = 115
	codeAlive2XResp  = 118
	codePort2Resp    = 119
	codeAlive2Req    = 120
	codeAlive2Resp   = 121
	codePortPlease2  = 122
	maxRequestLength = 64 << 10
)

var (
	// ErrMalformed reports a request that does not follow the EPMD protocol.
	ErrMalformed = errors.New("erlpmd: malformed request")
	// ErrUnknownRequest reports a request code erlpmd does not know.
	ErrUnknownRequest = errors.New("erlpmd: unknown request")
)

// Request is one decoded EPMD request.
type Request struct {
	Code  byte
	Alive *Alive2 // for ALIVE2_REQ
	Name  string  // for PORT_PLEASE2_REQ and STOP_REQ
}

// Alive2 is an ALIVE2_REQ: a node registering itself.
type Alive2 struct {
	Port           uint16
	NodeType       byte // 77 normal, 72 hidden
	Protocol       byte // 0 TCP/IPv4
	HighestVersion uint16
	LowestVersion  uint16
	Name           string
	Extra          []byte
}

// DecodeRequest decodes a request payload (without its 2-byte length prefix).
func DecodeRequest(p []byte) (Request, error) {
	if len(p) == 0 {
		return Request{}, fmt.Errorf("%w: empty", ErrMalformed)
	}
	req := Request{Code: p[0]}
	body := p[1:]
	switch p[0] {
	case codeAlive2Req:
		a, err := decodeAlive2(body)
		if err != nil {
			return Request{}, err
		}
		req.Alive = &a
	case codePortPlease2, codeStopReq:
		if len(body) == 0 {
			return Request{}, fmt.Errorf("%w: empty node name", ErrMalformed)
		}
		req.Name = string(body)
	case codeNamesReq, codeDumpReq, codeKillReq:
		if len(body) != 0 {
			return Request{}, fmt.Errorf("%w: trailing bytes after request %d", ErrMalformed, p[0])
		}
	default:
		return Request{}, fmt.Errorf("%w: code %d", ErrUnknownRequest, p[0])
	}
	return req, nil
}

func decodeAlive2(b []byte) (Alive2, error) {
	if len(b) < 10 {
		return Alive2{}, fmt.Errorf("%w: ALIVE2_REQ of %d bytes", ErrMalformed, len(b))
	}
	a := Alive2{
		Port:           binary.BigEndian.Uint16(b[0:2]),
		NodeType:       b[2],
		Protocol:       b[3],
		HighestVersion: binary.BigEndian.Uint16(b[4:6]),
		LowestVersion:  binary.BigEndian.Uint16(b[6:8]),
	}
	nlen := int(binary.BigEndian.Uint16(b[8:10]))
	rest := b[10:]
	if nlen == 0 || len(rest) < nlen+2 {
		return Alive2{}, fmt.Errorf("%w: ALIVE2_REQ name length %d", ErrMalformed, nlen)
	}
	a.Name = string(rest[:nlen])
	rest = rest[nlen:]
	elen := int(binary.BigEndian.Uint16(rest[:2]))
	rest = rest[2:]
	if len(rest) != elen {
		return Alive2{}, fmt.Errorf("%w: ALIVE2_REQ extra length %d with %d bytes left", ErrMalformed, elen, len(rest))
	}
	a.Extra = append([]byte(nil), rest...)
	if a.Port == 0 || a.LowestVersion > a.HighestVersion {
		return Alive2{}, fmt.Errorf("%w: ALIVE2_REQ port %d versions %d..%d", ErrMalformed, a.Port, a.LowestVersion, a.HighestVersion)
	}
	return a, nil
}

// EncodeRequest is DecodeRequest's inverse, with the 2-byte length prefix
// (used by tests and by anything that talks to an EPMD).
func EncodeRequest(r Request) []byte {
	var p []byte
	p = append(p, r.Code)
	switch r.Code {
	case codeAlive2Req:
		p = appendNodeInfo(p, r.Alive)
	case codePortPlease2, codeStopReq:
		p = append(p, r.Name...)
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(p))), p...)
}

// AppendAlive2Resp appends the answer to ALIVE2_REQ: ALIVE2_X_RESP with a
// 32-bit creation for nodes of distribution version 6 or later (OTP 23+),
// ALIVE2_RESP with a 16-bit creation for older ones, as epmd does.
func AppendAlive2Resp(dst []byte, highestVersion uint16, result byte, creation uint32) []byte {
	if highestVersion >= 6 {
		dst = append(dst, codeAlive2XResp, result)
		return binary.BigEndian.AppendUint32(dst, creation)
	}
	dst = append(dst, codeAlive2Resp, result)
	return binary.BigEndian.AppendUint16(dst, uint16(creation))
}

// AppendPort2Resp appends PORT2_RESP: the node's entry, or result 1 (not found) when a is nil.
func AppendPort2Resp(dst []byte, a *Alive2) []byte {
	if a == nil {
		return append(dst, codePort2Resp, 1)
	}
	return appendNodeInfo(append(dst, codePort2Resp, 0), a)
}

// appendNodeInfo appends the node fields ALIVE2_REQ and PORT2_RESP share:
// port, node type, protocol, versions, name and extra, length-prefixed.
func appendNodeInfo(dst []byte, a *Alive2) []byte {
	dst = binary.BigEndian.AppendUint16(dst, a.Port)
	dst = append(dst, a.NodeType, a.Protocol)
	dst = binary.BigEndian.AppendUint16(dst, a.HighestVersion)
	dst = binary.BigEndian.AppendUint16(dst, a.LowestVersion)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(a.Name)))
	dst = append(dst, a.Name...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(a.Extra)))
	return append(dst, a.Extra...)
}

// AppendNames appends the NAMES_RESP: this EPMD's port, then one line per node.
func AppendNames(dst []byte, epmdPort uint32, nodes []Alive2) []byte {
	dst = binary.BigEndian.AppendUint32(dst, epmdPort)
	for _, n := range nodes {
		dst = fmt.Appendf(dst, "name %s at port %d\n", n.Name, n.Port)
	}
	return dst
}

// AppendDump appends DUMP_RESP in epmd's format.
func AppendDump(dst []byte, epmdPort uint32, nodes []Alive2) []byte {
	dst = binary.BigEndian.AppendUint32(dst, epmdPort)
	for i, n := range nodes {
		dst = fmt.Appendf(dst, "active name     <%s> at port %d, fd = %d\n", n.Name, n.Port, i+1)
	}
	return dst
}
