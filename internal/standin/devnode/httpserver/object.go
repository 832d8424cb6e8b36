package httpserver

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

// Riak's object headers.
const (
	hdrVClock  = "X-Riak-Vclock"
	hdrDeleted = "X-Riak-Deleted"
	metaPrefix = "X-Riak-Meta-"
	idxPrefix  = "X-Riak-Index-"
)

// getObject answers GET and HEAD on an object (riak_kv_wm_object).
func (h *Handler) getObject(x *exchange) error {
	q, err := parseQuorum(x.query)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(x.r.Context(), q.Timeout)
	defer cancel()
	res, err := h.svc.Get(ctx, kv.GetRequest{Type: x.rt.Type, Bucket: x.rt.Bucket, Key: x.rt.Key, DeletedVClock: true}, q)
	if err != nil {
		return err
	}
	if !res.Found || len(res.Object.Siblings) == 0 {
		x.notFound(res.Tombstone, res.Object.VClock)
		return nil
	}
	sibs, vc := res.Object.Siblings, res.Object.VClock
	var sel *kv.Content
	switch {
	case x.query.Has("vtag"):
		vtag := x.query.Get("vtag")
		for i := range sibs {
			if sibs[i].VTag == vtag {
				sel = &sibs[i]
				break
			}
		}
		if sel == nil {
			x.notFound(false, nil)
			return nil
		}
	case len(sibs) == 1:
		sel = &sibs[0]
	}
	st := resource{exists: true}
	if sel != nil {
		st.etag, st.lastMod = sel.VTag, sel.LastMod
	} else {
		st.etag, st.lastMod = siblingsETag(vc), latest(sibs)
	}
	if code := precondition(x.r.Header, true, st, time.Now()); code != 0 {
		return x.preconditionFailed(code, st)
	}
	if sel == nil {
		return x.writeSiblings(sibs, vc, true)
	}
	ct := contentType(sel)
	if negotiate(x.r.Header.Values("Accept"), ct) == "" {
		return errStatus(http.StatusNotAcceptable, "Not Acceptable: the object is %s", ct)
	}
	x.writeContent(http.StatusOK, sel, vc)
	return nil
}

// notFound answers 404; a tombstone's clock goes in X-Riak-Vclock so the
// client can write over it, as Riak does.
func (x *exchange) notFound(tombstone bool, vc kv.VClock) {
	if tombstone || len(vc) > 0 {
		if len(vc) > 0 {
			x.w.Header().Set(hdrVClock, vclockHeader(vc))
		}
		x.w.Header().Set(hdrDeleted, "true")
	}
	http.Error(x.w, "not found", http.StatusNotFound)
}

// preconditionFailed answers 304 or 412.
func (x *exchange) preconditionFailed(code int, st resource) error {
	if code == http.StatusNotModified {
		hd := x.w.Header()
		hd.Set("ETag", `"`+st.etag+`"`)
		hd.Set("Last-Modified", st.lastMod.UTC().Format(http.TimeFormat))
		x.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return errStatus(http.StatusPreconditionFailed, "precondition failed")
}

// siblingsETag is the entity tag of a sibling set: derived from the clock,
// as Riak derives it (an md5 of the vclock).
func siblingsETag(vc kv.VClock) string {
	sum := md5.Sum(vc.Encode())
	return hex.EncodeToString(sum[:])
}

// latest is the newest LastMod of the siblings.
func latest(sibs []kv.Content) time.Time {
	var t time.Time
	for i := range sibs {
		if sibs[i].LastMod.After(t) {
			t = sibs[i].LastMod
		}
	}
	return t
}

// contentType is the Content-Type of a sibling, with its charset.
func contentType(c *kv.Content) string {
	ct := c.ContentType
	if ct == "" || !validValue(ct) {
		ct = "application/octet-stream"
	}
	if c.Charset != "" && validValue(c.Charset) && !strings.ContainsAny(c.Charset, `;"`) {
		ct += "; charset=" + c.Charset
	}
	return ct
}

// contentHeaders sets the headers describing one sibling: on the response,
// or on one part of a multipart body. Metadata and index names are written
// as stored (not canonicalised); entries that cannot be a header are left out.
func (x *exchange) contentHeaders(hd http.Header, c *kv.Content) {
	hd.Set("Content-Type", contentType(c))
	if c.ContentEncoding != "" && validValue(c.ContentEncoding) {
		hd.Set("Content-Encoding", c.ContentEncoding)
	}
	if c.VTag != "" && validValue(c.VTag) && !strings.Contains(c.VTag, `"`) {
		hd.Set("ETag", `"`+c.VTag+`"`)
	}
	if !c.LastMod.IsZero() {
		hd.Set("Last-Modified", c.LastMod.UTC().Format(http.TimeFormat))
	}
	if c.Deleted {
		hd.Set(hdrDeleted, "true")
	}
	links := []string{"<" + x.style.bucketURI(x.rt.Type, x.rt.Bucket) + `>; rel="up"`}
	for _, l := range c.Links {
		if !validValue(l.Tag) || strings.ContainsAny(l.Tag, `",`) {
			continue
		}
		links = append(links, "<"+linkURI(x.style, l.Bucket, l.Key)+`>; riaktag="`+l.Tag+`"`)
	}
	hd.Set("Link", strings.Join(links, ", "))
	for _, m := range c.UserMeta {
		if v := string(m.Value); validToken(m.Key) && validValue(v) {
			hd[metaPrefix+m.Key] = append(hd[metaPrefix+m.Key], v)
		}
	}
	var names []string
	terms := map[string][]string{}
	for _, ix := range c.Indexes {
		v := string(ix.Value)
		if !validToken(ix.Key) || !validValue(v) {
			continue
		}
		if _, ok := terms[ix.Key]; !ok {
			names = append(names, ix.Key)
		}
		terms[ix.Key] = append(terms[ix.Key], v)
	}
	for _, n := range names {
		hd[idxPrefix+n] = []string{strings.Join(terms[n], ", ")}
	}
}

// linkURI is a link's target in the request's path family (links carry no
// bucket type, so the typed family uses /buckets).
func linkURI(s apiStyle, bucket, key string) string {
	if s == styleRiak {
		return "/riak/" + url.PathEscape(bucket) + "/" + url.PathEscape(key)
	}
	return "/buckets/" + url.PathEscape(bucket) + "/keys/" + url.PathEscape(key)
}

// writeContent answers one sibling with its value.
func (x *exchange) writeContent(status int, c *kv.Content, vc kv.VClock) {
	hd := x.w.Header()
	if len(vc) > 0 {
		hd.Set(hdrVClock, vclockHeader(vc))
	}
	x.contentHeaders(hd, c)
	hd.Set("Vary", "Accept-Encoding")
	hd.Set("Content-Length", strconv.Itoa(len(c.Value)))
	x.w.WriteHeader(status)
	_, _ = x.w.Write(c.Value)
}

// writeSiblings answers 300 Multiple Choices: Riak's text/plain list of
// vtags, or with Accept: multipart/mixed every sibling as one part with its
// headers. strict answers 406 when the client accepts neither (GET);
// otherwise text/plain is the fallback (returnbody, like Riak).
func (x *exchange) writeSiblings(sibs []kv.Content, vc kv.VClock, strict bool) error {
	choice := negotiate(x.r.Header.Values("Accept"), "text/plain", "multipart/mixed")
	if choice == "" {
		if strict {
			return errStatus(http.StatusNotAcceptable, "Not Acceptable: siblings are offered as text/plain or multipart/mixed")
		}
		choice = "text/plain"
	}
	var body bytes.Buffer
	ctype := "text/plain"
	if choice == "multipart/mixed" {
		mw := multipart.NewWriter(&body)
		for i := range sibs {
			ph := http.Header{}
			x.contentHeaders(ph, &sibs[i])
			part, err := mw.CreatePart(textproto.MIMEHeader(ph))
			if err != nil {
				return err
			}
			_, _ = part.Write(sibs[i].Value)
		}
		if err := mw.Close(); err != nil {
			return err
		}
		ctype = "multipart/mixed; boundary=" + mw.Boundary()
	} else {
		body.WriteString("Siblings:\n")
		for i := range sibs {
			body.WriteString(sibs[i].VTag)
			body.WriteByte('\n')
		}
	}
	hd := x.w.Header()
	if len(vc) > 0 {
		hd.Set(hdrVClock, vclockHeader(vc))
	}
	hd.Set("Content-Type", ctype)
	hd.Set("ETag", `"`+siblingsETag(vc)+`"`)
	hd.Set("Last-Modified", latest(sibs).UTC().Format(http.TimeFormat))
	hd.Set("Vary", "Accept, Accept-Encoding")
	hd.Set("Content-Length", strconv.Itoa(body.Len()))
	x.w.WriteHeader(http.StatusMultipleChoices)
	_, _ = x.w.Write(body.Bytes())
	return nil
}

// putObject stores an object: PUT or POST on a key, or POST on a bucket's
// keys (or legacy /riak/B) with a generated key (201 + Location).
func (h *Handler) putObject(x *exchange) error {
	create := x.rt.Key == ""
	q, err := parseQuorum(x.query)
	if err != nil {
		return err
	}
	vc, err := parseVClock(x.r)
	if err != nil {
		return err
	}
	media, charset, err := parseContentType(x.r)
	if err != nil {
		return err
	}
	links, err := parseLinks(x.r.Header.Values("Link"))
	if err != nil {
		return err
	}
	body, err := h.readBody(x, h.maxBody)
	if err != nil {
		return err
	}
	returnBody := x.query.Get("returnbody") == "true"
	req := kv.PutRequest{
		Type: x.rt.Type, Bucket: x.rt.Bucket, Key: x.rt.Key, VClock: vc, ReturnBody: returnBody,
		Content: kv.Content{
			Value: body, ContentType: media, Charset: charset,
			ContentEncoding: x.r.Header.Get("Content-Encoding"),
			UserMeta:        parseMeta(x.r.Header), Links: links, Indexes: parseIndexes(x.r.Header),
		},
	}
	ctx, cancel := withTimeout(x.r.Context(), q.Timeout)
	defer cancel()
	if hasPrecondition(x.r.Header) {
		var cur kv.Object
		if !create {
			got, err := h.svc.Get(ctx, kv.GetRequest{Type: x.rt.Type, Bucket: x.rt.Bucket, Key: x.rt.Key, Head: true}, q)
			if err != nil {
				return err
			}
			if got.Found {
				cur = got.Object
			}
		}
		st := resourceOf(cur)
		if code := precondition(x.r.Header, false, st, time.Now()); code != 0 {
			return x.preconditionFailed(code, st)
		}
		// Make the checked condition hold at the write: a create asserted
		// by If-None-Match: * becomes if_none_match; a write over the
		// version just checked becomes if_not_modified on its clock.
		switch {
		case !st.exists:
			req.IfNoneMatch = hasStar(x.r.Header.Values("If-None-Match"))
		case vc == nil && ifMatchTag(x.r.Header.Values("If-Match")), vc != nil && vc.Equal(cur.VClock):
			req.VClock, req.IfNotModified = cur.VClock, true
		}
	}
	res, err := h.svc.Put(ctx, req, q)
	if errors.Is(err, kv.ErrExists) || errors.Is(err, kv.ErrModified) || errors.Is(err, kv.ErrNotFound) {
		return errStatus(http.StatusPreconditionFailed, "precondition failed: %v", err)
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if create {
		status = http.StatusCreated
		x.w.Header().Set("Location", x.style.objectURI(x.rt.Type, x.rt.Bucket, res.Key))
	}
	sibs := res.Object.Siblings
	switch {
	case returnBody && len(sibs) == 1:
		x.writeContent(status, &sibs[0], res.Object.VClock)
		return nil
	case returnBody && len(sibs) > 1:
		return x.writeSiblings(sibs, res.Object.VClock, false)
	}
	if len(res.Object.VClock) > 0 {
		x.w.Header().Set(hdrVClock, vclockHeader(res.Object.VClock))
	}
	if !create {
		status = http.StatusNoContent
	}
	x.w.WriteHeader(status)
	return nil
}

// deleteObject answers DELETE: 404 when there is nothing live to delete
// (Riak reads first), else 204.
func (h *Handler) deleteObject(x *exchange) error {
	q, err := parseQuorum(x.query)
	if err != nil {
		return err
	}
	vc, err := parseVClock(x.r)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(x.r.Context(), q.Timeout)
	defer cancel()
	cur, err := h.svc.Get(ctx, kv.GetRequest{Type: x.rt.Type, Bucket: x.rt.Bucket, Key: x.rt.Key, Head: true, DeletedVClock: true}, q)
	if err != nil {
		return err
	}
	if !cur.Found || len(cur.Object.Siblings) == 0 {
		x.notFound(cur.Tombstone, cur.Object.VClock)
		return nil
	}
	if st := resourceOf(cur.Object); hasPrecondition(x.r.Header) {
		if code := precondition(x.r.Header, false, st, time.Now()); code != 0 {
			return x.preconditionFailed(code, st)
		}
	}
	if err := h.svc.Delete(ctx, kv.DeleteRequest{Type: x.rt.Type, Bucket: x.rt.Bucket, Key: x.rt.Key, VClock: vc}, q); err != nil {
		return err
	}
	x.w.WriteHeader(http.StatusNoContent)
	return nil
}

// resourceOf describes a stored object for preconditions: a single
// sibling's vtag and time, or the sibling set's clock-derived tag and
// newest time.
func resourceOf(o kv.Object) resource {
	switch len(o.Siblings) {
	case 0:
		return resource{}
	case 1:
		return resource{exists: true, etag: o.Siblings[0].VTag, lastMod: o.Siblings[0].LastMod}
	}
	return resource{exists: true, etag: siblingsETag(o.VClock), lastMod: latest(o.Siblings)}
}

func hasStar(vals []string) bool {
	for _, v := range vals {
		for t := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(t) == "*" {
				return true
			}
		}
	}
	return false
}

// ifMatchTag reports whether If-Match names an entity tag (not just "*").
func ifMatchTag(vals []string) bool {
	for _, v := range vals {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" && t != "*" {
				return true
			}
		}
	}
	return false
}

// readBody reads the request body, at most limit bytes (413 beyond).
func (h *Handler) readBody(x *exchange, limit int64) ([]byte, error) {
	if x.r.ContentLength > limit {
		return nil, errStatus(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", limit)
	}
	if x.r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(x.w, x.r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errStatus(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", limit)
		}
		return nil, badRequest("reading request body: %v", err)
	}
	return b, nil
}

// parseMeta reads X-Riak-Meta-* headers: names lower-cased, without the
// prefix; repeated headers joined with ", ".
func parseMeta(hd http.Header) []kv.Pair {
	var out []kv.Pair
	for name, vals := range hd {
		if len(name) < len(metaPrefix) || !strings.EqualFold(name[:len(metaPrefix)], metaPrefix) {
			continue
		}
		out = append(out, kv.Pair{Key: strings.ToLower(name[len(metaPrefix):]), Value: []byte(strings.Join(vals, ", "))})
	}
	slices.SortFunc(out, func(a, b kv.Pair) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// parseIndexes reads X-Riak-Index-* headers: names lower-cased, without the
// prefix; each value split on a comma followed by white space, as Riak's
// extract_index_fields does. kv validates names and _int terms.
func parseIndexes(hd http.Header) []kv.Pair {
	var out []kv.Pair
	for name, vals := range hd {
		if len(name) < len(idxPrefix) || !strings.EqualFold(name[:len(idxPrefix)], idxPrefix) {
			continue
		}
		idx := strings.ToLower(name[len(idxPrefix):])
		for _, v := range vals {
			for _, term := range splitTerms(v) {
				out = append(out, kv.Pair{Key: idx, Value: []byte(term)})
			}
		}
	}
	return out
}

func splitTerms(v string) []string {
	var out []string
	start := 0
	for i := 0; i+1 < len(v); i++ {
		if v[i] == ',' && (v[i+1] == ' ' || v[i+1] == '\t') {
			out = append(out, v[start:i])
			start = i + 2
			i++
		}
	}
	return append(out, v[start:])
}

var errBadLink = badRequest(`Invalid Link header. Links must be of the form </buckets/BUCKET/keys/KEY>; riaktag="TAG"`)

// parseLinks reads Link headers: </buckets/B/keys/K>; riaktag="T" or
// </riak/B/K>; riaktag="T", comma-separated. Links to buckets
// (</buckets/B>; rel="up") are accepted and dropped.
func parseLinks(vals []string) ([]kv.Link, error) {
	var out []kv.Link
	for _, v := range vals {
		for entry := range strings.SplitSeq(v, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			l, ok, err := parseLink(entry)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, l)
			}
		}
	}
	return out, nil
}

// parseLink parses one link; ok is false for a link to a bucket.
func parseLink(entry string) (l kv.Link, ok bool, err error) {
	end := strings.IndexByte(entry, '>')
	if entry[0] != '<' || end < 0 || !strings.HasPrefix(entry, "</") {
		return l, false, errBadLink
	}
	segs := strings.Split(entry[2:end], "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return l, false, errBadLink
		}
		segs[i] = u
	}
	attrs := map[string]string{}
	for p := range strings.SplitSeq(entry[end+1:], ";") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		attrs[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	switch {
	case len(segs) == 4 && segs[0] == "buckets" && segs[2] == "keys":
		l.Bucket, l.Key = segs[1], segs[3]
	case len(segs) == 3 && segs[0] == "riak":
		l.Bucket, l.Key = segs[1], segs[2]
	case len(segs) == 2 && (segs[0] == "buckets" || segs[0] == "riak"):
		if _, has := attrs["rel"]; !has {
			return l, false, errBadLink
		}
		return l, false, nil
	default:
		return l, false, errBadLink
	}
	tag, has := attrs["riaktag"]
	if !has {
		return l, false, errBadLink
	}
	l.Tag = tag
	return l, true, nil
}
