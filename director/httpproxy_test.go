package director

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

// firstPolicy picks the first eligible node in ID order, so tests know
// which node a request tries first.
type firstPolicy struct{}

func (firstPolicy) Select(nodes []*balancer.Node, skip func(*balancer.Node) bool) *balancer.Node {
	for _, n := range nodes {
		if n.Available() && (skip == nil || !skip(n)) {
			return n
		}
	}
	return nil
}

// startHTTP serves p.HTTPHandler on a free loopback port until the test
// ends (before the proxy's own cleanup, registered earlier, runs).
func startHTTP(t *testing.T, p *Proxy) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p.HTTPHandler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		<-done
	})
	return "http://" + ln.Addr().String()
}

// httpClient is a client without transparent gzip whose connections close
// when the test ends.
func httpClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type httpResult struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, url string, body io.Reader, hdr ...string) httpResult {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return httpResult{res.StatusCode, res.Header, string(b)}
}

func wantStatus(t *testing.T, what string, r httpResult, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d (body %q)", what, r.status, want, r.body)
	}
}

// startHTTPCluster starts n devnodes, a proxy over them and its HTTP
// listener.
func startHTTPCluster(t *testing.T, n int, cfg Config) (*Proxy, string, *http.Client) {
	t.Helper()
	nodes := startCluster(t, n)
	p, _ := startProxy(t, cfg, nodes)
	return p, startHTTP(t, p), httpClient(t)
}

func TestHTTPObjectRoundTrip(t *testing.T) {
	checkGoroutines(t)
	p, url, c := startHTTPCluster(t, 2, Config{})
	obj := url + "/buckets/b/keys/k1"

	r := do(t, c, "PUT", obj, strings.NewReader("v1"), "Content-Type", "text/plain",
		"X-Riak-Meta-Color", "blue", "X-Riak-Index-Email_bin", "a@x", "Link", `</buckets/b/keys/k2>; riaktag="friend"`)
	wantStatus(t, "put", r, http.StatusNoContent)

	r = do(t, c, "GET", obj, nil)
	wantStatus(t, "get", r, http.StatusOK)
	if r.body != "v1" || r.header.Get("Content-Type") != "text/plain" {
		t.Fatalf("get: %q %q", r.body, r.header.Get("Content-Type"))
	}
	vclock, etag := r.header.Get("X-Riak-Vclock"), r.header.Get("ETag")
	if vclock == "" || etag == "" || r.header.Get("Last-Modified") == "" {
		t.Fatalf("get: missing vclock/etag/last-modified: %v", r.header)
	}
	if r.header.Get("X-Riak-Meta-Color") != "blue" || r.header.Get("X-Riak-Index-Email_bin") != "a@x" {
		t.Fatalf("get: meta/index headers lost: %v", r.header)
	}
	if !strings.Contains(r.header.Get("Link"), `riaktag="friend"`) {
		t.Fatalf("get: Link %q", r.header.Get("Link"))
	}

	// Conditional requests: 304 and 412 are relayed.
	wantStatus(t, "get if-none-match", do(t, c, "GET", obj, nil, "If-None-Match", etag), http.StatusNotModified)
	wantStatus(t, "put if-none-match *", do(t, c, "PUT", obj, strings.NewReader("x"), "Content-Type", "text/plain", "If-None-Match", "*"), http.StatusPreconditionFailed)
	wantStatus(t, "put if-match stale", do(t, c, "PUT", obj, strings.NewReader("x"), "Content-Type", "text/plain", "If-Match", `"nope"`), http.StatusPreconditionFailed)

	// An update with the clock, then returnbody.
	r = do(t, c, "PUT", obj+"?returnbody=true", strings.NewReader("v2"), "Content-Type", "text/plain", "X-Riak-Vclock", vclock)
	wantStatus(t, "put with vclock", r, http.StatusOK)
	if r.body != "v2" {
		t.Fatalf("returnbody: %q", r.body)
	}
	r = do(t, c, "HEAD", obj, nil)
	wantStatus(t, "head", r, http.StatusOK)
	if r.header.Get("Content-Length") != "2" || r.body != "" {
		t.Fatalf("head: %v %q", r.header, r.body)
	}

	r = do(t, c, "DELETE", obj, nil, "X-Riak-Vclock", r.header.Get("X-Riak-Vclock"))
	wantStatus(t, "delete", r, http.StatusNoContent)
	r = do(t, c, "GET", obj, nil)
	wantStatus(t, "get deleted", r, http.StatusNotFound)

	// POST without a key: 201 and Location.
	r = do(t, c, "POST", url+"/buckets/b/keys", strings.NewReader("gen"), "Content-Type", "text/plain")
	wantStatus(t, "post", r, http.StatusCreated)
	if !strings.HasPrefix(r.header.Get("Location"), "/buckets/b/keys/") {
		t.Fatalf("post: Location %q", r.header.Get("Location"))
	}
	wantStatus(t, "ping", do(t, c, "GET", url+"/ping", nil), http.StatusOK)

	s := p.Stats()
	if s.HTTPRequests != 11 || s.HTTPErrors != 0 || s.HTTPRetries != 0 {
		t.Errorf("stats: requests %d errors %d retries %d", s.HTTPRequests, s.HTTPErrors, s.HTTPRetries)
	}
}

func TestHTTPSiblings(t *testing.T) {
	checkGoroutines(t)
	_, url, c := startHTTPCluster(t, 2, Config{})
	wantStatus(t, "props", do(t, c, "PUT", url+"/buckets/sib/props", strings.NewReader(`{"props":{"allow_mult":true}}`), "Content-Type", "application/json"), http.StatusNoContent)
	for _, v := range []string{"a", "b"} {
		wantStatus(t, "put "+v, do(t, c, "PUT", url+"/buckets/sib/keys/k", strings.NewReader(v), "Content-Type", "text/plain"), http.StatusNoContent)
	}
	r := do(t, c, "GET", url+"/buckets/sib/keys/k", nil)
	wantStatus(t, "get siblings", r, http.StatusMultipleChoices)
	if !strings.HasPrefix(r.body, "Siblings:") {
		t.Fatalf("siblings text: %q", r.body)
	}
	r = do(t, c, "GET", url+"/buckets/sib/keys/k", nil, "Accept", "multipart/mixed")
	wantStatus(t, "get siblings multipart", r, http.StatusMultipleChoices)
	parts := multipartBodies(t, r)
	slices.Sort(parts)
	if !slices.Equal(parts, []string{"a", "b"}) {
		t.Fatalf("sibling parts %q", parts)
	}
	if r.header.Get("X-Riak-Vclock") == "" {
		t.Fatal("siblings without X-Riak-Vclock")
	}
}

func multipartBodies(t *testing.T, r httpResult) []string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", r.header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(strings.NewReader(r.body), params["boundary"])
	var out []string
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		b, _ := io.ReadAll(part)
		out = append(out, string(b))
	}
}

func TestHTTPIndexAndListings(t *testing.T) {
	checkGoroutines(t)
	_, url, c := startHTTPCluster(t, 2, Config{})
	for i := range 5 {
		wantStatus(t, "put", do(t, c, "PUT", fmt.Sprintf("%s/buckets/ix/keys/k%d", url, i), strings.NewReader("v"),
			"Content-Type", "text/plain", "X-Riak-Index-Group_bin", "g"), http.StatusNoContent)
	}
	want := []string{"k0", "k1", "k2", "k3", "k4"}

	r := do(t, c, "GET", url+"/buckets/ix/index/group_bin/g", nil)
	wantStatus(t, "2i", r, http.StatusOK)
	var res struct{ Keys []string }
	if err := json.Unmarshal([]byte(r.body), &res); err != nil {
		t.Fatalf("2i: %v (%q)", err, r.body)
	}
	slices.Sort(res.Keys)
	if !slices.Equal(res.Keys, want) {
		t.Fatalf("2i keys %q", res.Keys)
	}

	r = do(t, c, "GET", url+"/buckets/ix/index/group_bin/g?stream=true", nil)
	wantStatus(t, "2i stream", r, http.StatusOK)
	var streamed []string
	for _, part := range multipartBodies(t, r) {
		var b struct{ Keys []string }
		if err := json.Unmarshal([]byte(part), &b); err != nil {
			t.Fatalf("2i part %q: %v", part, err)
		}
		streamed = append(streamed, b.Keys...)
	}
	slices.Sort(streamed)
	if !slices.Equal(streamed, want) {
		t.Fatalf("streamed 2i keys %q", streamed)
	}

	r = do(t, c, "GET", url+"/buckets/ix/keys?keys=stream", nil)
	wantStatus(t, "keys=stream", r, http.StatusOK)
	var listed []string
	dec := json.NewDecoder(strings.NewReader(r.body))
	for dec.More() {
		var b struct{ Keys []string }
		if err := dec.Decode(&b); err != nil {
			t.Fatalf("keys=stream: %v (%q)", err, r.body)
		}
		listed = append(listed, b.Keys...)
	}
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		t.Fatalf("streamed keys %q", listed)
	}
}

// TestHTTPNodeKilledGetRetried: the node a GET tries first is stopped; the
// GET is answered by another node without a client error.
func TestHTTPNodeKilledGetRetried(t *testing.T) {
	checkGoroutines(t)
	nodes := startCluster(t, 3)
	p, _ := startProxy(t, Config{Policy: firstPolicy{}, HealthInterval: -1, Breaker: balancer.BreakerSettings{ConsecutiveFailures: 100}}, nodes)
	url, c := startHTTP(t, p), httpClient(t)
	wantStatus(t, "put", do(t, c, "PUT", url+"/buckets/b/keys/k", strings.NewReader("v"), "Content-Type", "text/plain"), http.StatusNoContent)

	first := p.Nodes()[0].ID
	for _, n := range nodes {
		if n.PBAddr() == first {
			if err := n.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 3 {
		r := do(t, c, "GET", url+"/buckets/b/keys/k", nil)
		wantStatus(t, fmt.Sprintf("get %d", i), r, http.StatusOK)
		if r.body != "v" {
			t.Fatalf("get %d: %q", i, r.body)
		}
	}
	s := p.Stats()
	if s.HTTPRetries < 3 || s.HTTPFailovers < 3 || s.HTTPErrors != 0 {
		t.Errorf("stats: retries %d failovers %d errors %d", s.HTTPRetries, s.HTTPFailovers, s.HTTPErrors)
	}
	if s.Nodes[0].Failures == 0 {
		t.Error("the stopped node's failures were not counted")
	}
}

// deadAddr is a loopback address that refuses connections.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestHTTPPutDialFailureRetried: a write goes to another node when the
// first one refuses the connection.
func TestHTTPPutDialFailureRetried(t *testing.T) {
	checkGoroutines(t)
	nodes := startCluster(t, 1)
	dead := deadAddr(t)
	specs := append([]balancer.NodeSpec{{ID: "0-dead", PBAddr: dead, HTTPAddr: dead}}, specsOf(nodes)...)
	p, _ := startProxySpecs(t, Config{Policy: firstPolicy{}, HealthInterval: -1, Breaker: balancer.BreakerSettings{ConsecutiveFailures: 100}}, specs)
	url, c := startHTTP(t, p), httpClient(t)
	for i := range 3 {
		wantStatus(t, "put", do(t, c, "PUT", fmt.Sprintf("%s/buckets/b/keys/k%d", url, i), strings.NewReader("v"), "Content-Type", "text/plain"), http.StatusNoContent)
	}
	// A chunked body (unknown length) too.
	r := do(t, c, "PUT", url+"/buckets/b/keys/chunked", struct{ io.Reader }{strings.NewReader("chunky")}, "Content-Type", "text/plain")
	wantStatus(t, "chunked put", r, http.StatusNoContent)
	r = do(t, c, "GET", url+"/buckets/b/keys/chunked", nil)
	if r.status != http.StatusOK || r.body != "chunky" {
		t.Fatalf("get chunked: %d %q", r.status, r.body)
	}
	if s := p.Stats(); s.HTTPRetries != 5 || s.HTTPErrors != 0 {
		t.Errorf("stats: retries %d errors %d, want 5 and 0", s.HTTPRetries, s.HTTPErrors)
	}
}

// fakeBackend is a raw HTTP/1.1 server that reads each request (and its
// body) and then closes the connection without answering.
type fakeBackend struct {
	ln       net.Listener
	requests atomic.Int64
	bodies   chan string
	wg       sync.WaitGroup
}

func startDyingBackend(t *testing.T) *fakeBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBackend{ln: ln, bodies: make(chan string, 16)}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
				req, err := http.ReadRequest(bufio.NewReader(nc))
				if err != nil {
					return
				}
				b, _ := io.ReadAll(req.Body)
				f.requests.Add(1)
				select {
				case f.bodies <- req.Method + " " + string(b):
				default:
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

// countingBackend answers every request 200 "ok" and counts them.
func countingBackend(t *testing.T, count *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		count.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func hostOf(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

// TestHTTPPutNotRetriedAfterSent: with RetryWrites "never", a PUT whose
// node closes the connection after reading it is not sent anywhere else; a
// GET in the same situation is. (TestHTTPRepeatableWrites: the default.)
func TestHTTPPutNotRetriedAfterSent(t *testing.T) {
	checkGoroutines(t)
	dying := startDyingBackend(t)
	var okCount atomic.Int64
	ok := countingBackend(t, &okCount)
	dead := deadAddr(t)
	specs := []balancer.NodeSpec{
		{ID: "a-dying", PBAddr: dead, HTTPAddr: dying.ln.Addr().String()},
		{ID: "b-ok", PBAddr: dead, HTTPAddr: hostOf(ok)},
	}
	p, _ := startProxySpecs(t, Config{Policy: firstPolicy{}, HealthInterval: -1, Breaker: balancer.BreakerSettings{ConsecutiveFailures: 100},
		RetryWrites: RetryWritesNever}, specs)
	url, c := startHTTP(t, p), httpClient(t)

	r := do(t, c, "PUT", url+"/buckets/b/keys/k", strings.NewReader("payload"), "Content-Type", "text/plain")
	wantStatus(t, "put", r, http.StatusBadGateway)
	if !strings.Contains(r.body, "not retried because PUT is not idempotent and retry-writes is never") {
		t.Errorf("put: body %q", r.body)
	}
	if got := <-dying.bodies; got != "PUT payload" {
		t.Errorf("dying node got %q", got)
	}
	if okCount.Load() != 0 {
		t.Fatalf("PUT was sent to the second node too (%d requests)", okCount.Load())
	}
	wantStatus(t, "delete", do(t, c, "DELETE", url+"/buckets/b/keys/k", nil), http.StatusBadGateway)
	if okCount.Load() != 0 {
		t.Fatal("DELETE was sent to the second node too")
	}

	r = do(t, c, "GET", url+"/buckets/b/keys/k", nil)
	wantStatus(t, "get", r, http.StatusOK)
	if okCount.Load() != 1 || dying.requests.Load() != 3 {
		t.Errorf("GET: ok node %d requests, dying node %d, want 1 and 3", okCount.Load(), dying.requests.Load())
	}
	// POST /mapred only reads: retried, body and all.
	r = do(t, c, "POST", url+"/mapred", strings.NewReader(`{"inputs":"b"}`), "Content-Type", "application/json")
	wantStatus(t, "mapred", r, http.StatusOK)
	if okCount.Load() != 2 {
		t.Errorf("mapred not retried: ok node %d requests", okCount.Load())
	}
	if s := p.Stats(); s.HTTPRetries != 2 || s.HTTPErrors != 2 {
		t.Errorf("stats: retries %d errors %d, want 2 and 2", s.HTTPRetries, s.HTTPErrors)
	}
}

func TestHTTPDirectorErrors(t *testing.T) {
	checkGoroutines(t)
	var count atomic.Int64
	ok := countingBackend(t, &count)
	dead := deadAddr(t)
	c := httpClient(t)

	t.Run("no node", func(t *testing.T) {
		p, _ := startProxySpecs(t, Config{}, nil)
		r := do(t, c, "GET", startHTTP(t, p)+"/buckets/b/keys/k", nil)
		wantStatus(t, "get", r, http.StatusServiceUnavailable)
		if !strings.Contains(r.body, "no available Riak node") || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
			t.Errorf("body %q, type %q", r.body, r.header.Get("Content-Type"))
		}
	})
	t.Run("no node with an HTTP address", func(t *testing.T) {
		p, _ := startProxySpecs(t, Config{}, []balancer.NodeSpec{{ID: dead, PBAddr: dead}})
		wantStatus(t, "get", do(t, c, "GET", startHTTP(t, p)+"/ping", nil), http.StatusServiceUnavailable)
	})
	t.Run("all nodes down", func(t *testing.T) {
		p, _ := startProxySpecs(t, Config{HealthInterval: -1}, []balancer.NodeSpec{{ID: dead, PBAddr: dead, HTTPAddr: dead}})
		r := do(t, c, "GET", startHTTP(t, p)+"/ping", nil)
		wantStatus(t, "get", r, http.StatusBadGateway)
		if !strings.Contains(r.body, "no Riak node answered") {
			t.Errorf("body %q", r.body)
		}
	})

	p, _ := startProxySpecs(t, Config{MaxFrameSize: 1024, HealthInterval: -1}, []balancer.NodeSpec{{ID: "ok", PBAddr: dead, HTTPAddr: hostOf(ok)}})
	url := startHTTP(t, p)
	for _, tc := range []struct {
		name, method, path string
		body               io.Reader
		want               int
	}{
		{"unknown resource", "GET", "/nope", nil, http.StatusBadRequest},
		{"empty segment", "GET", "/buckets//keys/k", nil, http.StatusBadRequest},
		{"too large", "PUT", "/buckets/b/keys/k", strings.NewReader(strings.Repeat("x", 2000)), http.StatusRequestEntityTooLarge},
		{"too large chunked", "PUT", "/buckets/b/keys/k", struct{ io.Reader }{strings.NewReader(strings.Repeat("x", 2000))}, http.StatusRequestEntityTooLarge},
		{"too large retryable", "POST", "/mapred", struct{ io.Reader }{strings.NewReader(strings.Repeat("x", 2000))}, http.StatusRequestEntityTooLarge},
		{"at the limit", "PUT", "/buckets/b/keys/k", strings.NewReader(strings.Repeat("x", 1024)), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, c, tc.method, url+tc.path, tc.body)
			wantStatus(t, tc.method+" "+tc.path, r, tc.want)
			if tc.want != http.StatusOK && !strings.HasPrefix(r.body, "director: ") {
				t.Errorf("body %q", r.body)
			}
		})
	}
}

// TestHTTPHopByHop: hop-by-hop headers are removed both ways, end-to-end
// ones kept, X-Forwarded-For added.
func TestHTTPHopByHop(t *testing.T) {
	checkGoroutines(t)
	got := make(chan http.Header, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Riak-Vclock", "a85hYGBgzGDKBVIcypz/fgaUHjmdwZTImMfKcOrJn6t8WQA=")
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "v")
	}))
	t.Cleanup(backend.Close)
	dead := deadAddr(t)
	p, _ := startProxySpecs(t, Config{HealthInterval: -1}, []balancer.NodeSpec{{ID: "n", PBAddr: dead, HTTPAddr: hostOf(backend)}})
	url, c := startHTTP(t, p), httpClient(t)

	r := do(t, c, "GET", url+"/buckets/b/keys/k", nil, "Connection", "X-Custom", "X-Custom", "drop me",
		"Proxy-Authorization", "Basic eDp5", "Keep-Alive", "300", "X-Riak-ClientId", "me", "X-Forwarded-For", "10.1.2.3")
	wantStatus(t, "get", r, http.StatusOK)
	h := <-got
	for _, k := range []string{"X-Custom", "Proxy-Authorization", "Keep-Alive"} {
		if v := h.Get(k); v != "" {
			t.Errorf("backend got hop-by-hop %s: %q", k, v)
		}
	}
	if h.Get("X-Riak-Clientid") != "me" {
		t.Errorf("backend lost X-Riak-ClientId: %v", h)
	}
	if xff := h.Get("X-Forwarded-For"); xff != "10.1.2.3, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", xff)
	}
	for _, k := range []string{"X-Hop", "Keep-Alive"} {
		if v := r.header.Get(k); v != "" {
			t.Errorf("client got hop-by-hop %s: %q", k, v)
		}
	}
	if r.header.Get("X-Riak-Vclock") == "" || r.body != "v" {
		t.Errorf("response: %v %q", r.header, r.body)
	}
}

// TestHTTPStreamingFlush: the client reads the first chunk of a streamed
// answer while the node is still producing it.
func TestHTTPStreamingFlush(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"keys":["a"]}`)
		_ = http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, `{"keys":[]}`)
	}))
	t.Cleanup(backend.Close)
	dead := deadAddr(t)
	p, _ := startProxySpecs(t, Config{HealthInterval: -1}, []balancer.NodeSpec{{ID: "n", PBAddr: dead, HTTPAddr: hostOf(backend)}})
	url, c := startHTTP(t, p), httpClient(t)

	res, err := c.Get(url + "/buckets/b/keys?keys=stream")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	first := make([]byte, len(`{"keys":["a"]}`))
	if _, err := io.ReadFull(res.Body, first); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	close(release)
	rest, err := io.ReadAll(res.Body)
	if err != nil || string(rest) != `{"keys":[]}` {
		t.Fatalf("rest %q %v", rest, err)
	}
}

// TestHTTPShutdown: requests in flight finish, later ones get 503, and
// the backend connections close (checkGoroutines).
func TestHTTPShutdown(t *testing.T) {
	checkGoroutines(t)
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ping" {
			_, _ = io.WriteString(w, "OK")
			return
		}
		<-release
		_, _ = io.WriteString(w, "slow")
	}))
	t.Cleanup(backend.Close)
	unblock := releaser(t, release)
	dead := deadAddr(t)
	p, _ := startProxySpecs(t, Config{HealthInterval: -1}, []balancer.NodeSpec{{ID: "n", PBAddr: dead, HTTPAddr: hostOf(backend)}})
	url, c := startHTTP(t, p), httpClient(t)
	wantStatus(t, "ping", do(t, c, "GET", url+"/ping", nil), http.StatusOK)

	slow := make(chan httpResult, 1)
	go func() {
		res, err := c.Get(url + "/buckets/b/keys/k")
		if err != nil {
			slow <- httpResult{body: err.Error()}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		slow <- httpResult{status: res.StatusCode, body: string(b)}
	}()
	testutil.WaitFor(t, 5*time.Second, "the slow request in flight", func() bool { return p.Nodes()[0].Outstanding() == 1 })
	shut := make(chan error, 1)
	go func() { shut <- p.Shutdown(context.Background()) }()
	testutil.WaitFor(t, 5*time.Second, "shutdown to begin", func() bool { return p.closing.Load() })
	wantStatus(t, "after shutdown", do(t, c, "GET", url+"/ping", nil), http.StatusServiceUnavailable)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	unblock()
	if r := <-slow; r.status != http.StatusOK || r.body != "slow" {
		t.Fatalf("in-flight request: %d %q", r.status, r.body)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
}

// TestHTTPNodeRemovedDrained: removing a node closes its idle HTTP
// connections.
func TestHTTPNodeRemovedDrained(t *testing.T) {
	checkGoroutines(t)
	var open atomic.Int64
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "OK")
	}))
	backend.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	backend.Start()
	t.Cleanup(backend.Close)
	dead := deadAddr(t)
	p, _ := startProxySpecs(t, Config{HealthInterval: -1}, []balancer.NodeSpec{{ID: "n", PBAddr: dead, HTTPAddr: hostOf(backend)}})
	url, c := startHTTP(t, p), httpClient(t)
	wantStatus(t, "ping", do(t, c, "GET", url+"/ping", nil), http.StatusOK)
	if open.Load() != 1 {
		t.Fatalf("%d backend connections, want 1 idle", open.Load())
	}
	p.SetNodes(nil)
	testutil.WaitFor(t, 3*time.Second, "the idle backend connection to close", func() bool { return open.Load() == 0 })
	wantStatus(t, "ping after removal", do(t, c, "GET", url+"/ping", nil), http.StatusServiceUnavailable)
}

// TestHTTPLatencyRecorded: HTTP requests feed each node's latency
// histogram (the status page's p99 and the Prometheus histogram), as PB
// requests do; a request that fails does not.
func TestHTTPLatencyRecorded(t *testing.T) {
	checkGoroutines(t)
	p, url, c := startHTTPCluster(t, 2, Config{})
	total := func() (n uint64) {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, h := range p.lat {
			n += h.snapshot().total
		}
		return n
	}
	before := total()
	const reqs = 20
	for i := range reqs {
		wantStatus(t, "put", do(t, c, "PUT", fmt.Sprintf("%s/buckets/b/keys/k%d", url, i), strings.NewReader("v"), "Content-Type", "text/plain"), http.StatusNoContent)
	}
	// A latency is booked as the response body ends, which can be just
	// after the client has read it: wait for the last one.
	for deadline := time.Now().Add(2 * time.Second); total()-before < reqs && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := total() - before; got != reqs {
		t.Fatalf("%d HTTP requests recorded %d latencies", reqs, got)
	}
	var withP99 int
	for _, n := range p.Status(nil).Nodes {
		if n.P99Ms > 0 {
			withP99++
		}
	}
	if withP99 == 0 {
		t.Fatalf("no node shows an HTTP request's latency: %+v", p.Status(nil).Nodes)
	}
}
