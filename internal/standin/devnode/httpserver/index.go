package httpserver

import (
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

// index answers a secondary index query (riak_kv_wm_index):
//
//	.../index/I/V        exact match
//	.../index/I/MIN/MAX  range (inclusive)
//
// with return_terms, max_results, continuation, term_regex,
// pagination_sort (ignored), timeout and stream=true (multipart/mixed).
func (h *Handler) index(x *exchange) error {
	qs := x.query
	q := kv.IndexQuery{Type: x.rt.Type, Bucket: x.rt.Bucket, Index: x.rt.Index,
		Continuation: qs.Get("continuation"), TermRegex: qs.Get("term_regex")}
	switch {
	case q.Index == kv.IndexBucket:
		// Riak ignores the value of a $bucket query.
	case len(x.rt.Values) == 1:
		q.Term = x.rt.Values[0]
	case len(x.rt.Values) == 2:
		q.Range, q.Min, q.Max = true, x.rt.Values[0], x.rt.Values[1]
	default:
		return badRequest("Invalid query: an index query needs a value or a range")
	}
	returnTerms, err := parseBool(qs, "return_terms")
	if err != nil {
		return err
	}
	// Like Riak, terms are returned only for range queries.
	q.ReturnTerms = returnTerms && q.Range
	if _, err := parseBool(qs, "pagination_sort"); err != nil {
		return err
	}
	if qs.Has("max_results") {
		v := qs.Get("max_results")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return badRequest("Invalid max_results. %q is not a positive integer", v)
		}
		q.MaxResults = uint32(n)
	}
	stream, err := parseBool(qs, "stream")
	if err != nil {
		return err
	}
	timeout, err := parseTimeout(qs)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(x.r.Context(), timeout)
	defer cancel()

	if stream {
		return h.streamIndex(ctx, x, q)
	}
	results := []kv.IndexResult{}
	cont, err := h.svc.IndexQuery(ctx, q, func(rs []kv.IndexResult) error {
		results = append(results, rs...)
		return nil
	})
	if err != nil {
		return err
	}
	out := indexBatch(q.ReturnTerms, results)
	if cont != "" {
		out["continuation"] = cont
	}
	return writeJSON(x.w, http.StatusOK, out)
}

// indexBatch is the JSON of some results: {"keys":[...]} or, with terms,
// {"results":[{"term":"key"},...]}.
func indexBatch(returnTerms bool, rs []kv.IndexResult) map[string]any {
	if returnTerms {
		results := make([]map[string]string, len(rs))
		for i, r := range rs {
			results[i] = map[string]string{r.Term: r.Key}
		}
		return map[string]any{"results": results}
	}
	keys := make([]string, len(rs))
	for i, r := range rs {
		keys[i] = r.Key
	}
	return map[string]any{"keys": keys}
}

// streamIndex sends the results as Riak does with stream=true: a
// multipart/mixed body with one application/json part per batch, then a
// part holding the continuation (if any), then the closing boundary. The
// header goes out with the first part, so an error before it is an
// ordinary error response; after it, an {"error": ...} part ends the body.
func (h *Handler) streamIndex(ctx context.Context, x *exchange, q kv.IndexQuery) error {
	rc := http.NewResponseController(x.w)
	mw := multipart.NewWriter(x.w)
	started := false
	part := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if !started {
			started = true
			x.w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
			x.w.WriteHeader(http.StatusOK)
		}
		pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
		if err != nil {
			return err
		}
		if _, err := pw.Write(b); err != nil {
			return err
		}
		_ = rc.Flush()
		return nil
	}
	cont, err := h.svc.IndexQuery(ctx, q, func(rs []kv.IndexResult) error {
		return part(indexBatch(q.ReturnTerms, rs))
	})
	if err != nil && !started {
		return err
	}
	switch {
	case err != nil:
		h.log.Warn("httpserver: index stream failed", "err", err)
		_ = part(map[string]string{"error": errorText(err)})
	case cont != "":
		_ = part(map[string]string{"continuation": cont})
	}
	if !started {
		x.w.Header().Set("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
		x.w.WriteHeader(http.StatusOK)
	}
	_ = mw.Close()
	return nil
}
