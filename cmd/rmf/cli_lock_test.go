package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// `rmf node info` shows who holds the node's lock.
func TestNodeInfoShowsLockHolder(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/clusters/default/nodes/riak-default-1" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name":"riak-default-1","cluster":"default","state":"running","desired_state":"running","ports":{},
"lock_holder":{"version":1,"cluster":"default","node":"riak-default-1","task_id":"riak-default-1-7b1c","host":"10.0.0.3","pid":4711,
"since":"2025-01-10T09:30:00Z","znode":"lock-0000000002"}}`))
	}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"node", "info", "riak-default-1", "--api", srv.URL}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	want := "lock holder: task riak-default-1-7b1c on host 10.0.0.3 (pid 4711, since 2025-01-10T09:30:00Z)\n"
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout %q, want it to contain %q", stdout.String(), want)
	}
}
