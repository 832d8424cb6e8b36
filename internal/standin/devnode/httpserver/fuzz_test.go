package httpserver

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzHTTPRequest sends arbitrary methods, targets, headers and bodies
// straight into the handler: it must never panic (recovered panics are
// logged at Error and fail too) and must always answer 200..599.
func FuzzHTTPRequest(f *testing.F) {
	seeds := []struct {
		method, target, headers, body string
	}{
		{"GET", "/ping", "", ""},
		{"GET", "/stats", "", ""},
		{"GET", "/buckets/b/keys/k", "", ""},
		{"GET", "/types/sibs/buckets/s/keys/k", "Accept: multipart/mixed", ""},
		{"GET", "/types/sibs/buckets/s/keys/k?vtag=x&r=one&basic_quorum=true", "If-None-Match: *", ""},
		{"PUT", "/buckets/b/keys/k?returnbody=true&w=all", "Content-Type: text/plain; charset=utf-8\nX-Riak-Meta-A: b\nX-Riak-Index-X_int: 5\nLink: </buckets/o/keys/k>; riaktag=\"t\"", "value"},
		{"PUT", "/types/sibs/buckets/s/keys/k", "Content-Type: text/plain\nX-Riak-Vclock: AQEIZGV2MQ==\nIf-Match: \"x\"", "v"},
		{"POST", "/types/sibs/buckets/s/keys", "Content-Type: application/json", "{}"},
		{"POST", "/riak/b", "Content-Type: a/b", "x"},
		{"DELETE", "/buckets/b/keys/k?rw=2", "If-Unmodified-Since: Mon, 01 Jan 2024 00:00:00 GMT", ""},
		{"GET", "/buckets/b/keys?keys=stream", "", ""},
		{"GET", "/riak/b?keys=true", "", ""},
		{"GET", "/types/sibs/buckets?buckets=stream", "", ""},
		{"PUT", "/buckets/b/props", "Content-Type: application/json", `{"props":{"n_val":2,"allow_mult":"true"}}`},
		{"PUT", "/types/sibs/props", "Content-Type: application/json", `{"props":{"r":"quorum"}}`},
		{"GET", "/buckets/b/index/x_int/1/9?return_terms=true&max_results=1&stream=true", "", ""},
		{"GET", "/buckets/b/index/$key/a/z?term_regex=.*&continuation=g2gCbQ", "", ""},
		{"GET", "/buckets/b/index/$bucket/b", "", ""},
		{"GET", "/buckets/b/keys/k/preflist", "", ""},
		{"POST", "/mapred", "Content-Type: application/json", `{"inputs":"b"}`},
		{"GET", "/buckets/%zz/keys/k", "", ""},
		{"OPTIONS", "/buckets/b/keys/k", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.headers, []byte(s.body))
	}
	e := newEngineEnv(f)
	trap := &panicTrap{}
	h := NewHandler(e.svc, slog.New(trap), Options{MaxBodyBytes: 1 << 16})
	// Some data for reads, siblings and listings to find.
	e.put0(f, "b", "k")
	for range 2 {
		if _, err := e.svc.Put(context.Background(), kvPutType("sibs", "s", "k"), svcQuorum()); err != nil {
			f.Fatal(err)
		}
	}

	f.Fuzz(func(t *testing.T, method, target string, headers string, body []byte) {
		if !validToken(method) {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || len(target) > 1<<12 {
			return
		}
		req := &http.Request{
			Method: method, URL: u, RequestURI: target, Host: "devnode",
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
		}
		for line := range strings.SplitSeq(headers, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && validToken(k) {
				req.Header.Add(k, strings.TrimSpace(v))
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req.WithContext(ctx))
		if rec.Code < 200 || rec.Code > 599 {
			t.Fatalf("%s %q: status %d", method, target, rec.Code)
		}
		trap.mu.Lock()
		defer trap.mu.Unlock()
		if len(trap.panicked) > 0 {
			t.Fatalf("%s %q: %s", method, target, trap.panicked[0])
		}
	})
}
