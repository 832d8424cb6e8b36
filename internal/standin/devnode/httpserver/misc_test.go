package httpserver

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/rmf-go/rmf/internal/standin/devnode/service"
)

func TestPingStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	r := e.do(http.MethodGet, "/ping", "").expect(t, http.StatusOK)
	if r.body != "OK" {
		t.Errorf("ping body %q", r.body)
	}
	e.do(http.MethodHead, "/ping", "").expect(t, http.StatusOK)
	r = e.do(http.MethodGet, "/stats", "").expect(t, http.StatusOK)
	var stats map[string]any
	if err := json.Unmarshal([]byte(r.body), &stats); err != nil {
		t.Fatalf("stats %q: %v", r.body, err)
	}
	if stats["nodename"] != nodeName || stats["riak_kv_version"] != service.Version {
		t.Errorf("stats %v", stats)
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", r.header.Get("Content-Type"))
	}
}

func TestPreflist(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	for _, path := range []string{"/types/sibs/buckets/b/keys/k/preflist", "/buckets/b/keys/k/preflist"} {
		t.Run(path, func(t *testing.T) {
			r := e.do(http.MethodGet, path, "").expect(t, http.StatusOK)
			var got struct {
				Preflist []struct {
					Partition *int64 `json:"partition"`
					Node      string `json:"node"`
					Primary   bool   `json:"primary"`
				} `json:"preflist"`
			}
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatalf("%q: %v", r.body, err)
			}
			if len(got.Preflist) != 1 || got.Preflist[0].Partition == nil || got.Preflist[0].Node != nodeName || !got.Preflist[0].Primary {
				t.Errorf("preflist %s", r.body)
			}
		})
	}
	e.do(http.MethodGet, "/types/nope/buckets/b/keys/k/preflist", "").expect(t, http.StatusNotFound)
}

func TestUnsupported(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	cases := []struct{ name, method, path string }{
		{"mapred", "POST", "/mapred"},
		{"search query", "GET", "/search/query/idx?q=a:b"},
		{"search index list", "GET", "/search/index"},
		{"search index", "PUT", "/search/index/idx"},
		{"search schema", "GET", "/search/schema/s"},
		{"ts query", "POST", "/ts/v1/query"},
		{"ts keys", "GET", "/ts/v1/tables/t/keys/a/1"},
		{"ts list keys", "GET", "/ts/v1/tables/t/list_keys"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, "").expect(t, http.StatusNotImplemented)
			if !strings.Contains(r.body, "not supported by devnode (RMF-Go development node; not Riak)") {
				t.Errorf("body %q", r.body)
			}
		})
	}
}

func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{MaxBodyBytes: 1024})
	e.put("/buckets/m/keys/k", "v")
	garbageClock := base64.StdEncoding.EncodeToString([]byte{9, 9, 9})
	cases := []struct {
		name, method, path, body string
		headers                  []string
		want                     int
		allow                    string // expected Allow header for 405
		bodyHas                  string
	}{
		{name: "missing content type", method: "PUT", path: "/buckets/m/keys/k", body: "v", want: 400, bodyHas: "Missing Content-Type request header"},
		{name: "invalid media type", method: "PUT", path: "/buckets/m/keys/k", body: "v", headers: []string{"Content-Type: plain"}, want: 415},
		{name: "vclock not base64", method: "PUT", path: "/buckets/m/keys/k", body: "v", headers: []string{"Content-Type: text/plain", "X-Riak-Vclock: !!!"}, want: 400},
		{name: "vclock garbage", method: "PUT", path: "/buckets/m/keys/k", body: "v", headers: []string{"Content-Type: text/plain", "X-Riak-Vclock: " + garbageClock}, want: 400},
		{name: "vclock garbage on delete", method: "DELETE", path: "/buckets/m/keys/k", headers: []string{"X-Riak-Vclock: " + garbageClock}, want: 400},
		{name: "int index not a number", method: "PUT", path: "/buckets/m/keys/k", body: "v", headers: []string{"Content-Type: text/plain", "X-Riak-Index-Age_int: abc"}, want: 400},
		{name: "index without kind", method: "PUT", path: "/buckets/m/keys/k", body: "v", headers: []string{"Content-Type: text/plain", "X-Riak-Index-Age: 1"}, want: 400},
		{name: "bad link", method: "PUT", path: "/buckets/m/keys/k", body: "v", headers: []string{"Content-Type: text/plain", "Link: <nowhere>"}, want: 400},
		{name: "link without tag", method: "PUT", path: "/buckets/m/keys/k", body: "v", headers: []string{"Content-Type: text/plain", "Link: </buckets/a/keys/b>"}, want: 400},
		{name: "typed link", method: "PUT", path: "/buckets/m/keys/k", body: "v", headers: []string{"Content-Type: text/plain", `Link: </types/t/buckets/a/keys/b>; riaktag="x"`}, want: 400},
		{name: "oversized body", method: "PUT", path: "/buckets/m/keys/k", body: strings.Repeat("x", 4096), headers: []string{"Content-Type: text/plain"}, want: 413},
		{name: "oversized props", method: "PUT", path: "/buckets/m/props", body: `{"props":{"x":"` + strings.Repeat("x", 2048) + `"}}`, headers: []string{"Content-Type: application/json"}, want: 413},
		{name: "key too long", method: "PUT", path: "/buckets/m/keys/" + strings.Repeat("k", 5000), body: "v", headers: []string{"Content-Type: text/plain"}, want: 400},
		{name: "unknown resource", method: "GET", path: "/nothing/here", want: 404},
		{name: "empty segment", method: "GET", path: "/buckets//keys/k", want: 404},
		{name: "bucket without resource", method: "GET", path: "/buckets/m", want: 404},
		{name: "unknown type", method: "GET", path: "/types/nope/buckets/m/keys/k", want: 404},
		{name: "unknown type put", method: "PUT", path: "/types/nope/buckets/m/keys/k", body: "v", headers: []string{"Content-Type: text/plain"}, want: 404},
		{name: "object PATCH", method: "PATCH", path: "/buckets/m/keys/k", want: 405, allow: "GET, HEAD, POST, PUT, DELETE"},
		{name: "keys DELETE", method: "DELETE", path: "/buckets/m/keys", want: 405, allow: "GET, HEAD, POST"},
		{name: "ping POST", method: "POST", path: "/ping", want: 405, allow: "GET, HEAD"},
		{name: "stats PUT", method: "PUT", path: "/stats", want: 405, allow: "GET, HEAD"},
		{name: "buckets POST", method: "POST", path: "/buckets", want: 405, allow: "GET, HEAD"},
		{name: "not acceptable", method: "GET", path: "/buckets/m/keys/k", headers: []string{"Accept: application/json"}, want: 406},
		{name: "acceptable wildcard", method: "GET", path: "/buckets/m/keys/k", headers: []string{"Accept: application/json, text/*;q=0.1"}, want: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body, tc.headers...).expect(t, tc.want)
			if tc.allow != "" && r.header.Get("Allow") != tc.allow {
				t.Errorf("Allow %q, want %q", r.header.Get("Allow"), tc.allow)
			}
			if tc.bodyHas != "" && !strings.Contains(r.body, tc.bodyHas) {
				t.Errorf("body %q lacks %q", r.body, tc.bodyHas)
			}
			if r.status >= 400 && (strings.Count(r.body, "\n") > 1 || len(r.body) > 300) {
				t.Errorf("error body is not a short line: %q", r.body)
			}
		})
	}
}

func TestHeaderSafety(t *testing.T) {
	t.Parallel()
	// Metadata written over PB can hold what no HTTP header may; such
	// entries are left out rather than breaking the response.
	e := newEnv(t, Options{})
	meta := [][2]string{{"ok", "fine"}, {"bad key", "x"}, {"crlf", "a\r\nInjected: 1"}}
	if _, err := e.svc.Put(t.Context(), kvPut("b", "k", "v", meta), service.Quorum{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		req := kvPut("b", "s", "v", meta)
		req.Type = "sibs"
		if _, err := e.svc.Put(t.Context(), req, service.Quorum{}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(h http.Header) {
		t.Helper()
		if h.Get("X-Riak-Meta-Ok") != "fine" || h.Get("Injected") != "" || h.Get("X-Riak-Meta-Crlf") != "" {
			t.Errorf("headers %v", h)
		}
	}
	check(e.do(http.MethodGet, "/buckets/b/keys/k", "").expect(t, http.StatusOK).header)
	r := e.do(http.MethodGet, "/types/sibs/buckets/b/keys/s", "", "Accept: multipart/mixed").expect(t, http.StatusMultipleChoices)
	parts := parseMultipart(t, r)
	if len(parts) != 2 {
		t.Fatalf("%d parts", len(parts))
	}
	for _, p := range parts {
		check(p.header)
	}
}
