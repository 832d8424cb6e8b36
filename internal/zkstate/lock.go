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
	onRetake     func(znode string)
	lossFraction float64
	mode         LockMode
}

// LockMode says what a held NodeLock does while ZooKeeper is silent.
type LockMode int

const (
	// LockStrict counts the lock lost once ZooKeeper has not confirmed it
	// for the loss fraction of the session timeout, so that what it
	// protects stops before the session can expire and the lock pass on
	// (shared storage: two holders would share one set of data).
	LockStrict LockMode = iota
	// LockRetake keeps the lock through any silence and decides when
	// ZooKeeper answers again: the same session still holds it, carry on;
	// the session expired and nobody else took the lock, it is taken
	// again with a new znode; someone else holds it, it is lost
	// (local persistent volumes, which Mesos never gives two tasks at once).
	LockRetake
)

// String returns the mode's name as flags spell it: "strict" or "retake".
func (m LockMode) String() string {
	switch m {
	case LockStrict:
		return "strict"
	case LockRetake:
		return "retake"
	}
	return fmt.Sprintf("LockMode(%d)", int(m))
}

// WithLockMode sets what the held lock does while ZooKeeper is silent
// (default LockStrict).
func WithLockMode(m LockMode) LockOption {
	return func(o *lockOptions) { o.mode = m }
}

// WithLockRetaken sets a function called with the new lock znode each time
// a LockRetake lock is taken again after its session expired. It runs on
// the lock's goroutine; it must not block for long.
func WithLockRetaken(fn func(znode string)) LockOption {
	return func(o *lockOptions) { o.onRetake = fn }
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
	if o.mode != LockStrict && o.mode != LockRetake {
		return nil, fmt.Errorf("zkstate: lock mode %v: want strict or retake", o.mode)
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
	a := &lockAttempt{s: f.s, dir: dir, anchor: must(ClusterPath(f.name, cluster)), data: data, self: holder, o: o}
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
	self   LockRecord // what data holds
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
		s:       a.s,
		attempt: lockAttempt{s: a.s, dir: a.dir, anchor: a.anchor, data: a.data, self: a.self, o: a.o},
		path:    path.Join(a.dir, a.mine),
		session: a.session,
		lost:    make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
		lastOK:  sent,
	}
	a.s.log.Info("node lock acquired", "znode", l.path, "session", fmt.Sprintf("%#x", l.session), "mode", a.o.mode)
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
// asking ZooKeeper about its own znode. In LockStrict mode it counts itself
// lost when the latest answer is older than the loss fraction of the
// negotiated session timeout, measured on the holder's clock from when
// that request was sent (the server heard from the session no earlier),
// and at once when the session expires or is replaced. In LockRetake mode
// silence changes nothing; when a new session replaces an expired one the
// lock is taken again if it is free and lost if another holds it
// (decideRetake). In both modes it is lost when its znode is deleted or
// owned by another session while its own session lives. A short
// disconnection that reconnects within the same session keeps the lock.
//
// Whatever the lock protects must stop when Lost is closed (in LockStrict
// mode, within the rest of the session timeout).
type NodeLock struct {
	s       *Store
	attempt lockAttempt // how to queue again (LockRetake)
	lost    chan struct{}
	ctx     context.Context // ends with Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu       sync.Mutex
	path     string    // our lock znode
	session  int64     // the session owning path
	lastOK   time.Time // send time of the latest confirming request
	err      error     // why it was lost
	released bool      // Close was called
	retakes  int       // times taken again after a session expiry
}

// Path returns the lock znode (a LockRetake lock gets a new one each time
// it is taken again).
func (l *NodeLock) Path() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.path
}

// Retakes returns how many times the lock was taken again after its
// session expired (LockRetake).
func (l *NodeLock) Retakes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.retakes
}

// owned returns the lock znode and the session that owns it.
func (l *NodeLock) owned() (string, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.path, l.session
}

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
	p, session := l.owned()
	if err := deleteOwned(ctx, l.s, p, session); err != nil {
		return fmt.Errorf("zkstate: release lock %s: %w", p, err)
	}
	l.s.log.Info("node lock released", "znode", p)
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
	return time.Duration(l.attempt.o.lossFraction * float64(l.s.SessionTimeout()))
}

// confirm records that the session and znode were alive at sent.
func (l *NodeLock) confirm(sent time.Time) {
	l.mu.Lock()
	if sent.After(l.lastOK) {
		l.lastOK = sent
	}
	l.mu.Unlock()
}

// watchdog declares the lock lost when the session expires or changes
// (LockRetake: takes it again, or finds it held by another) and, in
// LockStrict mode, when the latest confirmation is older than limit.
func (l *NodeLock) watchdog(sig <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	strict := l.attempt.o.mode == LockStrict
	for {
		if err := l.sessionLost(); err != nil {
			if strict {
				l.lose(err)
				return
			}
			if !l.retake(err) {
				return // lost, or closed
			}
			continue
		}
		wait := lockRecheck
		if strict {
			limit := l.limit()
			l.mu.Lock()
			last := l.lastOK
			l.mu.Unlock()
			silent := time.Since(last)
			if silent >= limit {
				l.lose(fmt.Errorf("%w: no answer from ZooKeeper for %v, more than %v (%v of the %v session timeout); the session may expire and the lock pass to the next in line",
					ErrLockLost, silent.Round(time.Millisecond), limit, l.attempt.o.lossFraction, l.s.SessionTimeout()))
				return
			}
			wait = limit - silent
		}
		timer.Reset(wait)
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
	_, session := l.owned()
	c := l.s.Conn()
	if c.State() == zk.StateExpired {
		return fmt.Errorf("%w: ZooKeeper session %#x expired", ErrLockLost, session)
	}
	if sid := c.SessionID(); sid != session {
		return fmt.Errorf("%w: ZooKeeper session %#x replaced by %#x", ErrLockLost, session, sid)
	}
	return nil
}

// retakeVerdict is what a LockRetake lock does after its session expired.
type retakeVerdict int

const (
	// retakeHeld: our new znode is first in line; the lock is ours again.
	retakeHeld retakeVerdict = iota
	// retakeWait: the first znode is our own from the expired session,
	// which the server has not deleted yet; look again.
	retakeWait
	// retakeTaken: another holder took the lock while we were away.
	retakeTaken
)

func (v retakeVerdict) String() string {
	switch v {
	case retakeHeld:
		return "held"
	case retakeWait:
		return "wait"
	case retakeTaken:
		return "taken"
	}
	return fmt.Sprintf("retakeVerdict(%d)", int(v))
}

// decideRetake decides a retake from the line of lock znodes (holder
// first), our new znode mine owned by session, the first znode's holder
// and our own record: ours if we are first; a wait if the first is our own
// znode left by an older session; otherwise another holder's.
func decideRetake(line []string, mine string, session int64, first LockHolder, self LockRecord) retakeVerdict {
	switch {
	case len(line) > 0 && line[0] == mine:
		return retakeHeld
	case first.Session != session && first.TaskID == self.TaskID && first.ExecutorID == self.ExecutorID && self.TaskID != "":
		return retakeWait
	}
	return retakeTaken
}

// retake queues again after the session expired (why) and reports whether
// the lock is held again. It keeps trying while ZooKeeper is unreachable:
// the lock is not given up for silence in this mode. When another holder
// has the lock, it returns false (the caller loses the lock).
func (l *NodeLock) retake(why error) bool {
	l.s.log.Warn("node lock: session lost; taking the lock again", "dir", l.attempt.dir, "why", why)
	_, old := l.owned()
	a := l.attempt // a fresh attempt: mine is empty
	a.holder = ""
	backoff := 50 * time.Millisecond
	waited := time.Time{}
	for {
		select {
		case <-l.ctx.Done():
			a.abandon()
			return false
		case <-l.s.done:
			l.lose(fmt.Errorf("%w: %w", ErrLockLost, ErrClosed))
			return false
		default:
		}
		v, holder, err := a.retakeOnce(l.ctx)
		if l.ctx.Err() != nil {
			continue // Close: abandon above
		}
		switch {
		case err == nil && v == retakeHeld:
			l.mu.Lock()
			l.path, l.session, l.lastOK = path.Join(a.dir, a.mine), a.session, time.Now()
			l.retakes++
			znode := l.path
			l.mu.Unlock()
			l.s.log.Warn("node lock taken again after the session expired", "znode", znode, "session", fmt.Sprintf("%#x", a.session))
			if l.attempt.o.onRetake != nil {
				l.attempt.o.onRetake(znode)
			}
			return true
		case err == nil && v == retakeTaken:
			a.abandon()
			l.lose(fmt.Errorf("%w: the ZooKeeper session %#x expired and the lock is now held by %s", ErrLockLost, old, holder))
			return false
		case err == nil && v == retakeWait:
			if waited.IsZero() {
				waited = time.Now()
			}
			if time.Since(waited) > l.s.SessionTimeout() {
				// Our old znode outlived its session by a whole timeout: it
				// is not ours to wait for.
				a.abandon()
				l.lose(fmt.Errorf("%w: the lock is held by %s, a znode of an expired session of this holder that ZooKeeper does not delete", ErrLockLost, holder))
				return false
			}
		}
		if err != nil && !errors.Is(err, errLookAgain) && !IsTransient(err) {
			a.abandon()
			l.lose(fmt.Errorf("%w: the ZooKeeper session %#x expired and taking the lock again failed: %w", ErrLockLost, old, err))
			return false
		}
		if err != nil {
			l.s.log.Debug("node lock: retake failed; retrying", "err", err, "in", backoff)
		}
		select {
		case <-l.ctx.Done():
		case <-l.s.done:
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// errLookAgain: the line changed under a retake; look again.
var errLookAgain = errors.New("zkstate: lock line changed")

// retakeOnce makes (or keeps) our znode in the current session and decides
// from the line of lock znodes.
func (a *lockAttempt) retakeOnce(ctx context.Context) (retakeVerdict, LockHolder, error) {
	s := a.s
	if a.mine != "" && s.SessionID() != a.session {
		a.mine = ""
	}
	if a.mine == "" {
		if err := a.create(ctx); err != nil {
			return 0, LockHolder{}, err
		}
		if a.mine == "" {
			return 0, LockHolder{}, fmt.Errorf("%w: lock znode created under a changing session", errLookAgain)
		}
	}
	line, err := lockLine(ctx, s, a.dir)
	if err != nil {
		return 0, LockHolder{}, err
	}
	if !slices.Contains(line, a.mine) {
		a.mine = ""
		return 0, LockHolder{}, fmt.Errorf("%w: our lock znode vanished", errLookAgain)
	}
	if line[0] == a.mine {
		if s.SessionID() != a.session {
			return 0, LockHolder{}, fmt.Errorf("%w: session changed", errLookAgain)
		}
		return retakeHeld, LockHolder{}, nil
	}
	first, err := readHolder(ctx, s, a.dir, line[0])
	if errors.Is(err, ErrNotFound) {
		return 0, LockHolder{}, fmt.Errorf("%w: the holder just left", errLookAgain)
	}
	if err != nil {
		return 0, LockHolder{}, err
	}
	return decideRetake(line, a.mine, a.session, first, a.self), first, nil
}

// heartbeat asks ZooKeeper about the lock znode several times per limit,
// and at once after every session event (a reconnection confirms the lock
// without waiting for the next round); each answer that shows the znode
// still ours confirms the lock as of the request's send time. An answer
// given while our session is not the current one says nothing (the
// watchdog handles a new session).
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
		p, session := l.owned()
		ok, st, err := statOf(l.ctx, l.s, p)
		current := l.s.SessionID() == session
		if p2, s2 := l.owned(); p2 != p || s2 != session {
			current = false // taken again meanwhile
		}
		switch {
		case err != nil || !current:
			// Unreachable, closing, or a new session: the watchdog decides.
		case !ok:
			l.lose(fmt.Errorf("%w: lock znode %s was deleted", ErrLockLost, p))
			return
		case st.EphemeralOwner != session:
			l.lose(fmt.Errorf("%w: lock znode %s is owned by session %#x, not %#x", ErrLockLost, p, st.EphemeralOwner, session))
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
