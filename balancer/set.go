package balancer

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
)

// Set is the current list of nodes and the policy that picks among them.
// Reads (Pick, Nodes) are lock-free; Update swaps in a new list while
// keeping the state of nodes that stay.
type Set struct {
	policy  Policy
	breaker BreakerSettings

	mu    sync.Mutex // serialises updates
	nodes atomic.Pointer[[]*Node]

	outlierMu sync.Mutex // serialises EvaluateOutliers; guards outlier
	outlier   OutlierSettings
}

// NodeSpec describes a node discovered by the director.
type NodeSpec struct {
	ID       string
	PBAddr   string
	HTTPAddr string
}

// NewSet returns an empty set using policy; nil means PeakEWMA, the
// default of PolicyByName too.
func NewSet(policy Policy, bs BreakerSettings) *Set {
	if policy == nil {
		policy = &PeakEWMA{}
	}
	s := &Set{policy: policy, breaker: bs}
	empty := []*Node{}
	s.nodes.Store(&empty)
	return s
}

// Nodes returns the current nodes. The slice must not be modified.
func (s *Set) Nodes() []*Node { return *s.nodes.Load() }

// Update makes specs the set's nodes. A node whose ID and addresses are
// unchanged keeps its Node (breaker, health, counters); others are new.
// It returns the nodes added and removed.
func (s *Set) Update(specs []NodeSpec) (added, removed []*Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.nodes.Load()
	byID := make(map[string]*Node, len(old))
	for _, n := range old {
		byID[n.ID] = n
	}
	next := make([]*Node, 0, len(specs))
	kept := make(map[*Node]bool, len(old))
	for _, sp := range specs {
		if n, ok := byID[sp.ID]; ok && n.PBAddr == sp.PBAddr && n.HTTPAddr == sp.HTTPAddr && !kept[n] {
			next = append(next, n)
			kept[n] = true
			continue
		}
		n := NewNode(sp.ID, sp.PBAddr, sp.HTTPAddr, s.breaker)
		next = append(next, n)
		added = append(added, n)
	}
	for _, n := range old {
		if !kept[n] {
			removed = append(removed, n)
		}
	}
	slices.SortFunc(next, func(a, b *Node) int { return cmp.Compare(a.ID, b.ID) })
	s.nodes.Store(&next)
	return added, removed
}

// Pick selects a node for a request, never one in tried (the nodes a retry
// has already used). It returns nil when no node is available.
func (s *Set) Pick(tried ...*Node) *Node {
	nodes := *s.nodes.Load()
	var skip func(*Node) bool
	if len(tried) > 0 {
		skip = func(n *Node) bool { return slices.Contains(tried, n) }
	}
	if n := s.policy.Select(nodes, skip); n != nil {
		return n
	}
	// Slow start only lowers a node's share: when its draw refused every
	// candidate, the available node with the fewest requests in flight
	// takes the request rather than none.
	var best *Node
	for _, n := range nodes {
		if n.Available() && (skip == nil || !skip(n)) && (best == nil || n.Outstanding() < best.Outstanding()) {
			best = n
		}
	}
	return best
}
