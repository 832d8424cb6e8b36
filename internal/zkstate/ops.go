package zkstate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"time"

	"github.com/go-zookeeper/zk"
)

// ModifyAttempts is how many read-modify-write rounds Modify tries before
// giving up with ErrVersionConflict.
const ModifyAttempts = 50

var worldACL = zk.WorldACL(zk.PermAll)

// Get reads and decodes the record at znode p and returns it with the
// znode's version, for a later Update.
func Get[T any, P recordPtr[T]](ctx context.Context, s *Store, p string) (T, int32, error) {
	var zero T
	data, stat, err := s.getRaw(ctx, p)
	if err != nil {
		return zero, 0, err
	}
	rec, err := Decode[T, P](p, data)
	if err != nil {
		return zero, 0, err
	}
	return rec, stat.Version, nil
}

// Create stores rec as a new persistent znode p, creating missing parents
// as empty persistent znodes. ErrExists if p exists.
func Create[T any, P recordPtr[T]](ctx context.Context, s *Store, p string, rec T) error {
	data, err := encodeAt[T, P](p, rec)
	if err != nil {
		return err
	}
	return s.create(ctx, p, data, 0)
}

// Update replaces the record at p if the znode is still at version
// (compare-and-set) and returns the new version. ErrVersionConflict if
// someone wrote in between, ErrNotFound if p is gone. version -1 writes
// unconditionally.
func Update[T any, P recordPtr[T]](ctx context.Context, s *Store, p string, rec T, version int32) (int32, error) {
	data, err := encodeAt[T, P](p, rec)
	if err != nil {
		return 0, err
	}
	return s.set(ctx, "update", p, data, version)
}

// Modify applies fn to the record at p with a compare-and-set, re-reading
// and re-applying fn when another writer got in first (up to ModifyAttempts,
// with jittered backoff). fn may run several times and must only change
// the record it is given; an error from fn aborts Modify and is returned
// wrapped. If fn changes nothing, nothing is written. It returns the stored
// record and its version.
func Modify[T any, P recordPtr[T]](ctx context.Context, s *Store, p string, fn func(*T) error) (T, int32, error) {
	var zero T
	for attempt := range ModifyAttempts {
		if attempt > 0 {
			limit := min(time.Millisecond<<min(attempt, 6), 50*time.Millisecond)
			backoff := time.Duration(rand.Int64N(int64(limit) + 1))
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return zero, 0, fmt.Errorf("zkstate: modify %s: %w", p, ctx.Err())
			}
		}
		old, stat, err := s.getRaw(ctx, p)
		if err != nil {
			return zero, 0, err
		}
		rec, err := Decode[T, P](p, old)
		if err != nil {
			return zero, 0, err
		}
		if err := fn(&rec); err != nil {
			return zero, 0, fmt.Errorf("zkstate: modify %s: %w", p, err)
		}
		P(&rec).stamp()
		data, err := encodeAt[T, P](p, rec)
		if err != nil {
			return zero, 0, err
		}
		if bytes.Equal(data, old) {
			return rec, stat.Version, nil
		}
		v, err := s.set(ctx, "modify", p, data, stat.Version)
		if errors.Is(err, ErrVersionConflict) {
			continue
		}
		if err != nil {
			return zero, 0, err
		}
		return rec, v, nil
	}
	return zero, 0, fmt.Errorf("%w: modify %s: gave up after %d attempts", ErrVersionConflict, p, ModifyAttempts)
}

// Delete deletes znode p if it is at version (-1: any version).
// ErrNotFound, ErrVersionConflict, ErrNotEmpty as appropriate.
func (s *Store) Delete(ctx context.Context, p string, version int32) error {
	_, err := call(ctx, s, func(c *zk.Conn) (struct{}, error) { return struct{}{}, c.Delete(p, version) })
	return mapErr("delete", p, err)
}

// DeleteTree deletes p and everything below it. A missing p is not an
// error. Children created concurrently (e.g. ephemeral registrations) are
// retried a few times before ErrNotEmpty.
func (s *Store) DeleteTree(ctx context.Context, p string) error {
	for attempt := 0; ; attempt++ {
		children, err := s.Children(ctx, p)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, c := range children {
			if err := s.DeleteTree(ctx, path.Join(p, c)); err != nil {
				return err
			}
		}
		err = s.Delete(ctx, p, -1)
		if err == nil || errors.Is(err, ErrNotFound) {
			return nil
		}
		if !errors.Is(err, ErrNotEmpty) || attempt >= 5 {
			return err
		}
	}
}

// Children returns the names of p's children, sorted. ErrNotFound if p does
// not exist.
func (s *Store) Children(ctx context.Context, p string) ([]string, error) {
	names, err := call(ctx, s, func(c *zk.Conn) ([]string, error) {
		n, _, err := c.Children(p)
		return n, err
	})
	if err != nil {
		return nil, mapErr("children", p, err)
	}
	slices.Sort(names)
	return names, nil
}

// Exists reports whether znode p exists.
func (s *Store) Exists(ctx context.Context, p string) (bool, error) {
	ok, err := call(ctx, s, func(c *zk.Conn) (bool, error) {
		ok, _, err := c.Exists(p)
		return ok, err
	})
	return ok, mapErr("exists", p, err)
}

// encodeAt encodes rec for znode p, checking that its names match p.
func encodeAt[T any, P recordPtr[T]](p string, rec T) ([]byte, error) {
	if err := P(&rec).matchPath(p); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidRecord, p, err)
	}
	return Encode[T, P](rec)
}

func (s *Store) getRaw(ctx context.Context, p string) ([]byte, *zk.Stat, error) {
	type res struct {
		data []byte
		stat *zk.Stat
	}
	r, err := call(ctx, s, func(c *zk.Conn) (res, error) {
		d, st, err := c.Get(p)
		return res{d, st}, err
	})
	if err != nil {
		return nil, nil, mapErr("get", p, err)
	}
	return r.data, r.stat, nil
}

func (s *Store) set(ctx context.Context, op, p string, data []byte, version int32) (int32, error) {
	st, err := call(ctx, s, func(c *zk.Conn) (*zk.Stat, error) { return c.Set(p, data, version) })
	if err != nil {
		return 0, mapErr(op, p, err)
	}
	return st.Version, nil
}

// create creates znode p with flags (0: persistent), creating missing
// parents as empty persistent znodes.
func (s *Store) create(ctx context.Context, p string, data []byte, flags int32) error {
	for attempt := 0; ; attempt++ {
		_, err := call(ctx, s, func(c *zk.Conn) (string, error) { return c.Create(p, data, flags, s.acl) })
		if errors.Is(err, zk.ErrNoNode) && attempt < 3 {
			if err := s.ensureDir(ctx, path.Dir(p)); err != nil {
				return err
			}
			continue
		}
		return mapErr("create", p, err)
	}
}

// createNoParents creates znode p with flags; ErrNotFound if its parent is
// missing.
func (s *Store) createNoParents(ctx context.Context, p string, data []byte, flags int32) error {
	_, err := call(ctx, s, func(c *zk.Conn) (string, error) { return c.Create(p, data, flags, s.acl) })
	return mapErr("create", p, err)
}

// ensureDir creates p and its missing ancestors as empty persistent znodes.
func (s *Store) ensureDir(ctx context.Context, p string) error {
	if p == "/" || p == "" {
		return nil
	}
	for attempt := 0; ; attempt++ {
		_, err := call(ctx, s, func(c *zk.Conn) (string, error) { return c.Create(p, nil, 0, s.acl) })
		switch {
		case err == nil, errors.Is(err, zk.ErrNodeExists):
			return nil
		case errors.Is(err, zk.ErrNoNode) && attempt < 3:
			if err := s.ensureDir(ctx, path.Dir(p)); err != nil {
				return err
			}
		default:
			return mapErr("create", p, err)
		}
	}
}
