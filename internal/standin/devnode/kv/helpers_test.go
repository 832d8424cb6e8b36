package kv

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable clock that only moves when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// backendKind opens one kind of backend for the shared test matrix.
type backendKind struct {
	name string
	// open returns a backend; reopening the same dir returns the same
	// data for persistent kinds.
	open       func(t testing.TB, dir string) Backend
	persistent bool
}

var backendKinds = []backendKind{
	{name: "memory", open: func(testing.TB, string) Backend { return NewMemoryBackend() }},
	{name: "disk", persistent: true, open: func(t testing.TB, dir string) Backend {
		b, err := OpenBoltBackend(filepath.Join(dir, "kv.bolt"), BoltOptions{NoSync: true})
		if err != nil {
			t.Fatalf("open bolt: %v", err)
		}
		return b
	}},
}

// env is one engine under test plus what is needed to reopen it.
type env struct {
	t     *testing.T
	kind  backendKind
	dir   string
	clock *fakeClock
	opts  Options
	e     *Engine
}

// forEachBackend runs fn once per backend kind, as subtests.
func forEachBackend(t *testing.T, fn func(t *testing.T, newEnv func(Options) *env)) {
	for _, k := range backendKinds {
		t.Run(k.name, func(t *testing.T) {
			fn(t, func(o Options) *env {
				ev := &env{t: t, kind: k, dir: t.TempDir(), clock: newFakeClock(), opts: o}
				if ev.opts.Clock == nil {
					ev.opts.Clock = ev.clock
				}
				if ev.opts.ReapInterval == 0 {
					ev.opts.ReapInterval = -1
				}
				ev.open()
				t.Cleanup(func() { ev.e.Close() })
				return ev
			})
		})
	}
}

func (ev *env) open() {
	ev.t.Helper()
	o := ev.opts
	o.Backend = ev.kind.open(ev.t, ev.dir)
	e, err := Open(o)
	if err != nil {
		ev.t.Fatalf("Open: %v", err)
	}
	ev.e = e
}

// reopen closes and reopens the engine over the same data.
func (ev *env) reopen() {
	ev.t.Helper()
	if err := ev.e.Close(); err != nil {
		ev.t.Fatalf("Close: %v", err)
	}
	ev.open()
}

var ctx = context.Background()

func (ev *env) put(typ, bucket, key string, vc VClock, value string, mods ...func(*PutRequest)) PutResult {
	ev.t.Helper()
	req := PutRequest{Type: typ, Bucket: bucket, Key: key, VClock: vc, Content: Content{Value: []byte(value), ContentType: "text/plain"}, ReturnBody: true}
	for _, m := range mods {
		m(&req)
	}
	res, err := ev.e.Put(ctx, req)
	if err != nil {
		ev.t.Fatalf("Put %s/%s/%s: %v", typ, bucket, key, err)
	}
	return res
}

func (ev *env) get(typ, bucket, key string) GetResult {
	ev.t.Helper()
	res, err := ev.e.Get(ctx, GetRequest{Type: typ, Bucket: bucket, Key: key})
	if err != nil {
		ev.t.Fatalf("Get %s/%s/%s: %v", typ, bucket, key, err)
	}
	return res
}

func (ev *env) mustType(name string, u PropsUpdate) {
	ev.t.Helper()
	if err := ev.e.CreateBucketType(name, u); err != nil {
		ev.t.Fatalf("CreateBucketType: %v", err)
	}
	if err := ev.e.ActivateBucketType(name); err != nil {
		ev.t.Fatalf("ActivateBucketType: %v", err)
	}
}

func values(o Object) []string {
	var out []string
	for _, c := range o.Siblings {
		if c.Deleted {
			out = append(out, "<deleted>")
			continue
		}
		out = append(out, string(c.Value))
	}
	slices.Sort(out)
	return out
}

func (ev *env) listKeys(typ, bucket string) []string {
	ev.t.Helper()
	var out []string
	err := ev.e.ListKeys(ctx, typ, bucket, func(ks []string) error {
		out = append(out, ks...)
		return nil
	})
	if err != nil {
		ev.t.Fatalf("ListKeys: %v", err)
	}
	return out
}

func (ev *env) listBuckets(typ string) []string {
	ev.t.Helper()
	var out []string
	err := ev.e.ListBuckets(ctx, typ, func(bs []string) error {
		out = append(out, bs...)
		return nil
	})
	if err != nil {
		ev.t.Fatalf("ListBuckets: %v", err)
	}
	slices.Sort(out)
	return out
}

// query runs q to the end (following no continuation) and returns every
// result plus the continuation.
func (ev *env) query(q IndexQuery) ([]IndexResult, string, error) {
	var out []IndexResult
	cont, err := ev.e.IndexQuery(ctx, q, func(rs []IndexResult) error {
		out = append(out, rs...)
		return nil
	})
	return out, cont, err
}
