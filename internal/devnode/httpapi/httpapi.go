// Package httpapi serves Riak KV's HTTP API over a devnode service.Service:
// Riak's paths (typed, /buckets and legacy /riak), headers (X-Riak-Vclock,
// X-Riak-Meta-*, X-Riak-Index-*, Link, ETag, Last-Modified) and status codes
// (300 Multiple Choices with siblings, 304, 404, 412, ...).
//
// Deviation from Riak: a streamed 2i query (stream=true) and streamed
// listings are sent as a chunked sequence of JSON objects, one per batch,
// rather than multipart/mixed.
package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rmf-go/rmf/internal/devnode/kv"
	"github.com/rmf-go/rmf/internal/devnode/service"
	"github.com/rmf-go/rmf/protocol"
)

// DefaultMaxBody bounds a request body: Riak's default max object size.
const DefaultMaxBody = 50 << 20

// Handler serves the Riak HTTP API. Create with New.
type Handler struct {
	svc     service.Service
	log     *slog.Logger
	maxBody int64
}

// New returns a handler over svc. logger may be nil.
func New(svc service.Service, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{svc: svc, log: logger, maxBody: DefaultMaxBody}
}

// unsupported is the message of every 501 answer.
const unsupported = "not supported by devnode (RMF-Go development node; not Riak)"

// errBadRequest marks malformed input (400).
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("http handler panic", "panic", p, "path", r.URL.Path)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	rt, err := protocol.ParseHTTPPath(r.URL.EscapedPath())
	if err != nil {
		http.Error(w, "not found: "+err.Error(), http.StatusNotFound)
		return
	}
	if err := h.route(w, r, rt); err != nil {
		h.writeError(w, err)
	}
}

func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

func (h *Handler) route(w http.ResponseWriter, r *http.Request, rt protocol.HTTPRoute) error {
	switch rt.Kind {
	case protocol.HTTPPing:
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return nil
		}
		if err := h.svc.Ping(r.Context()); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "OK")
		return nil
	case protocol.HTTPStats:
		if !allow(w, r, http.MethodGet, http.MethodHead) {
			return nil
		}
		stats := h.svc.Stats()
		info := h.svc.Info()
		stats["nodename"], stats["riak_kv_version"] = info.Node, info.Version
		return writeJSON(w, http.StatusOK, stats)
	case protocol.HTTPObject:
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return h.getObject(w, r, rt)
		case http.MethodPut, http.MethodPost:
			return h.putObject(w, r, rt)
		case http.MethodDelete:
			return h.deleteObject(w, r, rt)
		}
		allow(w, r, http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodDelete)
		return nil
	case protocol.HTTPKeys:
		if r.Method == http.MethodPost {
			return h.putObject(w, r, rt) // no key: the node generates one
		}
		if !allow(w, r, http.MethodGet, http.MethodPost) {
			return nil
		}
		return h.listKeys(w, r, rt)
	case protocol.HTTPBuckets:
		if !allow(w, r, http.MethodGet) {
			return nil
		}
		return h.listBuckets(w, r, rt)
	case protocol.HTTPBucketProps, protocol.HTTPLegacyBucket:
		return h.bucketProps(w, r, rt)
	case protocol.HTTPTypeProps:
		return h.typeProps(w, r, rt)
	case protocol.HTTPIndex:
		if !allow(w, r, http.MethodGet) {
			return nil
		}
		return h.index(w, r, rt)
	case protocol.HTTPPreflist:
		if !allow(w, r, http.MethodGet) {
			return nil
		}
		pl, err := h.svc.Preflist(r.Context(), rt.Type, rt.Bucket, rt.Key)
		if err != nil {
			return err
		}
		type item struct {
			Partition int64  `json:"partition"`
			Node      string `json:"node"`
			Primary   bool   `json:"primary"`
		}
		out := make([]item, len(pl))
		for i, e := range pl {
			out[i] = item{e.Partition, e.Node, e.Primary}
		}
		return writeJSON(w, http.StatusOK, map[string]any{"preflist": out})
	}
	http.Error(w, rt.Kind.String()+": "+unsupported, http.StatusNotImplemented)
	return nil
}

// writeError answers err with Riak's status for it and a one-line message.
func (h *Handler) writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.Is(err, kv.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, errBadRequest), errors.Is(err, kv.ErrInvalidBucketType), errors.Is(err, kv.ErrInvalidBucket),
		errors.Is(err, kv.ErrInvalidKey), errors.Is(err, kv.ErrInvalidContent), errors.Is(err, kv.ErrInvalidVClock),
		errors.Is(err, kv.ErrInvalidIndex), errors.Is(err, kv.ErrInvalidQuery), errors.Is(err, kv.ErrInvalidContinuation),
		errors.Is(err, kv.ErrInvalidProps), errors.Is(err, kv.ErrUnsupportedProp), errors.Is(err, kv.ErrTooManySiblings):
		status = http.StatusBadRequest
	case errors.Is(err, kv.ErrNoType), errors.Is(err, kv.ErrTypeNotActive):
		status = http.StatusNotFound
	case errors.Is(err, kv.ErrExists), errors.Is(err, kv.ErrModified), errors.Is(err, kv.ErrNotFound):
		status = http.StatusPreconditionFailed
	case errors.Is(err, service.ErrQuorum), errors.Is(err, service.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	default:
		h.log.Warn("http request failed", "err", err)
	}
	http.Error(w, err.Error(), status)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// quorum reads Riak's per-request quorum parameters.
func quorum(q url.Values) (service.Quorum, error) {
	var out service.Quorum
	for name, dst := range map[string]*kv.Quorum{"r": &out.R, "w": &out.W, "pr": &out.PR, "pw": &out.PW, "dw": &out.DW, "rw": &out.RW} {
		if v := q.Get(name); v != "" {
			qv, err := kv.ParseQuorum(v)
			if err != nil {
				return out, badRequest("%s=%q: %v", name, v, err)
			}
			*dst = qv
		}
	}
	for name, dst := range map[string]**bool{"notfound_ok": &out.NotFoundOK, "basic_quorum": &out.BasicQuorum} {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return out, badRequest("%s=%q is not a boolean", name, v)
			}
			*dst = &b
		}
	}
	if v := q.Get("timeout"); v != "" {
		ms, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return out, badRequest("timeout=%q is not milliseconds", v)
		}
		out.Timeout = time.Duration(ms) * time.Millisecond
	}
	return out, nil
}

func vclockHeader(vc kv.VClock) string { return base64.StdEncoding.EncodeToString(vc.Encode()) }

func parseVClock(r *http.Request) (kv.VClock, error) {
	v := r.Header.Get("X-Riak-Vclock")
	if v == "" {
		return nil, nil
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, badRequest("X-Riak-Vclock is not base64")
	}
	vc, err := kv.DecodeVClock(raw)
	if err != nil {
		return nil, fmt.Errorf("X-Riak-Vclock: %w", err)
	}
	return vc, nil
}

func objectPath(rt protocol.HTTPRoute, key string) string {
	return "/types/" + url.PathEscape(rt.Type) + "/buckets/" + url.PathEscape(rt.Bucket) + "/keys/" + url.PathEscape(key)
}

// getObject answers GET/HEAD on an object.
func (h *Handler) getObject(w http.ResponseWriter, r *http.Request, rt protocol.HTTPRoute) error {
	q, err := quorum(r.URL.Query())
	if err != nil {
		return err
	}
	res, err := h.svc.Get(r.Context(), kv.GetRequest{Type: rt.Type, Bucket: rt.Bucket, Key: rt.Key, DeletedVClock: true}, q)
	if err != nil {
		return err
	}
	var live []kv.Content
	for _, c := range res.Object.Siblings {
		if !c.Deleted {
			live = append(live, c)
		}
	}
	if !res.Found || len(live) == 0 {
		if len(res.Object.VClock) > 0 && r.URL.Query().Get("deletedvclock") == "true" {
			w.Header().Set("X-Riak-Vclock", vclockHeader(res.Object.VClock))
		}
		http.Error(w, "not found", http.StatusNotFound)
		return nil
	}
	w.Header().Set("X-Riak-Vclock", vclockHeader(res.Object.VClock))
	if vtag := r.URL.Query().Get("vtag"); vtag != "" {
		for _, c := range live {
			if c.VTag == vtag {
				return writeContent(w, r, c, http.StatusOK)
			}
		}
		http.Error(w, "not found: no sibling with vtag "+vtag, http.StatusNotFound)
		return nil
	}
	if len(live) == 1 {
		c := live[0]
		if etag := r.Header.Get("If-None-Match"); etag != "" && strings.Trim(etag, `"`) == c.VTag {
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
		if ims := r.Header.Get("If-Modified-Since"); ims != "" {
			if t, err := http.ParseTime(ims); err == nil && !c.LastMod.Truncate(time.Second).After(t) {
				w.WriteHeader(http.StatusNotModified)
				return nil
			}
		}
		return writeContent(w, r, c, http.StatusOK)
	}
	return writeSiblings(w, r, live)
}

func contentType(c kv.Content) string {
	ct := c.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	if c.Charset != "" {
		ct += "; charset=" + c.Charset
	}
	return ct
}

// contentHeaders sets the Riak headers describing one sibling.
func contentHeaders(hd http.Header, c kv.Content) {
	hd.Set("Content-Type", contentType(c))
	if c.ContentEncoding != "" {
		hd.Set("Content-Encoding", c.ContentEncoding)
	}
	hd.Set("ETag", `"`+c.VTag+`"`)
	hd.Set("Last-Modified", c.LastMod.UTC().Format(http.TimeFormat))
	for _, m := range c.UserMeta {
		hd.Set("X-Riak-Meta-"+m.Key, string(m.Value))
	}
	for _, ix := range c.Indexes {
		hd.Add("X-Riak-Index-"+ix.Key, string(ix.Value))
	}
	if len(c.Links) > 0 {
		var links []string
		for _, l := range c.Links {
			links = append(links, fmt.Sprintf(`</buckets/%s/keys/%s>; riaktag="%s"`, url.PathEscape(l.Bucket), url.PathEscape(l.Key), l.Tag))
		}
		hd.Set("Link", strings.Join(links, ", "))
	}
}

func writeContent(w http.ResponseWriter, r *http.Request, c kv.Content, status int) error {
	contentHeaders(w.Header(), c)
	w.Header().Set("Content-Length", strconv.Itoa(len(c.Value)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, err := w.Write(c.Value)
		return err
	}
	return nil
}

// writeSiblings answers 300 Multiple Choices: a multipart/mixed body of every
// sibling when the client accepts it, else Riak's plain list of vtags.
func writeSiblings(w http.ResponseWriter, r *http.Request, sibs []kv.Content) error {
	if strings.Contains(r.Header.Get("Accept"), "multipart/mixed") {
		mw := multipart.NewWriter(w)
		w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
		w.WriteHeader(http.StatusMultipleChoices)
		if r.Method == http.MethodHead {
			return nil
		}
		for _, c := range sibs {
			hd := http.Header{}
			contentHeaders(hd, c)
			part, err := mw.CreatePart(textproto.MIMEHeader(hd))
			if err != nil {
				return err
			}
			if _, err := part.Write(c.Value); err != nil {
				return err
			}
		}
		return mw.Close()
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusMultipleChoices)
	var b strings.Builder
	b.WriteString("Siblings:\n")
	for _, c := range sibs {
		b.WriteString(c.VTag + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// parseContent builds the new content from a PUT/POST request.
func parseContent(r *http.Request, body []byte) (kv.Content, error) {
	ctHeader := r.Header.Get("Content-Type")
	if ctHeader == "" {
		return kv.Content{}, badRequest("Missing Content-Type request header")
	}
	mt, params, err := mime.ParseMediaType(ctHeader)
	if err != nil {
		return kv.Content{}, badRequest("Content-Type %q: %v", ctHeader, err)
	}
	c := kv.Content{Value: body, ContentType: mt, Charset: params["charset"], ContentEncoding: r.Header.Get("Content-Encoding")}
	for name, vals := range r.Header {
		lower := strings.ToLower(name)
		switch {
		case strings.HasPrefix(lower, "x-riak-meta-"):
			c.UserMeta = append(c.UserMeta, kv.Pair{Key: lower[len("x-riak-meta-"):], Value: []byte(strings.Join(vals, ", "))})
		case strings.HasPrefix(lower, "x-riak-index-"):
			idx := lower[len("x-riak-index-"):]
			for _, v := range vals {
				for _, term := range strings.Split(v, ",") {
					c.Indexes = append(c.Indexes, kv.Pair{Key: idx, Value: []byte(strings.TrimSpace(term))})
				}
			}
		}
	}
	links, err := parseLinks(r.Header.Values("Link"))
	if err != nil {
		return kv.Content{}, err
	}
	c.Links = links
	return c, nil
}

// parseLinks reads Riak Link headers: </buckets/B/keys/K>; riaktag="T" (or /riak/B/K).
func parseLinks(headers []string) ([]kv.Link, error) {
	var out []kv.Link
	for _, hv := range headers {
		for _, part := range strings.Split(hv, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			target, attrs, _ := strings.Cut(part, ";")
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				return nil, badRequest("Link %q: want <path>; riaktag=\"tag\"", part)
			}
			rt, err := protocol.ParseHTTPPath(target[1 : len(target)-1])
			if err != nil {
				return nil, badRequest("Link %q: %v", part, err)
			}
			if rt.Kind != protocol.HTTPObject {
				continue // links to buckets (rel="up") carry no object
			}
			tag := ""
			if _, v, ok := strings.Cut(attrs, "riaktag="); ok {
				tag = strings.Trim(strings.TrimSpace(v), `"`)
			}
			out = append(out, kv.Link{Bucket: rt.Bucket, Key: rt.Key, Tag: tag})
		}
	}
	return out, nil
}

func (h *Handler) putObject(w http.ResponseWriter, r *http.Request, rt protocol.HTTPRoute) error {
	qs := r.URL.Query()
	q, err := quorum(qs)
	if err != nil {
		return err
	}
	vc, err := parseVClock(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		return err
	}
	c, err := parseContent(r, body)
	if err != nil {
		return err
	}
	returnBody := qs.Get("returnbody") == "true"
	req := kv.PutRequest{Type: rt.Type, Bucket: rt.Bucket, Key: rt.Key, VClock: vc, Content: c,
		IfNoneMatch: r.Header.Get("If-None-Match") == "*", IfNotModified: r.Header.Get("If-Match") != "", ReturnBody: returnBody}
	res, err := h.svc.Put(r.Context(), req, q)
	if err != nil {
		return err
	}
	if len(res.Object.VClock) > 0 {
		w.Header().Set("X-Riak-Vclock", vclockHeader(res.Object.VClock))
	}
	if rt.Key == "" {
		w.Header().Set("Location", objectPath(rt, res.Key))
		if !returnBody {
			w.WriteHeader(http.StatusCreated)
			return nil
		}
	}
	if !returnBody {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	var live []kv.Content
	for _, s := range res.Object.Siblings {
		if !s.Deleted {
			live = append(live, s)
		}
	}
	switch {
	case len(live) == 1 && rt.Key == "":
		return writeContent(w, r, live[0], http.StatusCreated)
	case len(live) == 1:
		return writeContent(w, r, live[0], http.StatusOK)
	case len(live) > 1:
		return writeSiblings(w, r, live)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) deleteObject(w http.ResponseWriter, r *http.Request, rt protocol.HTTPRoute) error {
	q, err := quorum(r.URL.Query())
	if err != nil {
		return err
	}
	vc, err := parseVClock(r)
	if err != nil {
		return err
	}
	res, err := h.svc.Get(r.Context(), kv.GetRequest{Type: rt.Type, Bucket: rt.Bucket, Key: rt.Key, Head: true}, service.Quorum{Timeout: q.Timeout})
	if err != nil {
		return err
	}
	if !res.Found {
		http.Error(w, "not found", http.StatusNotFound)
		return nil
	}
	if err := h.svc.Delete(r.Context(), kv.DeleteRequest{Type: rt.Type, Bucket: rt.Bucket, Key: rt.Key, VClock: vc}, q); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// streamJSON writes one JSON object per batch, flushing each.
type streamJSON struct {
	w   http.ResponseWriter
	enc *json.Encoder
}

func newStream(w http.ResponseWriter) *streamJSON {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return &streamJSON{w: w, enc: json.NewEncoder(w)}
}

func (s *streamJSON) send(v any) error {
	if err := s.enc.Encode(v); err != nil {
		return err
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	return nil
}

func (h *Handler) listKeys(w http.ResponseWriter, r *http.Request, rt protocol.HTTPRoute) error {
	switch r.URL.Query().Get("keys") {
	case "true":
		keys := []string{}
		if err := h.svc.ListKeys(r.Context(), rt.Type, rt.Bucket, func(k []string) error { keys = append(keys, k...); return nil }); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
	case "stream":
		var s *streamJSON
		err := h.svc.ListKeys(r.Context(), rt.Type, rt.Bucket, func(k []string) error {
			if s == nil {
				s = newStream(w)
			}
			return s.send(map[string]any{"keys": k})
		})
		if s == nil && err == nil {
			s = newStream(w)
			err = s.send(map[string]any{"keys": []string{}})
		}
		return err
	}
	return badRequest("keys must be true or stream")
}

func (h *Handler) listBuckets(w http.ResponseWriter, r *http.Request, rt protocol.HTTPRoute) error {
	switch r.URL.Query().Get("buckets") {
	case "true":
		buckets := []string{}
		if err := h.svc.ListBuckets(r.Context(), rt.Type, func(b []string) error { buckets = append(buckets, b...); return nil }); err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]any{"buckets": buckets})
	case "stream":
		var s *streamJSON
		err := h.svc.ListBuckets(r.Context(), rt.Type, func(b []string) error {
			if s == nil {
				s = newStream(w)
			}
			return s.send(map[string]any{"buckets": b})
		})
		if s == nil && err == nil {
			s = newStream(w)
			err = s.send(map[string]any{"buckets": []string{}})
		}
		return err
	}
	return badRequest("buckets must be true or stream")
}

func (h *Handler) readProps(w http.ResponseWriter, r *http.Request) (kv.PropsUpdate, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		return kv.PropsUpdate{}, err
	}
	u, err := kv.ParseProps(body)
	if err != nil {
		return kv.PropsUpdate{}, err
	}
	return u, nil
}

func (h *Handler) bucketProps(w http.ResponseWriter, r *http.Request, rt protocol.HTTPRoute) error {
	switch r.Method {
	case http.MethodGet:
		props, err := h.svc.BucketProps(r.Context(), rt.Type, rt.Bucket)
		if err != nil {
			return err
		}
		out := map[string]any{"props": props}
		if rt.Kind == protocol.HTTPLegacyBucket && r.URL.Query().Get("keys") == "true" {
			keys := []string{}
			if err := h.svc.ListKeys(r.Context(), rt.Type, rt.Bucket, func(k []string) error { keys = append(keys, k...); return nil }); err != nil {
				return err
			}
			out["keys"] = keys
		}
		return writeJSON(w, http.StatusOK, out)
	case http.MethodPut, http.MethodPost:
		u, err := h.readProps(w, r)
		if err != nil {
			return err
		}
		if err := h.svc.SetBucketProps(r.Context(), rt.Type, rt.Bucket, u); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		if err := h.svc.ResetBucketProps(r.Context(), rt.Type, rt.Bucket); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	allow(w, r, http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete)
	return nil
}

func (h *Handler) typeProps(w http.ResponseWriter, r *http.Request, rt protocol.HTTPRoute) error {
	switch r.Method {
	case http.MethodGet:
		bt, err := h.svc.BucketType(r.Context(), rt.Type)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]any{"props": bt.Props})
	case http.MethodPut:
		u, err := h.readProps(w, r)
		if err != nil {
			return err
		}
		if err := h.svc.SetBucketTypeProps(r.Context(), rt.Type, u); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	allow(w, r, http.MethodGet, http.MethodPut)
	return nil
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request, rt protocol.HTTPRoute) error {
	qs := r.URL.Query()
	q := kv.IndexQuery{Type: rt.Type, Bucket: rt.Bucket, Index: rt.Index, ReturnTerms: qs.Get("return_terms") == "true",
		Continuation: qs.Get("continuation"), TermRegex: qs.Get("term_regex")}
	switch len(rt.Values) {
	case 1:
		q.Term = rt.Values[0]
	case 2:
		q.Range, q.Min, q.Max = true, rt.Values[0], rt.Values[1]
	default:
		return badRequest("index query needs a value or a range")
	}
	if v := qs.Get("max_results"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return badRequest("max_results=%q must be a positive integer", v)
		}
		q.MaxResults = uint32(n)
	}
	batch := func(rs []kv.IndexResult) map[string]any {
		if q.ReturnTerms && q.Range {
			results := make([]map[string]string, len(rs))
			for i, x := range rs {
				results[i] = map[string]string{x.Term: x.Key}
			}
			return map[string]any{"results": results}
		}
		keys := make([]string, len(rs))
		for i, x := range rs {
			keys[i] = x.Key
		}
		return map[string]any{"keys": keys}
	}
	if qs.Get("stream") == "true" {
		var s *streamJSON
		cont, err := h.svc.IndexQuery(r.Context(), q, func(rs []kv.IndexResult) error {
			if s == nil {
				s = newStream(w)
			}
			return s.send(batch(rs))
		})
		if err != nil {
			return err
		}
		if s == nil {
			s = newStream(w)
			if err := s.send(batch(nil)); err != nil {
				return err
			}
		}
		if cont != "" {
			return s.send(map[string]any{"continuation": cont})
		}
		return nil
	}
	var all []kv.IndexResult
	cont, err := h.svc.IndexQuery(r.Context(), q, func(rs []kv.IndexResult) error { all = append(all, rs...); return nil })
	if err != nil {
		return err
	}
	out := batch(all)
	if cont != "" {
		out["continuation"] = cont
	}
	return writeJSON(w, http.StatusOK, out)
}
