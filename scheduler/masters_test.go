package scheduler

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestParseMasters(t *testing.T) {
	tests := []struct {
		name, in string
		urls     []string
		zkPath   string
		err      string
	}{
		{"one", "http://m:5050", []string{"http://m:5050"}, "", ""},
		{"trailing slash", "http://m:5050/", []string{"http://m:5050"}, "", ""},
		{"list", "http://a:5050, https://b:5050", []string{"http://a:5050", "https://b:5050"}, "", ""},
		{"zk", "zk://z1:2181,z2:2181/mesos", nil, "/mesos", ""},
		{"no scheme", "m:5050", nil, "", "want http://host:port"},
		{"path", "http://m:5050/master", nil, "", "want http://host:port"},
		{"empty in list", "http://a:5050,", nil, "", "want http://host:port"},
		{"user", "http://u:p@m:5050", nil, "", "want http://host:port"},
		{"bad zk", "zk://z1/mesos", nil, "", "host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMasters(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseMasters(%q) = %+v, %v; want error with %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.urls, " ") != strings.Join(tt.urls, " ") || (tt.zkPath != "") != (got.zk != nil) || got.zk != nil && got.zk.Path != tt.zkPath {
				t.Errorf("parseMasters(%q) = %+v", tt.in, got)
			}
		})
	}
}

// TestMasterSetFollows: calls go to the current master; a 307 moves them
// to the Location's master, a connection failure to the next listed one.
func TestMasterSetFollows(t *testing.T) {
	spec, err := parseMasters("http://a:1,http://b:2,http://c:3")
	if err != nil {
		t.Fatal(err)
	}
	ms := newMasterSet(spec, nil, slog.New(slog.DiscardHandler))
	var hosts []string
	answer := map[string]func() (*http.Response, error){
		"a:1": func() (*http.Response, error) { return nil, errors.New("connection refused") },
		"b:2": func() (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusTemporaryRedirect, Header: http.Header{"Location": {"//c:3/api/v1/scheduler"}}, Body: io.NopCloser(strings.NewReader(""))}, nil
		},
		"c:3": func() (*http.Response, error) {
			return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader(""))}, nil
		},
	}
	do := ms.wrapDoer(func(r *http.Request) (*http.Response, error) {
		hosts = append(hosts, r.URL.Host)
		if r.URL.Path != "/api/v1/scheduler" {
			t.Errorf("path %q", r.URL.Path)
		}
		return answer[r.URL.Host]()
	})
	for range 3 {
		req, _ := http.NewRequest("POST", "http://placeholder.invalid/api/v1/scheduler", nil)
		if resp, err := do(req); err == nil {
			resp.Body.Close()
		}
	}
	if got := strings.Join(hosts, " "); got != "a:1 b:2 c:3" {
		t.Errorf("calls went to %s, want a:1 (refused) b:2 (redirects) c:3", got)
	}
	if got := ms.current(); got != "http://c:3" {
		t.Errorf("current master %s", got)
	}
}
