package scheduler

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// DefaultTeardownWait bounds how long a teardown waits for the agents to
// offer back the framework's reservations and volumes so that it can
// release them.
const DefaultTeardownWait = 2 * time.Minute

// TeardownResult is the answer to POST /api/v1/framework/teardown.
type TeardownResult struct {
	Status   string   `json:"status"`
	Clusters []string `json:"clusters_destroyed"`
	Nodes    int      `json:"nodes_killed"`
	// HeldOn lists agents still holding reservations at the deadline.
	HeldOn []string `json:"reservations_held_on,omitempty"`
}

// teardown destroys every cluster (nodes killed, records deleted: no
// handoff, the data goes with the framework), releases every reservation
// and volume as the agents offer them back, then sends TEARDOWN, forgets
// the framework ID and stops this scheduler. Reservations still held at
// the deadline (?wait=, default DefaultTeardownWait) answer 504 without
// TEARDOWN: calling again finishes the job.
func (s *Scheduler) teardown(r *http.Request) (int, any, error) {
	wait := DefaultTeardownWait
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > time.Hour {
			return 0, nil, apiErr(http.StatusBadRequest, "wait %q: want a duration up to 1h, e.g. 2m", v)
		}
		wait = d
	}
	s.mu.Lock()
	ok := s.leader && s.connected
	s.mu.Unlock()
	if !ok {
		return 0, nil, apiErr(http.StatusServiceUnavailable, "this scheduler is not the connected leader: ask the leader (GET /api/v1/framework)")
	}
	ctx := r.Context()
	res := TeardownResult{Clusters: []string{}}
	names, err := s.fw.ListClusters(ctx)
	if err != nil {
		return 0, nil, err
	}
	start := time.Now()
	s.mu.Lock()
	held := map[string]bool{}
	for id, a := range s.agents {
		if a.ReservedCPUs > 0 {
			held[id] = true
		}
	}
	s.mu.Unlock()
	for _, c := range names {
		for _, n := range s.nodesOf(ctx, c) {
			if n.TaskID != "" {
				s.kill(ctx, n, s.runtimeOf(n), zkstate.ObservedLeaving)
				res.Nodes++
			}
			if n.AgentID != "" {
				held[n.AgentID] = true
			}
			if err := s.deleteNode(ctx, n); err != nil && !isNotFound(err) {
				return 0, nil, err
			}
		}
		if err := s.fw.DeleteCluster(ctx, c); err != nil && !isNotFound(err) {
			return 0, nil, err
		}
		res.Clusters = append(res.Clusters, c)
	}
	s.log.Info("teardown: clusters destroyed; releasing reservations", "clusters", len(res.Clusters), "agents", len(held))
	// Offers are filtered while nothing waits: revive so that every agent
	// offers back what is reserved, and the offer plan releases it (no
	// node needs it now).
	s.mu.Lock()
	s.suppressed = false
	s.mu.Unlock()
	_ = s.call(ctx, calls.Revive())
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		res.HeldOn = s.stillHeld(held, start)
		if len(res.HeldOn) == 0 {
			break
		}
		select {
		case <-tick.C:
			continue
		case <-deadline.C:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
		res.Status = "reservations not released in time; call teardown again"
		return 0, nil, apiErr(http.StatusGatewayTimeout, "teardown: agents %v have not offered back the framework's reservations within %v; the clusters are destroyed; call teardown again to finish", res.HeldOn, wait)
	}
	if err := s.call(ctx, &scheduler.Call{Type: scheduler.Call_TEARDOWN}); err != nil {
		return 0, nil, apiErr(http.StatusBadGateway, "teardown: the master refused TEARDOWN: %v", err)
	}
	if c, ok := s.fw.(interface{ ClearFrameworkID(context.Context) error }); ok {
		if err := c.ClearFrameworkID(ctx); err != nil {
			s.log.Warn("teardown: forget the framework ID", "err", err)
		}
	}
	s.log.Info("teardown: framework unregistered", "clusters", len(res.Clusters), "nodes", res.Nodes)
	res.Status = "torn down"
	s.tearOnce.Do(func() {
		if s.tornDown != nil {
			close(s.tornDown)
		}
	})
	return 200, res, nil
}

// stillHeld lists the agents of held whose latest offer, made after
// since, still carries reserved resources of the framework (or that have
// not offered since).
func (s *Scheduler) stillHeld(held map[string]bool, since time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range held {
		a, ok := s.agents[id]
		if !ok {
			continue // never seen in an offer: nothing to release through one
		}
		if !a.LastOffer.After(since) || a.ReservedCPUs > 0 {
			out = append(out, a.Hostname+" ("+id+")")
		}
	}
	slices.Sort(out)
	return out
}

// isTornDown says whether a teardown ended this scheduler's run.
func (s *Scheduler) isTornDown() bool {
	select {
	case <-s.tornDown:
		return true
	default:
		return false
	}
}

func isNotFound(err error) bool { return err != nil && errorsIs(err, zkstate.ErrNotFound) }
