package protocol

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxFrameSize is the largest frame length (code byte + body) a
// Reader accepts when none is given.
const DefaultMaxFrameSize = 64 << 20

// HeaderSize is the size of a frame's fixed part: the 4-byte length and the
// 1-byte code.
const HeaderSize = 5

// Frame errors. Use errors.Is: the Reader wraps them with details.
var (
	// ErrEmptyFrame: a length prefix of 0, so there is no code byte. The
	// 4 length bytes are consumed and the stream stays aligned.
	ErrEmptyFrame = errors.New("protocol: empty frame")
	// ErrFrameTooLarge: the length prefix exceeds the limit. Only the
	// length bytes are consumed; the body is not read, so the stream is no
	// longer aligned: answer an error and close the connection.
	ErrFrameTooLarge = errors.New("protocol: frame too large")
	// ErrTruncatedFrame: the stream ended inside a header or a body.
	ErrTruncatedFrame = errors.New("protocol: truncated frame")
	// ErrUnknownCode: the code is not in the message table, or names a
	// sub-message that never travels alone (TsCoverageEntry, TsRange;
	// Riak rejects those too). The whole frame is consumed and returned with the error, so the caller can
	// answer RpbErrorResp and keep the connection.
	ErrUnknownCode = errors.New("protocol: unknown message code")
)

// Frame is one Riak PB message.
type Frame struct {
	Code Code
	Body []byte
}

// Clone returns a copy of f whose Body no longer aliases a Reader's buffer.
func (f Frame) Clone() Frame {
	if f.Body != nil {
		f.Body = append(make([]byte, 0, len(f.Body)), f.Body...)
	}
	return f
}

// Size returns the encoded size of f: header plus body.
func (f Frame) Size() int { return HeaderSize + len(f.Body) }

const (
	initialBufSize = 4 << 10
	// A buffer larger than this is replaced by a small one once a later
	// frame turns out to be much smaller.
	shrinkThreshold = 256 << 10
	maxZeroReads    = 100
)

// Reader reads Riak PB frames from a byte stream.
//
// Two buffering modes, chosen by the source:
//
//   - Any io.Reader except *bufio.Reader: the Reader reads ahead into its
//     own buffer, as many bytes as one Read returns, and returns frames as
//     slices of that buffer. A request costs one read syscall and no copy;
//     pipelined frames cost less. Bytes read past the current frame are
//     available through Buffered (e.g. before a STARTTLS handover).
//   - *bufio.Reader (owned by the caller): the Reader never takes more
//     than the current frame out of it, so the caller's bufio.Reader keeps
//     everything after the frame. The bufio.Reader batches syscalls; the
//     frame is copied once into the Reader's buffer.
//
// Frame bodies and Raw alias the buffer and stay valid only until the next
// call to ReadFrame or ReadRaw; use Frame.Clone to keep one. In steady state
// ReadFrame does not allocate. The buffer starts at 4 KiB and doubles as a
// large frame's bytes arrive (a peer announcing 64 MiB and sending 10 bytes
// costs 4 KiB), and is swapped back for a small one when later frames are
// small.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	src   io.Reader
	max   int
	exact bool
	buf   []byte // len(buf) == cap(buf)
	r, w  int    // unread bytes are buf[r:w]
	last  []byte // raw bytes of the last frame returned
	rerr  error  // read error held back because data came with it
	err   error  // sticky error: the stream is no longer aligned
}

// NewReader returns a Reader of r that rejects frames whose length exceeds
// maxFrameSize (0 or less means DefaultMaxFrameSize).
func NewReader(r io.Reader, maxFrameSize int) *Reader {
	rd := &Reader{}
	rd.max = maxFrameSize
	if rd.max <= 0 {
		rd.max = DefaultMaxFrameSize
	}
	rd.Reset(r)
	return rd
}

// Reset discards all state and makes rd read from r, keeping its buffer and
// limit. It lets a pool reuse Readers across connections.
func (rd *Reader) Reset(r io.Reader) {
	_, exact := r.(*bufio.Reader)
	rd.src, rd.exact = r, exact
	rd.r, rd.w = 0, 0
	rd.last, rd.rerr, rd.err = nil, nil, nil
}

// MaxFrameSize returns the limit on a frame's length field.
func (rd *Reader) MaxFrameSize() int { return rd.max }

// Buffered returns the bytes read from the source but not yet returned as
// frames. It aliases the buffer; valid until the next read.
func (rd *Reader) Buffered() []byte { return rd.buf[rd.r:rd.w] }

// Raw returns the encoded bytes (length, code and body) of the frame last
// returned by ReadFrame or ReadRaw, including a frame returned with
// ErrUnknownCode, or nil if the last call returned no frame. It aliases the
// buffer, so a proxy can relay the frame without re-encoding it.
func (rd *Reader) Raw() []byte { return rd.last }

// ReadFrame reads the next frame. A clean end of stream before any header
// byte returns io.EOF. With ErrUnknownCode the frame is returned as well.
// Errors from the source are returned unchanged; a timeout can be retried
// without losing data.
func (rd *Reader) ReadFrame() (Frame, error) {
	raw, err := rd.next()
	if raw == nil {
		return Frame{}, err
	}
	return Frame{Code: Code(raw[4]), Body: raw[HeaderSize:]}, err
}

// ReadRaw is ReadFrame returning the encoded frame instead of a Frame.
func (rd *Reader) ReadRaw() (raw []byte, code Code, err error) {
	raw, err = rd.next()
	if raw == nil {
		return nil, 0, err
	}
	return raw, Code(raw[4]), err
}

func (rd *Reader) next() ([]byte, error) {
	if rd.err != nil {
		return nil, rd.err
	}
	if rd.r == rd.w {
		rd.r, rd.w = 0, 0
	}
	// Swap a big buffer for a small one once the last frame was much
	// smaller, so one huge frame does not pin memory for the connection's
	// lifetime.
	if len(rd.buf) > shrinkThreshold && len(rd.last) < len(rd.buf)/4 && rd.w-rd.r <= initialBufSize/2 {
		nb := make([]byte, initialBufSize)
		rd.w = copy(nb, rd.buf[rd.r:rd.w])
		rd.r, rd.buf = 0, nb
	}
	rd.last = nil
	if err := rd.fill(4); err != nil {
		return nil, rd.readErr(err)
	}
	n := binary.BigEndian.Uint32(rd.buf[rd.r:])
	if n == 0 {
		rd.r += 4
		return nil, ErrEmptyFrame
	}
	if uint64(n) > uint64(rd.max) {
		rd.r += 4
		rd.err = fmt.Errorf("%w: length %d exceeds %d", ErrFrameTooLarge, n, rd.max)
		return nil, rd.err
	}
	total := 4 + int(n)
	if err := rd.fill(total); err != nil {
		return nil, rd.readErr(err)
	}
	raw := rd.buf[rd.r : rd.r+total : rd.r+total]
	rd.r += total
	rd.last = raw
	if !table[raw[4]].Request && !table[raw[4]].Response {
		return raw, fmt.Errorf("%w %d", ErrUnknownCode, raw[4])
	}
	return raw, nil
}

// readErr turns a source error met while filling into the error to return.
func (rd *Reader) readErr(err error) error {
	if err != io.EOF {
		return err
	}
	if rd.r == rd.w {
		return io.EOF
	}
	rd.err = fmt.Errorf("%w: %d bytes then EOF", ErrTruncatedFrame, rd.w-rd.r)
	return rd.err
}

// fill makes sure at least need unread bytes are buffered. The buffer grows
// by doubling as bytes arrive, never straight to need, so a peer announcing
// a huge frame costs memory only for what it actually sends.
func (rd *Reader) fill(need int) error {
	if rd.w-rd.r >= need {
		return nil
	}
	if rd.r > 0 && rd.r+need > len(rd.buf) {
		rd.w = copy(rd.buf, rd.buf[rd.r:rd.w])
		rd.r = 0
	}
	if rd.rerr != nil {
		err := rd.rerr
		rd.rerr = nil
		return err
	}
	for zero := 0; rd.w-rd.r < need; {
		if rd.w == len(rd.buf) { // here rd.r == 0
			size := min(max(initialBufSize, 2*len(rd.buf)), max(need, initialBufSize))
			nb := make([]byte, size)
			copy(nb, rd.buf[:rd.w])
			rd.buf = nb
		}
		limit := len(rd.buf)
		if rd.exact {
			limit = min(limit, rd.r+need)
		}
		n, err := rd.src.Read(rd.buf[rd.w:limit])
		if n < 0 || n > limit-rd.w {
			return fmt.Errorf("protocol: source returned invalid count %d", n)
		}
		rd.w += n
		if err != nil {
			if rd.w-rd.r >= need {
				rd.rerr = err // report it when more data is needed
				return nil
			}
			return err
		}
		if n > 0 {
			zero = 0
		} else if zero++; zero >= maxZeroReads {
			return io.ErrNoProgress
		}
	}
	return nil
}
