package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

// frame builds an encoded frame by hand, independently of AppendFrame.
func frame(code Code, body ...byte) []byte {
	n := len(body) + 1
	return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), byte(code)}, body...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// step is one expected ReadFrame result.
type step struct {
	code Code
	body []byte
	err  error // nil, a sentinel, or io.EOF
}

// sources returns the ways a test feeds bytes to a Reader: read-ahead over
// a plain reader, one byte per Read, and exact mode over a caller's
// bufio.Reader.
func sources(data []byte) map[string]io.Reader {
	return map[string]io.Reader{
		"readahead": struct{ io.Reader }{bytes.NewReader(data)},
		"onebyte":   iotest.OneByteReader(bytes.NewReader(data)),
		"dataerr":   iotest.DataErrReader(bytes.NewReader(data)),
		"bufio":     bufio.NewReaderSize(bytes.NewReader(data), 16),
	}
}

func TestReadFrame(t *testing.T) {
	body := []byte("\x0a\x01b\x12\x01k")
	cases := []struct {
		name  string
		in    []byte
		max   int
		steps []step
	}{
		{"good empty-body frame", frame(CodePingReq), 0,
			[]step{{code: CodePingReq, body: []byte{}}, {err: io.EOF}}},
		{"good frame with body", frame(CodeGetReq, body...), 0,
			[]step{{code: CodeGetReq, body: body}, {err: io.EOF}}},
		{"back to back", cat(frame(CodePingReq), frame(CodeGetReq, body...), frame(CodePingResp)), 0,
			[]step{{code: CodePingReq, body: []byte{}}, {code: CodeGetReq, body: body}, {code: CodePingResp, body: []byte{}}, {err: io.EOF}}},
		{"empty input is EOF", nil, 0, []step{{err: io.EOF}}},
		{"zero length then continues", cat([]byte{0, 0, 0, 0}, frame(CodePingReq)), 0,
			[]step{{err: ErrEmptyFrame}, {code: CodePingReq, body: []byte{}}, {err: io.EOF}}},
		{"over limit is sticky", cat(frame(CodeGetReq, body...), frame(CodeGetReq, make([]byte, 10)...), frame(CodePingReq)), 10,
			[]step{{code: CodeGetReq, body: body}, {err: ErrFrameTooLarge}, {err: ErrFrameTooLarge}}},
		{"exactly at limit", frame(CodeGetReq, make([]byte, 9)...), 10,
			[]step{{code: CodeGetReq, body: make([]byte, 9)}, {err: io.EOF}}},
		{"length beyond int32", []byte{0xff, 0xff, 0xff, 0xff, 9}, 0,
			[]step{{err: ErrFrameTooLarge}}},
		{"truncated length", []byte{0, 0}, 0, []step{{err: ErrTruncatedFrame}, {err: ErrTruncatedFrame}}},
		{"truncated before code", []byte{0, 0, 0, 5}, 0, []step{{err: ErrTruncatedFrame}}},
		{"truncated body", []byte{0, 0, 0, 5, 9, 1, 2}, 0, []step{{err: ErrTruncatedFrame}}},
		{"truncated after good frame", cat(frame(CodePingReq), []byte{0, 0, 0, 3, 9}), 0,
			[]step{{code: CodePingReq, body: []byte{}}, {err: ErrTruncatedFrame}}},
		{"unknown code then continues", cat(frame(150, 1, 2, 3), frame(CodePingReq)), 0,
			[]step{{code: 150, body: []byte{1, 2, 3}, err: ErrUnknownCode}, {code: CodePingReq, body: []byte{}}, {err: io.EOF}}},
		{"embedded-only code is unknown", cat(frame(CodeTsRange, 8, 1), frame(CodeStartTLS)), 0,
			[]step{{code: CodeTsRange, body: []byte{8, 1}, err: ErrUnknownCode}, {code: CodeStartTLS, body: []byte{}}, {err: io.EOF}}},
	}
	for _, tc := range cases {
		for src, r := range sources(tc.in) {
			t.Run(tc.name+"/"+src, func(t *testing.T) {
				rd := NewReader(r, tc.max)
				for i, want := range tc.steps {
					f, err := rd.ReadFrame()
					if want.err == nil && err != nil || want.err != nil && !errors.Is(err, want.err) {
						t.Fatalf("step %d: err = %v, want %v", i, err, want.err)
					}
					if f.Code != want.code || !bytes.Equal(f.Body, want.body) || (want.body == nil) != (f.Body == nil) {
						t.Fatalf("step %d: frame = %v %x, want %v %x", i, f.Code, f.Body, want.code, want.body)
					}
					if raw := rd.Raw(); want.body != nil {
						if exp := frame(want.code, want.body...); !bytes.Equal(raw, exp) {
							t.Fatalf("step %d: Raw = %x, want %x", i, raw, exp)
						}
					} else if raw != nil {
						t.Fatalf("step %d: Raw = %x after no frame", i, raw)
					}
				}
			})
		}
	}
}

func TestReadRaw(t *testing.T) {
	in := cat(frame(CodeGetReq, 1, 2), frame(150, 7))
	rd := NewReader(bytes.NewReader(in), 0)
	raw, code, err := rd.ReadRaw()
	if err != nil || code != CodeGetReq || !bytes.Equal(raw, frame(CodeGetReq, 1, 2)) {
		t.Fatalf("ReadRaw = %x %v %v", raw, code, err)
	}
	raw, code, err = rd.ReadRaw()
	if !errors.Is(err, ErrUnknownCode) || code != 150 || !bytes.Equal(raw, frame(150, 7)) {
		t.Fatalf("ReadRaw unknown = %x %v %v", raw, code, err)
	}
	if raw, _, err = rd.ReadRaw(); err != io.EOF || raw != nil {
		t.Fatalf("ReadRaw at end = %x %v", raw, err)
	}
}

func TestReaderTooLargeLeavesBodyUnread(t *testing.T) {
	body := make([]byte, 100)
	br := bufio.NewReader(bytes.NewReader(frame(CodePutReq, body...)))
	rd := NewReader(br, 50)
	if _, err := rd.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	rest, _ := io.ReadAll(br)
	if len(rest) != 1+len(body) {
		t.Fatalf("reader consumed body: %d bytes left, want %d", len(rest), 1+len(body))
	}
}

func TestReaderExactModeLeavesNextFrame(t *testing.T) {
	next := frame(CodeGetReq, 1, 2, 3)
	br := bufio.NewReader(bytes.NewReader(cat(frame(CodeStartTLS), next)))
	rd := NewReader(br, 0)
	f, err := rd.ReadFrame()
	if err != nil || f.Code != CodeStartTLS {
		t.Fatalf("ReadFrame = %v, %v", f, err)
	}
	if len(rd.Buffered()) != 0 {
		t.Fatalf("exact mode buffered %d bytes", len(rd.Buffered()))
	}
	rest, _ := io.ReadAll(br)
	if !bytes.Equal(rest, next) {
		t.Fatalf("bufio.Reader kept %x, want %x", rest, next)
	}
}

func TestReaderBufferedReadAhead(t *testing.T) {
	next := frame(CodeGetReq, 1, 2, 3)
	rd := NewReader(bytes.NewReader(cat(frame(CodeStartTLS), next)), 0)
	if _, err := rd.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rd.Buffered(), next) {
		t.Fatalf("Buffered = %x, want %x", rd.Buffered(), next)
	}
}

// scripted returns its chunks one per Read, with an error after some.
type scripted struct {
	chunks [][]byte
	errs   []error
}

func (s *scripted) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.chunks[0])
	s.chunks[0] = s.chunks[0][n:]
	var err error
	if len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
		err, s.errs = s.errs[0], s.errs[1:]
	}
	return n, err
}

var errTimeout = errors.New("timeout")

func TestReaderResumesAfterSourceError(t *testing.T) {
	full := frame(CodeGetReq, 1, 2, 3, 4)
	for _, mode := range []string{"readahead", "bufio"} {
		t.Run(mode, func(t *testing.T) {
			s := &scripted{
				chunks: [][]byte{full[:3], full[3:7], full[7:]},
				errs:   []error{errTimeout, errTimeout, nil},
			}
			var src io.Reader = s
			if mode == "bufio" {
				src = bufio.NewReader(s)
			}
			rd := NewReader(src, 0)
			if _, err := rd.ReadFrame(); err != errTimeout {
				t.Fatalf("first read err = %v, want timeout", err)
			}
			if _, err := rd.ReadFrame(); err != errTimeout {
				t.Fatalf("second read err = %v, want timeout", err)
			}
			f, err := rd.ReadFrame()
			if err != nil || f.Code != CodeGetReq || !bytes.Equal(f.Body, []byte{1, 2, 3, 4}) {
				t.Fatalf("resumed read = %v %x %v", f.Code, f.Body, err)
			}
			if _, err := rd.ReadFrame(); err != io.EOF {
				t.Fatalf("end err = %v, want EOF", err)
			}
		})
	}
}

func TestReaderErrorWithFullFrame(t *testing.T) {
	// The frame arrives together with an error: the frame first, then the
	// error on the next call.
	s := &scripted{chunks: [][]byte{frame(CodePingReq)}, errs: []error{errTimeout}}
	rd := NewReader(s, 0)
	if f, err := rd.ReadFrame(); err != nil || f.Code != CodePingReq {
		t.Fatalf("ReadFrame = %v, %v", f, err)
	}
	if _, err := rd.ReadFrame(); err != errTimeout {
		t.Fatalf("held error = %v, want timeout", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	if _, err := NewReader(zeroReader{}, 0).ReadFrame(); err != io.ErrNoProgress {
		t.Fatalf("err = %v, want io.ErrNoProgress", err)
	}
}

func TestReaderGrowAndShrink(t *testing.T) {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i)
	}
	in := cat(frame(CodePutReq, big...), frame(CodePingReq), frame(CodePingReq), frame(CodePingReq))
	rd := NewReader(iotest.HalfReader(bytes.NewReader(in)), 0)
	f, err := rd.ReadFrame()
	if err != nil || !bytes.Equal(f.Body, big) {
		t.Fatalf("big frame: err %v, equal %v", err, bytes.Equal(f.Body, big))
	}
	for i := 0; i < 3; i++ {
		if f, err := rd.ReadFrame(); err != nil || f.Code != CodePingReq {
			t.Fatalf("small frame %d: %v %v", i, f.Code, err)
		}
	}
	if len(rd.buf) > shrinkThreshold {
		t.Fatalf("buffer still %d bytes after small frames", len(rd.buf))
	}
}

func TestReaderReset(t *testing.T) {
	rd := NewReader(bytes.NewReader([]byte{0, 0}), 0)
	if _, err := rd.ReadFrame(); !errors.Is(err, ErrTruncatedFrame) {
		t.Fatalf("err = %v", err)
	}
	rd.Reset(bytes.NewReader(frame(CodePingReq)))
	if f, err := rd.ReadFrame(); err != nil || f.Code != CodePingReq {
		t.Fatalf("after Reset: %v %v", f, err)
	}
	if rd.MaxFrameSize() != DefaultMaxFrameSize {
		t.Fatalf("MaxFrameSize = %d", rd.MaxFrameSize())
	}
}

func TestFrameClone(t *testing.T) {
	rd := NewReader(bytes.NewReader(cat(frame(CodeGetReq, 'a', 'b'), frame(CodeGetReq, 'c', 'd'))), 0)
	f, _ := rd.ReadFrame()
	c := f.Clone()
	if _, err := rd.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if string(c.Body) != "ab" || c.Code != CodeGetReq || c.Size() != 7 {
		t.Fatalf("clone = %v %q", c.Code, c.Body)
	}
	if (Frame{}).Clone().Body != nil {
		t.Fatal("clone of nil body is not nil")
	}
}

// loopReader serves a byte slice forever, at most chunk bytes per Read.
type loopReader struct {
	data  []byte
	off   int
	chunk int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if l.off == len(l.data) {
		l.off = 0
	}
	end := min(len(l.data), l.off+l.chunk, l.off+len(p))
	n := copy(p, l.data[l.off:end])
	l.off += n
	return n, nil
}

func TestReadFrameZeroAllocs(t *testing.T) {
	fr := frame(CodeGetReq, make([]byte, 100)...)
	for _, mode := range []string{"readahead", "bufio"} {
		var src io.Reader = &loopReader{data: bytes.Repeat(fr, 8), chunk: 1 << 20}
		if mode == "bufio" {
			src = bufio.NewReader(src)
		}
		rd := NewReader(src, 0)
		allocs := testing.AllocsPerRun(1000, func() {
			if _, err := rd.ReadFrame(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: ReadFrame allocs/op = %v, want 0", mode, allocs)
		}
	}
}

func TestReaderGrowsWithData(t *testing.T) {
	// A header announcing 60 MiB followed by 10 bytes must not allocate
	// 60 MiB.
	in := cat([]byte{0x03, 0xc0, 0, 0, byte(CodePutReq)}, make([]byte, 10))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewReader(bytes.NewReader(in), 0).ReadFrame()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncatedFrame) {
		t.Fatalf("err = %v", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("allocated %d bytes for a 15-byte stream", d)
	}
}
