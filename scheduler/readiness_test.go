package scheduler

import (
	"reflect"
	"testing"
)

func TestReadinessAndEndpoints(t *testing.T) {
	run := func(name string, ready bool) NodeView {
		return NodeView{Name: name, Desired: "running", State: "running", Ready: ready, Host: "10.0.0.1", PBPort: 8087, HTTPPort: 8098}
	}
	staging := NodeView{Name: "n3", Desired: "running", State: "staging", Message: "fetching the executor"}
	unplaced := NodeView{Name: "n4", Desired: "running", State: "pending", NotPlacedWhy: "no offer with 2 cpus"}
	removed := NodeView{Name: "n5", Desired: "removed", State: "running"}
	transfers := run("n6", false)
	transfers.TransfersPending = true
	for _, tc := range []struct {
		name  string
		views []NodeView
		want  Readiness
	}{
		{"all ready", []NodeView{run("n1", true), run("n2", true), removed}, Readiness{Ready: true, Nodes: 2, ReadyNodes: 2, Missing: []NotReady{}}},
		{"no nodes", nil, Readiness{Missing: []NotReady{{Why: "no nodes"}}}},
		{"only removed", []NodeView{removed}, Readiness{Missing: []NotReady{{Why: "no nodes"}}}},
		{"some missing", []NodeView{run("n1", true), staging, unplaced, transfers, run("n7", false)}, Readiness{Nodes: 5, ReadyNodes: 1, Missing: []NotReady{
			{"n3", "staging: fetching the executor"}, {"n4", "pending: no offer with 2 cpus"},
			{"n6", "running, not ready: transfers pending"}, {"n7", "running, not ready (riak_kv or the ring not settled)"}}}},
	} {
		if got := readiness(tc.views); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: readiness %+v, want %+v", tc.name, got, tc.want)
		}
	}
	e := endpointsOf("c1", []NodeView{run("n1", true), run("n2", false), removed, staging})
	want := Endpoints{Cluster: "c1", Endpoints: []Endpoint{{Node: "n1", PB: "10.0.0.1:8087", HTTP: "10.0.0.1:8098"}}}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("endpoints %+v, want %+v", e, want)
	}
}
