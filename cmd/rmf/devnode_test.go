package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/devnode"
)

// TestDevnodeAdmin: rmf devnode admin against one in-process devnode: the
// verbs print Riak's texts and exit as riak admin does.
func TestDevnodeAdmin(t *testing.T) {
	node, err := devnode.Start(context.Background(), devnode.Config{Name: "admin1@127.0.0.1", PBAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), RingSize: 16, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
	})
	pb := node.PBAddr()
	stopped := testutil.FreeAddr(t)
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // the whole of stdout
		wantStderr string // contained in stderr
	}{
		{"wait-for-service", []string{"wait-for-service", "riak_kv"}, exitOK, "riak_kv is up\n", ""},
		{"wait-for-service node", []string{"wait-for-service", "riak_kv", "admin1@127.0.0.1"}, exitOK, "riak_kv is up\n", ""},
		{"ringready", []string{"ringready"}, exitOK, "TRUE All nodes agree on the ring ['admin1@127.0.0.1']\nok\n", ""},
		{"transfers", []string{"transfers"}, exitOK, "No transfers active\n\nActive Transfers:\n\n\nok\n", ""},
		{"member-status", []string{"member-status"}, exitOK,
			"================================= Membership ==================================\n" +
				"Status     Ring    Pending    Node\n" +
				"-------------------------------------------------------------------------------\n" +
				"valid     100.0%      --      admin1@127.0.0.1\n" +
				"-------------------------------------------------------------------------------\n" +
				"Valid:1 / Leaving:0 / Exiting:0 / Joining:0 / Down:0\nok\n", ""},
		{"plan", []string{"cluster", "plan"}, exitOK, "There are no staged changes\nok\n", ""},
		{"commit", []string{"cluster", "commit"}, exitOK, "Cluster changes committed\nok\n", ""},
		{"force-replace non-member", []string{"cluster", "force-replace", "x@h", "admin1@127.0.0.1"}, exitOK,
			"Failed: x@h is not a member of the cluster.\nerror\n", ""},
		{"replace invalid", []string{"cluster", "replace", "admin1@127.0.0.1", "new@h"}, exitOK,
			"Failed: new@h is not a valid replacement candidate.\nOnly newly joining nodes can be used for replacement.\nerror\n", ""},
		{"bad node name", []string{"cluster", "force-replace", "nohost", "admin1@127.0.0.1"}, exitFailure, "", "name@host"},
		{"bad pb", []string{"--pb", "nowhere", "ringready"}, exitUsage, "", "want HOST:PORT"},
		{"unknown verb", []string{"frobnicate"}, exitFailure, "", `unknown verb "frobnicate"`},
		{"no verb", []string{}, exitFailure, "", "needs a verb"},
		{"wrong arity", []string{"ringready", "extra"}, exitFailure, "", "usage: devnode admin ringready"},
		{"not running", []string{"--pb", stopped, "ringready"}, exitFailure, "Node is not running!\n", "not running"},
		{"wait timeout", []string{"--pb", stopped, "--timeout", "300ms", "--interval", "100ms", "wait-for-service", "riak_kv"}, exitFailure,
			"", "riak_kv is not up after the --timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"devnode", "admin", "--pb", pb}, tc.args...)
			var stdout, stderr bytes.Buffer
			code := run(args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit code = %d, want %d (stdout %q, stderr %q)", code, tc.wantCode, stdout.String(), stderr.String())
			}
			if tc.name == "wait timeout" {
				if !strings.HasPrefix(stdout.String(), "riak_kv is not up: node watcher is not running\n") {
					t.Errorf("stdout = %q", stdout.String())
				}
			} else if stdout.String() != tc.wantStdout {
				t.Errorf("stdout = %q, want %q", stdout.String(), tc.wantStdout)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tc.wantStderr)
			}
			if tc.wantCode != exitOK && strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
				t.Errorf("error output is not one line: %q", stderr.String())
			}
		})
	}
}
