package devnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/rmf-go/rmf/internal/standin/devnode/ring"
	"github.com/rmf-go/rmf/protocol"
)

// The devnode's `riak admin` (rmf devnode admin): each verb asks the
// devnode named by --pb, and through it every member, over a private PB
// code pair, then prints Riak's output (admin_format.go).
const (
	codeAdminReq  protocol.Code = 252
	codeAdminResp protocol.Code = 253
)

// adminCallTimeout bounds one admin request to one node.
const adminCallTimeout = 5 * time.Second

// Admin operations.
const (
	adminStatus  = "status"
	adminReplace = "replace"
)

type adminRequest struct {
	Op    string `json:"op"`
	Old   string `json:"old,omitempty"`
	New   string `json:"new,omitempty"`
	Force bool   `json:"force,omitempty"`
	// Sub is the bucket-type verb (Old: the type, New: its JSON).
	Sub string `json:"sub,omitempty"`
}

// NodeStatus is one node's answer to the admin status request.
type NodeStatus struct {
	Node string `json:"node"`
	// Services lists riak_kv once the node serves (joined and caught up).
	Services   []string   `json:"services"`
	Membership Membership `json:"membership"`
	Leaving    bool       `json:"leaving,omitempty"`
	CatchingUp bool       `json:"catching_up,omitempty"`
	// HintPartitions counts the partitions of the keys this node still
	// owes other members (hinted handoff).
	HintPartitions int `json:"hint_partitions,omitempty"`
}

type replaceReply struct {
	Outcome ReplaceOutcome `json:"outcome"`
	Reason  string         `json:"reason,omitempty"`
}

func (c *Cluster) pbAdmin(ctx context.Context, body []byte) (protocol.Code, []byte, bool) {
	var req adminRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return protocol.CodeErrorResp, protocol.ErrorResp("devnode: invalid admin request", 0)[protocol.HeaderSize:], true
	}
	var reply any
	switch req.Op {
	case adminStatus:
		reply = c.adminStatus()
	case adminReplace:
		if err := ValidateNodeName(req.Old); err != nil {
			return protocol.CodeErrorResp, protocol.ErrorResp(err.Error(), 0)[protocol.HeaderSize:], true
		}
		if err := ValidateNodeName(req.New); err != nil {
			return protocol.CodeErrorResp, protocol.ErrorResp(err.Error(), 0)[protocol.HeaderSize:], true
		}
		out, reason := c.replace(ctx, req.Old, req.New, req.Force)
		reply = replaceReply{Outcome: out, Reason: reason}
	case adminBucketType, adminAAEStatus:
		reply = c.adminText(ctx, req)
	default:
		return protocol.CodeErrorResp, protocol.ErrorResp("devnode: unknown admin op "+req.Op, 0)[protocol.HeaderSize:], true
	}
	out, _ := json.Marshal(reply)
	return codeAdminResp, out, true
}

func (c *Cluster) adminStatus() NodeStatus {
	m, r := c.snapshot()
	st := NodeStatus{Node: c.self.Name, Services: []string{}, Membership: m, Leaving: c.leaving.Load(), CatchingUp: c.syncing.Load() > 0}
	if c.ready.Load() {
		st.Services = []string{ServiceKV}
	}
	st.HintPartitions = c.hints.partitions(r)
	return st
}

// partitions counts the distinct partitions of every key owed to anyone.
func (h *hints) partitions(r *ring.Ring) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	ps := map[int]struct{}{}
	for _, keys := range h.owed {
		for k := range keys {
			ps[r.PartitionOf(ring.KeyHash([]byte(k.typ), []byte(k.bucket), []byte(k.key)))] = struct{}{}
		}
	}
	return len(ps)
}

// replace removes old from the cluster in favour of new, a member that
// joined (riak_core_claimant's replace and force_replace, applied at once:
// the devnode has no staging).
//
// force: old is presumed gone for good. Its name is retired (a Replaced
// tombstone, which no later announcement of old overrides), every
// reachable member is told, and each of them catches up again to take its
// new share of the ring from the surviving replicas.
//
// Otherwise old must answer: it is asked to leave, which hands its data to
// the new owners and then stops it (as a Riak replace hands old's
// partitions to new, then old shuts down).
func (c *Cluster) replace(ctx context.Context, old, new string, force bool) (ReplaceOutcome, string) {
	m := c.Membership()
	oldM, ok := m.Get(old)
	if !ok {
		return ReplaceNotMember, ""
	}
	if _, ok := m.Get(new); !ok || new == old {
		return ReplaceInvalidReplacement, ""
	}
	if !force {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := c.peers.ping(pctx, oldM)
		cancel()
		if err != nil && old != c.self.Name {
			c.log.Warn("replace: old node does not answer", "old", old, "err", err)
			return ReplaceFailed, fmt.Sprintf("%s does not answer: %v", old, err)
		}
		c.mu.RLock()
		runCtx := c.runCtx
		c.mu.RUnlock()
		if runCtx == nil {
			return ReplaceFailed, "node is stopping"
		}
		// Old must know every member (new joined through another node,
		// maybe moments ago) to confirm its leave with each.
		gctx, gcancel := context.WithTimeout(ctx, 2*time.Second)
		_, _ = c.peers.gossip(gctx, oldM, c.Membership())
		gcancel()
		go func() {
			lctx, cancel := context.WithTimeout(runCtx, leaveTimeout)
			defer cancel()
			if _, err := RequestLeave(lctx, oldM.PB); err != nil {
				c.log.Warn("replace: leave of old node failed", "old", old, "err", err)
			}
		}()
		c.log.Info("replace: old node hands off and leaves", "old", old, "new", new)
		return ReplaceOK, ""
	}
	gone := oldM
	gone.Seen = time.Now().UTC()
	gone.Replaced = true
	merged, err := c.mergeMembership(Membership{Version: membershipVersion, Left: []Member{gone}})
	if err != nil {
		return ReplaceFailed, err.Error()
	}
	unconfirmed := c.tellReplaced(ctx, merged, old)
	c.log.Info("force-replace done", "old", old, "new", new, "unconfirmed", unconfirmed)
	return ReplaceOK, ""
}

// tellReplaced gossips m (with old's tombstone) to every member, once
// each (members that miss it learn it by gossip), and returns those that
// did not confirm.
func (c *Cluster) tellReplaced(ctx context.Context, m Membership, old string) (unconfirmed []string) {
	for _, mb := range m.Members {
		if mb.Name == c.self.Name {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		reply, err := c.peers.gossip(pctx, mb, m)
		cancel()
		if err != nil || !reply.HasLeft(old) {
			unconfirmed = append(unconfirmed, mb.Name)
		}
	}
	return unconfirmed
}

// newlyReplaced reports whether next retires a member prev still had.
func newlyReplaced(prev, next Membership) bool {
	for _, l := range next.Left {
		if l.Replaced {
			if _, was := prev.Get(l.Name); was {
				return true
			}
		}
	}
	return false
}

// ValidateNodeName checks a Riak node name (name@host).
func ValidateNodeName(name string) error {
	n, h, ok := strings.Cut(name, "@")
	if !ok || n == "" || h == "" || strings.ContainsAny(name, " \t\r\n'\"") || strings.Count(name, "@") != 1 {
		return fmt.Errorf("devnode: node name %q must look like name@host", name)
	}
	return nil
}

// validatePB checks a host:port address.
func validatePB(addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("devnode: --pb %q: want HOST:PORT", addr)
	}
	return nil
}

// ErrNotRunning wraps a failure to reach the node an admin verb names.
var ErrNotRunning = errors.New("devnode: node is not running")

func adminCall(ctx context.Context, pbAddr string, req adminRequest, reply any) error {
	if err := validatePB(pbAddr); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, adminCallTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", pbAddr)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotRunning, pbAddr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	body, _ := json.Marshal(req)
	if err := protocol.WriteFrame(conn, codeAdminReq, body); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotRunning, pbAddr, err)
	}
	f, err := protocol.NewReader(conn, 0).ReadFrame()
	if err != nil && !errors.Is(err, protocol.ErrUnknownCode) {
		return fmt.Errorf("%w: %s: %v", ErrNotRunning, pbAddr, err)
	}
	switch f.Code {
	case codeAdminResp:
		if err := json.Unmarshal(f.Body, reply); err != nil {
			return fmt.Errorf("devnode: admin: bad reply from %s: %w", pbAddr, err)
		}
		return nil
	case protocol.CodeErrorResp:
		msg, _, _ := protocol.ParseErrorResp(f.Body)
		return fmt.Errorf("devnode: admin: %s refused: %s", pbAddr, msg)
	}
	return fmt.Errorf("devnode: admin: unexpected reply %v from %s", f.Code, pbAddr)
}

// AdminStatus asks the devnode at pbAddr for its status.
func AdminStatus(ctx context.Context, pbAddr string) (NodeStatus, error) {
	var st NodeStatus
	err := adminCall(ctx, pbAddr, adminRequest{Op: adminStatus}, &st)
	return st, err
}

// memberStatuses asks the node at pbAddr for its membership, then every
// member for its status; down lists the members that did not answer.
func memberStatuses(ctx context.Context, pbAddr string) (first NodeStatus, all []NodeStatus, down []string, err error) {
	first, err = AdminStatus(ctx, pbAddr)
	if err != nil {
		return first, nil, nil, err
	}
	all = make([]NodeStatus, len(first.Membership.Members))
	errs := make([]error, len(all))
	done := make(chan int)
	for i, mb := range first.Membership.Members {
		go func() {
			if mb.Name == first.Node {
				all[i] = first
			} else {
				all[i], errs[i] = AdminStatus(ctx, mb.PB)
				if errs[i] == nil && all[i].Node != mb.Name {
					errs[i] = fmt.Errorf("%s answers as %s", mb.PB, all[i].Node)
				}
			}
			done <- i
		}()
	}
	for range all {
		<-done
	}
	var up []NodeStatus
	for i, mb := range first.Membership.Members {
		if errs[i] != nil {
			down = append(down, mb.Name)
			continue
		}
		up = append(up, all[i])
	}
	slices.Sort(down)
	return first, up, down, nil
}

// WaitForService polls the devnode at pbAddr (or, with node set, the
// member of its cluster called node) until it runs service, calling line
// with each line `riak admin wait-for-service` prints. It returns true
// once the service is up, false when ctx ends first.
func WaitForService(ctx context.Context, pbAddr, service, node string, interval time.Duration, line func(string)) bool {
	for {
		services, err := nodeServices(ctx, pbAddr, node)
		l := WaitLine(service, services, err != nil)
		line(l)
		if err == nil && slices.Contains(services, service) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(interval):
		}
	}
}

func nodeServices(ctx context.Context, pbAddr, node string) ([]string, error) {
	st, err := AdminStatus(ctx, pbAddr)
	if err != nil || node == "" || node == st.Node {
		return st.Services, err
	}
	mb, ok := st.Membership.Get(node)
	if !ok {
		return []string{}, nil // not (yet) a member: not up
	}
	st, err = AdminStatus(ctx, mb.PB)
	if err == nil && st.Node != node {
		return nil, fmt.Errorf("%s answers as %s", mb.PB, st.Node)
	}
	return st.Services, err
}

// CheckRingReady is `riak admin ringready`: every member must answer with
// the same membership (so the same ring).
func CheckRingReady(ctx context.Context, pbAddr string) (RingReady, error) {
	first, all, down, err := memberStatuses(ctx, pbAddr)
	if err != nil {
		return RingReady{}, err
	}
	res := RingReady{Nodes: first.Membership.Names(), Down: down}
	if len(down) > 0 {
		return res, nil
	}
	want := first.Membership.Names()
	for _, st := range all {
		if !slices.Equal(st.Membership.Names(), want) || st.Membership.RingSize != first.Membership.RingSize {
			res.Differ = [2]string{first.Node, st.Node}
			break
		}
	}
	return res, nil
}

// CheckTransfers is `riak admin transfers`: a node is waiting to hand off
// while it owes hinted keys to a member (their partitions), while it
// leaves, and while it catches up after a (re)join or a replace (its
// primary partitions, which its peers are handing to it).
func CheckTransfers(ctx context.Context, pbAddr string) (Transfers, error) {
	_, all, down, err := memberStatuses(ctx, pbAddr)
	if err != nil {
		return Transfers{}, err
	}
	t := Transfers{Down: down}
	for _, st := range all {
		n := st.HintPartitions
		if st.Leaving || st.CatchingUp {
			if r, err := ring.New(st.Membership.RingSize, st.Membership.Names()); err == nil {
				n += max(len(r.Owned(st.Node)), 1)
			} else {
				n++
			}
		}
		if n > 0 {
			t.Pending = append(t.Pending, Transfer{Node: st.Node, Partitions: n})
		}
	}
	slices.SortFunc(t.Pending, func(a, b Transfer) int { return strings.Compare(a.Node, b.Node) })
	return t, nil
}

// MemberStatus is `riak admin member-status`: the members of the ring of
// the node at pbAddr with their share of it. A member that leaves is
// "leaving"; the others are "valid" (Riak, too, lists an unreachable
// member as valid until it is marked down).
func MemberStatus(ctx context.Context, pbAddr string) ([]MemberRow, error) {
	first, all, _, err := memberStatuses(ctx, pbAddr)
	if err != nil {
		return nil, err
	}
	m := first.Membership
	r, err := ring.New(m.RingSize, m.Names())
	if err != nil {
		return nil, err
	}
	var rows []MemberRow
	for _, name := range m.Names() {
		row := MemberRow{Node: name, Status: "valid", Owned: len(r.Owned(name)), RingSize: m.RingSize}
		if i := slices.IndexFunc(all, func(st NodeStatus) bool { return st.Node == name }); i >= 0 && all[i].Leaving {
			row.Status = "leaving"
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// Replace is `riak admin cluster replace|force-replace OLD NEW`, run by
// the devnode at pbAddr (see Cluster.replace). reason says why a
// ReplaceFailed failed.
func Replace(ctx context.Context, pbAddr, old, new string, force bool) (outcome ReplaceOutcome, reason string, err error) {
	for _, n := range []string{old, new} {
		if err := ValidateNodeName(n); err != nil {
			return "", "", err
		}
	}
	var rep replaceReply
	if err := adminCall(ctx, pbAddr, adminRequest{Op: adminReplace, Old: old, New: new, Force: force}, &rep); err != nil {
		return "", "", err
	}
	return rep.Outcome, rep.Reason, nil
}
