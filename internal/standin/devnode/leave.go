package devnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/ring"
	"github.com/rmf-go/rmf/protocol"
)

// ErrLastMember refuses the leave of a cluster's only member: its data
// would have nowhere to go (Riak refuses it too).
var ErrLastMember = errors.New("devnode: the last member of a cluster cannot leave")

// LeaveResult says what a leave did.
type LeaveResult struct {
	// HandedOff counts the objects sent to their new owners.
	HandedOff int `json:"handed_off"`
	// Unreachable names members that did not confirm the leave; they learn
	// it by gossip when they are back.
	Unreachable []string `json:"unreachable,omitempty"`
}

// Leave removes this node from its cluster, as `riak admin cluster leave`
// does, without losing data:
//
//  1. while still a member, it sends every object it holds to the members
//     that own it once it is gone (new owners only: the others have it);
//  2. it records itself as left and tells every member, waiting for each
//     reachable one to confirm, so no member routes to it any more;
//  3. it sends again what changed meanwhile (writes that reached it
//     between the two passes).
//
// Client requests it still receives are forwarded to the remaining members
// (it is no longer on the ring). Leave is idempotent; a node that left
// refuses to start again on the same data directory.
func (c *Cluster) Leave(ctx context.Context) (LeaveResult, error) {
	c.leaveMu.Lock()
	defer c.leaveMu.Unlock()
	var res LeaveResult
	m := c.Membership()
	if m.HasLeft(c.self.Name) {
		c.leftOnce.Do(func() { close(c.left) })
		return res, nil
	}
	others := slices.DeleteFunc(m.Names(), func(n string) bool { return n == c.self.Name })
	if len(others) == 0 {
		return res, ErrLastMember
	}
	c.log.Info("leaving the cluster", "members", others)
	c.leaving.Store(true)
	defer c.leaving.Store(false)
	n, err := c.handOffOwnership(ctx, 1)
	res.HandedOff += n
	if err != nil {
		return res, err
	}

	c.mergeMu.Lock()
	gone := c.self
	gone.Seen = time.Now().UTC()
	merged, _ := c.Membership().Merge(Membership{Left: []Member{gone}})
	err = c.adopt(merged)
	c.mergeMu.Unlock()
	if err != nil {
		return res, fmt.Errorf("devnode: leave: %w", err)
	}
	res.Unreachable = c.tellLeft(ctx, merged)

	n, err = c.handOffOwnership(ctx, 2)
	res.HandedOff += n
	if err != nil {
		return res, err
	}
	c.leftOnce.Do(func() { close(c.left) })
	c.log.Info("left the cluster", "handed_off", res.HandedOff, "unreachable", res.Unreachable)
	return res, nil
}

// tellLeft sends the membership with this node's tombstone to every member
// until each confirms it (retrying a few times), and returns the members
// that could not be reached.
func (c *Cluster) tellLeft(ctx context.Context, m Membership) (unreachable []string) {
	for _, mb := range m.Members {
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			var reply Membership
			reply, err = c.peers.gossip(pctx, mb, m)
			cancel()
			if err == nil && reply.HasLeft(c.self.Name) {
				break
			}
			if err == nil {
				err = errors.New("member did not record the leave")
			}
			select {
			case <-ctx.Done():
				return append(unreachable, mb.Name)
			case <-time.After(200 * time.Millisecond):
			}
		}
		if err != nil {
			c.log.Warn("leave: member did not confirm", "member", mb.Name, "err", err)
			unreachable = append(unreachable, mb.Name)
		}
	}
	return unreachable
}

// handOffOwnership sends every local object to the members that are its
// primaries on the ring without this node but not on the ring with it.
func (c *Cluster) handOffOwnership(ctx context.Context, pass int) (int, error) {
	m := c.Membership()
	names := slices.DeleteFunc(m.Names(), func(n string) bool { return n == c.self.Name })
	without, err := ring.New(m.RingSize, names)
	if err != nil {
		return 0, err
	}
	with, err := ring.New(m.RingSize, append(slices.Clone(names), c.self.Name))
	if err != nil {
		return 0, err
	}
	sent := 0
	bufs := map[string]*bulkBuffer{}
	err = c.walkObjects(ctx, func(a storeArgs, nval uint32) error {
		before := with.Preflist(a.Type, a.Bucket, a.Key, int(nval), nil)
		for _, e := range without.Preflist(a.Type, a.Bucket, a.Key, int(nval), nil) {
			if slices.ContainsFunc(before, func(b ring.Entry) bool { return b.Node == e.Node }) {
				continue
			}
			buf := bufs[e.Node]
			if buf == nil {
				node := e.Node
				buf = &bulkBuffer{flush: func(objs []storeArgs) error {
					if err := c.storeBulkWithRetry(ctx, node, objs); err != nil {
						return fmt.Errorf("devnode: leave: hand %d objects to %s: %w", len(objs), node, err)
					}
					sent += len(objs)
					return nil
				}}
				bufs[e.Node] = buf
			}
			if err := buf.add(a); err != nil {
				return err
			}
		}
		return nil
	})
	for _, buf := range bufs {
		if ferr := buf.done(); err == nil {
			err = ferr
		}
	}
	c.stats.handoffObjects.Add(uint64(sent))
	c.log.Info("leave: handoff pass done", "pass", pass, "objects", sent, "err", err)
	return sent, err
}

// storeBulkWithRetry stores replicas on node, retrying a transport
// failure for a while: a leave must not drop objects because a member
// blinked.
func (c *Cluster) storeBulkWithRetry(ctx context.Context, node string, objs []storeArgs) error {
	var err error
	for delay := 100 * time.Millisecond; delay < 10*time.Second; delay *= 2 {
		err = c.peers.storeBulk(ctx, c.member(node), objs)
		c.noteResult(node, err)
		if err == nil || !isTransport(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
	return err
}

// Left is closed once this node has left its cluster.
func (c *Cluster) Left() <-chan struct{} { return c.left }

// ErrLeft refuses to start a node whose data directory says it left its
// cluster: its data was handed off, and serving it again would resurrect
// stale objects.
var ErrLeft = errors.New("devnode: this node left its cluster; start it with an empty data directory to join again")

// RequestLeave asks the devnode at pbAddr to leave its cluster and waits
// until it has handed off its data (or ctx ends): the devnode's
// `riak admin cluster leave`. The node exits by itself afterwards.
func RequestLeave(ctx context.Context, pbAddr string) (LeaveResult, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", pbAddr)
	if err != nil {
		return LeaveResult{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := protocol.WriteFrame(conn, codeLeaveReq, nil); err != nil {
		return LeaveResult{}, err
	}
	f, err := protocol.NewReader(conn, 0).ReadFrame()
	if err != nil && !errors.Is(err, protocol.ErrUnknownCode) {
		if ctx.Err() != nil {
			return LeaveResult{}, ctx.Err()
		}
		return LeaveResult{}, err
	}
	switch f.Code {
	case codeLeaveResp:
		var res LeaveResult
		if err := json.Unmarshal(f.Body, &res); err != nil {
			return LeaveResult{}, fmt.Errorf("devnode: bad leave reply: %w", err)
		}
		return res, nil
	case protocol.CodeErrorResp:
		msg, _, _ := protocol.ParseErrorResp(f.Body)
		return LeaveResult{}, fmt.Errorf("devnode: leave refused: %s", msg)
	}
	return LeaveResult{}, fmt.Errorf("devnode: unexpected leave reply %v", f.Code)
}
