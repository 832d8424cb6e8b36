package scheduler

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// candidate is a host a new node may go to, with what is left of its
// offer in this round (nil outside a round: constraints only).
type candidate struct {
	host  Host
	offer *offerView
}

// checker is one feasibility filter of placement: refuse says why a new
// node of a cluster may not go to c, given the hosts the cluster's other
// nodes are on (placed), or "" if it may. Checkers only filter; ranking
// (Rank) only orders what they let through.
type checker interface {
	refuse(c candidate, placed []Host) string
}

// resourceChecker refuses an offer whose unreserved resources do not fit
// a node: cpus, mem, disk and five ports.
type resourceChecker struct{ need zkstate.Resources }

func (r resourceChecker) refuse(c candidate, _ []Host) string { return c.offer.fits(r.need) }

// uniqueChecker: UNIQUE, at most one node of the cluster per value.
type uniqueChecker struct{ field string }

func (u uniqueChecker) refuse(c candidate, placed []Host) string {
	v, has := c.host.field(u.field)
	if !has {
		return fmt.Sprintf("%s UNIQUE: agent has no %s", u.field, u.field)
	}
	if countOn(placed, u.field, v) > 0 {
		return fmt.Sprintf("%s UNIQUE: a node of this cluster is already on %s=%s", u.field, u.field, v)
	}
	return ""
}

// clusterChecker: CLUSTER, every node on one value (the given one, or
// that of the first node placed).
type clusterChecker struct{ field, value string }

func (k clusterChecker) refuse(c candidate, placed []Host) string {
	want := k.value
	if want == "" { // all on the same value as the first node
		for _, p := range placed {
			if pv, ok := p.field(k.field); ok {
				want = pv
				break
			}
		}
	}
	if v, has := c.host.field(k.field); want != "" && (!has || v != want) {
		return fmt.Sprintf("%s CLUSTER %s: agent has %s=%q", k.field, want, k.field, v)
	}
	return ""
}

// groupByChecker: GROUP_BY, spread evenly over the field's values (over
// groups values, when given): a value that already has more nodes than
// the least used value seen is refused; a new value is always fine.
type groupByChecker struct {
	field  string
	groups string
}

func (g groupByChecker) refuse(c candidate, placed []Host) string {
	v, has := c.host.field(g.field)
	if !has {
		return fmt.Sprintf("%s GROUP_BY: agent has no %s", g.field, g.field)
	}
	counts := map[string]int{}
	for _, p := range placed {
		if pv, ok := p.field(g.field); ok {
			counts[pv]++
		}
	}
	groups := len(counts)
	if g.groups != "" {
		groups, _ = strconv.Atoi(g.groups)
	}
	if _, seen := counts[v]; !seen || len(counts) < groups {
		return ""
	}
	least := -1
	for _, n := range counts {
		if least < 0 || n < least {
			least = n
		}
	}
	if counts[v] > least {
		return fmt.Sprintf("%s GROUP_BY: %s=%s has %d nodes, another value has %d", g.field, g.field, v, counts[v], least)
	}
	return ""
}

// likeChecker: LIKE (or, negated, UNLIKE), the value matches (does not
// match) a regular expression, anchored at both ends.
type likeChecker struct {
	field, pattern string
	unlike         bool
	re             *regexp.Regexp
	err            error // a stored record is checked for shape only
}

func (l likeChecker) refuse(c candidate, _ []Host) string {
	op := OpLike
	if l.unlike {
		op = OpUnlike
	}
	if l.err != nil {
		return fmt.Sprintf("%s %s: bad regular expression: %v", l.field, op, l.err)
	}
	v, has := c.host.field(l.field)
	match := has && l.re.MatchString(v)
	if match == l.unlike {
		return fmt.Sprintf("%s %s %s: agent has %s=%q", l.field, op, l.pattern, l.field, v)
	}
	return ""
}

// maxPerChecker: MAX_PER, at most max nodes of the cluster per value.
type maxPerChecker struct {
	field string
	max   int
}

func (m maxPerChecker) refuse(c candidate, placed []Host) string {
	v, has := c.host.field(m.field)
	if !has {
		return fmt.Sprintf("%s MAX_PER: agent has no %s", m.field, m.field)
	}
	if n := countOn(placed, m.field, v); n >= m.max {
		return fmt.Sprintf("%s MAX_PER %d: %d nodes already on %s=%s", m.field, m.max, n, m.field, v)
	}
	return ""
}

// unknownChecker refuses every host: a constraint whose operator this
// scheduler does not know (a stored record is checked for shape only).
type unknownChecker struct{ op string }

func (u unknownChecker) refuse(candidate, []Host) string {
	return fmt.Sprintf("unknown constraint operator %q", u.op)
}

// countOn counts the hosts in placed whose field is val.
func countOn(placed []Host, field, val string) int {
	n := 0
	for _, p := range placed {
		if pv, ok := p.field(field); ok && pv == val {
			n++
		}
	}
	return n
}

// patterns caches the compiled LIKE and UNLIKE expressions of one
// evaluation (a round of offers), so each is compiled once however many
// nodes and hosts are checked.
type patterns map[string]compiled

type compiled struct {
	re  *regexp.Regexp
	err error
}

func (ps patterns) compile(expr string) (*regexp.Regexp, error) {
	if c, ok := ps[expr]; ok {
		return c.re, c.err
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	ps[expr] = compiled{re, err}
	return re, err
}

// constraintCheckers are the checkers of a cluster's constraints, in
// their order.
func constraintCheckers(cons []zkstate.Constraint, ps patterns) []checker {
	out := make([]checker, 0, len(cons))
	for _, c := range cons {
		switch c.Operator {
		case OpUnique:
			out = append(out, uniqueChecker{c.Field})
		case OpCluster:
			out = append(out, clusterChecker{c.Field, c.Value})
		case OpGroupBy:
			out = append(out, groupByChecker{c.Field, c.Value})
		case OpLike, OpUnlike:
			re, err := ps.compile(c.Value)
			out = append(out, likeChecker{field: c.Field, pattern: c.Value, unlike: c.Operator == OpUnlike, re: re, err: err})
		case OpMaxPer:
			max, _ := strconv.Atoi(c.Value)
			out = append(out, maxPerChecker{c.Field, max})
		default:
			out = append(out, unknownChecker{c.Operator})
		}
	}
	return out
}

// feasible runs checkers in order and returns the first refusal ("" if
// none refuses).
func feasible(checkers []checker, c candidate, placed []Host) string {
	for _, k := range checkers {
		if why := k.refuse(c, placed); why != "" {
			return why
		}
	}
	return ""
}
