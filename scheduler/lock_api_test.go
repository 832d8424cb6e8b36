package scheduler

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// TestAPINodeLockHolder: GET of one node shows the executor holding the
// node's ZooKeeper lock, read from ZooKeeper, and nothing once it is
// released.
func TestAPINodeLockHolder(t *testing.T) {
	srv, fw := apiServer(t)
	if code, body := call(t, srv, "PUT", "/api/v1/clusters/c1", ``); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := call(t, srv, "POST", "/api/v1/clusters/c1/nodes?count=1", ``); code != 201 {
		t.Fatalf("add node: %d %s", code, body)
	}
	get := func() NodeView {
		t.Helper()
		code, body := call(t, srv, "GET", "/api/v1/clusters/c1/nodes/riak-c1-1", ``)
		var v NodeView
		if code != 200 || json.Unmarshal([]byte(body), &v) != nil {
			t.Fatalf("node info: %d %s", code, body)
		}
		if (v.LockHolder == nil) == strings.Contains(body, `"lock_holder"`) {
			t.Fatalf("lock_holder %v but body %s", v.LockHolder, body)
		}
		return v
	}
	if v := get(); v.LockHolder != nil {
		t.Fatalf("lock holder before any executor: %+v", v.LockHolder)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	since := time.Date(2025, 1, 10, 9, 30, 0, 0, time.UTC)
	l, err := fw.LockNode(ctx, "c1", "riak-c1-1", zkstate.LockRecord{TaskID: "riak-c1-1-7b1c", AgentID: "agent-3", Host: "10.0.0.3", PID: 4711, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	h := get().LockHolder
	if h == nil || h.TaskID != "riak-c1-1-7b1c" || h.Host != "10.0.0.3" || h.AgentID != "agent-3" || h.PID != 4711 ||
		!h.Since.Equal(since) || h.Znode != l.Path()[strings.LastIndexByte(l.Path(), '/')+1:] {
		t.Fatalf("lock holder %+v", h)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if v := get(); v.LockHolder != nil {
		t.Fatalf("lock holder after release: %+v", v.LockHolder)
	}
}
