package protocol

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/golang/protobuf/proto"
	protov2 "google.golang.org/protobuf/proto"
)

// maxBody is the largest body a 32-bit length can describe.
const maxBody = math.MaxUint32 - 1

// AppendFrame appends the frame (length, code, body) to dst and returns the
// extended slice. It panics if body is longer than a 32-bit length allows.
func AppendFrame(dst []byte, code Code, body []byte) []byte {
	dst = AppendHeader(dst, code, len(body))
	return append(dst, body...)
}

// AppendHeader appends the 5-byte header of a frame whose body is bodyLen
// bytes long, for callers that write the body themselves. It panics if
// bodyLen is negative or too large for a 32-bit length.
func AppendHeader(dst []byte, code Code, bodyLen int) []byte {
	if bodyLen < 0 || uint64(bodyLen) > maxBody {
		panic(fmt.Sprintf("protocol: body length %d out of range", bodyLen))
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(bodyLen+1))
	return append(dst, byte(code))
}

// pooled write buffers for WriteFrame; larger frames get their own.
const maxPooledWrite = 64 << 10

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// WriteFrame writes one frame to w with a single Write call, so a frame is
// never split between writers sharing w under a lock, and costs one syscall
// on an unbuffered connection.
func WriteFrame(w io.Writer, code Code, body []byte) error {
	if uint64(len(body)) > maxBody {
		return fmt.Errorf("%w: body of %d bytes", ErrFrameTooLarge, len(body))
	}
	size := HeaderSize + len(body)
	if size > maxPooledWrite {
		_, err := w.Write(AppendFrame(make([]byte, 0, size), code, body))
		return err
	}
	bp := writeBufs.Get().(*[]byte)
	b := AppendFrame((*bp)[:0], code, body)
	_, err := w.Write(b)
	*bp = b[:0]
	writeBufs.Put(bp)
	return err
}

// MarshalFrame encodes msg (a riak-go-client rpb message, or any protobuf
// message) as a complete frame with the given code.
func MarshalFrame(code Code, msg proto.Message) ([]byte, error) {
	return AppendMarshalFrame(nil, code, msg)
}

// AppendMarshalFrame is MarshalFrame appending to dst. Missing required
// fields are an error, as with proto.Marshal.
func AppendMarshalFrame(dst []byte, code Code, msg proto.Message) ([]byte, error) {
	if msg == nil {
		return dst, fmt.Errorf("protocol: marshal %v: nil message", code)
	}
	start := len(dst)
	dst = AppendHeader(dst, code, 0)
	out, err := protov2.MarshalOptions{}.MarshalAppend(dst, proto.MessageV2(msg))
	if err != nil {
		return dst[:start], fmt.Errorf("protocol: marshal %v: %w", code, err)
	}
	bodyLen := len(out) - start - HeaderSize
	if uint64(bodyLen) > maxBody {
		return dst[:start], fmt.Errorf("%w: body of %d bytes", ErrFrameTooLarge, bodyLen)
	}
	binary.BigEndian.PutUint32(out[start:], uint32(bodyLen+1))
	return out, nil
}
