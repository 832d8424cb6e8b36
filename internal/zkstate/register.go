package zkstate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// Registration keeps one ephemeral znode alive for as long as it is open,
// across reconnections and session expiry: whenever the Store gets a
// session it checks the znode and, if it is missing or owned by another
// session, re-creates it with the latest data.
//
// The latest registrant wins: a znode found owned by another session (for
// example one left by a previous incarnation of this process whose session
// has not expired yet) is deleted and re-created. Registrations do not watch
// their znode, so two live registrants of one path do not fight; they take
// over from each other only when a session is (re-)established.
type Registration struct {
	s    *Store
	path string
	// anchor, if set, must exist for the znode to be (re-)created: parents
	// are created only below it (so a live entry cannot resurrect a deleted
	// cluster as an empty znode).
	anchor string

	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned

	opMu  sync.Mutex // serialises ensure, Update and Close
	data  []byte
	owner int64 // session that created our znode; 0 if none
}

// Register creates the ephemeral znode p with data (missing parents are
// created persistent) and keeps it registered until Close or Store.Close.
// Use Framework.RegisterLive and RegisterErlpmd for the RMF records.
// It waits for the first successful creation: connection errors are
// retried until ctx is done, other errors are returned at once.
func (s *Store) Register(ctx context.Context, p string, data []byte) (*Registration, error) {
	return s.register(ctx, p, "", data)
}

// register is Register with an optional anchor (see Registration.anchor).
func (s *Store) register(ctx context.Context, p, anchor string, data []byte) (*Registration, error) {
	rctx, cancel := context.WithCancel(context.Background())
	r := &Registration{
		s:      s,
		path:   p,
		anchor: anchor,
		cancel: cancel,
		done:   make(chan struct{}),
		data:   bytes.Clone(data),
	}
	first := make(chan error, 1)
	sig, unsubscribe := s.subscribe()
	if !s.goTracked(func() {
		defer close(r.done)
		defer unsubscribe()
		r.run(rctx, sig, first)
	}) {
		unsubscribe()
		cancel()
		return nil, fmt.Errorf("zkstate: register %s: %w", p, ErrClosed)
	}
	select {
	case err := <-first:
		if err == nil {
			return r, nil
		}
		r.stop()
		return nil, err
	case <-ctx.Done():
		r.stop()
		_ = r.deleteOwned()
		return nil, fmt.Errorf("zkstate: register %s: %w", p, ctx.Err())
	}
}

// Path returns the registered znode path.
func (r *Registration) Path() string { return r.path }

// Update replaces the registered data and re-asserts the registration (as
// after a new session). If that fails (e.g. the connection is down) the
// error is returned and the new data is written when the session is back.
func (r *Registration) Update(ctx context.Context, data []byte) error {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	r.data = bytes.Clone(data)
	select {
	case <-r.done:
		return fmt.Errorf("zkstate: update registration %s: closed", r.path)
	default:
	}
	return r.ensure(ctx)
}

// Close stops maintaining the registration and deletes the znode if the
// current session owns it. It waits for the registration's goroutine. The
// deletion is bounded by the session timeout: if it fails the server
// removes the znode when the session ends.
func (r *Registration) Close() error {
	r.stop()
	return r.deleteOwned()
}

func (r *Registration) stop() {
	r.cancel()
	<-r.done
}

func (r *Registration) deleteOwned() error {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	if r.owner == 0 || r.s.isClosed() {
		return nil
	}
	owner := r.owner
	r.owner = 0
	ctx, cancel := context.WithTimeout(context.Background(), max(r.s.tmo, 2*time.Second))
	defer cancel()
	_, stat, err := r.s.getRaw(ctx, r.path)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("zkstate: unregister %s: %w", r.path, err)
	}
	if stat.EphemeralOwner != owner || owner != r.s.SessionID() {
		return nil // not ours (any more)
	}
	err = r.s.Delete(ctx, r.path, stat.Version)
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) {
		return nil
	}
	return fmt.Errorf("zkstate: unregister: %w", err)
}

// run re-asserts the registration after every session event, retrying
// failures with backoff. The first outcome is reported on first.
func (r *Registration) run(ctx context.Context, sig <-chan struct{}, first chan<- error) {
	reported := false
	pending := true // an ensure is due
	var retry <-chan time.Time
	backoff := 50 * time.Millisecond
	for {
		if pending && r.s.Connected() {
			r.opMu.Lock()
			err := r.ensure(ctx)
			r.opMu.Unlock()
			switch {
			case err == nil:
				pending, retry, backoff = false, nil, 50*time.Millisecond
				if !reported {
					reported = true
					first <- nil
				}
			case ctx.Err() != nil || errors.Is(err, ErrClosed):
				return
			case !reported && !IsTransient(err):
				first <- err
				return
			default:
				r.s.log.Warn("zookeeper registration failed; retrying", "path", r.path, "err", err, "retry_in", backoff)
				retry = time.After(backoff)
				backoff = min(2*backoff, 5*time.Second)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.s.done:
			return
		case <-sig:
			pending = true
		case <-retry:
			retry = nil
		}
	}
}

// ensure makes the znode exist, owned by the current session, with r.data.
// Callers hold opMu.
func (r *Registration) ensure(ctx context.Context) error {
	for range 5 {
		sid := r.s.SessionID()
		cur, stat, err := r.s.getRaw(ctx, r.path)
		switch {
		case err == nil && stat.EphemeralOwner == sid && sid != 0:
			r.owner = sid
			if bytes.Equal(cur, r.data) {
				return nil
			}
			_, err := r.s.set(ctx, "register", r.path, r.data, stat.Version)
			if errors.Is(err, ErrVersionConflict) || errors.Is(err, ErrNotFound) {
				continue
			}
			return err
		case err == nil:
			// Left by an older session (ours or a previous registrant's):
			// the latest registrant wins.
			r.s.log.Info("replacing ephemeral znode owned by another session",
				"path", r.path, "owner", fmt.Sprintf("%#x", stat.EphemeralOwner), "session", fmt.Sprintf("%#x", sid))
			err := r.s.Delete(ctx, r.path, stat.Version)
			if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrVersionConflict) {
				return err
			}
			continue
		case !errors.Is(err, ErrNotFound):
			return err
		}
		if r.anchor != "" {
			err = r.s.createNoParents(ctx, r.path, r.data, zk.FlagEphemeral)
		} else {
			err = r.s.create(ctx, r.path, r.data, zk.FlagEphemeral)
		}
		if errors.Is(err, ErrNotFound) && r.anchor != "" {
			// A parent is missing: create parents only if the anchor exists.
			ok, aerr := r.s.Exists(ctx, r.anchor)
			if aerr != nil {
				return aerr
			}
			if !ok {
				return fmt.Errorf("%w: register %s: %s does not exist", ErrNotFound, r.path, r.anchor)
			}
			if err := r.s.ensureDir(ctx, path.Dir(r.path)); err != nil {
				return err
			}
			continue
		}
		if errors.Is(err, ErrExists) {
			continue
		}
		if err != nil {
			return err
		}
		r.owner = sid
		r.s.log.Debug("registered ephemeral znode", "path", r.path, "session", fmt.Sprintf("%#x", sid))
		return nil
	}
	return fmt.Errorf("%w: register %s: znode keeps changing", ErrVersionConflict, path.Clean(r.path))
}
