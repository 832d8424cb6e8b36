package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
	"github.com/rmf-go/rmf/protocol"
)

// Unsupported is the text of every 501 answer (after the resource's name).
const Unsupported = "not supported by devnode (RMF-Go development node; not Riak)"

// maxPropsBody bounds a props PUT body.
const maxPropsBody = 1 << 20

// Options tune a Handler. Every zero value is a documented default.
type Options struct {
	// MaxBodyBytes bounds a request body; larger bodies are answered 413.
	// Default kv.DefaultMaxObjectSize (50 MiB, Riak's max object size).
	MaxBodyBytes int64
}

// Handler serves Riak's HTTP API over a service.Service. It is safe for
// concurrent use. Create with New or NewHandler.
type Handler struct {
	svc     service.Service
	log     *slog.Logger
	maxBody int64
}

// New returns a handler serving Riak's HTTP API over svc with default
// Options. logger may be nil (no logging).
func New(svc service.Service, logger *slog.Logger) http.Handler {
	return NewHandler(svc, logger, Options{})
}

// NewHandler returns a handler over svc with opts. logger may be nil.
func NewHandler(svc service.Service, logger *slog.Logger, opts Options) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = kv.DefaultMaxObjectSize
	}
	return &Handler{svc: svc, log: logger, maxBody: opts.MaxBodyBytes}
}

// apiStyle is which family of paths a request used; responses that name
// other resources (Location, Link) use the same family, as Riak does.
type apiStyle uint8

const (
	styleBuckets apiStyle = iota // /buckets/B/keys/K (Riak's API version 2)
	styleTypes                   // /types/T/buckets/B/keys/K (version 3)
	styleRiak                    // /riak/B/K (version 1)
)

func styleOf(escapedPath string) apiStyle {
	switch {
	case strings.HasPrefix(escapedPath, "/types/"):
		return styleTypes
	case strings.HasPrefix(escapedPath, "/riak"):
		return styleRiak
	}
	return styleBuckets
}

func (s apiStyle) bucketURI(typ, bucket string) string {
	switch s {
	case styleRiak:
		return "/riak/" + url.PathEscape(bucket)
	case styleTypes:
		return "/types/" + url.PathEscape(typ) + "/buckets/" + url.PathEscape(bucket)
	}
	return "/buckets/" + url.PathEscape(bucket)
}

func (s apiStyle) objectURI(typ, bucket, key string) string {
	if s == styleRiak {
		return s.bucketURI(typ, bucket) + "/" + url.PathEscape(key)
	}
	return s.bucketURI(typ, bucket) + "/keys/" + url.PathEscape(key)
}

// exchange is one request being served.
type exchange struct {
	w     http.ResponseWriter
	r     *http.Request
	rt    protocol.HTTPRoute
	query url.Values
	style apiStyle
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.log.Error("httpserver: panic serving request", "panic", fmt.Sprint(p), "method", r.Method, "path", r.URL.Path, "stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	path := r.URL.EscapedPath()
	rt, err := protocol.ParseHTTPPath(path)
	if err != nil {
		if _, uerr := url.PathUnescape(path); uerr != nil {
			http.Error(w, "bad path: "+uerr.Error(), http.StatusBadRequest)
			return
		}
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	x := &exchange{w: w, r: r, rt: rt, query: r.URL.Query(), style: styleOf(path)}
	if err := h.route(x); err != nil {
		h.writeError(x, err)
	}
}

// methods lists the methods each resource allows.
var methods = map[protocol.HTTPKind][]string{
	protocol.HTTPPing:         {http.MethodGet, http.MethodHead},
	protocol.HTTPStats:        {http.MethodGet, http.MethodHead},
	protocol.HTTPBuckets:      {http.MethodGet, http.MethodHead},
	protocol.HTTPTypeProps:    {http.MethodGet, http.MethodHead, http.MethodPut},
	protocol.HTTPBucketProps:  {http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete},
	protocol.HTTPKeys:         {http.MethodGet, http.MethodHead, http.MethodPost},
	protocol.HTTPObject:       {http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete},
	protocol.HTTPPreflist:     {http.MethodGet, http.MethodHead},
	protocol.HTTPIndex:        {http.MethodGet, http.MethodHead},
	protocol.HTTPLegacyBucket: {http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut},
	protocol.HTTPDatatype:     {http.MethodGet, http.MethodHead, http.MethodPost},
}

func (h *Handler) route(x *exchange) error {
	allowed, ok := methods[x.rt.Kind]
	if !ok {
		http.Error(x.w, x.rt.Kind.String()+" is "+Unsupported, http.StatusNotImplemented)
		return nil
	}
	if !contains(allowed, x.r.Method) {
		x.w.Header().Set("Allow", strings.Join(allowed, ", "))
		http.Error(x.w, "method not allowed", http.StatusMethodNotAllowed)
		return nil
	}
	m := x.r.Method
	switch x.rt.Kind {
	case protocol.HTTPPing:
		if err := h.svc.Ping(x.r.Context()); err != nil {
			return err
		}
		x.w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(x.w, "OK")
		return nil
	case protocol.HTTPStats:
		return h.stats(x)
	case protocol.HTTPObject:
		switch m {
		case http.MethodGet, http.MethodHead:
			return h.getObject(x)
		case http.MethodDelete:
			return h.deleteObject(x)
		}
		return h.putObject(x)
	case protocol.HTTPKeys:
		if m == http.MethodPost {
			return h.putObject(x)
		}
		return h.listKeys(x, false)
	case protocol.HTTPLegacyBucket:
		switch {
		case m == http.MethodPost:
			return h.putObject(x)
		case m == http.MethodPut:
			return h.putBucketProps(x)
		case x.query.Get("keys") == "true" || x.query.Get("keys") == "stream":
			return h.listKeys(x, x.query.Get("props") != "false")
		}
		return h.getBucketProps(x)
	case protocol.HTTPBuckets:
		return h.listBuckets(x)
	case protocol.HTTPBucketProps:
		switch m {
		case http.MethodPut:
			return h.putBucketProps(x)
		case http.MethodDelete:
			if err := h.svc.ResetBucketProps(x.r.Context(), x.rt.Type, x.rt.Bucket); err != nil {
				return err
			}
			x.w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return h.getBucketProps(x)
	case protocol.HTTPTypeProps:
		if m == http.MethodPut {
			return h.putTypeProps(x)
		}
		return h.getTypeProps(x)
	case protocol.HTTPIndex:
		return h.index(x)
	case protocol.HTTPPreflist:
		return h.preflist(x)
	case protocol.HTTPDatatype:
		return h.datatype(x)
	}
	return fmt.Errorf("httpserver: unrouted resource %s", x.rt.Kind)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (h *Handler) stats(x *exchange) error {
	info := h.svc.Info()
	out := maps.Clone(h.svc.Stats())
	if out == nil {
		out = service.Stats{}
	}
	out["nodename"] = info.Node
	out["riak_kv_version"] = info.Version
	return writeJSON(x.w, http.StatusOK, out)
}

func (h *Handler) preflist(x *exchange) error {
	pl, err := h.svc.Preflist(x.r.Context(), x.rt.Type, x.rt.Bucket, x.rt.Key)
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
		out[i] = item{Partition: e.Partition, Node: e.Node, Primary: e.Primary}
	}
	return writeJSON(x.w, http.StatusOK, map[string]any{"preflist": out})
}

// statusError is an error answered with a given status.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func errStatus(status int, format string, args ...any) error {
	return &statusError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return errStatus(http.StatusBadRequest, format, args...)
}

// statusOf maps an error to Riak's status for it.
func statusOf(err error) int {
	var se *statusError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return se.status
	case errors.As(err, &mbe), errors.Is(err, kv.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, kv.ErrInvalidBucketType), errors.Is(err, kv.ErrInvalidBucket),
		errors.Is(err, kv.ErrInvalidKey), errors.Is(err, kv.ErrInvalidContent),
		errors.Is(err, kv.ErrInvalidVClock), errors.Is(err, kv.ErrInvalidIndex),
		errors.Is(err, kv.ErrInvalidQuery), errors.Is(err, kv.ErrInvalidContinuation),
		errors.Is(err, kv.ErrInvalidProps), errors.Is(err, kv.ErrUnsupportedProp),
		errors.Is(err, kv.ErrTooManySiblings):
		return http.StatusBadRequest
	case errors.Is(err, kv.ErrNoType), errors.Is(err, kv.ErrTypeNotActive), errors.Is(err, kv.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, kv.ErrExists), errors.Is(err, kv.ErrModified):
		return http.StatusPreconditionFailed
	case errors.Is(err, service.ErrQuorum), errors.Is(err, service.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, kv.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorText is the one-line body for err.
func errorText(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "request timed out"
	case errors.Is(err, context.Canceled):
		return "request canceled"
	}
	var riakText interface{ RiakHTTPText() string }
	if errors.As(err, &riakText) {
		return riakText.RiakHTTPText()
	}
	msg := err.Error()
	if i := strings.IndexAny(msg, "\r\n"); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

func (h *Handler) writeError(x *exchange, err error) {
	status := statusOf(err)
	if status == http.StatusInternalServerError {
		h.log.Warn("httpserver: request failed", "method", x.r.Method, "path", x.r.URL.Path, "err", err)
	}
	http.Error(x.w, errorText(err), status)
}

// writeJSON answers v as JSON. It encodes before writing the header, so an
// encoding failure is still an error response.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("httpserver: encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}
