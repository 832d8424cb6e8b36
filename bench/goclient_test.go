package bench

import (
	"fmt"
	"sync"
	"testing"
)

// TestGoClientSingleConn: with SingleConn every riak-go-client worker
// has exactly one connection of its own, spread over the addresses.
func TestGoClientSingleConn(t *testing.T) {
	a, b := startFakeNode(t), startFakeNode(t)
	drv, err := NewDriver(DriverRiakGoClient, DriverConfig{PBAddrs: []string{a.addr(), b.addr()}, Concurrency: 5, SingleConn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	var ws []Worker
	for i := range 5 {
		w, err := drv.NewWorker(i)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				if err := w.Do(Ops()[i%4], fmt.Appendf(nil, "k%d", i%7), []byte("v")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	conns := func(f *fakeNode) int { f.mu.Lock(); defer f.mu.Unlock(); return f.conns }
	// Workers 0, 2, 4 on a; 1, 3 on b.
	if ca, cb := conns(a), conns(b); ca != 3 || cb != 2 {
		t.Errorf("connections: %d to a, %d to b; want 3 and 2", ca, cb)
	}
	for _, w := range ws {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	}
}
