package scheduler

import (
	"net"
	"net/http"
	"strconv"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// Endpoint is one ready node's client addresses
// (GET /api/v1/clusters/{c}/endpoints).
type Endpoint struct {
	Node string `json:"node"`
	PB   string `json:"pb"`
	HTTP string `json:"http"`
}

// Endpoints is a cluster's ready nodes' addresses.
type Endpoints struct {
	Cluster   string     `json:"cluster"`
	Endpoints []Endpoint `json:"endpoints"`
}

// Readiness says whether nodes are running and ready: riak_kv up and the
// ring agreed, as their executors report (GET .../readiness). Scripts and
// health checks wait on it (rmf cluster wait, rmf node wait).
type Readiness struct {
	Ready bool `json:"ready"`
	// Nodes counts the nodes that should run; ReadyNodes those that do.
	Nodes      int `json:"nodes"`
	ReadyNodes int `json:"ready_nodes"`
	// Missing says, per node that is not ready, why.
	Missing []NotReady `json:"missing"`
}

// NotReady is a node that is not ready, and why.
type NotReady struct {
	Node string `json:"node"`
	Why  string `json:"why"`
}

// readiness decides whether the nodes that should run (desired running)
// do and are ready. No such node at all is not ready: a script waiting
// for a cluster wants nodes.
func readiness(views []NodeView) Readiness {
	r := Readiness{Missing: []NotReady{}}
	for _, v := range views {
		if v.Desired != string(zkstate.DesiredRunning) {
			continue
		}
		r.Nodes++
		if v.Ready {
			r.ReadyNodes++
			continue
		}
		r.Missing = append(r.Missing, NotReady{Node: v.Name, Why: notReadyWhy(v)})
	}
	if r.Nodes == 0 {
		r.Missing = append(r.Missing, NotReady{Why: "no nodes"})
	}
	r.Ready = r.Nodes > 0 && r.ReadyNodes == r.Nodes
	return r
}

// notReadyWhy is one line on why a node that should run is not ready.
func notReadyWhy(v NodeView) string {
	switch {
	case v.State != string(zkstate.ObservedRunning) && v.NotPlacedWhy != "":
		return v.State + ": " + v.NotPlacedWhy
	case v.State != string(zkstate.ObservedRunning) && v.Message != "":
		return v.State + ": " + v.Message
	case v.State != string(zkstate.ObservedRunning):
		return v.State
	case v.TransfersPending:
		return "running, not ready: transfers pending"
	}
	return "running, not ready (riak_kv or the ring not settled)"
}

// endpointsOf lists the ready nodes' PB and HTTP addresses.
func endpointsOf(cluster string, views []NodeView) Endpoints {
	e := Endpoints{Cluster: cluster, Endpoints: []Endpoint{}}
	for _, v := range views {
		if v.Desired != string(zkstate.DesiredRunning) || !v.Ready || v.Host == "" {
			continue
		}
		e.Endpoints = append(e.Endpoints, Endpoint{Node: v.Name,
			PB: net.JoinHostPort(v.Host, strconv.Itoa(v.PBPort)), HTTP: net.JoinHostPort(v.Host, strconv.Itoa(v.HTTPPort))})
	}
	return e
}

// clusterViews reads the cluster of the request's path and its nodes'
// views (404 if the cluster does not exist).
func (s *Scheduler) clusterViews(r *http.Request) (string, []NodeView, error) {
	name, _, err := s.requestedCluster(r)
	if err != nil {
		return "", nil, err
	}
	out := []NodeView{} // an empty cluster lists [], not null
	for _, n := range s.nodesOf(r.Context(), name) {
		out = append(out, s.view(n))
	}
	return name, out, nil
}

func (s *Scheduler) getEndpoints(r *http.Request) (int, any, error) {
	name, views, err := s.clusterViews(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, endpointsOf(name, views), nil
}

func (s *Scheduler) clusterReadiness(r *http.Request) (int, any, error) {
	_, views, err := s.clusterViews(r)
	if err != nil {
		return 0, nil, err
	}
	return 200, readiness(views), nil
}

func (s *Scheduler) nodeReadiness(r *http.Request) (int, any, error) {
	n, err := s.nodeOf(r)
	if err != nil {
		return 0, nil, err
	}
	v := s.view(n)
	if v.Desired != string(zkstate.DesiredRunning) {
		return 200, Readiness{Nodes: 1, Missing: []NotReady{{Node: v.Name, Why: "desired state " + v.Desired}}}, nil
	}
	return 200, readiness([]NodeView{v}), nil
}
