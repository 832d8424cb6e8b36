package scheduler

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/rmf-go/rmf/internal/zkstate"
)

func hosts() []Host {
	return []Host{
		{AgentID: "a1", Hostname: "agent-1", Attributes: map[string]string{"rack": "r1"}},
		{AgentID: "a2", Hostname: "agent-2", Attributes: map[string]string{"rack": "r1"}},
		{AgentID: "a3", Hostname: "agent-3", Attributes: map[string]string{"rack": "r2"}},
	}
}

func TestCheckConstraints(t *testing.T) {
	h := hosts()
	cases := []struct {
		name   string
		cons   []zkstate.Constraint
		host   Host
		placed []Host
		ok     bool
		reason string
	}{
		{"no constraints", nil, h[0], h, true, ""},
		{"unique hostname free", []zkstate.Constraint{{Field: "hostname", Operator: OpUnique}}, h[2], h[:2], true, ""},
		{"unique hostname taken", []zkstate.Constraint{{Field: "hostname", Operator: OpUnique}}, h[0], h[:1], false, "already on hostname=agent-1"},
		{"cluster value", []zkstate.Constraint{{Field: "rack", Operator: OpCluster, Value: "r2"}}, h[0], nil, false, "CLUSTER r2"},
		{"cluster follows first", []zkstate.Constraint{{Field: "rack", Operator: OpCluster}}, h[2], h[:1], false, "CLUSTER r1"},
		{"cluster same", []zkstate.Constraint{{Field: "rack", Operator: OpCluster}}, h[1], h[:1], true, ""},
		{"like", []zkstate.Constraint{{Field: "rack", Operator: OpLike, Value: "r[12]"}}, h[2], nil, true, ""},
		{"like fails", []zkstate.Constraint{{Field: "hostname", Operator: OpLike, Value: "agent-[12]"}}, h[2], nil, false, "LIKE"},
		{"unlike", []zkstate.Constraint{{Field: "rack", Operator: OpUnlike, Value: "r1"}}, h[0], nil, false, "UNLIKE"},
		{"max per", []zkstate.Constraint{{Field: "rack", Operator: OpMaxPer, Value: "2"}}, h[1], h[:2], false, "MAX_PER 2"},
		{"max per room", []zkstate.Constraint{{Field: "rack", Operator: OpMaxPer, Value: "2"}}, h[2], h[:2], true, ""},
		{"group by spreads", []zkstate.Constraint{{Field: "rack", Operator: OpGroupBy}}, h[1], []Host{h[0], h[2], h[0]}, false, "GROUP_BY"},
		{"group by new value", []zkstate.Constraint{{Field: "rack", Operator: OpGroupBy, Value: "2"}}, h[2], []Host{h[0]}, true, ""},
		{"missing attribute", []zkstate.Constraint{{Field: "zone", Operator: OpUnique}}, h[0], nil, false, "no zone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, why := CheckConstraints(c.cons, c.host, c.placed)
			if ok != c.ok || !strings.Contains(why, c.reason) {
				t.Errorf("got %v %q, want %v containing %q", ok, why, c.ok, c.reason)
			}
		})
	}
}

func TestValidateConstraint(t *testing.T) {
	for _, bad := range []zkstate.Constraint{
		{Field: "hostname", Operator: "SOMETIMES"},
		{Field: "hostname", Operator: OpUnique, Value: "x"},
		{Field: "rack", Operator: OpMaxPer, Value: "0"},
		{Field: "rack", Operator: OpLike},
		{Field: "rack", Operator: OpLike, Value: "("},
		{Field: "rack", Operator: OpGroupBy, Value: "x"},
	} {
		if err := ValidateConstraint(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestRankSpreads(t *testing.T) {
	h := hosts()
	got := Rank(h, []Host{h[0], h[0], h[1]})
	if got[0].AgentID != "a3" || got[1].AgentID != "a2" || got[2].AgentID != "a1" {
		t.Errorf("rank %v", got)
	}
}

func TestPickPorts(t *testing.T) {
	ps, ok := PickPorts([]PortRange{{100, 101}, {200, 205}}, 5, map[uint64]bool{200: true})
	if !ok || len(ps) != 5 || ps[0] != 100 || ps[2] != 201 {
		t.Errorf("%v %v", ps, ok)
	}
	if _, ok := PickPorts([]PortRange{{1, 3}}, 5, nil); ok {
		t.Error("too few ports accepted")
	}
	// Ports that are no TCP ports, at the top of uint64 (the loop wrapped
	// to 0), or offered twice are not picked.
	ps, ok = PickPorts([]PortRange{{math.MaxUint64 - 1, math.MaxUint64}, {65534, 70000}, {0, 1}, {1, 1}}, 5, nil)
	if ok || !slices.Equal(ps, []uint64{65534, 65535, 1}) {
		t.Errorf("%v %v", ps, ok)
	}
}

func TestNodeLess(t *testing.T) {
	if !nodeLess("riak-c-2", "riak-c-10") || nodeLess("riak-c-10", "riak-c-2") {
		t.Error("numeric order")
	}
}
