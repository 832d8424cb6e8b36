package scheduler

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// Host is what placement knows of an agent (from an offer): no mesos-go
// types, so the rules are plain functions that are easy to test.
type Host struct {
	AgentID    string
	Hostname   string
	Attributes map[string]string
}

// field is the value of a constraint field on h ("hostname" or an
// attribute); ok is false when the agent lacks the attribute.
func (h Host) field(name string) (string, bool) {
	if name == "hostname" {
		return h.Hostname, true
	}
	v, ok := h.Attributes[name]
	return v, ok
}

// Operators of Marathon-style constraints.
const (
	OpUnique  = "UNIQUE"
	OpCluster = "CLUSTER"
	OpGroupBy = "GROUP_BY"
	OpLike    = "LIKE"
	OpUnlike  = "UNLIKE"
	OpMaxPer  = "MAX_PER"
)

// ValidateConstraint checks a constraint's operator and value.
func ValidateConstraint(c zkstate.Constraint) error {
	switch c.Operator {
	case OpUnique:
		if c.Value != "" {
			return fmt.Errorf("constraint %s UNIQUE takes no value", c.Field)
		}
	case OpCluster:
	case OpGroupBy:
		if c.Value != "" {
			if n, err := strconv.Atoi(c.Value); err != nil || n < 1 {
				return fmt.Errorf("constraint %s GROUP_BY: value %q must be a positive number", c.Field, c.Value)
			}
		}
	case OpLike, OpUnlike:
		if c.Value == "" {
			return fmt.Errorf("constraint %s %s needs a regular expression", c.Field, c.Operator)
		}
		if _, err := regexp.Compile("^(?:" + c.Value + ")$"); err != nil {
			return fmt.Errorf("constraint %s %s: %v", c.Field, c.Operator, err)
		}
	case OpMaxPer:
		if n, err := strconv.Atoi(c.Value); err != nil || n < 1 {
			return fmt.Errorf("constraint %s MAX_PER: value %q must be a positive number", c.Field, c.Value)
		}
	default:
		return fmt.Errorf("constraint %s: unknown operator %q (want UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE or MAX_PER)", c.Field, c.Operator)
	}
	return nil
}

// CheckConstraints is the yes/no filter: may a new node of a cluster go to
// h, given the hosts its other nodes are on (placed)? The reason says why
// not: that of the first constraint whose checker (feasible.go) refuses.
func CheckConstraints(cons []zkstate.Constraint, h Host, placed []Host) (bool, string) {
	if why := feasible(constraintCheckers(cons, patterns{}), candidate{host: h}, placed); why != "" {
		return false, why
	}
	return true, ""
}

// Rank orders candidate hosts for a new node: fewest nodes of the cluster
// first (so nodes spread across agents and stack only when every agent has
// one), then by hostname for determinism.
func Rank(hosts []Host, placed []Host) []Host {
	per := map[string]int{}
	for _, p := range placed {
		per[p.AgentID]++
	}
	out := append([]Host(nil), hosts...)
	sort.SliceStable(out, func(i, j int) bool {
		if per[out[i].AgentID] != per[out[j].AgentID] {
			return per[out[i].AgentID] < per[out[j].AgentID]
		}
		return out[i].Hostname < out[j].Hostname
	})
	return out
}

// PortRange is an inclusive range of ports offered.
type PortRange struct{ Begin, End uint64 }

// PickPorts takes n distinct TCP ports (1..65535) from the offered ranges,
// skipping ports in use (those are never offered by Mesos; the set guards
// against stale views).
func PickPorts(ranges []PortRange, n int, used map[uint64]bool) ([]uint64, bool) {
	var out []uint64
	taken := map[uint64]bool{}
	for _, r := range ranges {
		// Clamped, so that the loop neither wraps at the top of uint64
		// nor runs through ports TCP does not have.
		for p := max(r.Begin, 1); p <= min(r.End, 65535) && len(out) < n; p++ {
			if !used[p] && !taken[p] {
				out = append(out, p)
				taken[p] = true
			}
		}
	}
	return out, len(out) == n
}
