package balancer

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
)

// Policy chooses one node among nodes. It considers only nodes that are
// Available() and not skipped, a node in slow start only with probability
// Weight(), and returns nil when none fits; retrying is the caller's
// business. Implementations are safe for concurrent use.
type Policy interface {
	Select(nodes []*Node, skip func(*Node) bool) *Node
}

// Policy names accepted by PolicyByName (and the director's --policy flag).
const (
	PolicyLeastOutstanding = "least-outstanding"
	PolicyRoundRobin       = "round-robin"
	PolicyPowerOfTwo       = "p2c"
	PolicyPeakEWMA         = "peak-ewma"
)

// PolicyByName returns a new policy; the empty name means peak-ewma, the
// default.
func PolicyByName(name string) (Policy, error) {
	switch name {
	case "", PolicyPeakEWMA:
		return &PeakEWMA{}, nil
	case PolicyLeastOutstanding:
		return &LeastOutstanding{}, nil
	case PolicyRoundRobin:
		return &RoundRobin{}, nil
	case PolicyPowerOfTwo:
		return &PowerOfTwo{}, nil
	}
	return nil, fmt.Errorf("balancer: unknown policy %q (want %s, %s, %s or %s)", name, PolicyPeakEWMA, PolicyLeastOutstanding, PolicyRoundRobin, PolicyPowerOfTwo)
}

// eligible reports whether a policy may consider n for this pick: a node
// in slow start passes with probability Weight.
func eligible(n *Node, skip func(*Node) bool) bool {
	return n.Available() && (skip == nil || !skip(n)) && n.admit()
}

// LeastOutstanding picks the eligible node with the fewest requests in
// flight; ties go to the node after the previous pick, so equal nodes share
// the load instead of the first one taking it all.
type LeastOutstanding struct{ start atomic.Uint32 }

// Select implements Policy.
func (p *LeastOutstanding) Select(nodes []*Node, skip func(*Node) bool) *Node {
	if len(nodes) == 0 {
		return nil
	}
	offset := int(p.start.Add(1)) % len(nodes)
	var best *Node
	var bestOut int64
	for i := range nodes {
		n := nodes[(offset+i)%len(nodes)]
		if !eligible(n, skip) {
			continue
		}
		if out := n.Outstanding(); best == nil || out < bestOut {
			best, bestOut = n, out
		}
	}
	return best
}

// RoundRobin picks eligible nodes in turn.
type RoundRobin struct{ next atomic.Uint32 }

// Select implements Policy.
func (p *RoundRobin) Select(nodes []*Node, skip func(*Node) bool) *Node {
	if len(nodes) == 0 {
		return nil
	}
	start := int(p.next.Add(1)-1) % len(nodes)
	for i := range nodes {
		if n := nodes[(start+i)%len(nodes)]; eligible(n, skip) {
			return n
		}
	}
	return nil
}

// sampleTwo reservoir-samples two eligible nodes in one pass, without
// allocating; b is nil when fewer than two are eligible.
func sampleTwo(nodes []*Node, skip func(*Node) bool) (a, b *Node) {
	return sampleTwoAt(nodes, skip, -1)
}

// sampleTwoAt is sampleTwo leaving out nodes stalled at now (Node.Stalled);
// now < 0: stalled nodes are not left out.
func sampleTwoAt(nodes []*Node, skip func(*Node) bool, now int64) (a, b *Node) {
	seen := 0
	for _, n := range nodes {
		if !eligible(n, skip) || (now >= 0 && n.stalledAt(now)) {
			continue
		}
		seen++
		switch {
		case seen == 1:
			a = n
		case seen == 2:
			b = n
		default:
			if r := rand.IntN(seen); r == 0 {
				a = n
			} else if r == 1 {
				b = n
			}
		}
	}
	return a, b
}

// PowerOfTwo samples two eligible nodes at random and picks the one with
// fewer requests in flight: nearly as good as least-outstanding, with no
// herding on the single least-loaded node.
type PowerOfTwo struct{}

// Select implements Policy.
func (PowerOfTwo) Select(nodes []*Node, skip func(*Node) bool) *Node {
	a, b := sampleTwo(nodes, skip)
	if b == nil {
		return a
	}
	// The first sample is biased towards early nodes, so ties go either way.
	switch oa, ob := a.Outstanding(), b.Outstanding(); {
	case oa < ob:
		return a
	case ob < oa:
		return b
	case rand.IntN(2) == 0:
		return a
	}
	return b
}

// PeakEWMA samples two eligible nodes at random and picks the cheaper,
// cost being the latency estimate (Node.LatencyEWMA) times the requests in
// flight plus one, as Finagle's and Linkerd's PeakEWMA balancers do: it
// steers away from slow nodes at once and back as their estimate decays.
// A node of unknown latency is costed at its rival's latency, so it gets a
// fair share by outstanding requests: neither starved nor flooded. A
// stalled node (Node.Stalled) is not sampled while another is eligible:
// its estimate cannot know yet that it stopped answering. The default
// policy.
type PeakEWMA struct{}

// Select implements Policy.
func (*PeakEWMA) Select(nodes []*Node, skip func(*Node) bool) *Node {
	if len(nodes) == 0 {
		return nil
	}
	now := nodes[0].clock()
	a, b := sampleTwoAt(nodes, skip, now)
	if a == nil { // every eligible node is stalled: pick among them
		a, b = sampleTwo(nodes, skip)
	}
	if b == nil {
		return a
	}
	la, lb := a.latencyAt(now), b.latencyAt(now)
	switch {
	case la == 0:
		la = lb
	case lb == 0:
		lb = la
	}
	ca, cb := float64(a.Outstanding()+1), float64(b.Outstanding()+1)
	if la != 0 { // both unknown: outstanding alone decides
		ca, cb = ca*la, cb*lb
	}
	switch {
	case ca < cb:
		return a
	case cb < ca:
		return b
	case rand.IntN(2) == 0:
		return a
	}
	return b
}
