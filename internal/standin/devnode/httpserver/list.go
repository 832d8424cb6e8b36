package httpserver

import (
	"encoding/json"
	"net/http"
)

// jsonStream writes a chunked sequence of JSON objects, flushing each. The
// 200 header goes out with the first object, so an error before it is still
// an ordinary error response.
type jsonStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func newJSONStream(w http.ResponseWriter) *jsonStream {
	return &jsonStream{w: w, rc: http.NewResponseController(w)}
}

func (s *jsonStream) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
	}
	if _, err := s.w.Write(b); err != nil {
		return err
	}
	_ = s.rc.Flush()
	return nil
}

// finish ends a stream after the listing returned err: a failure before
// anything was sent is returned for an ordinary error response; after, it
// becomes a last {"error": ...} object (the status is already sent).
func (h *Handler) finish(s *jsonStream, err error) error {
	if !s.started {
		return err
	}
	h.log.Warn("httpserver: stream failed", "err", err)
	_ = s.send(map[string]string{"error": errorText(err)})
	return nil
}

// listKeys answers a key listing (riak_kv_wm_keylist): keys=true is one
// {"keys":[...]} object, keys=stream one such object per batch and a last
// empty one. withProps (legacy /riak/B) adds the bucket's "props".
func (h *Handler) listKeys(x *exchange, withProps bool) error {
	mode := x.query.Get("keys")
	if mode != "true" && mode != "stream" {
		return badRequest("keys parameter must be true or stream")
	}
	timeout, err := parseTimeout(x.query)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(x.r.Context(), timeout)
	defer cancel()
	var props map[string]any
	if withProps {
		p, err := h.svc.BucketProps(ctx, x.rt.Type, x.rt.Bucket)
		if err != nil {
			return err
		}
		if props, err = bucketPropsJSON(p, x.rt.Bucket); err != nil {
			return err
		}
	}
	if mode == "true" {
		keys := []string{}
		err := h.svc.ListKeys(ctx, x.rt.Type, x.rt.Bucket, func(ks []string) error {
			keys = append(keys, ks...)
			return nil
		})
		if err != nil {
			return err
		}
		out := map[string]any{"keys": keys}
		if withProps {
			out["props"] = props
		}
		return writeJSON(x.w, http.StatusOK, out)
	}
	s := newJSONStream(x.w)
	if withProps {
		// Riak's API version 1 sends the props first.
		if err := s.send(map[string]any{"props": props}); err != nil {
			return nil
		}
	}
	err = h.svc.ListKeys(ctx, x.rt.Type, x.rt.Bucket, func(ks []string) error {
		return s.send(map[string]any{"keys": ks})
	})
	if err != nil {
		return h.finish(s, err)
	}
	_ = s.send(map[string]any{"keys": []string{}})
	return nil
}

// listBuckets answers a bucket listing (riak_kv_wm_buckets): buckets=true
// or buckets=stream, like keys.
func (h *Handler) listBuckets(x *exchange) error {
	mode := x.query.Get("buckets")
	if mode != "true" && mode != "stream" {
		return badRequest("buckets parameter must be true or stream")
	}
	timeout, err := parseTimeout(x.query)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(x.r.Context(), timeout)
	defer cancel()
	if mode == "true" {
		buckets := []string{}
		err := h.svc.ListBuckets(ctx, x.rt.Type, func(bs []string) error {
			buckets = append(buckets, bs...)
			return nil
		})
		if err != nil {
			return err
		}
		return writeJSON(x.w, http.StatusOK, map[string]any{"buckets": buckets})
	}
	s := newJSONStream(x.w)
	err = h.svc.ListBuckets(ctx, x.rt.Type, func(bs []string) error {
		return s.send(map[string]any{"buckets": bs})
	})
	if err != nil {
		return h.finish(s, err)
	}
	_ = s.send(map[string]any{"buckets": []string{}})
	return nil
}
