package httpserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
)

// hookService is a Service whose listing, query, read and ping can be
// replaced, to produce failures and slow streams.
type hookService struct {
	service.Service
	ping       func(context.Context) error
	get        func(context.Context, kv.GetRequest, service.Quorum) (kv.GetResult, error)
	listKeys   func(ctx context.Context, typ, bucket string, fn func([]string) error) error
	indexQuery func(ctx context.Context, q kv.IndexQuery, fn func([]kv.IndexResult) error) (string, error)
}

func (s *hookService) Ping(ctx context.Context) error {
	if s.ping != nil {
		return s.ping(ctx)
	}
	return s.Service.Ping(ctx)
}

func (s *hookService) Get(ctx context.Context, req kv.GetRequest, q service.Quorum) (kv.GetResult, error) {
	if s.get != nil {
		return s.get(ctx, req, q)
	}
	return s.Service.Get(ctx, req, q)
}

func (s *hookService) ListKeys(ctx context.Context, typ, bucket string, fn func([]string) error) error {
	if s.listKeys != nil {
		return s.listKeys(ctx, typ, bucket, fn)
	}
	return s.Service.ListKeys(ctx, typ, bucket, fn)
}

func (s *hookService) IndexQuery(ctx context.Context, q kv.IndexQuery, fn func([]kv.IndexResult) error) (string, error) {
	if s.indexQuery != nil {
		return s.indexQuery(ctx, q, fn)
	}
	return s.Service.IndexQuery(ctx, q, fn)
}

func TestServiceFailures(t *testing.T) {
	t.Parallel()
	base := newEngineEnv(t)
	errBoom := errors.New("boom")
	cases := []struct {
		name    string
		hook    func(*hookService)
		path    string
		want    int
		bodyHas string
	}{
		{"ping unavailable", func(s *hookService) {
			s.ping = func(context.Context) error { return service.ErrUnavailable }
		}, "/ping", 503, "node not ready"},
		{"get quorum", func(s *hookService) {
			s.get = func(context.Context, kv.GetRequest, service.Quorum) (kv.GetResult, error) {
				return kv.GetResult{}, fmt.Errorf("%w: 1 of 3 replicas answered", service.ErrQuorum)
			}
		}, "/buckets/b/keys/k", 503, "quorum not met"},
		{"get unavailable", func(s *hookService) {
			s.get = func(context.Context, kv.GetRequest, service.Quorum) (kv.GetResult, error) {
				return kv.GetResult{}, service.ErrUnavailable
			}
		}, "/buckets/b/keys/k", 503, ""},
		{"get timeout", func(s *hookService) {
			s.get = func(ctx context.Context, _ kv.GetRequest, _ service.Quorum) (kv.GetResult, error) {
				<-ctx.Done()
				return kv.GetResult{}, ctx.Err()
			}
		}, "/buckets/b/keys/k?timeout=10", 503, "request timed out"},
		{"get internal", func(s *hookService) {
			s.get = func(context.Context, kv.GetRequest, service.Quorum) (kv.GetResult, error) {
				return kv.GetResult{}, errBoom
			}
		}, "/buckets/b/keys/k", 500, "boom"},
		{"keys fail before start", func(s *hookService) {
			s.listKeys = func(context.Context, string, string, func([]string) error) error { return service.ErrUnavailable }
		}, "/buckets/b/keys?keys=stream", 503, ""},
		{"keys fail after start", func(s *hookService) {
			s.listKeys = func(_ context.Context, _, _ string, fn func([]string) error) error {
				if err := fn([]string{"a"}); err != nil {
					return err
				}
				return service.ErrQuorum
			}
		}, "/buckets/b/keys?keys=stream", 200, `{"error":"service: quorum not met"}`},
		{"index fail after start", func(s *hookService) {
			s.indexQuery = func(_ context.Context, _ kv.IndexQuery, fn func([]kv.IndexResult) error) (string, error) {
				if err := fn([]kv.IndexResult{{Key: "a"}}); err != nil {
					return "", err
				}
				return "", service.ErrQuorum
			}
		}, "/buckets/b/index/x_int/1?stream=true", 200, `{"error":"service: quorum not met"}`},
		{"index fail", func(s *hookService) {
			s.indexQuery = func(context.Context, kv.IndexQuery, func([]kv.IndexResult) error) (string, error) {
				return "", service.ErrQuorum
			}
		}, "/buckets/b/index/x_int/1", 503, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := &hookService{Service: base.svc}
			tc.hook(svc)
			srv := httptest.NewServer(New(svc, nil))
			defer srv.Close()
			e := &env{t: t, url: srv.URL, client: srv.Client()}
			r := e.do(http.MethodGet, tc.path, "").expect(t, tc.want)
			if !strings.Contains(r.body, tc.bodyHas) {
				t.Errorf("body %q lacks %q", r.body, tc.bodyHas)
			}
		})
	}
}

func TestShutdownDrainsStream(t *testing.T) {
	base := newEngineEnv(t)
	release := make(chan struct{})
	svc := &hookService{Service: base.svc, listKeys: func(ctx context.Context, _, _ string, fn func([]string) error) error {
		if err := fn([]string{"first"}); err != nil {
			return err
		}
		<-release
		return fn([]string{"second"})
	}}
	s := &Server{Service: svc}
	ctx, cancel := context.WithCancel(t.Context())
	addr, done := startServer(t, ctx, s)
	res, err := http.Get("http://" + addr + "/buckets/b/keys?keys=stream")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	dec := json.NewDecoder(bufio.NewReader(res.Body))
	var first map[string][]string
	if err := dec.Decode(&first); err != nil || first["keys"][0] != "first" {
		t.Fatalf("first batch %v %v", first, err)
	}
	cancel() // shutdown starts while the stream is open
	close(release)
	var got []string
	for dec.More() {
		var m map[string][]string
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("stream cut: %v", err)
		}
		got = append(got, m["keys"]...)
	}
	if len(got) != 1 || got[0] != "second" {
		t.Errorf("rest of the stream %q", got)
	}
	if err := waitServe(t, done); err != nil {
		t.Errorf("Serve: %v", err)
	}
}
