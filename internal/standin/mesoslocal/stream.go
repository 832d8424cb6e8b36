package mesoslocal

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/framing"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
)

// stream is one subscriber's event stream (a scheduler's or an
// executor's): events are queued under the cluster lock and written by the
// HTTP handler's goroutine as RecordIO frames, each flushed at once.
type stream struct {
	id     string
	mu     sync.Mutex
	queue  []encoding.Marshaler
	wake   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newStream(id string) *stream {
	return &stream{id: id, wake: make(chan struct{}, 1), closed: make(chan struct{})}
}

// send queues an event; it never blocks.
func (s *stream) send(e encoding.Marshaler) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close ends the stream after the events already queued are written.
func (s *stream) close() {
	if s != nil {
		s.once.Do(func() { close(s.closed) })
	}
}

func (s *stream) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// serve writes the stream until it is closed, the client goes away or ctx
// ends. It returns the reason the stream ended.
func (s *stream) serve(ctx context.Context, w http.ResponseWriter, codec encoding.Codec, heartbeat time.Duration, beat func() encoding.Marshaler) error {
	flusher, _ := w.(http.Flusher)
	enc := codec.NewEncoder(func() framing.Writer { return recordio.NewWriter(w) })
	var tick <-chan time.Time
	if heartbeat > 0 && beat != nil {
		t := time.NewTicker(heartbeat)
		defer t.Stop()
		tick = t.C
	}
	if flusher != nil {
		flusher.Flush()
	}
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		for _, e := range q {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		if len(q) > 0 && flusher != nil {
			flusher.Flush()
		}
		select {
		case <-s.wake:
		case <-tick:
			s.send(beat())
		case <-s.closed:
			s.mu.Lock()
			q := s.queue
			s.queue = nil
			s.mu.Unlock()
			for _, e := range q {
				_ = enc.Encode(e)
			}
			if flusher != nil {
				flusher.Flush()
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
