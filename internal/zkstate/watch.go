package zkstate

import (
	"context"
	"errors"
	"maps"
	"path"
	"slices"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// ChildrenSnapshot is one observation of a znode's children.
type ChildrenSnapshot struct {
	// Exists reports whether the watched znode exists.
	Exists bool
	// Children are the child names, sorted.
	Children []string
	// Err is set when the latest read failed (typically the connection is
	// down). The watch keeps retrying; Exists and Children keep their last
	// known values.
	Err error
}

// LiveSnapshot is one observation of a cluster's live records.
type LiveSnapshot struct {
	// Nodes maps node name to its live record. Records that fail
	// validation are left out (and logged).
	Nodes map[string]LiveRecord
	// Err is set when the latest read failed; Nodes keeps the last known
	// records and the watch keeps retrying.
	Err error
}

// WatchChildren watches the children of znode p. The channel delivers a
// snapshot at once and then after every change (including p being created
// or deleted); p need not exist yet. Delivery is coalesced: a slow consumer
// gets the latest snapshot, never a backlog. Watches are re-armed after
// reconnection and session expiry. The channel is closed when ctx is done or
// the Store is closed.
func (s *Store) WatchChildren(ctx context.Context, p string) <-chan ChildrenSnapshot {
	out := make(chan ChildrenSnapshot, 1)
	started := s.goTracked(func() {
		defer close(out)
		var last *ChildrenSnapshot
		s.watchDir(ctx, p, false, func(v dirView, err error) {
			snap := ChildrenSnapshot{Exists: v.exists, Children: slices.Clone(v.children), Err: err}
			if last != nil && last.Exists == snap.Exists && slices.Equal(last.Children, snap.Children) &&
				(last.Err == nil) == (snap.Err == nil) {
				return
			}
			last = &snap
			offer(out, snap)
		})
	})
	if !started {
		close(out)
	}
	return out
}

// watchLive watches the live records below dir (see Framework.WatchLive):
// like WatchChildren, and also after any record's data changes.
func (s *Store) watchLive(ctx context.Context, dir string) <-chan LiveSnapshot {
	out := make(chan LiveSnapshot, 1)
	started := s.goTracked(func() {
		defer close(out)
		var last *LiveSnapshot
		logged := map[string]string{} // name -> invalid data already logged
		s.watchDir(ctx, dir, true, func(v dirView, err error) {
			nodes := make(map[string]LiveRecord, len(v.data))
			for name, data := range v.data {
				p := path.Join(dir, name)
				rec, derr := Decode[LiveRecord](p, data)
				if derr != nil {
					if logged[name] != string(data) {
						logged[name] = string(data)
						s.log.Warn("ignoring invalid live record", "err", derr)
					}
					continue
				}
				delete(logged, name)
				nodes[name] = rec
			}
			for name := range logged {
				if _, ok := v.data[name]; !ok {
					delete(logged, name)
				}
			}
			snap := LiveSnapshot{Nodes: nodes, Err: err}
			if last != nil && maps.Equal(last.Nodes, snap.Nodes) && (last.Err == nil) == (snap.Err == nil) {
				return
			}
			last = &snap
			offer(out, snap)
		})
	})
	if !started {
		close(out)
	}
	return out
}

// offer puts v in ch (capacity 1), replacing an unread value. Only one
// goroutine may send on ch.
func offer[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// dirView is what watchDir knows about a directory znode.
type dirView struct {
	exists   bool
	children []string          // sorted
	data     map[string][]byte // child name -> data (withData only)
}

// watchDir keeps a view of dir's children (and, withData, their data) with
// one ZooKeeper watch per item, and calls emit after every read round: with
// err set when a read failed (the view then holds the last known state).
// It returns when ctx is done or the Store is closed.
func (s *Store) watchDir(ctx context.Context, dir string, withData bool, emit func(dirView, error)) {
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	sig, unsubscribe := s.subscribe()
	defer unsubscribe()

	// fired receives the name of each watch that triggered ("" for the
	// directory itself). Each armed watch has one forwarding goroutine.
	fired := make(chan string, 16)
	forward := func(ev <-chan zk.Event, name string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ev:
				select {
				case fired <- name:
				case <-wctx.Done():
				}
			case <-wctx.Done():
			}
		}()
	}

	view := dirView{data: map[string][]byte{}}
	dirArmed := false
	dataArmed := map[string]bool{}
	backoff := 50 * time.Millisecond
	for {
		var err error
		if !dirArmed {
			var names []string
			var exists bool
			var ev <-chan zk.Event
			names, exists, ev, err = s.childrenOrExistsW(wctx, dir)
			if err == nil {
				dirArmed = true
				view.exists = exists
				forward(ev, "")
				slices.Sort(names)
				view.children = names
				for n := range view.data {
					if !slices.Contains(names, n) {
						delete(view.data, n)
						delete(dataArmed, n)
					}
				}
			}
		}
		if withData && err == nil {
			for _, n := range view.children {
				if dataArmed[n] {
					continue
				}
				data, ev, gerr := s.getW(wctx, path.Join(dir, n))
				if errors.Is(gerr, ErrNotFound) {
					delete(view.data, n) // deleted meanwhile; the directory watch fires
					continue
				}
				if gerr != nil {
					err = gerr
					break
				}
				dataArmed[n] = true
				view.data[n] = data
				forward(ev, n)
			}
		}
		if wctx.Err() != nil || errors.Is(err, ErrClosed) {
			return
		}
		emit(view, err)

		// Wait for a watch to fire, or, after an error, for the session to
		// come back or a backoff to pass.
		var retry <-chan time.Time
		if err != nil {
			retry = time.After(backoff)
			backoff = min(2*backoff, 2*time.Second)
		} else {
			backoff = 50 * time.Millisecond
		}
	wait:
		for {
			select {
			case <-wctx.Done():
				return
			case <-s.done:
				return
			case name := <-fired:
				markFired(name, &dirArmed, dataArmed)
				for more := true; more; {
					select {
					case name := <-fired:
						markFired(name, &dirArmed, dataArmed)
					default:
						more = false
					}
				}
				break wait
			case <-sig:
				if err != nil && s.Connected() {
					break wait
				}
			case <-retry:
				break wait
			}
		}
	}
}

func markFired(name string, dirArmed *bool, dataArmed map[string]bool) {
	if name == "" {
		*dirArmed = false
	} else {
		dataArmed[name] = false
	}
}

// childrenOrExistsW lists dir's children with a watch, or, if dir does not
// exist, sets an existence watch instead.
func (s *Store) childrenOrExistsW(ctx context.Context, dir string) ([]string, bool, <-chan zk.Event, error) {
	type res struct {
		names  []string
		exists bool
		ev     <-chan zk.Event
	}
	r, err := call(ctx, s, func(c *zk.Conn) (res, error) {
		for range 3 {
			names, _, ev, err := c.ChildrenW(dir)
			if err == nil {
				return res{names, true, ev}, nil
			}
			if !errors.Is(err, zk.ErrNoNode) {
				return res{}, err
			}
			exists, _, ev, err := c.ExistsW(dir)
			if err != nil {
				return res{}, err
			}
			if !exists {
				return res{nil, false, ev}, nil
			}
			// Created in between: list it. (The data watch ExistsW set is
			// left to fire unobserved.)
		}
		return res{}, zk.ErrNoNode // created and deleted repeatedly; retried later
	})
	if err != nil {
		return nil, false, nil, mapErr("watch", dir, err)
	}
	return r.names, r.exists, r.ev, nil
}

func (s *Store) getW(ctx context.Context, p string) ([]byte, <-chan zk.Event, error) {
	type res struct {
		data []byte
		ev   <-chan zk.Event
	}
	r, err := call(ctx, s, func(c *zk.Conn) (res, error) {
		data, _, ev, err := c.GetW(p)
		return res{data, ev}, err
	})
	if err != nil {
		return nil, nil, mapErr("watch", p, err)
	}
	return r.data, r.ev, nil
}
