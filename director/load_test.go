package director

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	riak "github.com/basho/riak-go-client"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

// load runs workers that each write a new key then read it back, through
// one riak-go-client, until stop. It remembers every acknowledged write.
type load struct {
	t      testing.TB
	c      *riak.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	acked                              sync.Map
	writes, writeErrs, reads, readErrs atomic.Int64
}

func startLoad(t testing.TB, c *riak.Client, workers int, prefix string) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{t: t, c: c, cancel: cancel}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("%s%d-%d", prefix, w, i)
				if err := put(c, key, key); err != nil {
					if l.writeErrs.Add(1) <= 3 {
						t.Logf("write %s: %v", key, err)
					}
					continue
				}
				l.writes.Add(1)
				l.acked.Store(key, true)
				if v, err := get(c, key); err != nil || v != key {
					if l.readErrs.Add(1) <= 3 {
						t.Logf("read %s: %q %v", key, v, err)
					}
					continue
				}
				l.reads.Add(1)
			}
		}()
	}
	return l
}

func (l *load) errors() int64 { return l.writeErrs.Load() + l.readErrs.Load() }

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// lost reads back every acknowledged write and counts those missing.
func (l *load) lost() int {
	lost := 0
	l.acked.Range(func(k, _ any) bool {
		if v, err := get(l.c, k.(string)); err != nil || v != k.(string) {
			if lost++; lost <= 3 {
				l.t.Logf("acknowledged write %s: %q %v", k, v, err)
			}
		}
		return true
	})
	return lost
}

// waitDown returns how long until the node with PB address pb is out of
// rotation (breaker open or unhealthy), up to limit.
func waitDown(p *Proxy, pb string, limit time.Duration) time.Duration {
	start := time.Now()
	if testutil.Eventually(limit, func() bool { return nodeAvailable(p, pb) == 0 }) {
		return time.Since(start)
	}
	return 0
}

func waitUp(p *Proxy, pb string, limit time.Duration) bool {
	return testutil.Eventually(limit, func() bool { return nodeAvailable(p, pb) == 1 })
}

// nodeAvailable is 1 when the node with PB address pb is available, 0
// when it is not, -1 when it is not in the set.
func nodeAvailable(p *Proxy, pb string) int {
	for _, n := range p.Nodes() {
		if n.PBAddr == pb {
			if n.Available() {
				return 1
			}
			return 0
		}
	}
	return -1
}
