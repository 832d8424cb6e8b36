package devnode

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/kv"
	"github.com/rmf-go/rmf/internal/standin/devnode/ring"
	"github.com/rmf-go/rmf/internal/standin/devnode/service"
)

// DefaultRequestTimeout bounds a client request that names no timeout.
const DefaultRequestTimeout = 10 * time.Second

// DefaultGossipDelay is rmf devnode's --gossip-delay: Riak's cluster
// metadata reaches the other nodes of a healthy cluster within some tens of
// milliseconds.
const DefaultGossipDelay = 30 * time.Millisecond

// Cluster is the Service of a devnode that belongs to a cluster: each key
// lives on n_val replicas placed by the ring; reads ask every replica and
// merge their answers (repairing stale ones), writes are coordinated by one
// replica and sent to the others, and each waits for its quorum.
type Cluster struct {
	self   Member
	engine *kv.Engine
	peers  *peerClient
	log    *slog.Logger

	mu         sync.RWMutex
	membership Membership
	ring       *ring.Ring
	prevRing   *ring.Ring           // the ring before the last change of members
	down       map[string]time.Time // member -> until when it is considered down

	ready atomic.Bool
	// ringMovedAt: when the ring last changed here, or a resync after a
	// change ended (UnixNano; ringmove.go).
	ringMovedAt atomic.Int64
	leaving     atomic.Bool  // a leave is handing off (admin transfers)
	syncing     atomic.Int32 // catch-ups running (admin transfers)
	meta        *metaStore
	mergeMu     sync.Mutex    // serialises membership merges
	leaveMu     sync.Mutex    // one leave at a time
	left        chan struct{} // closed once this node has left
	leftOnce    sync.Once
	persist     func(Membership) error // saves the membership; nil in tests
	stats       clusterStats
	hints       hints           // keys owed to primaries that missed them (hints.go)
	runCtx      context.Context // ends with the node; nil before it serves
	bg          sync.WaitGroup  // hint deliveries, delayed metadata gossip

	// gossipDelay: metadata changes reach the other members this long
	// after they are made here (Config.GossipDelay).
	gossipDelay time.Duration
}

// setRunContext sets the context background work of the running node
// (hint deliveries) lives in.
func (c *Cluster) setRunContext(ctx context.Context) {
	c.mu.Lock()
	c.runCtx = ctx
	c.mu.Unlock()
}

// stopBackground starts no more background work and waits for what runs
// (its context must be cancelled first).
func (c *Cluster) stopBackground() {
	c.mu.Lock()
	c.runCtx = nil
	c.mu.Unlock()
	c.bg.Wait()
}

type clusterStats struct {
	gets, puts, deletes, readRepairs, forwarded, handoffObjects, hintedHandoffs atomic.Uint64
}

var _ service.Service = (*Cluster)(nil)

func newCluster(self Member, engine *kv.Engine, m Membership, log *slog.Logger) (*Cluster, error) {
	c := &Cluster{self: self, engine: engine, peers: newPeerClient(self.Name), log: log, down: map[string]time.Time{}, meta: newMetaStore(engine), left: make(chan struct{})}
	if err := c.setMembership(m); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) setMembership(m Membership) error {
	r, err := ring.New(m.RingSize, m.Names())
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.ring != nil && !slices.Equal(c.ring.Members(), r.Members()) {
		c.prevRing = c.ring // writes still reach its owners while the ring moves (ringmove.go)
	}
	c.membership, c.ring = m, r
	c.mu.Unlock()
	return nil
}

// Membership returns the node's current view of the cluster.
func (c *Cluster) Membership() Membership {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.membership
}

func (c *Cluster) snapshot() (Membership, *ring.Ring) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.membership, c.ring
}

// downFor is how long a member that failed a request is skipped.
const downFor = time.Second

// markDown skips a member for downFor after it failed a request (err says why).
func (c *Cluster) markDown(name string, err error) {
	if name == c.self.Name {
		return
	}
	c.mu.Lock()
	until, wasDown := c.down[name]
	c.down[name] = time.Now().Add(downFor)
	c.mu.Unlock()
	if !wasDown || time.Now().After(until) {
		c.log.Info("member unreachable", "member", name, "err", err)
	}
}

func (c *Cluster) markUp(name string) {
	owed := c.hints.pending(name) > 0
	c.mu.Lock()
	_, wasDown := c.down[name]
	delete(c.down, name)
	ctx := c.runCtx
	if owed && ctx != nil {
		c.bg.Add(1) // under mu: stopBackground waits for it
	}
	c.mu.Unlock()
	if wasDown {
		c.log.Info("member reachable again", "member", name)
	}
	if owed && ctx != nil {
		go func() { defer c.bg.Done(); c.handOffHints(ctx, name) }()
	}
}

// up reports whether a member is believed reachable.
func (c *Cluster) up(name string) bool {
	if name == c.self.Name {
		return true
	}
	c.mu.RLock()
	until, isDown := c.down[name]
	c.mu.RUnlock()
	return !isDown || time.Now().After(until)
}

// Info implements service.Service.
func (c *Cluster) Info() service.ServerInfo {
	return service.ServerInfo{Node: c.self.Name, Version: service.Version}
}

// Stats implements service.Service.
func (c *Cluster) Stats() service.Stats {
	m := c.Membership()
	connected := []string{}
	for _, n := range m.Names() {
		if n != c.self.Name && c.up(n) {
			connected = append(connected, n)
		}
	}
	return service.Stats{
		"nodename":                     c.self.Name,
		"riak_kv_version":              service.Version,
		"ring_members":                 m.Names(),
		"ring_num_partitions":          m.RingSize,
		"connected_nodes":              connected,
		"ready":                        c.ready.Load(),
		"ring_settled":                 !c.ringMoving(), // devnode: no ring change being taken in (ringmove.go)
		"node_gets_total":              c.stats.gets.Load(),
		"node_puts_total":              c.stats.puts.Load(),
		"node_deletes_total":           c.stats.deletes.Load(),
		"read_repairs_total":           c.stats.readRepairs.Load(),
		"coord_redirs_total":           c.stats.forwarded.Load(),
		"handoff_objects_total":        c.stats.handoffObjects.Load(),
		"hinted_handoff_objects_total": c.stats.hintedHandoffs.Load(),
	}
}

// Ping implements service.Service: ready once the node has caught up.
func (c *Cluster) Ping(ctx context.Context) error {
	if !c.ready.Load() {
		return service.ErrUnavailable
	}
	return ctx.Err()
}

// serving fails client requests until the node is ready. Before that its
// ring may be its own alone (before the join) and its store is not caught
// up: a write coordinated here could count this node's replicas several
// times, and a read could miss what the cluster acknowledged. Riak also
// refuses requests until riak_kv is up.
func (c *Cluster) serving() error {
	if !c.ready.Load() {
		return fmt.Errorf("%w: catching up with the cluster", service.ErrUnavailable)
	}
	return nil
}

func (c *Cluster) withTimeout(ctx context.Context, q service.Quorum) (context.Context, context.CancelFunc) {
	d := q.Timeout
	if d <= 0 {
		d = DefaultRequestTimeout
	}
	return context.WithTimeout(ctx, d)
}

// resolve turns a request's quorum value (0: not given) into a count.
func resolve(given, bucketDefault kv.Quorum, n uint32) (uint32, error) {
	if given == 0 {
		given = kv.QuorumDefault
	}
	v, err := given.Resolve(n, bucketDefault)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", service.ErrQuorum, err)
	}
	return v, nil
}

func nVal(props kv.BucketProps, q service.Quorum) uint32 {
	if q.NVal > 0 && q.NVal < props.NVal {
		return q.NVal
	}
	return props.NVal
}

func (c *Cluster) preflist(typ, bucket, key string, n uint32, sloppy *bool) []ring.Entry {
	_, r := c.snapshot()
	up := c.up
	if sloppy != nil && !*sloppy {
		// Without sloppy quorum, down primaries are not replaced by fallbacks.
		return slices.DeleteFunc(r.Preflist([]byte(typ), []byte(bucket), []byte(key), int(n), nil), func(e ring.Entry) bool { return !up(e.Node) })
	}
	return r.Preflist([]byte(typ), []byte(bucket), []byte(key), int(n), up)
}

// replicaNode is a member holding one or more replicas of a key (several
// when the cluster has fewer members than n_val, like Riak vnodes).
type replicaNode struct {
	node      string
	replicas  uint32 // entries of the preference list on this node
	primaries uint32 // of which primaries
}

// byNode groups a preference list by member, in list order.
func byNode(pl []ring.Entry) []replicaNode {
	var out []replicaNode
	for _, e := range pl {
		i := slices.IndexFunc(out, func(r replicaNode) bool { return r.node == e.Node })
		if i < 0 {
			out = append(out, replicaNode{node: e.Node})
			i = len(out) - 1
		}
		out[i].replicas++
		if e.Primary {
			out[i].primaries++
		}
	}
	return out
}

type replicaReply struct {
	replicaNode
	obj   kv.Object
	found bool
	err   error
}

// fetchQuorum asks every member holding a replica in pl for its copy of a
// key, in parallel, and counts the answers with g as Riak's get FSM does
// (see getCore): it returns as soon as g has enough, or when ctx ends.
//
// The replies still pending are awaited in the background (bounded by
// DefaultRequestTimeout); then every replica is repaired with the merge of
// all the answers, as Riak's get FSM does after it has replied.
func (c *Cluster) fetchQuorum(ctx context.Context, pl []ring.Entry, typ, bucket, key string, g *getCore) []replicaReply {
	nodes := byNode(pl)
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultRequestTimeout)
	ch := make(chan replicaReply, len(nodes))
	for _, rn := range nodes {
		go func() {
			rep := replicaReply{replicaNode: rn}
			if rn.node == c.self.Name {
				rep.obj, rep.found, rep.err = c.engine.FetchReplica(bg, typ, bucket, key)
			} else {
				rep.obj, rep.found, rep.err = c.peers.fetch(bg, c.member(rn.node), typ, bucket, key)
				c.noteResult(rn.node, rep.err)
			}
			ch <- rep
		}()
	}
	var got []replicaReply
collect:
	for len(got) < len(nodes) {
		select {
		case rep := <-ch:
			got = append(got, rep)
			g.add(rep)
			if g.enough() {
				break collect
			}
		case <-ctx.Done():
			break collect
		}
	}
	if len(got) == len(nodes) {
		cancel()
		return got
	}
	early := slices.Clone(got)
	go func() {
		defer cancel()
		all := got
		for len(all) < len(nodes) {
			select {
			case rep := <-ch:
				all = append(all, rep)
			case <-bg.Done():
				return
			}
		}
		merged := kv.Object{}
		for _, rep := range all {
			if rep.err == nil && rep.found {
				merged = kv.Merge(merged, rep.obj)
			}
		}
		if len(merged.Siblings) > 0 {
			c.readRepair(all, typ, bucket, key, merged)
		}
	}()
	return early
}

// noteResult marks a peer down on a transport failure.
func (c *Cluster) noteResult(node string, err error) {
	if err != nil && isTransport(err) {
		c.markDown(node, err)
	}
}

// member returns how to reach a member (no address when it is unknown).
func (c *Cluster) member(node string) Member {
	m, _ := c.snapshot()
	mb, ok := m.Get(node)
	if !ok {
		return Member{Name: node}
	}
	return mb
}

// Get implements service.Service: read every replica, merge, repair.
func (c *Cluster) Get(ctx context.Context, req kv.GetRequest, q service.Quorum) (kv.GetResult, error) {
	if err := c.serving(); err != nil {
		return kv.GetResult{}, err
	}
	c.stats.gets.Add(1)
	props, err := c.engine.BucketProps(req.Type, req.Bucket)
	if err != nil {
		return kv.GetResult{}, err
	}
	if req.Key == "" {
		return kv.GetResult{}, fmt.Errorf("%w: empty key", kv.ErrInvalidKey)
	}
	n := nVal(props, q)
	r, err := resolve(q.R, props.R, n)
	if err != nil {
		return kv.GetResult{}, err
	}
	pr, err := resolve(q.PR, props.PR, n)
	if err != nil {
		return kv.GetResult{}, err
	}
	ctx, cancel := c.withTimeout(ctx, q)
	defer cancel()
	pl := c.preflist(req.Type, req.Bucket, req.Key, n, q.SloppyQuorum)
	if uint32(len(pl)) < r {
		return kv.GetResult{}, &service.QuorumError{Name: "insufficient_vnodes", Want: r, Got: uint32(len(pl))}
	}
	if primaries := countPrimaries(pl); primaries < pr {
		return kv.GetResult{}, &service.QuorumError{Name: "pr_val_unsatisfied", Want: pr, Got: primaries}
	}
	g := newGetCore(uint32(len(pl)), r, pr, orBucket(q.NotFoundOK, props.NotFoundOK), orBucket(q.BasicQuorum, props.BasicQuorum))
	if c.ringMoving() {
		g.settleOnAll()
	}
	replies := c.fetchQuorum(ctx, pl, req.Type, req.Bucket, req.Key, g)
	merged, err := g.response()
	if err != nil {
		return kv.GetResult{}, err
	}
	c.readRepair(replies, req.Type, req.Bucket, req.Key, merged)
	return getResult(merged, req), nil
}

// orBucket is a request's override of a bucket's boolean property.
func orBucket(given *bool, bucket bool) bool {
	if given != nil {
		return *given
	}
	return bucket
}

func countPrimaries(pl []ring.Entry) uint32 {
	var n uint32
	for _, e := range pl {
		if e.Primary {
			n++
		}
	}
	return n
}

// getResult applies a read's options to the merged object, as kv.Engine.Get does locally.
func getResult(obj kv.Object, req kv.GetRequest) kv.GetResult {
	if !obj.Exists() {
		return kv.GetResult{}
	}
	if obj.IsTombstone() {
		res := kv.GetResult{Tombstone: true}
		if req.DeletedVClock {
			res.Object.VClock = obj.VClock
		}
		return res
	}
	if req.IfModified != nil && obj.VClock.Equal(req.IfModified) {
		return kv.GetResult{Found: true, Unchanged: true, Object: kv.Object{VClock: obj.VClock}}
	}
	if req.Head {
		obj = obj.Head()
	}
	return kv.GetResult{Found: true, Object: obj}
}

// readRepair sends the merged object to replicas whose copy is missing or
// older, in the background.
func (c *Cluster) readRepair(replies []replicaReply, typ, bucket, key string, merged kv.Object) {
	if !merged.Exists() {
		return
	}
	for _, rep := range replies {
		if rep.err != nil || (rep.found && rep.obj.VClock.Equal(merged.VClock) && len(rep.obj.Siblings) == len(merged.Siblings)) {
			continue
		}
		c.stats.readRepairs.Add(1)
		go func(node string) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.storeOn(ctx, node, typ, bucket, key, merged); err != nil {
				c.log.Debug("read repair failed", "node", node, "bucket", bucket, "key", key, "err", err)
			}
		}(rep.node)
	}
}

func (c *Cluster) storeOn(ctx context.Context, node, typ, bucket, key string, obj kv.Object) error {
	if node == c.self.Name {
		_, _, err := c.engine.StoreReplica(ctx, typ, bucket, key, obj)
		return err
	}
	err := c.peers.store(ctx, c.member(node), typ, bucket, key, obj)
	c.noteResult(node, err)
	return err
}

// coordinator picks the replica that coordinates a write: this node when it
// is in the preference list (as Riak prefers a local vnode), else the first
// available replica.
func (c *Cluster) coordinator(pl []ring.Entry) (string, bool) {
	for _, e := range pl {
		if e.Node == c.self.Name {
			return e.Node, true
		}
	}
	if len(pl) == 0 {
		return "", false
	}
	return pl[0].Node, true
}

// writeQuorum is a write's quorum counts and its n_val.
type writeQuorum struct{ w, pw, dw, n uint32 }

func (c *Cluster) writeQuorum(props kv.BucketProps, q service.Quorum, n uint32, deleting bool) (writeQuorum, error) {
	w, err := resolve(q.W, props.W, n)
	if err != nil {
		return writeQuorum{}, err
	}
	if deleting && q.RW != 0 {
		if w, err = resolve(q.RW, props.RW, n); err != nil {
			return writeQuorum{}, err
		}
	}
	pw, err := resolve(q.PW, props.PW, n)
	if err != nil {
		return writeQuorum{}, err
	}
	dw, err := resolve(q.DW, props.DW, n)
	if err != nil {
		return writeQuorum{}, err
	}
	// Every acknowledgement here is durable (the backend's own sync policy),
	// so dw can never exceed what w already requires.
	return writeQuorum{w: max(w, dw), pw: pw, dw: dw, n: n}, nil
}

// Put implements service.Service.
func (c *Cluster) Put(ctx context.Context, req kv.PutRequest, q service.Quorum) (kv.PutResult, error) {
	if err := c.serving(); err != nil {
		return kv.PutResult{}, err
	}
	c.stats.puts.Add(1)
	props, err := c.engine.BucketProps(req.Type, req.Bucket)
	if err != nil {
		return kv.PutResult{}, err
	}
	if req.Key == "" {
		req.Key = service.NewKey()
	}
	n := nVal(props, q)
	wq, err := c.writeQuorum(props, q, n, false)
	if err != nil {
		return kv.PutResult{}, err
	}
	ctx, cancel := c.withTimeout(ctx, q)
	defer cancel()
	pl := c.preflist(req.Type, req.Bucket, req.Key, n, q.SloppyQuorum)
	if uint32(len(pl)) < wq.w {
		return kv.PutResult{}, fmt.Errorf("%w: %d replicas available, w=%d", service.ErrQuorum, len(pl), wq.w)
	}
	var res kv.PutResult
	err = c.forwardWrite(pl, func() (err error) {
		res, err = c.coordinatePut(ctx, req, pl, wq)
		return err
	}, func(coord string) (err error) {
		res, err = c.peers.put(ctx, c.member(coord), req, q)
		return err
	})
	return res, err
}

// forwardWrite runs a write where Riak's put FSM would (riak_kv_put_fsm
// prepare): here when this node is in the preference list (local), else
// on the first member of the list (remote). A coordinator that cannot be
// reached is marked bad and the next one tried, as Riak does with
// retry_put_coordinator_failure (on by default; Riak waits up to
// put_coordinator_failure_timeout, 3 s, for the forward's ack first).
// The write may have run on the bad one: a put or a delete repeated
// stores the same thing.
func (c *Cluster) forwardWrite(pl []ring.Entry, local func() error, remote func(coord string) error) error {
	var bad []string
	var lastErr error
	for {
		coord, ok := c.coordinator(slices.DeleteFunc(slices.Clone(pl), func(e ring.Entry) bool { return slices.Contains(bad, e.Node) }))
		switch {
		case !ok:
			return lastErr
		case coord == c.self.Name:
			return local()
		}
		c.stats.forwarded.Add(1)
		err := remote(coord)
		c.noteResult(coord, err)
		if err == nil || !isTransport(err) {
			return err
		}
		bad, lastErr = append(bad, coord), err
	}
}

// coordinatePut writes locally, then replicates the stored object.
func (c *Cluster) coordinatePut(ctx context.Context, req kv.PutRequest, pl []ring.Entry, wq writeQuorum) (kv.PutResult, error) {
	res, err := c.engine.Put(ctx, req)
	if err != nil {
		return kv.PutResult{}, err
	}
	if err := c.replicate(ctx, pl, req.Type, req.Bucket, req.Key, wq); err != nil {
		return kv.PutResult{}, err
	}
	res.Key = req.Key
	return res, nil
}

// replicate sends the local copy of a key to the other replicas in pl and
// waits until the write quorum is met (the local write counts once).
func (c *Cluster) replicate(ctx context.Context, pl []ring.Entry, typ, bucket, key string, wq writeQuorum) error {
	obj, _, err := c.engine.FetchReplica(ctx, typ, bucket, key)
	if err != nil {
		return err
	}
	type ack struct {
		replicaNode
		err error
	}
	nodes := byNode(pl)
	acks := make(chan ack, len(nodes))
	k := hintKey{typ, bucket, key}
	_, r := c.snapshot()
	for _, m := range missedPrimaries(r, int(max(wq.n, uint32(len(pl)))), pl, typ, bucket, key) {
		c.hints.add(m, k) // down when the list was made: owed the key
	}
	// Replicas still pending when the quorum is met must still get the
	// write: their stores outlive the request, bounded by their own timeout.
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultRequestTimeout)
	var pendingStores sync.WaitGroup
	defer func() { go func() { pendingStores.Wait(); cancel() }() }()
	var acked, primaries uint32
	pending := 0
	for _, rn := range nodes {
		if rn.node == c.self.Name {
			acked += rn.replicas
			primaries += rn.primaries
			continue
		}
		pending++
		pendingStores.Add(1)
		go func() {
			defer pendingStores.Done()
			err := c.storeOn(bg, rn.node, typ, bucket, key, obj)
			if err != nil && rn.primaries > 0 {
				c.hints.add(rn.node, k) // a primary that failed the store is owed it
			}
			acks <- ack{replicaNode: rn, err: err}
		}()
	}
	extra := c.oldOwnersStore(bg, nodes, int(wq.n), typ, bucket, key, obj, &pendingStores)
	var lastErr error
	for (acked < wq.w || primaries < wq.pw) && pending > 0 {
		var a ack
		select {
		case a = <-acks:
		case <-ctx.Done():
			return fmt.Errorf("%w: timeout with %d of %d replicas acknowledged: %v", service.ErrQuorum, acked, len(pl), ctx.Err())
		}
		pending--
		if a.err != nil {
			lastErr = a.err
			continue
		}
		acked += a.replicas
		primaries += a.primaries
	}
	if acked < wq.w || primaries < wq.pw {
		return fmt.Errorf("%w: %d of %d replicas acknowledged (w=%d, pw=%d): %v", service.ErrQuorum, acked, len(pl), wq.w, wq.pw, lastErr)
	}
	extra.wait(ctx)
	return nil
}

// Delete implements service.Service.
func (c *Cluster) Delete(ctx context.Context, req kv.DeleteRequest, q service.Quorum) error {
	if err := c.serving(); err != nil {
		return err
	}
	c.stats.deletes.Add(1)
	props, err := c.engine.BucketProps(req.Type, req.Bucket)
	if err != nil {
		return err
	}
	if req.Key == "" {
		return fmt.Errorf("%w: empty key", kv.ErrInvalidKey)
	}
	n := nVal(props, q)
	wq, err := c.writeQuorum(props, q, n, true)
	if err != nil {
		return err
	}
	ctx, cancel := c.withTimeout(ctx, q)
	defer cancel()
	pl := c.preflist(req.Type, req.Bucket, req.Key, n, q.SloppyQuorum)
	if uint32(len(pl)) < wq.w {
		return fmt.Errorf("%w: %d replicas available, w=%d", service.ErrQuorum, len(pl), wq.w)
	}
	return c.forwardWrite(pl, func() error { return c.coordinateDelete(ctx, req, pl, wq) },
		func(coord string) error { return c.peers.del(ctx, c.member(coord), req, q) })
}

// coordinateDelete writes the tombstone locally and replicates it. Like
// Riak, the coordinator first brings its copy up to date, so a delete with
// the clock the client read removes what the client saw.
func (c *Cluster) coordinateDelete(ctx context.Context, req kv.DeleteRequest, pl []ring.Entry, wq writeQuorum) error {
	if err := c.syncLocal(ctx, pl, req.Type, req.Bucket, req.Key); err != nil {
		return err
	}
	if err := c.engine.Delete(ctx, req); err != nil {
		return err
	}
	if _, found, err := c.engine.FetchReplica(ctx, req.Type, req.Bucket, req.Key); err != nil || !found {
		// No replica that answered holds the key: nothing to delete,
		// and, as in Riak, that is a success.
		return err
	}
	return c.replicate(ctx, pl, req.Type, req.Bucket, req.Key, wq)
}

// syncLocal merges the other replicas' copies of a key into the local one,
// from a quorum of them (a hung replica does not hold a delete up).
func (c *Cluster) syncLocal(ctx context.Context, pl []ring.Entry, typ, bucket, key string) error {
	n := uint32(len(pl))
	for _, rep := range c.fetchQuorum(ctx, pl, typ, bucket, key, newGetCore(n, n/2+1, 0, false, false)) {
		if rep.err == nil && rep.found && rep.node != c.self.Name {
			if _, _, err := c.engine.StoreReplica(ctx, typ, bucket, key, rep.obj); err != nil {
				return err
			}
		}
	}
	return nil
}

// forEachMember runs fn for every available member (this node included)
// in parallel and returns the first error of a member that answered with
// one. Members that cannot be reached are skipped: the other replicas
// cover their keys.
func (c *Cluster) forEachMember(ctx context.Context, fn func(ctx context.Context, m Member) error) error {
	m, _ := c.snapshot()
	errs := make([]error, len(m.Members))
	var wg sync.WaitGroup
	for i, mb := range m.Members {
		if !c.up(mb.Name) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn(ctx, mb)
			if err != nil && isTransport(err) {
				c.markDown(mb.Name, err)
				err = nil
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

const listBatch = 1000

// ListBuckets implements service.Service: the union of every member's buckets.
func (c *Cluster) ListBuckets(ctx context.Context, typ string, fn func([]string) error) error {
	if err := c.serving(); err != nil {
		return err
	}
	if _, err := c.engine.BucketType(typ); err != nil {
		return err
	}
	var mu sync.Mutex
	all := map[string]struct{}{}
	err := c.forEachMember(ctx, func(ctx context.Context, m Member) error {
		var bs []string
		var err error
		if m.Name == c.self.Name {
			err = c.engine.ListBuckets(ctx, typ, func(b []string) error { bs = append(bs, b...); return nil })
		} else {
			bs, err = c.peers.buckets(ctx, m, typ)
		}
		mu.Lock()
		for _, b := range bs {
			all[b] = struct{}{}
		}
		mu.Unlock()
		return err
	})
	if err != nil {
		return err
	}
	return emitSorted(all, fn)
}

// ListKeys implements service.Service: the union of every member's keys.
func (c *Cluster) ListKeys(ctx context.Context, typ, bucket string, fn func([]string) error) error {
	if err := c.serving(); err != nil {
		return err
	}
	if _, err := c.engine.BucketProps(typ, bucket); err != nil {
		return err
	}
	var mu sync.Mutex
	all := map[string]struct{}{}
	err := c.forEachMember(ctx, func(ctx context.Context, m Member) error {
		var ks []string
		var err error
		if m.Name == c.self.Name {
			err = c.engine.ListKeys(ctx, typ, bucket, func(k []string) error { ks = append(ks, k...); return nil })
		} else {
			ks, err = c.peers.keys(ctx, m, typ, bucket)
		}
		mu.Lock()
		for _, k := range ks {
			all[k] = struct{}{}
		}
		mu.Unlock()
		return err
	})
	if err != nil {
		return err
	}
	return emitSorted(all, fn)
}

func emitSorted(set map[string]struct{}, fn func([]string) error) error {
	items := make([]string, 0, len(set))
	for s := range set {
		items = append(items, s)
	}
	slices.Sort(items)
	for len(items) > 0 {
		n := min(len(items), listBatch)
		if err := fn(items[:n]); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// IndexQuery implements service.Service: each member answers the query
// over its own data (one page, with terms, so answers can be merged in
// order), and the coordinator merges, removes replicas' duplicates and cuts
// the page.
func (c *Cluster) IndexQuery(ctx context.Context, q kv.IndexQuery, fn func([]kv.IndexResult) error) (string, error) {
	if err := c.serving(); err != nil {
		return "", err
	}
	if _, err := c.engine.BucketProps(q.Type, q.Bucket); err != nil {
		return "", err
	}
	if q.Continuation != "" {
		if _, _, err := kv.DecodeContinuation(q.Continuation); err != nil {
			return "", err
		}
	}
	remoteQ := q
	remoteQ.ReturnTerms = true
	var mu sync.Mutex
	var results []kv.IndexResult
	more := false
	err := c.forEachMember(ctx, func(ctx context.Context, m Member) error {
		var rs []kv.IndexResult
		var cont string
		var err error
		if m.Name == c.self.Name {
			cont, err = c.engine.IndexQuery(ctx, remoteQ, func(b []kv.IndexResult) error { rs = append(rs, b...); return nil })
		} else {
			rs, cont, err = c.peers.index(ctx, m, remoteQ)
		}
		mu.Lock()
		results = append(results, rs...)
		more = more || cont != ""
		mu.Unlock()
		return err
	})
	if err != nil {
		return "", err
	}
	cmpTerm := kv.CompareTerms(q.Index)
	slices.SortFunc(results, func(a, b kv.IndexResult) int {
		return cmp.Or(cmpTerm(a.Term, b.Term), cmp.Compare(a.Key, b.Key))
	})
	results = slices.Compact(results)
	if q.MaxResults > 0 && uint32(len(results)) > q.MaxResults {
		results, more = results[:q.MaxResults], true
	}
	cont := ""
	if q.MaxResults > 0 && more && len(results) > 0 {
		last := results[len(results)-1]
		cont = kv.EncodeContinuation(last.Term, last.Key)
	}
	if !q.ReturnTerms {
		for i := range results {
			results[i].Term = ""
		}
	}
	for len(results) > 0 {
		n := min(len(results), listBatch)
		if err := fn(results[:n]); err != nil {
			return "", err
		}
		results = results[n:]
	}
	return cont, nil
}

// BucketProps implements service.Service.
func (c *Cluster) BucketProps(_ context.Context, typ, bucket string) (kv.BucketProps, error) {
	return c.engine.BucketProps(typ, bucket)
}

// SetBucketProps implements service.Service: applied here, then on every member.
func (c *Cluster) SetBucketProps(ctx context.Context, typ, bucket string, u kv.PropsUpdate) error {
	ch, err := c.meta.setBucket(typ, bucket, &u)
	if err != nil {
		return err
	}
	return c.broadcastMeta(ctx, ch)
}

// ResetBucketProps implements service.Service.
func (c *Cluster) ResetBucketProps(ctx context.Context, typ, bucket string) error {
	ch, err := c.meta.setBucket(typ, bucket, nil)
	if err != nil {
		return err
	}
	return c.broadcastMeta(ctx, ch)
}

// BucketType implements service.Service.
func (c *Cluster) BucketType(_ context.Context, name string) (kv.BucketType, error) {
	return c.engine.BucketType(name)
}

// SetBucketTypeProps implements service.Service.
func (c *Cluster) SetBucketTypeProps(ctx context.Context, name string, u kv.PropsUpdate) error {
	ch, err := c.meta.setType(name, u, true, false)
	if err != nil {
		return err
	}
	return c.broadcastMeta(ctx, ch)
}

// CreateBucketType creates and activates a bucket type cluster-wide.
func (c *Cluster) CreateBucketType(ctx context.Context, name string, u kv.PropsUpdate) error {
	ch, err := c.meta.setType(name, u, true, true)
	if err != nil {
		return err
	}
	return c.broadcastMeta(ctx, ch)
}

// broadcastMeta sends a metadata change to every other member, including
// those believed down (a wrong guess must not lose an update). Members that
// cannot be reached get it from the periodic metadata sync or at catch-up.
// With a gossip delay the change goes out that much later, in the
// background, and the request is answered at once: as with Riak, another
// node answers with the old properties meanwhile.
func (c *Cluster) broadcastMeta(ctx context.Context, ch ClusterMeta) error {
	if c.gossipDelay > 0 {
		c.mu.Lock()
		run := c.runCtx
		if run != nil {
			c.bg.Add(1) // under mu: stopBackground waits for it
		}
		c.mu.Unlock()
		if run == nil { // not serving (starting or stopped): at once
			return c.sendMeta(ctx, ch)
		}
		go func() {
			defer c.bg.Done()
			select {
			case <-time.After(c.gossipDelay):
			case <-run.Done():
				return // the periodic sync and catch-up carry it
			}
			gctx, cancel := context.WithTimeout(run, DefaultRequestTimeout)
			defer cancel()
			if err := c.sendMeta(gctx, ch); err != nil {
				c.log.Warn("metadata gossip", "err", err)
			}
		}()
		return nil
	}
	return c.sendMeta(ctx, ch)
}

// sendMeta sends a metadata change to every other member now.
func (c *Cluster) sendMeta(ctx context.Context, ch ClusterMeta) error {
	m, _ := c.snapshot()
	var wg sync.WaitGroup
	errs := make([]error, len(m.Members))
	for i, mb := range m.Members {
		if mb.Name == c.self.Name {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.peers.applyMeta(ctx, mb, ch); err != nil && !isTransport(err) {
				errs[i] = fmt.Errorf("%s: %w", mb.Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Preflist implements service.Service.
func (c *Cluster) Preflist(_ context.Context, typ, bucket, key string) ([]service.PreflistEntry, error) {
	props, err := c.engine.BucketProps(typ, bucket)
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("%w: empty key", kv.ErrInvalidKey)
	}
	pl := c.preflist(typ, bucket, key, props.NVal, nil)
	out := make([]service.PreflistEntry, len(pl))
	for i, e := range pl {
		out[i] = service.PreflistEntry{Partition: int64(e.Partition), Node: e.Node, Primary: e.Primary}
	}
	return out, nil
}
