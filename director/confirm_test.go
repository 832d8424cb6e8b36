package director

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"
	"github.com/basho/riak-go-client/rpb/riak_kv"
	"github.com/golang/protobuf/proto"

	"github.com/rmf-go/rmf/balancer"
	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/devnode"
	"github.com/rmf-go/rmf/protocol"
)

// TestConfirmNotFoundPolicy: node a answers every read "not found", node b
// holds the object. Whether the client sees b's answer depends on the
// policy and on whether a node is in transition; the confirmation asks b
// with r=1 and notfound_ok=false.
func TestConfirmNotFoundPolicy(t *testing.T) {
	found := marshal(t, protocol.CodeGetResp, &riak_kv.RpbGetResp{Content: []*riak_kv.RpbContent{{Value: []byte("v")}}, Vclock: []byte("vc")})
	for _, tc := range []struct {
		name      string
		mode      string
		moving    bool // a third node fails its checks: the cluster is in transition
		wantFound bool
	}{
		{"never", ConfirmNever, true, false},
		{"always", ConfirmAlways, false, true},
		{"transitions, none in transition", ConfirmTransitions, false, false},
		{"transitions, a node failing", ConfirmTransitions, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startFake(t, nil) // riakLike: nothing stored
			var mu sync.Mutex
			var asked []*riak_kv.RpbGetReq
			b := startFake(t, func(fc *fakeConn, c protocol.Code, body []byte) bool {
				if c != protocol.CodeGetReq {
					return riakLike(fc, c, body)
				}
				var req riak_kv.RpbGetReq
				if err := proto.Unmarshal(body, &req); err != nil {
					t.Error(err)
				}
				mu.Lock()
				asked = append(asked, &req)
				mu.Unlock()
				fc.reply(found)
				return true
			})
			specs := []balancer.NodeSpec{a.spec(), b.spec()}
			var down atomic.Bool
			if tc.moving {
				down.Store(true)
				c := startFake(t, func(fc *fakeConn, code protocol.Code, body []byte) bool {
					return !down.Load() && riakLike(fc, code, body)
				})
				specs = append(specs, c.spec())
			}
			// No hedging: on a loaded machine a's answer can take longer
			// than the hedge delay, and the hedge would ask b too.
			p, addr := startProxySpecs(t, Config{HealthInterval: 10 * time.Millisecond, HealthTimeout: 100 * time.Millisecond,
				Policy: prefer(a.addr), ConfirmNotFound: tc.mode, HedgeDelay: -1}, specs)
			if tc.moving {
				testutil.WaitFor(t, 5*time.Second, "the failing node in transition", func() bool {
					for _, n := range p.Stats().Nodes {
						if n.ID == specs[2].ID {
							return n.InTransition && !n.Healthy
						}
					}
					return false
				})
			}
			f := dialRaw(t, addr).do(getReq(t, "b", "k"))
			gotFound, err := protocol.GetRespFound(f.Body)
			if f.Code != protocol.CodeGetResp || err != nil {
				t.Fatalf("answer %v (%v)", f.Code, err)
			}
			if gotFound != tc.wantFound {
				t.Fatalf("found %v, want %v", gotFound, tc.wantFound)
			}
			mu.Lock()
			defer mu.Unlock()
			st := p.Stats()
			if !tc.wantFound {
				if len(asked) != 0 || st.Confirms != 0 {
					t.Fatalf("b was asked %d times, %d confirmations; want none", len(asked), st.Confirms)
				}
				return
			}
			if len(asked) != 1 || asked[0].GetR() != 1 || asked[0].GetNotfoundOk() || asked[0].GetBasicQuorum() || string(asked[0].Key) != "k" {
				t.Fatalf("b was asked %v, want one read of k with r=1, notfound_ok=false", asked)
			}
			if st.Confirms != 1 || st.ConfirmsFound != 1 {
				t.Fatalf("stats: %d confirmations, %d found; want 1 and 1", st.Confirms, st.ConfirmsFound)
			}
		})
	}
}

// TestNoFalseNotFoundDuringHandoff is issue 25's scenario on devnodes:
// acknowledged keys are read back while a restarted node (memory backend:
// it comes back empty) waits to take its data back. The other nodes count
// its "not found" at r, as Riak's get FSM does, and on the ring of three
// nodes some preference lists hold it twice: without confirmation some
// acknowledged keys read as not found; with it, none.
func TestNoFalseNotFoundDuringHandoff(t *testing.T) {
	if testing.Short() {
		t.Skip("starts devnodes")
	}
	for _, tc := range []struct {
		mode      string
		wantFalse bool
	}{{ConfirmNever, true}, {ConfirmTransitions, false}} {
		t.Run(tc.mode, func(t *testing.T) {
			falseNotFound, reads, confirms := handoffWindow(t, tc.mode)
			t.Logf("confirm %s: %d of %d reads of acknowledged keys not found; %d confirmations", tc.mode, falseNotFound, reads, confirms)
			if tc.wantFalse && falseNotFound == 0 {
				t.Fatalf("no false not found without confirmation in %d reads: the test shows nothing", reads)
			}
			if !tc.wantFalse && falseNotFound != 0 {
				t.Fatalf("%d acknowledged keys read as not found through the director", falseNotFound)
			}
		})
	}
}

// handoffWindow writes keys through a director, restarts one node of
// three on an empty store with a handoff delay, and reads every key back
// through the director until the node has taken its data back. Read
// repair heals a key at its first read, so the first pass is the one that
// tells: about one key in eight has two replicas on the restarted node.
// Even keys are read over PB, odd ones over HTTP.
func handoffWindow(t *testing.T, mode string) (falseNotFound, reads int, confirms uint64) {
	const keys = 2000
	otherErrs := 0
	var cfgs []devnode.Config
	nodes := startClusterWith(t, 3, func(i int, c *devnode.Config) {
		c.PBAddr, c.HTTPAddr, c.RingSize = testutil.FreeAddr(t), testutil.FreeAddr(t), 8
		cfgs = append(cfgs, *c)
	})
	// Reads go to dev3 first: it holds no replica of the keys whose
	// preference list holds dev1 twice, so its answer races dev1's two
	// "not found" against dev2's copy (a coordinator holding a copy
	// answers from its own first, and read repair heals a key at its first
	// read, so only such first reads show the window). No hedging: a
	// hedged read to dev2 would win on a loaded machine and hide the window.
	p, addr := startProxy(t, Config{HealthInterval: 20 * time.Millisecond, HealthTimeout: 200 * time.Millisecond,
		ConfirmNotFound: mode, ConfirmBudget: 1, HedgeDelay: -1, Policy: prefer(nodes[2].PBAddr(), nodes[1].PBAddr())}, nodes)
	c := client(t, addr)
	web := httptest.NewServer(p.HTTPHandler())
	t.Cleanup(web.Close)
	for i := range keys {
		if err := put(c, fmt.Sprint("k", i), "v"); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	// Reads are careful while the ring that formed the cluster settles
	// (devnode ringmove.go): the window is a restart's, after that.
	testutil.WaitFor(t, 20*time.Second, "the ring settled on every node", func() bool {
		for _, n := range nodes {
			if settled, _ := n.Cluster().Stats()["ring_settled"].(bool); !settled {
				return false
			}
		}
		return true
	})
	// Restart the node holding two replicas of some keys (on 8 partitions
	// over 3 nodes, the first member by name owns partitions 0, 3, 6).
	restart := cfgs[0]
	restart.Join = cfgs[1].PBAddr
	restart.HandoffDelay = 3 * time.Second
	if err := nodes[0].Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	peersSee := func(up bool) func() bool {
		return func() bool {
			for _, n := range nodes[1:] {
				connected, _ := n.Cluster().Stats()["connected_nodes"].([]string)
				if slices.Contains(connected, restart.Name) != up {
					return false
				}
			}
			return true
		}
	}
	testutil.WaitFor(t, 10*time.Second, "the others take dev1 for down", peersSee(false))
	started := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		n, err := devnode.Start(ctx, restart)
		if err == nil {
			t.Cleanup(func() { _ = n.Shutdown(context.Background()) })
		}
		started <- err
	}()
	// The window opens when dev1 has announced itself: the others count
	// its replicas again, and it has none of their data yet.
	testutil.WaitFor(t, 10*time.Second, "the others count dev1 up again", peersSee(true))
	for {
		select {
		case err := <-started:
			if err != nil {
				t.Fatalf("restart: %v", err)
			}
			if otherErrs > 0 {
				t.Logf("%d reads failed with an error (not a not found)", otherErrs)
			}
			return falseNotFound, reads, p.Stats().ConfirmsFound
		default:
		}
		for i := range keys {
			reads++
			if i%2 == 1 { // half the keys over HTTP
				resp, err := http.Get(web.URL + "/buckets/b/keys/k" + fmt.Sprint(i))
				if err != nil {
					otherErrs++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
				case http.StatusNotFound:
					falseNotFound++
				default:
					otherErrs++
				}
				continue
			}
			cmd, _ := riak.NewFetchValueCommandBuilder().WithBucket("b").WithKey(fmt.Sprint("k", i)).Build()
			if err := c.Execute(cmd); err != nil {
				otherErrs++
				continue
			}
			if cmd.(*riak.FetchValueCommand).Response.IsNotFound {
				falseNotFound++ // every key was acknowledged
			}
		}
	}
}
