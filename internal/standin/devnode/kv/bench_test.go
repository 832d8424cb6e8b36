package kv

import (
	"path/filepath"
	"strconv"
	"testing"
)

const benchKeys = 10000

var benchValue = make([]byte, 100)

func benchEngine(b *testing.B, be Backend) *Engine {
	e, err := Open(Options{Backend: be, Actor: "bench", ReapInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

func benchKeyNames() []string {
	ks := make([]string, benchKeys)
	for i := range ks {
		ks[i] = "key" + strconv.Itoa(i)
	}
	return ks
}

// benchPut overwrites keys round-robin with the clock of the previous
// write, as a read-modify-write client would (no sibling growth).
func benchPut(b *testing.B, e *Engine) {
	keys := benchKeyNames()
	clocks := make([]VClock, len(keys))
	b.ReportAllocs()
	b.SetBytes(int64(len(benchValue)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		j := i % len(keys)
		res, err := e.Put(ctx, PutRequest{Bucket: "bench", Key: keys[j], VClock: clocks[j], Content: Content{Value: benchValue, ContentType: "application/octet-stream"}})
		if err != nil {
			b.Fatal(err)
		}
		clocks[j] = res.Object.VClock
	}
}

func benchGet(b *testing.B, e *Engine) {
	keys := benchKeyNames()
	for _, k := range keys {
		if _, err := e.Put(ctx, PutRequest{Bucket: "bench", Key: k, Content: Content{Value: benchValue}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchValue)))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		res, err := e.Get(ctx, GetRequest{Bucket: "bench", Key: keys[i%len(keys)]})
		if err != nil || !res.Found {
			b.Fatal(err)
		}
	}
}

func boltForBench(b *testing.B, noSync bool) Backend {
	be, err := OpenBoltBackend(filepath.Join(b.TempDir(), "bench.bolt"), BoltOptions{NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	return be
}

func BenchmarkPutMemory(b *testing.B) { benchPut(b, benchEngine(b, NewMemoryBackend())) }

func BenchmarkGetMemory(b *testing.B) { benchGet(b, benchEngine(b, NewMemoryBackend())) }

func BenchmarkPutDisk(b *testing.B) {
	b.Run("sync", func(b *testing.B) { benchPut(b, benchEngine(b, boltForBench(b, false))) })
	b.Run("nosync", func(b *testing.B) { benchPut(b, benchEngine(b, boltForBench(b, true))) })
}

func BenchmarkGetDisk(b *testing.B) { benchGet(b, benchEngine(b, boltForBench(b, true))) }

// BenchmarkPutParallelMemory measures contention across the striped key
// locks and the backend lock.
func BenchmarkPutParallelMemory(b *testing.B) {
	e := benchEngine(b, NewMemoryBackend())
	keys := benchKeyNames()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if _, err := e.Put(ctx, PutRequest{Bucket: "bench", Key: keys[i%len(keys)], Content: Content{Value: benchValue}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkIndexQueryMemory(b *testing.B) {
	e := benchEngine(b, NewMemoryBackend())
	for i, k := range benchKeyNames() {
		_, err := e.Put(ctx, PutRequest{Bucket: "bench", Key: k, Content: Content{Value: benchValue,
			Indexes: []Pair{{"n_int", []byte(strconv.Itoa(i % 100))}}}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		_, err := e.IndexQuery(ctx, IndexQuery{Bucket: "bench", Index: "n_int", Term: "42"}, func(rs []IndexResult) error { n += len(rs); return nil })
		if err != nil || n != benchKeys/100 {
			b.Fatal(n, err)
		}
	}
}
