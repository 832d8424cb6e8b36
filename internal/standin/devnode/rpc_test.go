package devnode

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
)

// The replica operations travel in kv.AppendReplica's binary form; a
// replica stored through one comes back byte-exact through the other, and
// a malformed request gets a 400 with the devnode's JSON error, not a crash.
func TestReplicaRPC(t *testing.T) {
	n := startNode(t, "dev1@127.0.0.1", t.TempDir(), "", nil)
	me := Member{Name: "dev1@127.0.0.1", HTTP: n.HTTPAddr()}
	p := newPeerClient("peer@127.0.0.1")
	ctx := context.Background()
	obj := kv.Object{VClock: kv.VClock{}.Increment("a\xff", time.Now()),
		Siblings: []kv.Content{{Value: []byte("v\x00"), ContentType: "text/plain", VTag: "t", LastMod: time.Now().UTC().Truncate(time.Microsecond)}}}
	if err := p.store(ctx, me, "default", "b\xfe", "k\x00", obj); err != nil {
		t.Fatal(err)
	}
	got, found, err := p.fetch(ctx, me, "default", "b\xfe", "k\x00")
	if err != nil || !found || !got.VClock.Equal(obj.VClock) || len(got.Siblings) != 1 ||
		!bytes.Equal(got.Siblings[0].Value, obj.Siblings[0].Value) || !got.Siblings[0].LastMod.Equal(obj.Siblings[0].LastMod) {
		t.Fatalf("fetch = %+v, %v, %v", got, found, err)
	}
	if _, found, err := p.fetch(ctx, me, "default", "b\xfe", "missing"); err != nil || found {
		t.Fatalf("fetch of a missing key = found %v, %v", found, err)
	}

	post := func(op string, body []byte) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+n.HTTPAddr()+InternalPrefix+op, bytes.NewReader(body))
		req.Header.Set(headerTo, me.Name)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	name := kv.AppendReplica(nil, kv.ObjectKey{Type: "default", Bucket: "b", Key: "k"}, nil)
	for _, tc := range []struct {
		op, what string
		body     []byte
	}{
		{"fetch", "garbage", []byte{0xff, 0xff, 0xff}},
		{"store", "garbage", []byte{0x05, 'a'}},
		{"store", "a name without an object", name},
		{"store", "a cut object", kv.AppendReplica(nil, kv.ObjectKey{Type: "default", Bucket: "b", Key: "k"}, &obj)[:len(name)+3]},
		{"fetch", "an object", kv.AppendReplica(nil, kv.ObjectKey{Type: "default", Bucket: "b", Key: "k"}, &obj)},
	} {
		status, body := post(tc.op, tc.body)
		if status != http.StatusBadRequest || !strings.Contains(body, `"error":"`) || !strings.Contains(body, "bad internal request") {
			t.Errorf("%s with %s: HTTP %d %s, want 400 with the devnode's error", tc.op, tc.what, status, body)
		}
	}
	if _, found, err := p.fetch(ctx, me, "default", "b\xfe", "k\x00"); err != nil || !found {
		t.Fatalf("after bad requests: fetch = %v, %v", found, err)
	}
}

// An answer for another key than the one asked is the peer's fault, not a
// replica: the caller treats the peer as unreachable.
func TestFetchAnswerForAnotherKey(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(kv.AppendReplica(nil, kv.ObjectKey{Type: "default", Bucket: "b", Key: "other"}, nil))
	}))
	defer srv.Close()
	p := newPeerClient("me@127.0.0.1")
	_, _, err := p.fetch(context.Background(), Member{Name: "peer@127.0.0.1", HTTP: srv.Listener.Addr().String()}, "default", "b", "k")
	if err == nil || !isTransport(err) {
		t.Fatalf("fetch = %v, want a transport error", err)
	}
}
