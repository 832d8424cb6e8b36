package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

// TestCLISendsAPIToken: against a scheduler API with --api-token, the CLI
// changes nothing without the token (one readable line, non-zero exit),
// reads freely, and changes with --api-token or RMF_API_TOKEN.
func TestCLISendsAPIToken(t *testing.T) {
	if testing.Short() {
		t.Skip("runs ZooKeeper")
	}
	z := testutil.StartZooKeeper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	store, err := zkstate.Connect(ctx, z.Servers())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	fw, err := store.Framework("riak")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scheduler.New(scheduler.Config{Master: "http://127.0.0.1:1", Framework: fw, ZooKeeper: z.Addr, APIToken: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler(""))
	t.Cleanup(srv.Close)

	rmf := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append(args, "--api", srv.URL), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, _, stderr := rmf("cluster", "create", "c1")
	if code == exitOK || !strings.Contains(stderr, "API token") || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("create without the token: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := rmf("cluster", "create", "c1", "--api-token", "wrong"); code == exitOK {
		t.Fatalf("create with a wrong token succeeded: %q", stderr)
	}
	if code, out, stderr := rmf("cluster", "list"); code != exitOK || strings.Contains(out, "c1") {
		t.Fatalf("list without the token: exit %d, out %q, stderr %q", code, out, stderr)
	}
	if code, _, stderr := rmf("cluster", "create", "c1", "--api-token", "s3cret"); code != exitOK {
		t.Fatalf("create with --api-token: exit %d, %q", code, stderr)
	}
	t.Setenv("RMF_API_TOKEN", "s3cret")
	if code, _, stderr := rmf("node", "add", "--cluster", "c1"); code != exitOK {
		t.Fatalf("node add with RMF_API_TOKEN: exit %d, %q", code, stderr)
	}
	if code, out, _ := rmf("node", "list", "--cluster", "c1", "--json"); code != exitOK || !strings.Contains(out, "riak-c1-1") {
		t.Fatalf("node list: exit %d, %q", code, out)
	}
}
