package httpserver

import (
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

func TestObjectMetadataRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.do(http.MethodPut, "/types/sibs/buckets/b/keys/k", "hello",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Encoding: gzip",
		"X-Riak-Meta-Color: blue",
		"X-Riak-Meta-Shape: round",
		"X-Riak-Index-Age_int: 42",
		"X-Riak-Index-email_bin: a@x, b@x",
		`Link: </buckets/other/keys/k2>; riaktag="friend", </riak/other/k3>; riaktag="foe", </buckets/b>; rel="up"`,
	).expect(t, http.StatusNoContent)

	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			r := e.do(method, "/types/sibs/buckets/b/keys/k", "").expect(t, http.StatusOK)
			wantBody := "hello"
			if method == http.MethodHead {
				wantBody = ""
			}
			if r.body != wantBody {
				t.Errorf("body %q, want %q", r.body, wantBody)
			}
			for name, want := range map[string]string{
				"Content-Type":           "text/plain; charset=utf-8",
				"Content-Encoding":       "gzip",
				"Last-Modified":          t0.Format(http.TimeFormat),
				"X-Riak-Meta-Color":      "blue",
				"X-Riak-Meta-Shape":      "round",
				"X-Riak-Index-Age_int":   "42",
				"X-Riak-Index-Email_bin": "a@x, b@x",
				"Content-Length":         "5",
			} {
				if got := r.header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if et := r.header.Get("ETag"); len(et) < 3 || et[0] != '"' || et[len(et)-1] != '"' {
				t.Errorf("ETag %q is not a quoted vtag", et)
			}
			vc := decodeVClock(t, r.header.Get("X-Riak-Vclock"))
			if len(vc) != 1 {
				t.Errorf("vclock %v, want one entry", vc)
			}
			link := r.header.Get("Link")
			for _, want := range []string{`</types/sibs/buckets/b>; rel="up"`, `</buckets/other/keys/k2>; riaktag="friend"`, `</buckets/other/keys/k3>; riaktag="foe"`} {
				if !strings.Contains(link, want) {
					t.Errorf("Link %q lacks %q", link, want)
				}
			}
		})
	}

	// Stored form: names lower-cased, without their prefix.
	got, err := e.eng.Get(t.Context(), kv.GetRequest{Type: "sibs", Bucket: "b", Key: "k"})
	if err != nil || !got.Found {
		t.Fatalf("engine get: %v %v", got, err)
	}
	c := got.Object.Siblings[0]
	if c.ContentType != "text/plain" || c.Charset != "utf-8" || c.ContentEncoding != "gzip" {
		t.Errorf("content metadata %q %q %q", c.ContentType, c.Charset, c.ContentEncoding)
	}
	if len(c.UserMeta) != 2 || c.UserMeta[0].Key != "color" || c.UserMeta[1].Key != "shape" {
		t.Errorf("user meta %v", c.UserMeta)
	}
	wantIdx := []kv.Pair{{Key: "age_int", Value: []byte("42")}, {Key: "email_bin", Value: []byte("a@x")}, {Key: "email_bin", Value: []byte("b@x")}}
	if !slices.EqualFunc(c.Indexes, wantIdx, func(a, b kv.Pair) bool { return a.Key == b.Key && string(a.Value) == string(b.Value) }) {
		t.Errorf("indexes %v, want %v", c.Indexes, wantIdx)
	}
	wantLinks := []kv.Link{{Bucket: "other", Key: "k2", Tag: "friend"}, {Bucket: "other", Key: "k3", Tag: "foe"}}
	if !slices.Equal(c.Links, wantLinks) {
		t.Errorf("links %v, want %v", c.Links, wantLinks)
	}
}

func TestObjectPathFamilies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.put("/buckets/fam/keys/k", "v", `Link: </buckets/o/keys/x>; riaktag="t"`)
	cases := []struct {
		name, path, up, link string
	}{
		{"typed", "/types/default/buckets/fam/keys/k", `</types/default/buckets/fam>; rel="up"`, `</buckets/o/keys/x>; riaktag="t"`},
		{"buckets", "/buckets/fam/keys/k", `</buckets/fam>; rel="up"`, `</buckets/o/keys/x>; riaktag="t"`},
		{"legacy", "/riak/fam/k", `</riak/fam>; rel="up"`, `</riak/o/x>; riaktag="t"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodGet, tc.path, "").expect(t, http.StatusOK)
			if r.body != "v" {
				t.Errorf("body %q", r.body)
			}
			link := r.header.Get("Link")
			if !strings.Contains(link, tc.up) || !strings.Contains(link, tc.link) {
				t.Errorf("Link %q, want %q and %q", link, tc.up, tc.link)
			}
		})
	}
}

func decodeVClock(t testing.TB, h string) kv.VClock {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("X-Riak-Vclock %q: %v", h, err)
	}
	vc, err := kv.DecodeVClock(raw)
	if err != nil {
		t.Fatalf("X-Riak-Vclock %q: %v", h, err)
	}
	return vc
}

// part is one parsed multipart part.
type part struct {
	header map[string][]string
	body   string
}

func parseMultipart(t testing.TB, r resp) []part {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: not multipart/mixed with a boundary", r.header.Get("Content-Type"))
	}
	mr := multipart.NewReader(strings.NewReader(r.body), params["boundary"])
	var out []part
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("multipart part: %v", err)
		}
		out = append(out, part{header: p.Header, body: string(b)})
	}
}

// makeSiblings writes two blind values to a key of an allow_mult bucket.
func makeSiblings(e *env, path string, values ...string) {
	e.t.Helper()
	for _, v := range values {
		e.clock.Advance(time.Second)
		e.put(path, v, "X-Riak-Meta-Which: "+v)
	}
}

func TestSiblings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	const path = "/types/sibs/buckets/b/keys/s"
	makeSiblings(e, path, "one", "two")

	text := e.do(http.MethodGet, path, "").expect(t, http.StatusMultipleChoices)
	lines := strings.Split(strings.TrimSuffix(text.body, "\n"), "\n")
	if len(lines) != 3 || lines[0] != "Siblings:" {
		t.Fatalf("sibling list %q", text.body)
	}
	if ct := text.header.Get("Content-Type"); ct != "text/plain" {
		t.Errorf("Content-Type %q", ct)
	}
	if text.header.Get("X-Riak-Vclock") == "" || text.header.Get("ETag") == "" || text.header.Get("Last-Modified") != t0.Add(2*time.Second).Format(http.TimeFormat) {
		t.Errorf("300 headers %v", text.header)
	}
	vtags := lines[1:]

	t.Run("multipart", func(t *testing.T) {
		r := e.do(http.MethodGet, path, "", "Accept: multipart/mixed").expect(t, http.StatusMultipleChoices)
		parts := parseMultipart(t, r)
		if len(parts) != 2 {
			t.Fatalf("%d parts, want 2", len(parts))
		}
		for i, p := range parts {
			want := []string{"one", "two"}[i]
			h := http.Header(p.header)
			if p.body != want || h.Get("Content-Type") != "text/plain" || h.Get("X-Riak-Meta-Which") != want {
				t.Errorf("part %d: %q %v", i, p.body, p.header)
			}
			if h.Get("Etag") != `"`+vtags[i]+`"` {
				t.Errorf("part %d Etag %q, want vtag %q", i, h.Get("Etag"), vtags[i])
			}
			if h.Get("Last-Modified") == "" || !strings.Contains(h.Get("Link"), `rel="up"`) {
				t.Errorf("part %d headers %v", i, p.header)
			}
		}
	})

	t.Run("vtag selects", func(t *testing.T) {
		for i, vt := range vtags {
			r := e.do(http.MethodGet, path+"?vtag="+vt, "").expect(t, http.StatusOK)
			if want := []string{"one", "two"}[i]; r.body != want || r.header.Get("ETag") != `"`+vt+`"` {
				t.Errorf("vtag %s: %q %q", vt, r.body, r.header.Get("ETag"))
			}
		}
		e.do(http.MethodGet, path+"?vtag=nope", "").expect(t, http.StatusNotFound)
	})

	t.Run("not acceptable", func(t *testing.T) {
		e.do(http.MethodGet, path, "", "Accept: application/json").expect(t, http.StatusNotAcceptable)
		e.do(http.MethodGet, path, "", "Accept: text/*;q=0.5, multipart/mixed").expect(t, http.StatusMultipleChoices)
	})

	t.Run("returnbody shows siblings", func(t *testing.T) {
		e.clock.Advance(time.Second)
		r := e.do(http.MethodPut, path+"?returnbody=true", "three", "Content-Type: text/plain", "Accept: multipart/mixed").
			expect(t, http.StatusMultipleChoices)
		if n := len(parseMultipart(t, r)); n != 3 {
			t.Errorf("%d parts, want 3", n)
		}
	})

	t.Run("vclock resolves", func(t *testing.T) {
		r := e.do(http.MethodGet, path, "").expect(t, http.StatusMultipleChoices)
		e.put(path, "merged", "X-Riak-Vclock: "+r.header.Get("X-Riak-Vclock"))
		got := e.do(http.MethodGet, path, "").expect(t, http.StatusOK)
		if got.body != "merged" {
			t.Errorf("body %q", got.body)
		}
	})
}

func TestTombstoneSibling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	const path = "/types/sibs/buckets/b/keys/ts"
	first := e.put(path, "a1")
	e.clock.Advance(time.Second)
	e.put(path, "a2")
	// A delete with the first write's clock is concurrent with the second.
	e.do(http.MethodDelete, path, "", "X-Riak-Vclock: "+first.header.Get("X-Riak-Vclock")).expect(t, http.StatusNoContent)
	r := e.do(http.MethodGet, path, "", "Accept: multipart/mixed").expect(t, http.StatusMultipleChoices)
	deleted := 0
	for _, p := range parseMultipart(t, r) {
		if http.Header(p.header).Get("X-Riak-Deleted") == "true" {
			deleted++
		}
	}
	if deleted != 1 {
		t.Errorf("%d tombstone parts, want 1", deleted)
	}
}

func TestReturnBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.do(http.MethodPut, "/buckets/rb/keys/k?returnbody=true", "body", "Content-Type: application/json", "X-Riak-Meta-A: 1").
		expect(t, http.StatusOK)
	if r.body != "body" || r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Riak-Meta-A") != "1" ||
		r.header.Get("ETag") == "" || r.header.Get("X-Riak-Vclock") == "" {
		t.Errorf("returnbody response %d %q %v", r.status, r.body, r.header)
	}
	plain := e.do(http.MethodPut, "/buckets/rb/keys/k", "again", "Content-Type: text/plain").expect(t, http.StatusNoContent)
	if plain.body != "" || plain.header.Get("X-Riak-Vclock") == "" {
		t.Errorf("204 response %q %v", plain.body, plain.header)
	}
	e.do(http.MethodPost, "/buckets/rb/keys/k", "posted", "Content-Type: text/plain").expect(t, http.StatusNoContent)
	if got := e.do(http.MethodGet, "/buckets/rb/keys/k", "").expect(t, http.StatusOK); got.body != "posted" {
		t.Errorf("POST with a key did not store: %q", got.body)
	}
}

func TestGeneratedKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	cases := []struct {
		name, path, prefix string
		returnBody         bool
	}{
		{"typed", "/types/sibs/buckets/g/keys", "/types/sibs/buckets/g/keys/", false},
		{"buckets", "/buckets/g/keys", "/buckets/g/keys/", false},
		{"legacy", "/riak/g", "/riak/g/", false},
		{"returnbody", "/buckets/g/keys?returnbody=true", "/buckets/g/keys/", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, tc.path, "gen-"+tc.name, "Content-Type: text/plain").expect(t, http.StatusCreated)
			loc := r.header.Get("Location")
			if !strings.HasPrefix(loc, tc.prefix) || len(loc) == len(tc.prefix) {
				t.Fatalf("Location %q, want %q + key", loc, tc.prefix)
			}
			if tc.returnBody != (r.body == "gen-"+tc.name) {
				t.Errorf("body %q with returnbody=%v", r.body, tc.returnBody)
			}
			if got := e.do(http.MethodGet, loc, "").expect(t, http.StatusOK); got.body != "gen-"+tc.name {
				t.Errorf("GET %s: %q", loc, got.body)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	const path = "/buckets/d/keys/k"
	e.put(path, "v")
	e.do(http.MethodDelete, path, "").expect(t, http.StatusNoContent)

	for _, q := range []string{"", "?deletedvclock=true"} {
		r := e.do(http.MethodGet, path+q, "").expect(t, http.StatusNotFound)
		if r.body != "not found\n" || r.header.Get("X-Riak-Deleted") != "true" {
			t.Errorf("GET%s: %q %v", q, r.body, r.header)
		}
		decodeVClock(t, r.header.Get("X-Riak-Vclock"))
	}
	tomb := e.do(http.MethodDelete, path, "").expect(t, http.StatusNotFound)
	if tomb.header.Get("X-Riak-Vclock") == "" {
		t.Errorf("DELETE of a tombstone: no vclock")
	}
	missing := e.do(http.MethodDelete, "/buckets/d/keys/never", "").expect(t, http.StatusNotFound)
	if missing.header.Get("X-Riak-Vclock") != "" || missing.header.Get("X-Riak-Deleted") != "" {
		t.Errorf("missing key has tombstone headers: %v", missing.header)
	}
	e.do(http.MethodGet, "/buckets/d/keys/never", "").expect(t, http.StatusNotFound)

	// Writing over the tombstone with its clock.
	e.put(path, "back", "X-Riak-Vclock: "+tomb.header.Get("X-Riak-Vclock"))
	if got := e.do(http.MethodGet, path, "").expect(t, http.StatusOK); got.body != "back" {
		t.Errorf("body %q", got.body)
	}
	// Quorum parameters on delete.
	e.do(http.MethodDelete, path+"?rw=all&w=quorum&pw=1&dw=one&r=1", "").expect(t, http.StatusNoContent)
}

func TestConditionalRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	before := t0.Add(-time.Hour).Format(http.TimeFormat)
	after := t0.Add(time.Hour).Format(http.TimeFormat)
	at := t0.Format(http.TimeFormat)
	cases := []struct {
		name    string
		method  string
		missing bool // the key does not exist
		headers func(etag string) []string
		want    int
	}{
		{"GET If-None-Match etag", "GET", false, func(et string) []string { return []string{"If-None-Match: " + et} }, 304},
		{"GET If-None-Match weak etag", "GET", false, func(et string) []string { return []string{"If-None-Match: W/" + et} }, 304},
		{"GET If-None-Match other", "GET", false, func(string) []string { return []string{`If-None-Match: "other"`} }, 200},
		{"GET If-None-Match star", "GET", false, func(string) []string { return []string{"If-None-Match: *"} }, 304},
		{"GET If-Modified-Since same", "GET", false, func(string) []string { return []string{"If-Modified-Since: " + at} }, 304},
		{"GET If-Modified-Since before", "GET", false, func(string) []string { return []string{"If-Modified-Since: " + before} }, 200},
		{"GET If-Match other", "GET", false, func(string) []string { return []string{`If-Match: "other"`} }, 412},
		{"GET If-Match etag", "GET", false, func(et string) []string { return []string{"If-Match: " + et} }, 200},
		{"GET If-Unmodified-Since before", "GET", false, func(string) []string { return []string{"If-Unmodified-Since: " + before} }, 412},
		{"HEAD If-None-Match etag", "HEAD", false, func(et string) []string { return []string{"If-None-Match: " + et} }, 304},
		{"PUT If-None-Match star exists", "PUT", false, func(string) []string { return []string{"If-None-Match: *"} }, 412},
		{"PUT If-None-Match star missing", "PUT", true, func(string) []string { return []string{"If-None-Match: *"} }, 204},
		{"PUT If-None-Match etag", "PUT", false, func(et string) []string { return []string{"If-None-Match: " + et} }, 412},
		{"PUT If-Match etag", "PUT", false, func(et string) []string { return []string{"If-Match: " + et} }, 204},
		{"PUT If-Match other", "PUT", false, func(string) []string { return []string{`If-Match: "other"`} }, 412},
		{"PUT If-Match star missing", "PUT", true, func(string) []string { return []string{"If-Match: *"} }, 412},
		{"PUT If-Match star exists", "PUT", false, func(string) []string { return []string{"If-Match: *"} }, 204},
		{"PUT If-Unmodified-Since before", "PUT", false, func(string) []string { return []string{"If-Unmodified-Since: " + before} }, 412},
		{"PUT If-Unmodified-Since after", "PUT", false, func(string) []string { return []string{"If-Unmodified-Since: " + after} }, 204},
		{"PUT If-Modified-Since same", "PUT", false, func(string) []string { return []string{"If-Modified-Since: " + at} }, 412},
		{"DELETE If-Match other", "DELETE", false, func(string) []string { return []string{`If-Match: "other"`} }, 412},
		{"DELETE If-Match etag", "DELETE", false, func(et string) []string { return []string{"If-Match: " + et} }, 204},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/types/sibs/buckets/cond/keys/k" + string(rune('a'+i))
			etag := `"none"`
			if !tc.missing {
				e.put(path, "v")
				etag = e.do(http.MethodGet, path, "").expect(t, 200).header.Get("ETag")
			}
			hs, body := tc.headers(etag), ""
			if tc.method == "PUT" {
				hs, body = append(hs, "Content-Type: text/plain"), "new"
			}
			r := e.do(tc.method, path, body, hs...)
			r.expect(t, tc.want)
			if r.status == http.StatusNotModified && r.header.Get("ETag") != etag {
				t.Errorf("304 ETag %q, want %q", r.header.Get("ETag"), etag)
			}
		})
	}

	t.Run("If-Match write replaces the version it checked", func(t *testing.T) {
		// A blind write on an allow_mult bucket would add a sibling; the
		// matched etag makes it a write over the checked version.
		const path = "/types/sibs/buckets/cond/keys/ifmatch"
		e.put(path, "v1")
		etag := e.do(http.MethodGet, path, "").header.Get("ETag")
		e.put(path, "v2", "If-Match: "+etag)
		if got := e.do(http.MethodGet, path, "").expect(t, http.StatusOK); got.body != "v2" {
			t.Errorf("body %q", got.body)
		}
		e.do(http.MethodPut, path, "v3", "Content-Type: text/plain", "If-Match: "+etag).expect(t, http.StatusPreconditionFailed)
	})

	t.Run("siblings have a clock etag", func(t *testing.T) {
		const path = "/types/sibs/buckets/cond/keys/sibs"
		makeSiblings(e, path, "x", "y")
		r := e.do(http.MethodGet, path, "").expect(t, http.StatusMultipleChoices)
		e.do(http.MethodGet, path, "", "If-None-Match: "+r.header.Get("ETag")).expect(t, http.StatusNotModified)
	})
}

func TestQuorumParams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.put("/buckets/q/keys/k", "v")
	cases := []struct {
		name, method, query string
		want                int
	}{
		{"get symbolic", "GET", "?r=quorum&pr=one&basic_quorum=true&notfound_ok=false", 200},
		{"get numeric", "GET", "?r=2&pr=0&timeout=5000", 200},
		{"get default", "GET", "?r=default&notfound_ok=default", 200},
		{"put all", "PUT", "?w=all&dw=all&pw=all", 204},
		{"r beyond n_val", "GET", "?r=4", 503},
		{"w beyond n_val", "PUT", "?w=5", 503},
		{"bad r", "GET", "?r=most", 400},
		{"bad w", "PUT", "?w=-1", 400},
		{"bad basic_quorum", "GET", "?basic_quorum=maybe", 400},
		{"bad timeout", "GET", "?timeout=soon", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var hs []string
			body := ""
			if tc.method == "PUT" {
				hs, body = []string{"Content-Type: text/plain"}, "v"
			}
			e.do(tc.method, "/buckets/q/keys/k"+tc.query, body, hs...).expect(t, tc.want)
		})
	}
}
