package zkstate

import (
	"context"
	"errors"
	"path"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// leaderNodeName is the ephemeral znode under LeaderPath held by the leader.
const leaderNodeName = "current"

// Leadership is held by the scheduler that won Campaign. Lost is closed
// when the ZooKeeper session that holds it expires (or Resign is called):
// the holder must stop acting as leader at once.
type Leadership struct {
	Lost   <-chan struct{}
	resign func()
}

// Resign gives leadership up (deletes the znode) so a standby takes over.
func (l *Leadership) Resign() { l.resign() }

// Campaign blocks until this process holds the framework's leadership (an
// ephemeral znode leader/current containing id) or ctx ends. Standbys wait
// on a watch of that znode, so one takes over as soon as the leader's
// session ends.
func (f *Framework) Campaign(ctx context.Context, id string) (*Leadership, error) {
	dir, err := LeaderPath(f.name)
	if err != nil {
		return nil, err
	}
	p := path.Join(dir, leaderNodeName)
	s := f.s
	for {
		if err := s.ensureDir(ctx, dir); err != nil && !IsTransient(err) {
			return nil, err
		}
		_, err := call(ctx, s, func(c *zk.Conn) (string, error) { return c.Create(p, []byte(id), zk.FlagEphemeral, s.acl) })
		if err == nil {
			return f.hold(p), nil
		}
		if !errors.Is(err, zk.ErrNodeExists) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if !IsTransient(mapErr("create", p, err)) {
				return nil, mapErr("create", p, err)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		// Someone leads: wait for its znode to go.
		var ch <-chan zk.Event
		exists, err := call(ctx, s, func(c *zk.Conn) (bool, error) {
			ok, _, w, err := c.ExistsW(p)
			ch = w
			return ok, err
		})
		if err != nil || !exists {
			continue
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		case <-time.After(5 * time.Second): // belt and braces against a lost watch
		}
	}
}

// hold watches the session that created the leader znode.
func (f *Framework) hold(p string) *Leadership {
	s := f.s
	lost := make(chan struct{})
	stop := make(chan struct{})
	sid := s.SessionID()
	sig, unsub := s.subscribe()
	var once sync.Once
	resign := func() { once.Do(func() { close(stop) }) }
	started := s.goTracked(func() {
		defer unsub()
		defer close(lost)
		for {
			select {
			case <-stop:
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = s.Delete(ctx, p, -1)
				cancel()
				return
			case <-s.done:
				return
			case <-sig:
				c := s.Conn()
				if c.State() == zk.StateExpired || (c.State() == zk.StateHasSession && c.SessionID() != sid) {
					s.log.Warn("zookeeper session lost: leadership lost")
					return
				}
			}
		}
	})
	if !started {
		unsub()
		close(lost)
	}
	return &Leadership{Lost: lost, resign: resign}
}

// Leader returns the ID written by the current leader ("" when none).
func (f *Framework) Leader(ctx context.Context) (string, error) {
	dir, err := LeaderPath(f.name)
	if err != nil {
		return "", err
	}
	b, _, err := f.s.getRaw(ctx, path.Join(dir, leaderNodeName))
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return string(b), err
}
