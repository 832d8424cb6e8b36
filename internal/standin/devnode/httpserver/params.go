package httpserver

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
)

// quorumParams are Riak's per-request quorum query parameters.
var quorumParams = [...]string{"r", "w", "pr", "pw", "dw", "rw"}

// parseQuorum reads r, w, pr, pw, dw, rw ("default", "one", "quorum",
// "all" or a number), basic_quorum and notfound_ok ("true", "false",
// "default") and timeout (milliseconds), as riak_kv_wm_object does.
func parseQuorum(q url.Values) (service.Quorum, error) {
	var out service.Quorum
	dst := [...]*kv.Quorum{&out.R, &out.W, &out.PR, &out.PW, &out.DW, &out.RW}
	for i, name := range quorumParams {
		v := q.Get(name)
		if v == "" || v == "default" {
			continue
		}
		qv, err := kv.ParseQuorum(v)
		if err != nil {
			return out, badRequest("%s query parameter must be an integer or one of the following words: 'one', 'quorum' or 'all'", name)
		}
		*dst[i] = qv
	}
	for _, p := range [...]struct {
		name string
		dst  **bool
	}{{"basic_quorum", &out.BasicQuorum}, {"notfound_ok", &out.NotFoundOK}} {
		if !q.Has(p.name) {
			continue
		}
		switch strings.ToLower(q.Get(p.name)) {
		case "true":
			*p.dst = kv.Ptr(true)
		case "false":
			*p.dst = kv.Ptr(false)
		case "default":
		default:
			return out, badRequest("%s query parameter must be true or false", p.name)
		}
	}
	t, err := parseTimeout(q)
	out.Timeout = t
	return out, err
}

// parseTimeout reads the timeout parameter: non-negative milliseconds.
func parseTimeout(q url.Values) (time.Duration, error) {
	if !q.Has("timeout") {
		return 0, nil
	}
	v := q.Get("timeout")
	ms, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, badRequest("Bad timeout value %q", v)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// withTimeout bounds ctx by a request's timeout, if it has one.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// parseBool reads an optional boolean parameter ("true"/"false", any case).
func parseBool(q url.Values, name string) (bool, error) {
	if !q.Has(name) {
		return false, nil
	}
	switch v := q.Get(name); strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	default:
		return false, badRequest("Invalid %s. %q is not a boolean", name, v)
	}
}

// vclockHeader is the X-Riak-Vclock form of vc: base64 of its encoding.
func vclockHeader(vc kv.VClock) string { return base64.StdEncoding.EncodeToString(vc.Encode()) }

// parseVClock reads the request's X-Riak-Vclock; nil if absent.
func parseVClock(r *http.Request) (kv.VClock, error) {
	vals := r.Header.Values("X-Riak-Vclock")
	if len(vals) == 0 {
		return nil, nil
	}
	if len(vals) > 1 {
		return nil, badRequest("more than one X-Riak-Vclock header")
	}
	s := strings.TrimSpace(vals[0])
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return nil, badRequest("X-Riak-Vclock header is not base64")
		}
	}
	vc, err := kv.DecodeVClock(raw)
	if err != nil {
		return nil, badRequest("X-Riak-Vclock header: %v", err)
	}
	return vc, nil
}

// parseContentType reads a PUT's Content-Type as riak_kv_wm_object does:
// required (400), a type/subtype media type (415), and an optional charset
// parameter.
func parseContentType(r *http.Request) (media, charset string, err error) {
	vals := r.Header.Values("Content-Type")
	if len(vals) == 0 {
		return "", "", badRequest("Missing Content-Type request header")
	}
	parts := strings.Split(vals[0], ";")
	media = strings.TrimSpace(parts[0])
	typ, sub, ok := strings.Cut(media, "/")
	if !ok || typ == "" || sub == "" || strings.Contains(sub, "/") || !validToken(typ) || !validToken(sub) {
		return "", "", errStatus(http.StatusUnsupportedMediaType, "%q is not a valid media type for the Content-type header.", media)
	}
	for _, p := range parts[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "charset") {
			charset = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return media, charset, nil
}

// mediaRange is one entry of an Accept header.
type mediaRange struct {
	typ, sub string
	q        float64
}

// parseAccept parses Accept header values; malformed entries are skipped.
func parseAccept(vals []string) []mediaRange {
	var out []mediaRange
	for _, v := range vals {
		for entry := range strings.SplitSeq(v, ",") {
			params := strings.Split(entry, ";")
			media := strings.ToLower(strings.TrimSpace(params[0]))
			if media == "*" {
				media = "*/*"
			}
			typ, sub, ok := strings.Cut(media, "/")
			if !ok || typ == "" || sub == "" {
				continue
			}
			mr := mediaRange{typ: typ, sub: sub, q: 1}
			for _, p := range params[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil && f >= 0 && f <= 1 {
						mr.q = f
					}
				}
			}
			out = append(out, mr)
		}
	}
	return out
}

// negotiate picks the first of offers the Accept header admits, the way
// webmachine's choose_media_type does: ranges by decreasing q (ties in
// header order), each tried against offers in order. No Accept header, or
// one with no parsable entry, admits offers[0]; "" means none fits (406).
func negotiate(accept []string, offers ...string) string {
	ranges := parseAccept(accept)
	if len(ranges) == 0 {
		return offers[0]
	}
	slices.SortStableFunc(ranges, func(a, b mediaRange) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	for _, mr := range ranges {
		if mr.q == 0 {
			break
		}
		for _, o := range offers {
			typ, sub, _ := strings.Cut(strings.ToLower(o), "/")
			if (mr.typ == "*" || mr.typ == typ) && (mr.sub == "*" || mr.sub == sub) {
				return o
			}
		}
	}
	return ""
}

// resource is what preconditions are evaluated against.
type resource struct {
	exists  bool
	etag    string
	lastMod time.Time
}

// precondition evaluates If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in webmachine's order, returning 0 to proceed, 304
// (safe methods) or 412.
func precondition(hd http.Header, safe bool, res resource, now time.Time) int {
	ifMatch := hd.Values("If-Match")
	if !res.exists {
		if len(ifMatch) > 0 {
			return http.StatusPreconditionFailed
		}
		return 0
	}
	if len(ifMatch) > 0 && !etagMatch(ifMatch, res.etag) {
		return http.StatusPreconditionFailed
	}
	lm := res.lastMod.Truncate(time.Second)
	if v := hd.Get("If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && lm.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := hd.Values("If-None-Match"); len(inm) > 0 {
		if etagMatch(inm, res.etag) {
			if safe {
				return http.StatusNotModified
			}
			return http.StatusPreconditionFailed
		}
		return 0
	}
	if v := hd.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !t.After(now) && !lm.After(t) {
			if safe {
				return http.StatusNotModified
			}
			return http.StatusPreconditionFailed
		}
	}
	return 0
}

// etagMatch reports whether a list of entity tags (or "*") names etag.
// Weak tags compare by their opaque value.
func etagMatch(vals []string, etag string) bool {
	for _, v := range vals {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" {
				return true
			}
			t = strings.TrimPrefix(t, "W/")
			if strings.Trim(t, `"`) == etag && etag != "" {
				return true
			}
		}
	}
	return false
}

// hasPrecondition reports whether the request carries a conditional header.
func hasPrecondition(hd http.Header) bool {
	for _, k := range [...]string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if len(hd.Values(k)) > 0 {
			return true
		}
	}
	return false
}

// validToken reports whether s is an HTTP token (a valid header name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validValue reports whether s can be written as a header value: no
// control characters but tab.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7F {
			return false
		}
	}
	return true
}
