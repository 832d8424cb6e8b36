package httpapi

import (
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rmf-go/rmf/internal/devnode/kv"
	"github.com/rmf-go/rmf/internal/devnode/service"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	eng, err := kv.Open(kv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	if err := eng.CreateBucketType("mult", kv.PropsUpdate{AllowMult: kv.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if err := eng.ActivateBucketType("mult"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(service.NewLocal(eng, "dev1@127.0.0.1"), nil))
	t.Cleanup(srv.Close)
	return srv
}

type call struct {
	method, path, body string
	header             map[string]string
}

func do(t *testing.T, srv *httptest.Server, c call) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestStatusCodes(t *testing.T) {
	srv := newServer(t)
	do(t, srv, call{method: "PUT", path: "/types/default/buckets/b/keys/exists", body: "x", header: map[string]string{"Content-Type": "text/plain"}})
	tests := []struct {
		name       string
		call       call
		wantStatus int
		wantBody   string
	}{
		{"ping", call{method: "GET", path: "/ping"}, 200, "OK"},
		{"stats says devnode", call{method: "GET", path: "/stats"}, 200, "not Riak"},
		{"missing key", call{method: "GET", path: "/buckets/b/keys/nope"}, 404, "not found"},
		{"unknown path", call{method: "GET", path: "/nothing/here"}, 404, ""},
		{"put without content type", call{method: "PUT", path: "/buckets/b/keys/k", body: "x"}, 400, "Missing Content-Type"},
		{"bad vclock header", call{method: "PUT", path: "/buckets/b/keys/k", body: "x", header: map[string]string{"Content-Type": "text/plain", "X-Riak-Vclock": "%%%"}}, 400, "X-Riak-Vclock"},
		{"bad int index", call{method: "PUT", path: "/buckets/b/keys/k", body: "x", header: map[string]string{"Content-Type": "text/plain", "X-Riak-Index-age_int": "old"}}, 400, ""},
		{"if-none-match on existing key", call{method: "PUT", path: "/types/default/buckets/b/keys/exists", body: "y", header: map[string]string{"Content-Type": "text/plain", "If-None-Match": "*"}}, 412, ""},
		{"keys without parameter", call{method: "GET", path: "/buckets/b/keys"}, 400, "keys must be"},
		{"bad props json", call{method: "PUT", path: "/buckets/b/props", body: "{", header: map[string]string{"Content-Type": "application/json"}}, 400, ""},
		{"bad quorum", call{method: "GET", path: "/buckets/b/keys/exists?r=lots"}, 400, "r="},
		{"unknown type", call{method: "GET", path: "/types/nope/buckets/b/keys/k"}, 404, ""},
		{"mapreduce unsupported", call{method: "POST", path: "/mapred", body: "{}"}, 501, "not supported by devnode"},
		{"search unsupported", call{method: "GET", path: "/search/query/idx?q=a"}, 501, "not supported by devnode"},
		{"method not allowed", call{method: "PATCH", path: "/buckets/b/keys/k"}, 405, ""},
		{"delete missing", call{method: "DELETE", path: "/buckets/b/keys/nope"}, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, srv, tc.call)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("%s %s = %d %q, want %d containing %q", tc.call.method, tc.call.path, resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
}

func TestObjectRoundTripWithMetadata(t *testing.T) {
	srv := newServer(t)
	resp, _ := do(t, srv, call{method: "PUT", path: "/types/default/buckets/users/keys/alice?returnbody=true", body: `{"n":1}`, header: map[string]string{
		"Content-Type": "application/json; charset=utf-8", "X-Riak-Meta-Team": "blue", "X-Riak-Index-Age_int": "42",
		"X-Riak-Index-Email_bin": "a@x.org", "Link": `</buckets/users/keys/bob>; riaktag="friend"`,
	}})
	if resp.StatusCode != 200 {
		t.Fatalf("put returnbody: %d", resp.StatusCode)
	}
	resp, body := do(t, srv, call{method: "GET", path: "/buckets/users/keys/alice"})
	h := resp.Header
	checks := map[string]string{
		"Content-Type": "application/json; charset=utf-8", "X-Riak-Meta-Team": "blue",
		"X-Riak-Index-Age_int": "42", "X-Riak-Index-Email_bin": "a@x.org",
	}
	for k, want := range checks {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if body != `{"n":1}` || h.Get("X-Riak-Vclock") == "" || h.Get("ETag") == "" || h.Get("Last-Modified") == "" {
		t.Errorf("GET body %q vclock %q etag %q lastmod %q", body, h.Get("X-Riak-Vclock"), h.Get("ETag"), h.Get("Last-Modified"))
	}
	if !strings.Contains(h.Get("Link"), `</buckets/users/keys/bob>; riaktag="friend"`) {
		t.Errorf("Link = %q", h.Get("Link"))
	}
	// Conditional GET.
	resp, _ = do(t, srv, call{method: "GET", path: "/buckets/users/keys/alice", header: map[string]string{"If-None-Match": h.Get("ETag")}})
	if resp.StatusCode != 304 {
		t.Errorf("If-None-Match with the current etag: %d, want 304", resp.StatusCode)
	}
	// 2i finds it.
	_, body = do(t, srv, call{method: "GET", path: "/buckets/users/index/age_int/40/50?return_terms=true"})
	if !strings.Contains(body, `{"42":"alice"}`) {
		t.Errorf("2i range with terms: %s", body)
	}
	_, body = do(t, srv, call{method: "GET", path: "/buckets/users/index/email_bin/a@x.org"})
	if !strings.Contains(body, `"keys":["alice"]`) {
		t.Errorf("2i exact: %s", body)
	}
}

func TestSiblingsAndResolution(t *testing.T) {
	srv := newServer(t)
	for _, v := range []string{"one", "two"} {
		resp, _ := do(t, srv, call{method: "PUT", path: "/types/mult/buckets/b/keys/k", body: v, header: map[string]string{"Content-Type": "text/plain"}})
		if resp.StatusCode != 204 {
			t.Fatalf("blind put: %d", resp.StatusCode)
		}
	}
	resp, body := do(t, srv, call{method: "GET", path: "/types/mult/buckets/b/keys/k"})
	if resp.StatusCode != 300 || !strings.HasPrefix(body, "Siblings:\n") || strings.Count(body, "\n") != 3 {
		t.Fatalf("GET with siblings: %d %q, want 300 with two vtags", resp.StatusCode, body)
	}
	vtag := strings.Split(body, "\n")[1]
	resp, body = do(t, srv, call{method: "GET", path: "/types/mult/buckets/b/keys/k?vtag=" + vtag})
	if resp.StatusCode != 200 || (body != "one" && body != "two") {
		t.Fatalf("GET ?vtag: %d %q", resp.StatusCode, body)
	}
	resp, body = do(t, srv, call{method: "GET", path: "/types/mult/buckets/b/keys/k", header: map[string]string{"Accept": "multipart/mixed"}})
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != 300 || err != nil {
		t.Fatalf("multipart GET: %d %v", resp.StatusCode, err)
	}
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	var values []string
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		values = append(values, string(b))
	}
	if len(values) != 2 {
		t.Fatalf("multipart siblings = %v, want 2 parts", values)
	}
	// Writing with the clock resolves.
	vc := resp.Header.Get("X-Riak-Vclock")
	resp, _ = do(t, srv, call{method: "PUT", path: "/types/mult/buckets/b/keys/k", body: "merged", header: map[string]string{"Content-Type": "text/plain", "X-Riak-Vclock": vc}})
	if resp.StatusCode != 204 {
		t.Fatalf("resolving put: %d", resp.StatusCode)
	}
	if resp, body = do(t, srv, call{method: "GET", path: "/types/mult/buckets/b/keys/k"}); resp.StatusCode != 200 || body != "merged" {
		t.Fatalf("after resolution: %d %q", resp.StatusCode, body)
	}
}

func TestGeneratedKeyDeleteAndListings(t *testing.T) {
	srv := newServer(t)
	resp, _ := do(t, srv, call{method: "POST", path: "/types/default/buckets/gen/keys", body: "v", header: map[string]string{"Content-Type": "text/plain"}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 201 || !strings.HasPrefix(loc, "/types/default/buckets/gen/keys/") {
		t.Fatalf("POST without key: %d Location %q", resp.StatusCode, loc)
	}
	if resp, body := do(t, srv, call{method: "GET", path: loc}); resp.StatusCode != 200 || body != "v" {
		t.Fatalf("GET Location: %d %q", resp.StatusCode, body)
	}
	var keys struct{ Keys []string }
	_, body := do(t, srv, call{method: "GET", path: "/buckets/gen/keys?keys=true"})
	if err := json.Unmarshal([]byte(body), &keys); err != nil || len(keys.Keys) != 1 {
		t.Fatalf("keys=true: %s", body)
	}
	_, body = do(t, srv, call{method: "GET", path: "/buckets/gen/keys?keys=stream"})
	if !strings.Contains(body, keys.Keys[0]) {
		t.Fatalf("keys=stream: %s", body)
	}
	_, body = do(t, srv, call{method: "GET", path: "/buckets?buckets=true"})
	if !strings.Contains(body, `"gen"`) {
		t.Fatalf("buckets=true: %s", body)
	}
	if resp, _ := do(t, srv, call{method: "DELETE", path: loc}); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	resp, _ = do(t, srv, call{method: "GET", path: loc + "?deletedvclock=true"})
	if resp.StatusCode != 404 || resp.Header.Get("X-Riak-Vclock") == "" {
		t.Fatalf("GET deleted with deletedvclock: %d vclock %q, want 404 with a clock", resp.StatusCode, resp.Header.Get("X-Riak-Vclock"))
	}
}

func TestProps(t *testing.T) {
	srv := newServer(t)
	if resp, _ := do(t, srv, call{method: "PUT", path: "/buckets/b/props", body: `{"props":{"allow_mult":true,"n_val":2}}`, header: map[string]string{"Content-Type": "application/json"}}); resp.StatusCode != 204 {
		t.Fatalf("PUT props: %d", resp.StatusCode)
	}
	_, body := do(t, srv, call{method: "GET", path: "/types/default/buckets/b/props"})
	if !strings.Contains(body, `"allow_mult":true`) || !strings.Contains(body, `"n_val":2`) {
		t.Fatalf("GET props: %s", body)
	}
	if resp, _ := do(t, srv, call{method: "DELETE", path: "/buckets/b/props"}); resp.StatusCode != 204 {
		t.Fatalf("DELETE props: %d", resp.StatusCode)
	}
	if _, body = do(t, srv, call{method: "GET", path: "/buckets/b/props"}); !strings.Contains(body, `"allow_mult":false`) {
		t.Fatalf("props after reset: %s", body)
	}
	if _, body = do(t, srv, call{method: "GET", path: "/types/mult/props"}); !strings.Contains(body, `"allow_mult":true`) {
		t.Fatalf("type props: %s", body)
	}
	if _, body = do(t, srv, call{method: "GET", path: "/buckets/b/keys/k/preflist"}); !strings.Contains(body, `"node":"dev1@127.0.0.1"`) {
		t.Fatalf("preflist: %s", body)
	}
}

func TestIndexPagination(t *testing.T) {
	srv := newServer(t)
	for i := 0; i < 25; i++ {
		do(t, srv, call{method: "PUT", path: "/buckets/p/keys/k" + string(rune('a'+i)), body: "x", header: map[string]string{"Content-Type": "text/plain", "X-Riak-Index-n_int": "7"}})
	}
	seen := map[string]bool{}
	cont := ""
	for page := 0; page < 10; page++ {
		path := "/buckets/p/index/n_int/7?max_results=10"
		if cont != "" {
			path += "&continuation=" + cont
		}
		_, body := do(t, srv, call{method: "GET", path: path})
		var out struct {
			Keys         []string
			Continuation string
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatalf("page %d: %s", page, body)
		}
		for _, k := range out.Keys {
			if seen[k] {
				t.Fatalf("key %s on two pages", k)
			}
			seen[k] = true
		}
		if cont = out.Continuation; cont == "" {
			break
		}
	}
	if len(seen) != 25 {
		t.Fatalf("pagination returned %d keys, want 25", len(seen))
	}
}

func FuzzHTTPRequest(f *testing.F) {
	f.Add("GET", "/buckets/b/keys/k", "", "text/plain")
	f.Add("PUT", "/types/default/buckets/b/keys/k?returnbody=true", "v", "text/plain")
	f.Add("GET", "/buckets/b/index/x_int/1/9?max_results=2&continuation=zz", "", "")
	f.Add("PUT", "/buckets/b/props", `{"props":{"n_val":"x"}}`, "application/json")
	f.Add("POST", "/riak/b", "", "")
	eng, err := kv.Open(kv.Options{})
	if err != nil {
		f.Fatal(err)
	}
	h := New(service.NewLocal(eng, "fuzz@127.0.0.1"), nil)
	f.Fuzz(func(t *testing.T, method, path, body, ctype string) {
		req, err := http.NewRequest(method, "http://x"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code < 200 || rec.Code > 599 || rec.Code == 500 {
			t.Fatalf("%s %q -> %d %q", method, path, rec.Code, rec.Body.String())
		}
	})
}
