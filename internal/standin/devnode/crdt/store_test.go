package crdt

import (
	"context"
	"errors"
	"testing"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
)

func localService(t *testing.T) service.Service {
	t.Helper()
	e, err := kv.Open(kv.Options{ReapInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	for name, dt := range map[string]string{"sets": "set", "counters": "counter"} {
		if err := e.CreateBucketType(name, kv.PropsUpdate{Datatype: kv.Ptr(dt)}); err != nil {
			t.Fatal(err)
		}
		if err := e.ActivateBucketType(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.CreateBucketType("plain", kv.PropsUpdate{}); err != nil {
		t.Fatal(err)
	}
	if err := e.ActivateBucketType("plain"); err != nil {
		t.Fatal(err)
	}
	return service.NewLocal(e, "dev1@127.0.0.1")
}

// Siblings (concurrent writes) are merged by CRDT merge on read, and the
// next update, written with the clock read, resolves them.
func TestStoreMergesSiblings(t *testing.T) {
	ctx := context.Background()
	svc := localService(t)
	for _, actor := range []string{"a", "b"} {
		v := New(KindSet)
		v.Set.Add(actor, []byte(actor))
		// Blind writes (no clock) to an allow_mult bucket: siblings.
		if _, err := svc.Put(ctx, kv.PutRequest{Type: "sets", Bucket: "b", Key: "k",
			Content: kv.Content{Value: Encode(v), ContentType: ContentType}}, service.Quorum{}); err != nil {
			t.Fatal(err)
		}
	}
	// A sibling that is not a data type is left out.
	if _, err := svc.Put(ctx, kv.PutRequest{Type: "sets", Bucket: "b", Key: "k",
		Content: kv.Content{Value: []byte("plain"), ContentType: "text/plain"}}, service.Quorum{}); err != nil {
		t.Fatal(err)
	}
	raw, _ := svc.Get(ctx, kv.GetRequest{Type: "sets", Bucket: "b", Key: "k"}, service.Quorum{})
	if len(raw.Object.Siblings) != 3 {
		t.Fatalf("setup: %d siblings", len(raw.Object.Siblings))
	}
	r, err := Fetch(ctx, svc, KindSet, "sets", "b", "k", service.Quorum{})
	if err != nil || !r.Found || len(r.Value.Set.Elems) != 2 {
		t.Fatalf("fetch %+v %v", r, err)
	}
	res, err := Apply(ctx, svc, KindSet, Update{Type: "sets", Bucket: "b", Key: "k", Op: Op{Set: &SetOp{Adds: [][]byte{[]byte("c")}}}})
	if err != nil || len(res.Value.Set.Elems) != 3 {
		t.Fatalf("apply %+v %v", res, err)
	}
	raw, _ = svc.Get(ctx, kv.GetRequest{Type: "sets", Bucket: "b", Key: "k"}, service.Quorum{})
	if len(raw.Object.Siblings) != 1 {
		t.Fatalf("siblings after update: %d", len(raw.Object.Siblings))
	}
}

func TestStoreErrors(t *testing.T) {
	ctx := context.Background()
	svc := localService(t)
	var be *BucketError
	if _, err := BucketKind(ctx, svc, "plain", "b"); !errors.As(err, &be) || be.Error() != "Bucket datatype `undefined` is not a supported type" {
		t.Fatalf("plain: %v", err)
	}
	if _, err := BucketKind(ctx, svc, "nope", "b"); !errors.As(err, &be) || !be.NoType {
		t.Fatalf("no type: %v", err)
	}
	var oe *OpKindError
	if _, err := Apply(ctx, svc, KindSet, Update{Type: "sets", Bucket: "b", Op: Op{Counter: &CounterOp{Inc: 1}}}); !errors.As(err, &oe) {
		t.Fatalf("wrong op: %v", err)
	}
	if _, err := Apply(ctx, svc, KindSet, Update{Type: "sets", Bucket: "b", Key: "k", Op: Op{Set: &SetOp{}}, Context: []byte("junk")}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad context: %v", err)
	}
	res, err := Apply(ctx, svc, KindCounter, Update{Type: "counters", Bucket: "b", Op: Op{Counter: &CounterOp{Inc: 2}}})
	if err != nil || len(res.Key) != 22 {
		t.Fatalf("generated key %q %v", res.Key, err)
	}
}
