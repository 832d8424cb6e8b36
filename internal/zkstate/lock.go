package zkstate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// DefaultLockLossFraction is the part of the negotiated session timeout a
// NodeLock may go without an answer from ZooKeeper before it counts as
// lost (WithLossFraction).
const DefaultLockLossFraction = 0.5

const (
	// lockPrefix starts every lock znode name; ZooKeeper appends a
	// 10-digit sequence number.
	lockPrefix = "lock-"
	// lockRecheck re-reads the line of waiters even without a watch event
	// (belt and braces against a lost watch; it also refreshes the holder).
	lockRecheck = 5 * time.Second
	// lockDeleteWait bounds the deletion of a lock znode on release or
	// abandon; if it fails, the znode goes with the session.
	lockDeleteWait = 5 * time.Second
)

// LockOption configures Framework.LockNode.
type LockOption func(*lockOptions)

type lockOptions struct {
	onWait       func(LockHolder)
	lossFraction float64
}

// WithLockWait sets a function called while LockNode waits: once with the
// current holder when the lock is found held by someone else, and again
// whenever the holder changes. It runs on LockNode's goroutine; it must not
// block for long.
func WithLockWait(fn func(LockHolder)) LockOption {
	return func(o *lockOptions) { o.onWait = fn }
}

// WithLossFraction sets when a held lock counts as lost while ZooKeeper
// does not answer: after this fraction (0 < f < 1) of the negotiated session
// timeout. Default DefaultLockLossFraction. The server expires the session,
// and gives the lock to the next in line, no earlier than one whole timeout
// after it last heard from the holder, so the rest of the timeout is the
// holder's time to stop what the lock protects.
func WithLossFraction(f float64) LockOption {
	return func(o *lockOptions) { o.lossFraction = f }
}

// LockHolder is the current holder of a node lock as ZooKeeper shows it:
// the lock znode with the lowest sequence number and its record.
type LockHolder struct {
	LockRecord
	// Znode is the holder's lock znode name, lock-<seq>.
	Znode string `json:"znode"`
	// Session is the ZooKeeper session that owns the znode.
	Session int64 `json:"-"`
}

// String describes the holder for status messages: "task T on host H
// (pid P, since S)".
func (h LockHolder) String() string {
	if h.TaskID == "" {
		return fmt.Sprintf("%s (session %#x, no valid record)", h.Znode, h.Session)
	}
	s := fmt.Sprintf("task %s on host %s", h.TaskID, h.Host)
	var extra []string
	if h.PID > 0 {
		extra = append(extra, "pid "+strconv.Itoa(h.PID))
	}
	if !h.Since.IsZero() {
		extra = append(extra, "since "+h.Since.UTC().Format(time.RFC3339))
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// LockNode takes the exclusive lock of a cluster's node: the standard
// ZooKeeper lock recipe. It creates an ephemeral sequential znode
// clusters/<cluster>/locks/<node>/lock-<seq> holding holder (cluster and
// node are filled in, Since defaults to now) and waits until that znode has
// the lowest sequence number, watching only the znode just before it (no
// herd effect). The cluster must exist (ErrNotFound): a lock never
// re-creates a deleted cluster.
//
// While waiting it survives reconnections; if the session expires it
// queues again with a new znode. When ctx ends it deletes its znode and
// returns ctx's error: it never leaves a waiter behind that could later
// take the lock unseen.
//
// The returned NodeLock stays held until Close, or until it is lost (see
// NodeLock.Lost): a lock held through a ZooKeeper session is only as good
// as the holder's knowledge that the session is alive. Use one NodeLock per
// node and Store.
func (f *Framework) LockNode(ctx context.Context, cluster, node string, holder LockRecord, opts ...LockOption) (*NodeLock, error) {
	o := lockOptions{lossFraction: DefaultLockLossFraction}
	for _, opt := range opts {
		opt(&o)
	}
	if !(o.lossFraction > 0 && o.lossFraction < 1) {
		return nil, fmt.Errorf("zkstate: lock loss fraction %v: want 0 < f < 1", o.lossFraction)
	}
	dir, err := LockPath(f.name, cluster, node)
	if err != nil {
		return nil, err
	}
	holder.Cluster, holder.Node = cluster, node
	if holder.Since.IsZero() {
		holder.Since = time.Now().UTC()
	}
	data, err := encodeAt[LockRecord](path.Join(dir, lockPrefix), holder)
	if err != nil {
		return nil, err
	}
	a := &lockAttempt{s: f.s, dir: dir, anchor: must(ClusterPath(f.name, cluster)), data: data, o: o}
	l, err := a.acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("zkstate: lock %s: %w", dir, err)
	}
	return l, nil
}

// NodeLockHolder returns the current holder of a node's lock, or nil when
// nobody holds it. A holder whose record cannot be read is returned with
// only Znode and Session set.
func (f *Framework) NodeLockHolder(ctx context.Context, cluster, node string) (*LockHolder, error) {
	dir, err := LockPath(f.name, cluster, node)
	if err != nil {
		return nil, err
	}
	for range 5 {
		line, err := lockLine(ctx, f.s, dir)
		if err != nil || len(line) == 0 {
			return nil, err
		}
		h, err := readHolder(ctx, f.s, dir, line[0])
		if errors.Is(err, ErrNotFound) {
			continue // released meanwhile: look again
		}
		if err != nil {
			return nil, err
		}
		return &h, nil
	}
	return nil, fmt.Errorf("%w: lock holder of %s keeps changing", ErrVersionConflict, dir)
}

// lockAttempt is LockNode's state while it waits.
type lockAttempt struct {
	s      *Store
	dir    string
	anchor string // must exist for dir to be created
	data   []byte
	o      lockOptions

	mine    string // our znode's name; "" when we have none
	session int64  // the session owning mine
	orphan  bool   // a create may have succeeded unseen
	holder  string // last holder reported to onWait
}

func (a *lockAttempt) acquire(ctx context.Context) (l *NodeLock, err error) {
	s := a.s
	sig, unsubscribe := s.subscribe()
	defer func() {
		if err != nil {
			unsubscribe()
			a.abandon()
		}
	}()
	backoff := 50 * time.Millisecond
	retry := func(err error) error {
		if !IsTransient(err) || ctx.Err() != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		s.log.Debug("node lock: retrying", "dir", a.dir, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return ErrClosed
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if a.mine != "" && s.SessionID() != a.session {
			// Our session expired: its znode is gone with it. Queue again.
			s.log.Warn("node lock: session lost while waiting; queueing again", "dir", a.dir)
			a.mine = ""
		}
		if a.mine == "" {
			if err := a.create(ctx); err != nil {
				if err := retry(err); err != nil {
					return nil, err
				}
				continue
			}
		}
		sent := time.Now()
		line, err := lockLine(ctx, s, a.dir)
		if err != nil {
			if err := retry(err); err != nil {
				return nil, err
			}
			continue
		}
		i := slices.Index(line, a.mine)
		switch {
		case i < 0:
			a.mine = "" // gone (session expired, or deleted by hand): queue again
			continue
		case i == 0:
			// Our znode still exists, so our session was alive when the
			// server listed it, which was after sent.
			if s.SessionID() != a.session {
				continue
			}
			return a.hold(sent, sig, unsubscribe), nil
		}
		if line[0] != a.holder {
			h, err := readHolder(ctx, s, a.dir, line[0])
			switch {
			case errors.Is(err, ErrNotFound):
				continue // the holder just left
			case err != nil:
				if err := retry(err); err != nil {
					return nil, err
				}
				continue
			}
			a.holder = line[0]
			s.log.Info("node lock: waiting", "dir", a.dir, "holder", h.String(), "znode", a.mine)
			if a.o.onWait != nil {
				a.o.onWait(h)
			}
		}
		// Wait for the znode just before ours to go (the recipe: no herd),
		// and for the holder's, to report a new holder promptly.
		watches := []string{line[i-1]}
		if i > 1 {
			watches = append(watches, line[0])
		}
		var chs [2]<-chan zk.Event
		gone := false
		for k, name := range watches {
			p := path.Join(a.dir, name)
			exists, err := call(ctx, s, func(c *zk.Conn) (bool, error) {
				ok, _, w, err := c.ExistsW(p)
				chs[k] = w
				return ok, err
			})
			if err != nil {
				err = mapErr("exists", p, err)
				if err := retry(err); err != nil {
					return nil, err
				}
				gone = true
				break
			}
			if !exists {
				gone = true
				break
			}
		}
		if gone {
			continue
		}
		backoff = 50 * time.Millisecond
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			return nil, ErrClosed
		case <-chs[0]:
		case <-chs[1]: // nil (blocks) when the holder is the predecessor
		case <-sig: // session change: look again
		case <-time.After(lockRecheck):
		}
	}
}

// create makes our lock znode (adopting one an earlier, unanswered create
// may have made), creating the lock directory below an existing cluster.
func (a *lockAttempt) create(ctx context.Context) error {
	s := a.s
	if a.orphan {
		if err := a.adopt(ctx); err != nil || a.mine != "" {
			return err
		}
	}
	prefix := path.Join(a.dir, lockPrefix)
	for attempt := 0; ; attempt++ {
		a.orphan = true
		name, err := call(ctx, s, func(c *zk.Conn) (string, error) {
			return c.Create(prefix, a.data, zk.FlagEphemeral|zk.FlagSequence, s.acl)
		})
		if errors.Is(err, zk.ErrNoNode) && attempt < 3 {
			a.orphan = false
			ok, err := s.Exists(ctx, a.anchor)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: %s does not exist", ErrNotFound, a.anchor)
			}
			if err := s.ensureDir(ctx, a.dir); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return mapErr("create", prefix, err)
		}
		a.orphan = false
		// Whose is it? The session may have changed under the create.
		ok, st, err := statOf(ctx, s, name)
		if err != nil {
			a.orphan = true
			return err
		}
		if ok {
			a.mine, a.session = path.Base(name), st.EphemeralOwner
			s.log.Debug("node lock: queued", "znode", name)
		}
		return nil
	}
}

// adopt looks for a lock znode of the current session (left by a create
// whose answer was lost) and makes it ours.
func (a *lockAttempt) adopt(ctx context.Context) error {
	sid := a.s.SessionID()
	line, err := lockLine(ctx, a.s, a.dir)
	if err != nil {
		return err
	}
	for _, n := range line {
		ok, st, err := statOf(ctx, a.s, path.Join(a.dir, n))
		if err != nil {
			return err
		}
		if ok && st.EphemeralOwner == sid && sid != 0 {
			a.mine, a.session = n, sid
			break
		}
	}
	a.orphan = false
	return nil
}

// abandon deletes our waiting znode (LockNode failed or was cancelled). If
// ZooKeeper is unreachable the znode goes when the session does.
func (a *lockAttempt) abandon() {
	if a.mine == "" && !a.orphan {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), lockDeleteWait)
	defer cancel()
	if a.mine == "" {
		if err := a.adopt(ctx); err != nil || a.mine == "" {
			return
		}
	}
	if err := deleteOwned(ctx, a.s, path.Join(a.dir, a.mine), a.session); err != nil {
		a.s.log.Warn("node lock: could not withdraw from the line; the znode goes with the session", "err", err)
	}
	a.mine = ""
}

// hold turns the attempt into a held lock, confirmed alive at sent.
func (a *lockAttempt) hold(sent time.Time, sig <-chan struct{}, unsubscribe func()) *NodeLock {
	ctx, cancel := context.WithCancel(context.Background())
	l := &NodeLock{
		s:        a.s,
		path:     path.Join(a.dir, a.mine),
		session:  a.session,
		fraction: a.o.lossFraction,
		lost:     make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
		lastOK:   sent,
	}
	a.s.log.Info("node lock acquired", "znode", l.path, "session", fmt.Sprintf("%#x", l.session))
	l.wg.Add(2)
	if !a.s.goTracked(func() { defer l.wg.Done(); defer unsubscribe(); l.watchdog(sig) }) {
		l.wg.Done()
		unsubscribe()
		l.lose(fmt.Errorf("%w: %w", ErrLockLost, ErrClosed))
	}
	hsig, hunsubscribe := a.s.subscribe()
	if !a.s.goTracked(func() { defer l.wg.Done(); defer hunsubscribe(); l.heartbeat(hsig) }) {
		l.wg.Done()
		hunsubscribe()
	}
	return l
}

// NodeLock is a held node lock (Framework.LockNode).
//
// Holding a ZooKeeper lock is a belief, not a fact: once the holder loses
// touch with ZooKeeper, the server may expire its session and give the lock
// to the next in line without the holder knowing. So a NodeLock keeps
// asking ZooKeeper about its own znode and counts itself lost when the
// latest answer is older than the loss fraction of the negotiated session
// timeout, measured on the holder's clock from when that request was sent
// (the server heard from the session no earlier). It is lost at once when
// the session expires or is replaced, or the znode is deleted or owned by
// another session. A short disconnection that reconnects within the same
// session and in time keeps the lock.
//
// Whatever the lock protects must stop when Lost is closed, within the rest
// of the session timeout.
type NodeLock struct {
	s        *Store
	path     string
	session  int64
	fraction float64
	lost     chan struct{}
	ctx      context.Context // ends with Close
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu       sync.Mutex
	lastOK   time.Time // send time of the latest confirming request
	err      error     // why it was lost
	released bool      // Close was called
}

// Path returns the lock znode.
func (l *NodeLock) Path() string { return l.path }

// Lost is closed when the lock is no longer held: lost (Err says why) or
// released by Close.
func (l *NodeLock) Lost() <-chan struct{} { return l.lost }

// Err returns why the lock was lost, wrapping ErrLockLost; nil while it is
// held and after a Close that found it held.
func (l *NodeLock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close releases the lock: it stops watching the session and, if the lock
// was still held, deletes the znode so the next in line takes over at
// once. It waits for the lock's goroutines. If the deletion fails the
// znode goes when the session ends.
func (l *NodeLock) Close() error {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	held := l.err == nil && !l.released
	l.released = true
	l.mu.Unlock()
	if !held {
		return nil
	}
	close(l.lost)
	ctx, cancel := context.WithTimeout(context.Background(), lockDeleteWait)
	defer cancel()
	if err := deleteOwned(ctx, l.s, l.path, l.session); err != nil {
		return fmt.Errorf("zkstate: release lock %s: %w", l.path, err)
	}
	l.s.log.Info("node lock released", "znode", l.path)
	return nil
}

// lose records why the lock is lost and closes Lost (once).
func (l *NodeLock) lose(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil || l.released {
		return
	}
	l.err = err
	close(l.lost)
	l.s.log.Error("node lock lost", "znode", l.path, "err", err)
}

// limit is how long the lock survives without a confirmed answer.
func (l *NodeLock) limit() time.Duration {
	return time.Duration(l.fraction * float64(l.s.SessionTimeout()))
}

// confirm records that the session and znode were alive at sent.
func (l *NodeLock) confirm(sent time.Time) {
	l.mu.Lock()
	if sent.After(l.lastOK) {
		l.lastOK = sent
	}
	l.mu.Unlock()
}

// watchdog declares the lock lost when the latest confirmation is older
// than limit, or at once when the session expires or changes.
func (l *NodeLock) watchdog(sig <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if err := l.sessionLost(); err != nil {
			l.lose(err)
			return
		}
		limit := l.limit()
		l.mu.Lock()
		last := l.lastOK
		l.mu.Unlock()
		silent := time.Since(last)
		if silent >= limit {
			l.lose(fmt.Errorf("%w: no answer from ZooKeeper for %v, more than %v (%v of the %v session timeout); the session may expire and the lock pass to the next in line",
				ErrLockLost, silent.Round(time.Millisecond), limit, l.fraction, l.s.SessionTimeout()))
			return
		}
		timer.Reset(limit - silent)
		select {
		case <-timer.C:
		case <-sig:
		case <-l.lost:
			return
		case <-l.ctx.Done():
			return
		case <-l.s.done:
			l.lose(fmt.Errorf("%w: %w", ErrLockLost, ErrClosed))
			return
		}
	}
}

// sessionLost reports an expired or replaced session.
func (l *NodeLock) sessionLost() error {
	c := l.s.Conn()
	if c.State() == zk.StateExpired {
		return fmt.Errorf("%w: ZooKeeper session %#x expired", ErrLockLost, l.session)
	}
	if sid := c.SessionID(); sid != l.session {
		return fmt.Errorf("%w: ZooKeeper session %#x replaced by %#x", ErrLockLost, l.session, sid)
	}
	return nil
}

// heartbeat asks ZooKeeper about the lock znode several times per limit,
// and at once after every session event (a reconnection confirms the lock
// without waiting for the next round); each answer that shows the znode
// still ours confirms the lock as of the request's send time.
func (l *NodeLock) heartbeat(sig <-chan struct{}) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-sig:
		case <-l.lost:
			return
		case <-l.ctx.Done():
			return
		}
		sent := time.Now()
		ok, st, err := statOf(l.ctx, l.s, l.path)
		switch {
		case err != nil:
			// Unreachable or closing: the watchdog decides.
		case !ok:
			l.lose(fmt.Errorf("%w: lock znode %s was deleted", ErrLockLost, l.path))
			return
		case st.EphemeralOwner != l.session:
			l.lose(fmt.Errorf("%w: lock znode %s is owned by session %#x, not %#x", ErrLockLost, l.path, st.EphemeralOwner, l.session))
			return
		default:
			l.confirm(sent)
		}
		timer.Stop()
		timer.Reset(max(l.limit()/8, 10*time.Millisecond))
	}
}

// lockLine lists the lock znodes of dir in sequence order (the holder
// first). A missing dir is an empty line.
func lockLine(ctx context.Context, s *Store, dir string) ([]string, error) {
	names, err := s.Children(ctx, dir)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type entry struct {
		name string
		seq  int64
	}
	var line []entry
	for _, n := range names {
		seq, ok := lockSeq(n)
		if !ok {
			s.log.Warn("node lock: ignoring a znode that is not a lock", "dir", dir, "znode", n)
			continue
		}
		line = append(line, entry{n, seq})
	}
	slices.SortFunc(line, func(a, b entry) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]string, len(line))
	for i, e := range line {
		out[i] = e.name
	}
	return out, nil
}

// lockSeq parses the sequence number of a lock znode name.
func lockSeq(name string) (int64, bool) {
	digits, ok := strings.CutPrefix(name, lockPrefix)
	if !ok || digits == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil
}

// readHolder reads lock znode name of dir.
func readHolder(ctx context.Context, s *Store, dir, name string) (LockHolder, error) {
	p := path.Join(dir, name)
	data, st, err := s.getRaw(ctx, p)
	if err != nil {
		return LockHolder{}, err
	}
	h := LockHolder{Znode: name, Session: st.EphemeralOwner}
	rec, err := Decode[LockRecord](p, data)
	if err != nil {
		s.log.Warn("node lock: unreadable holder record", "err", err)
		return h, nil
	}
	h.LockRecord = rec
	return h, nil
}

// deleteOwned deletes znode p if session owns it.
func deleteOwned(ctx context.Context, s *Store, p string, session int64) error {
	_, st, err := s.getRaw(ctx, p)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.EphemeralOwner != session {
		return nil
	}
	err = s.Delete(ctx, p, st.Version)
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrClosed) {
		return nil
	}
	return err
}

// statOf is Exists with the znode's Stat.
func statOf(ctx context.Context, s *Store, p string) (bool, *zk.Stat, error) {
	type res struct {
		ok bool
		st *zk.Stat
	}
	r, err := call(ctx, s, func(c *zk.Conn) (res, error) {
		ok, st, err := c.Exists(p)
		return res{ok, st}, err
	})
	if err != nil {
		return false, nil, mapErr("exists", p, err)
	}
	return r.ok, r.st, nil
}
