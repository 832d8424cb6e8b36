package devnode

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

// TestAdminBucketTypes: riak admin bucket-type on one member reaches the
// others, in riak_kv_console's words, refusals included.
func TestAdminBucketTypes(t *testing.T) {
	nodes := fixedNodes(t, 2)
	run := func(pb, sub, name, props string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := BucketTypeAdmin(ctx, pb, sub, name, props)
		if err != nil {
			t.Fatalf("bucket-type %s %s: %v", sub, name, err)
		}
		return out
	}
	pb1, pb2 := nodes[0].pb, nodes[1].pb
	if out := run(pb1, "list", "", ""); out != "default (active)\nok\n" {
		t.Errorf("list before any type: %q", out)
	}
	want := "maps created\n\nWARNING: After activating maps, nodes in this cluster\ncan no longer be downgraded to a version of Riak prior to 2.0\nok\n"
	if out := run(pb1, "create", "maps", `{"props":{"n_val":2}}`); out != want {
		t.Errorf("create: %q, want %q", out, want)
	}
	if out := run(pb1, "activate", "maps", ""); out != "maps has been activated\n\nWARNING: Nodes in this cluster can no longer be\ndowngraded to a version of Riak prior to 2.0\nok\n" {
		t.Errorf("activate: %q", out)
	}
	testutil.WaitFor(t, 10*time.Second, "the type listed on the other member", func() bool {
		return run(pb2, "list", "", "") == "default (active)\nmaps (active)\nok\n"
	})
	for _, tc := range []struct{ sub, name, props, want string }{
		{"create", "maps", `{"props":{}}`, "Error creating bucket type maps:\nalready_active\nerror\n"},
		{"create", "x", `{"n_val":2}`, "Cannot create bucket type x: no props field found in json\nerror\n"},
		{"create", "x", `{`, "Cannot create bucket type x: invalid json\nerror\n"},
		{"update", "x", `{`, "Cannot update bucket type: x: invalid json\nerror\n"},
		{"status", "nope", "", "nope is not an existing bucket type\n{error,undefined}\n"},
		{"activate", "nope", "", "nope is not an existing bucket type\n{error,undefined}\n"},
		{"update", "maps", `{"props":{"n_val":1}}`, "maps updated\nok\n"},
	} {
		if out := run(pb2, tc.sub, tc.name, tc.props); out != tc.want {
			t.Errorf("%s %s %s: %q, want %q", tc.sub, tc.name, tc.props, out, tc.want)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "the update seen on the first member", func() bool {
		return strings.Contains(run(pb1, "status", "maps", ""), "\nn_val: 1\n")
	})
	if out := run(pb1, "status", "maps", ""); !strings.HasPrefix(out, "maps is active\n\nyoung_vclock: 20\nw: quorum\n") ||
		!strings.HasSuffix(out, "allow_mult: true\nactive: true\nclaimant: 'dev1@127.0.0.1'\nok\n") {
		t.Errorf("status: %q", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := AAEStatus(ctx, pb1)
	if err != nil || !strings.HasPrefix(out, strings.Repeat("=", 34)+" Exchanges "+strings.Repeat("=", 34)+"\n") ||
		!strings.Contains(out, "Index                                              Built (ago)\n") ||
		!strings.HasSuffix(out, "Index                                                Last      Mean      Max   \n"+strings.Repeat("-", 79)+"\nok\n") {
		t.Errorf("aae-status: %q, %v", out, err)
	}
}
