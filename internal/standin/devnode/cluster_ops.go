package devnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/rmf-go/rmf/protocol"
)

// Private PB message codes of the devnode join handshake. They are not
// Riak's (its table leaves them free); any other server answers them with
// RpbErrorResp. A node joins through a PB address, as `riak admin cluster
// join` names a node, and learns the members' internal HTTP addresses.
const (
	codeJoinReq   protocol.Code = 248
	codeJoinResp  protocol.Code = 249
	codeLeaveReq  protocol.Code = 250
	codeLeaveResp protocol.Code = 251
)

// leaveTimeout bounds a leave asked over PB (the handoff of its data).
const leaveTimeout = 10 * time.Minute

// joinTimeout bounds how long a starting node waits for its seed.
const joinTimeout = 30 * time.Second

// pbExtension answers the devnode's private PB codes: the join handshake
// and the leave request.
func (c *Cluster) pbExtension(ctx context.Context, code protocol.Code, body []byte) (protocol.Code, []byte, bool) {
	switch code {
	case codeJoinReq:
		return c.pbJoin(body)
	case codeLeaveReq:
		return c.pbLeave(ctx)
	case codeAdminReq:
		return c.pbAdmin(ctx, body)
	}
	return 0, nil, false
}

// pbLeave runs a leave to its end and answers with its LeaveResult; the
// node's owner (rmf devnode) then shuts the node down (Node.Left), as
// Riak does.
func (c *Cluster) pbLeave(ctx context.Context) (protocol.Code, []byte, bool) {
	ctx, cancel := context.WithTimeout(ctx, leaveTimeout)
	defer cancel()
	res, err := c.Leave(ctx)
	if err != nil {
		return protocol.CodeErrorResp, protocol.ErrorResp(err.Error(), 0)[protocol.HeaderSize:], true
	}
	out, _ := json.Marshal(res)
	return codeLeaveResp, out, true
}

func (c *Cluster) pbJoin(body []byte) (protocol.Code, []byte, bool) {
	var m Member
	if err := json.Unmarshal(body, &m); err != nil || m.Name == "" || m.PB == "" || m.HTTP == "" {
		return protocol.CodeErrorResp, protocol.ErrorResp("devnode: invalid join request", 0)[protocol.HeaderSize:], true
	}
	merged, err := c.mergeMembership(Membership{Version: membershipVersion, Members: []Member{m}})
	if err != nil {
		return protocol.CodeErrorResp, protocol.ErrorResp("devnode: join: "+err.Error(), 0)[protocol.HeaderSize:], true
	}
	c.log.Info("member joined", "member", m.Name, "pb", m.PB)
	out, _ := json.Marshal(merged)
	return codeJoinResp, out, true
}

// join asks the node at seedPB to add this node to its cluster, retrying
// until the seed answers or joinTimeout passes.
func (c *Cluster) join(ctx context.Context, seedPB string) error {
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	var lastErr error
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		m, err := c.joinOnce(ctx, seedPB)
		if err == nil {
			// The cluster's ring size wins over this node's flag.
			cur := c.Membership()
			cur.RingSize = m.RingSize
			merged, _ := cur.Merge(m)
			merged.RingSize = m.RingSize
			return c.adopt(merged)
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("devnode: join %s: %w", seedPB, lastErr)
		case <-time.After(delay):
		}
	}
}

func (c *Cluster) joinOnce(ctx context.Context, seedPB string) (Membership, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", seedPB)
	if err != nil {
		return Membership{}, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	body, _ := json.Marshal(c.self)
	if err := protocol.WriteFrame(conn, codeJoinReq, body); err != nil {
		return Membership{}, err
	}
	f, err := protocol.NewReader(conn, 0).ReadFrame()
	if err != nil && !errors.Is(err, protocol.ErrUnknownCode) {
		return Membership{}, err
	}
	switch f.Code {
	case codeJoinResp:
		var m Membership
		if err := json.Unmarshal(f.Body, &m); err != nil {
			return Membership{}, fmt.Errorf("bad join reply: %w", err)
		}
		return m, m.Validate()
	case protocol.CodeErrorResp:
		msg, _, _ := protocol.ParseErrorResp(f.Body)
		return Membership{}, fmt.Errorf("seed refused: %s", msg)
	}
	return Membership{}, fmt.Errorf("unexpected reply %v", f.Code)
}

// adopt makes m the membership, persists it and rebuilds the ring.
func (c *Cluster) adopt(m Membership) error {
	if err := m.Validate(); err != nil {
		return err
	}
	prev := c.Membership()
	if err := c.setMembership(m); err != nil {
		return err
	}
	c.hints.retain(func(member string) bool { _, ok := m.Get(member); return ok })
	if newlyReplaced(prev, m) || membersChanged(prev, m) {
		// A replace, join or leave: take this member's new share (after a
		// replace, what the replaced node held) from the others.
		c.resyncAfterRingChange()
	}
	if c.persist != nil {
		return c.persist(m)
	}
	return nil
}

// mergeMembership merges a view from a peer; when it changes ours, the
// result is persisted and told to every member.
func (c *Cluster) mergeMembership(m Membership) (Membership, error) {
	c.mergeMu.Lock()
	cur := c.Membership()
	merged, changed := cur.Merge(m)
	if changed {
		if err := c.adopt(merged); err != nil {
			c.mergeMu.Unlock()
			return Membership{}, err
		}
	}
	c.mergeMu.Unlock()
	if changed {
		go c.announce(context.Background())
	}
	return merged, nil
}

// announce sends our membership to every other member and merges their answers.
func (c *Cluster) announce(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m := c.Membership()
	for _, mb := range m.Members {
		if mb.Name == c.self.Name {
			continue
		}
		reply, err := c.peers.gossip(ctx, mb, m)
		if err != nil {
			c.log.Debug("gossip failed", "to", mb.Name, "err", err)
			continue
		}
		c.mergeMu.Lock()
		if merged, changed := c.Membership().Merge(reply); changed {
			_ = c.adopt(merged)
		}
		c.mergeMu.Unlock()
	}
}

// catchUp brings this node up to date before it serves: cluster metadata
// from every reachable member, then every object of which this node is a
// primary replica (what it missed while down, or its share after joining).
// Unreachable members are skipped: the other replicas cover their data.
//
// It makes two passes. The members learn that this node is back from its
// announcement (and their monitor), but a write they coordinated just
// before may have skipped this node and landed in their store after the
// first pass streamed past its key; the second pass picks those up (objects
// already held are not written again).
func (c *Cluster) catchUp(ctx context.Context) error {
	c.syncing.Add(1)
	defer c.syncing.Add(-1)
	for pass := 1; pass <= catchUpPasses; pass++ {
		if err := c.catchUpPass(ctx, pass); err != nil {
			return err
		}
	}
	return nil
}

const (
	catchUpPasses   = 2
	catchUpAttempts = 3 // per member and pass, when its stream breaks
)

func (c *Cluster) catchUpPass(ctx context.Context, pass int) error {
	m := c.Membership()
	for _, mb := range m.Members {
		if mb.Name == c.self.Name {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		meta, err := c.peers.meta(pctx, mb)
		cancel()
		if err != nil {
			c.log.Info("catch-up: member unreachable, skipped", "member", mb.Name, "pass", pass, "err", err)
			c.markDown(mb.Name, err)
			continue
		}
		if err := c.meta.apply(meta); err != nil {
			c.log.Warn("catch-up: metadata", "from", mb.Name, "err", err)
		}
		for attempt := 1; ; attempt++ {
			n, stored, err := c.handoffFrom(ctx, mb)
			if pass == 1 {
				c.stats.handoffObjects.Add(uint64(n))
			} else {
				c.stats.handoffObjects.Add(uint64(stored)) // not what the first pass counted
			}
			if err == nil {
				c.log.Info("catch-up done", "from", mb.Name, "pass", pass, "objects", n, "stored", stored)
				break
			}
			if !isTransport(err) {
				return fmt.Errorf("devnode: catch-up from %s: %w", mb.Name, err)
			}
			if attempt == catchUpAttempts || ctx.Err() != nil {
				c.log.Warn("catch-up: member failed mid-stream, skipped", "member", mb.Name, "pass", pass, "objects", n, "err", err)
				break
			}
			c.log.Info("catch-up: stream broke, retrying", "member", mb.Name, "pass", pass, "objects", n, "err", err)
		}
	}
	return nil
}

// handoffFrom streams from mb every object of which this node is a primary
// and merges them into the local store in bulk (shared commits): n
// received, stored of them changed it.
func (c *Cluster) handoffFrom(ctx context.Context, mb Member) (n, stored int, err error) {
	buf := bulkBuffer{flush: func(objs []storeArgs) error {
		s, err := c.engine.StoreReplicas(ctx, replicas(objs))
		stored += s
		return err
	}}
	err = c.peers.handoff(ctx, mb, c.self.Name, func(a storeArgs) error {
		n++
		return buf.add(a)
	})
	if ferr := buf.done(); err == nil {
		err = ferr
	}
	return n, stored, err
}

// monitor pings every member twice a second to keep the up/down view
// current, and re-announces the membership every few seconds.
func (c *Cluster) monitor(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m := c.Membership()
		// A write under way while a member left or was replaced can owe
		// it a key after adopt dropped its hints: drop those too, or
		// transfers would report them for ever.
		c.hints.retain(func(member string) bool { _, ok := m.Get(member); return ok })
		for _, mb := range m.Members {
			if mb.Name == c.self.Name {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, 400*time.Millisecond)
			err := c.peers.ping(pctx, mb)
			cancel()
			if err != nil {
				c.markDown(mb.Name, err)
			} else {
				c.markUp(mb.Name)
			}
		}
		if i%10 == 0 {
			c.announce(ctx)
			c.syncMeta(ctx)
		}
	}
}

// syncMeta pulls cluster metadata from every reachable member, so an update
// a member missed (it was unreachable during the broadcast) converges.
func (c *Cluster) syncMeta(ctx context.Context) {
	for _, mb := range c.Membership().Members {
		if mb.Name == c.self.Name || !c.up(mb.Name) {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		meta, err := c.peers.meta(pctx, mb)
		cancel()
		if err == nil {
			if err := c.meta.apply(meta); err != nil {
				c.log.Warn("metadata sync", "from", mb.Name, "err", err)
			}
		}
	}
}
