package scheduler

import (
	"testing"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// TestCheckers: each checker's refusal, word for word, and its yes.
func TestCheckers(t *testing.T) {
	h := hosts() // agent-1 and agent-2 on rack r1, agent-3 on r2
	noRack := Host{AgentID: "a4", Hostname: "agent-4"}
	ps := patterns{}
	like := func(op, expr string) checker {
		return constraintCheckers([]zkstate.Constraint{{Field: "rack", Operator: op, Value: expr}}, ps)[0]
	}
	offer := func(cpus, mem, disk float64, ports ...PortRange) *offerView {
		return &offerView{cpus: cpus, mem: mem, disk: disk, ports: ports, used: map[uint64]bool{}}
	}
	need := zkstate.Resources{CPUs: 1, MemMB: 1024, DiskMB: 100}
	for _, tc := range []struct {
		name    string
		checker checker
		host    Host
		offer   *offerView
		placed  []Host
		want    string
	}{
		{"resources fit", resourceChecker{need}, h[0], offer(1, 1024, 100, PortRange{31000, 31004}), nil, ""},
		{"resources short", resourceChecker{need}, h[0], offer(0.5, 512, 50, PortRange{31000, 31003}), nil,
			"not enough resources: cpus 0.50 < 1.00, mem 512 < 1024, disk 50 < 100, fewer than 5 free ports"},
		{"resources ports in use", resourceChecker{need},
			h[0], &offerView{cpus: 1, mem: 1024, disk: 100, ports: []PortRange{{31000, 31004}}, used: map[uint64]bool{31002: true}}, nil,
			"not enough resources: fewer than 5 free ports"},

		{"unique free", uniqueChecker{"hostname"}, h[2], nil, h[:2], ""},
		{"unique taken", uniqueChecker{"hostname"}, h[0], nil, h[:1], "hostname UNIQUE: a node of this cluster is already on hostname=agent-1"},
		{"unique no attribute", uniqueChecker{"zone"}, h[0], nil, nil, "zone UNIQUE: agent has no zone"},

		{"cluster value", clusterChecker{"rack", "r2"}, h[2], nil, nil, ""},
		{"cluster other value", clusterChecker{"rack", "r2"}, h[0], nil, nil, `rack CLUSTER r2: agent has rack="r1"`},
		{"cluster follows the first node", clusterChecker{"rack", ""}, h[2], nil, h[:1], `rack CLUSTER r1: agent has rack="r2"`},
		{"cluster first node anywhere", clusterChecker{"rack", ""}, h[2], nil, nil, ""},
		{"cluster no attribute", clusterChecker{"rack", "r1"}, noRack, nil, nil, `rack CLUSTER r1: agent has rack=""`},

		{"group by new value", groupByChecker{"rack", ""}, h[2], nil, h[:1], ""},
		{"group by least used", groupByChecker{"rack", ""}, h[2], nil, []Host{h[0], h[2]}, ""},
		{"group by more than another", groupByChecker{"rack", ""}, h[1], nil, []Host{h[0], h[2], h[0]},
			"rack GROUP_BY: rack=r1 has 2 nodes, another value has 1"},
		{"group by fewer groups than asked", groupByChecker{"rack", "3"}, h[1], nil, []Host{h[0], h[2], h[0]}, ""},
		{"group by no attribute", groupByChecker{"rack", ""}, noRack, nil, nil, "rack GROUP_BY: agent has no rack"},

		{"like matches", like(OpLike, "r[12]"), h[2], nil, nil, ""},
		{"like anchored", like(OpLike, "r"), h[0], nil, nil, `rack LIKE r: agent has rack="r1"`},
		{"like no attribute", like(OpLike, ".*"), noRack, nil, nil, `rack LIKE .*: agent has rack=""`},
		{"like bad expression", like(OpLike, "("), h[0], nil, nil,
			"rack LIKE: bad regular expression: error parsing regexp: missing closing ): `^(?:()$`"},
		{"unlike other value", like(OpUnlike, "r1"), h[2], nil, nil, ""},
		{"unlike matches", like(OpUnlike, "r1"), h[0], nil, nil, `rack UNLIKE r1: agent has rack="r1"`},
		{"unlike no attribute", like(OpUnlike, "r1"), noRack, nil, nil, ""},

		{"max per room", maxPerChecker{"rack", 2}, h[2], nil, h[:2], ""},
		{"max per full", maxPerChecker{"rack", 2}, h[1], nil, h[:2], "rack MAX_PER 2: 2 nodes already on rack=r1"},
		{"max per no attribute", maxPerChecker{"rack", 2}, noRack, nil, nil, "rack MAX_PER: agent has no rack"},

		{"unknown operator", unknownChecker{"SOMETIMES"}, h[0], nil, nil, `unknown constraint operator "SOMETIMES"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.checker.refuse(candidate{host: tc.host, offer: tc.offer}, tc.placed); got != tc.want {
				t.Errorf("refuse = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestConstraintCheckers: one checker per constraint, in order, of the
// constraint's kind; the first refusal is the reason.
func TestConstraintCheckers(t *testing.T) {
	cons := []zkstate.Constraint{{Field: "hostname", Operator: OpUnique}, {Field: "rack", Operator: OpCluster, Value: "r1"},
		{Field: "rack", Operator: OpGroupBy}, {Field: "rack", Operator: OpLike, Value: "r."}, {Field: "rack", Operator: OpUnlike, Value: "r9"},
		{Field: "rack", Operator: OpMaxPer, Value: "3"}, {Field: "rack", Operator: "SOMETIMES"}}
	ps := patterns{}
	got := constraintCheckers(cons, ps)
	want := []checker{uniqueChecker{}, clusterChecker{}, groupByChecker{}, likeChecker{}, likeChecker{}, maxPerChecker{}, unknownChecker{}}
	if len(got) != len(want) {
		t.Fatalf("%d checkers for %d constraints", len(got), len(cons))
	}
	for i := range got {
		if gt, wt := typeName(got[i]), typeName(want[i]); gt != wt {
			t.Errorf("constraint %v: checker %s, want %s", cons[i], gt, wt)
		}
	}
	if len(ps) != 2 {
		t.Errorf("patterns compiled: %v, want r. and r9", ps)
	}
	h := hosts()
	if why := feasible(got[:6], candidate{host: h[0]}, h[:1]); why != "hostname UNIQUE: a node of this cluster is already on hostname=agent-1" {
		t.Errorf("first refusal %q", why)
	}
	if why := feasible(got[:6], candidate{host: h[1]}, h[:1]); why != "" {
		t.Errorf("agent-2 refused: %q", why)
	}
}

// TestPatternsCompileOnce: an expression is compiled once per evaluation.
func TestPatternsCompileOnce(t *testing.T) {
	ps := patterns{}
	a, _ := ps.compile("r[12]")
	b, _ := ps.compile("r[12]")
	if a == nil || a != b {
		t.Fatalf("compiled twice: %p %p", a, b)
	}
	if _, err := ps.compile("("); err == nil {
		t.Fatal("bad expression compiled")
	}
	if c, ok := ps["("]; !ok || c.err == nil {
		t.Fatal("bad expression's error not kept")
	}
}

func typeName(c checker) string {
	switch c.(type) {
	case uniqueChecker:
		return "UNIQUE"
	case clusterChecker:
		return "CLUSTER"
	case groupByChecker:
		return "GROUP_BY"
	case likeChecker:
		return "LIKE/UNLIKE"
	case maxPerChecker:
		return "MAX_PER"
	case unknownChecker:
		return "unknown"
	}
	return "?"
}
