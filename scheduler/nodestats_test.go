package scheduler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFetchJSON(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(`{"nodename":"riak@h","vnode_gets":3}`))
		case "/html":
			_, _ = w.Write([]byte(`<html>not stats</html>`))
		case "/big":
			_, _ = w.Write([]byte(`"` + strings.Repeat("x", maxStatsBody) + `"`))
		default:
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	if b, err := fetchJSON(ctx, srv.URL+"/ok"); err != nil || !strings.Contains(string(b), `"vnode_gets":3`) {
		t.Errorf("ok: %s %v", b, err)
	}
	for path, want := range map[string]string{"/html": "not JSON", "/big": "larger than", "/down": "503"} {
		if _, err := fetchJSON(ctx, srv.URL+path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", path, err, want)
		}
	}
	if _, err := fetchJSON(ctx, "http://127.0.0.1:1/stats"); err == nil {
		t.Error("a node that does not answer gave no error")
	}
}
