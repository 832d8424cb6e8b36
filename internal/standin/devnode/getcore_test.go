package devnode

import (
	"errors"
	"testing"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
)

// The cases follow riak_kv_get_core's own: when a read is answered, and with what.
func TestGetCore(t *testing.T) {
	t.Parallel()
	obj := kv.Object{Siblings: []kv.Content{{Value: []byte("v")}}}
	tomb := kv.Object{Siblings: []kv.Content{{Deleted: true}}}
	found := func(primary bool) replicaReply { return reply(1, primary, obj, true, nil) }
	missing := func(primary bool) replicaReply { return reply(1, primary, kv.Object{}, false, nil) }
	failed := reply(1, true, kv.Object{}, false, errors.New("down"))
	type want struct {
		enoughAfter int    // replies added before enough() holds; -1: never
		found       bool   // response is an object
		errName     string // response's QuorumError name
	}
	cases := []struct {
		name        string
		n, r, pr    uint32
		notFoundOK  bool
		basicQuorum bool
		replies     []replicaReply
		want        want
	}{
		{"r met by found", 3, 2, 0, true, false, []replicaReply{found(true), found(true), missing(true)}, want{2, true, ""}},
		{"notfound_ok: two not found answer not found at r", 3, 2, 0, true, false,
			[]replicaReply{missing(true), missing(true), found(true)}, want{2, false, ""}},
		{"notfound_ok: found among the first r wins", 3, 2, 0, true, false,
			[]replicaReply{missing(true), found(true), missing(true)}, want{2, true, ""}},
		{"without notfound_ok not found does not count toward r", 3, 1, 0, false, false,
			[]replicaReply{missing(true), missing(true), found(true)}, want{3, true, ""}},
		{"without notfound_ok, n-r+1 not founds end the read", 3, 2, 0, false, false,
			[]replicaReply{missing(true), missing(true), found(true)}, want{2, false, ""}},
		{"basic_quorum ends the read at a majority of not founds", 5, 1, 0, false, true,
			[]replicaReply{missing(true), missing(true), missing(true), found(true), found(true)}, want{3, false, ""}},
		{"r unsatisfied after failures", 3, 3, 0, true, false,
			[]replicaReply{found(true), found(true), failed}, want{3, false, "r_val_unsatisfied"}},
		{"pr unsatisfied: fallbacks answered", 3, 0, 3, true, false,
			[]replicaReply{found(true), found(true), found(false)}, want{3, false, "pr_val_unsatisfied"}},
		{"tombstones and not founds: not found", 3, 2, 0, false, false,
			[]replicaReply{reply(1, true, tomb, true, nil), missing(true), missing(true)}, want{3, false, ""}},
		{"a member holding two replicas counts twice", 3, 2, 0, true, false,
			[]replicaReply{reply(2, true, kv.Object{}, false, nil), found(true)}, want{1, false, ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGetCore(tc.n, tc.r, tc.pr, tc.notFoundOK, tc.basicQuorum)
			at := -1
			for i, rep := range tc.replies {
				g.add(rep)
				if g.enough() {
					at = i + 1
					break
				}
			}
			if at != tc.want.enoughAfter {
				t.Fatalf("enough after %d replies, want %d", at, tc.want.enoughAfter)
			}
			got, err := g.response()
			var qe *service.QuorumError
			switch {
			case tc.want.errName != "":
				if !errors.As(err, &qe) || qe.Name != tc.want.errName || !errors.Is(err, service.ErrQuorum) {
					t.Fatalf("response error %v, want %s", err, tc.want.errName)
				}
			case err != nil:
				t.Fatalf("response error %v", err)
			case got.IsLive() != tc.want.found:
				t.Fatalf("response found=%v, want %v", got.IsLive(), tc.want.found)
			}
		})
	}
}

func TestQuorumErrorTexts(t *testing.T) {
	t.Parallel()
	e := &service.QuorumError{Name: "r_val_unsatisfied", Want: 2, Got: 1}
	if got := e.RiakErrorMessage(); got != "{r_val_unsatisfied,2,1}" {
		t.Errorf("PB errmsg %q", got)
	}
	if got := e.RiakHTTPText(); got != "R-value unsatisfied: 1/2" {
		t.Errorf("HTTP text %q", got)
	}
	pr := &service.QuorumError{Name: "pr_val_unsatisfied", Want: 3, Got: 2}
	if got := pr.RiakHTTPText(); got != "PR-value unsatisfied: 2/3" {
		t.Errorf("HTTP text %q", got)
	}
}

func reply(replicas uint32, primary bool, obj kv.Object, found bool, err error) replicaReply {
	rn := replicaNode{node: "n", replicas: replicas}
	if primary {
		rn.primaries = replicas
	}
	return replicaReply{replicaNode: rn, obj: obj, found: found, err: err}
}

// TestGetCoreSettleOnAll: while the ring moves, "not found" waits for every
// replica, and one found copy among them wins.
func TestGetCoreSettleOnAll(t *testing.T) {
	t.Parallel()
	obj := kv.Object{Siblings: []kv.Content{{Value: []byte("v")}}}
	g := newGetCore(3, 2, 0, true, false)
	g.settleOnAll()
	g.add(reply(1, true, kv.Object{}, false, nil))
	g.add(reply(1, true, kv.Object{}, false, nil))
	if g.enough() {
		t.Fatal("two not founds of three ended the read while the ring moves")
	}
	g.add(reply(1, true, obj, true, nil))
	if !g.enough() {
		t.Fatal("every replica answered, read not ended")
	}
	if got, err := g.response(); err != nil || !got.IsLive() {
		t.Fatalf("response %v, %v; want the found copy", got, err)
	}
	g = newGetCore(3, 2, 0, true, false)
	g.settleOnAll()
	g.add(reply(1, true, obj, true, nil))
	g.add(reply(1, true, obj, true, nil))
	if !g.enough() {
		t.Fatal("r found copies did not end the read")
	}
}
