package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
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
	Framework string   `json:"framework"`
	Status    string   `json:"status"`
	Clusters  []string `json:"clusters_destroyed"`
	Nodes     int      `json:"nodes_killed"`
	// HeldOn lists what still held the framework's tasks or
	// reservations when the answer was made (empty once torn down).
	HeldOn []string `json:"held_on,omitempty"`
}

// teardown destroys every cluster (nodes killed, records deleted: no
// handoff, the data goes with the framework), releases every reservation
// and volume as the agents offer them back (until the master's state
// shows none for the role and no task of the framework), then sends
// TEARDOWN, forgets the framework ID and stops this scheduler. What is
// still held at the deadline (?wait=, default DefaultTeardownWait)
// answers 504 without TEARDOWN: calling again finishes the job.
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
	res := TeardownResult{Framework: s.fw.Name(), Clusters: []string{}}
	names, err := s.fw.ListClusters(ctx)
	if err != nil {
		return 0, nil, err
	}
	for _, c := range names {
		for _, n := range s.nodesOf(ctx, c) {
			if n.TaskID != "" {
				s.kill(ctx, n, s.runtimeOf(n), zkstate.ObservedLeaving)
				res.Nodes++
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
	s.log.Info("teardown: clusters destroyed; releasing reservations", "clusters", len(res.Clusters))
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	lastRevive := time.Time{}
	for {
		// Offers are filtered while nothing waits: revive now and then so
		// that every agent offers back what is reserved once the killed
		// tasks ended, and the offer plan releases it (no node needs it).
		if time.Since(lastRevive) > 5*time.Second {
			s.mu.Lock()
			s.suppressed = false
			s.mu.Unlock()
			_ = s.call(ctx, calls.Revive())
			lastRevive = time.Now()
		}
		held, err := s.masterHeld(ctx)
		if err != nil {
			s.log.Warn("teardown: read the master's state", "err", err)
		}
		res.HeldOn = held
		if err == nil && len(held) == 0 {
			break
		}
		select {
		case <-tick.C:
			continue
		case <-deadline.C:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
		why := fmt.Sprintf("%v hold the framework's tasks or reservations", held)
		if err != nil {
			why = "the master's state cannot be read: " + err.Error()
		}
		return 0, nil, apiErr(http.StatusGatewayTimeout, "teardown: after %v, %s; the clusters are destroyed; call teardown again to finish", wait, why)
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

// masterHeld lists, from the master's state, the agents that still run
// a task of this framework or hold resources reserved for its role
// (Mesos' /master/state: frameworks[].tasks, slaves[].reserved_resources;
// mesos-local's: tasks[], agents[].reserved_resources).
func (s *Scheduler) masterHeld(ctx context.Context) ([]string, error) {
	var ms struct {
		Frameworks []struct {
			ID    string `json:"id"`
			Tasks []struct {
				AgentID string `json:"slave_id"`
				State   string `json:"state"`
			} `json:"tasks"`
		} `json:"frameworks"`
		Tasks []struct {
			FrameworkID string `json:"framework_id"`
			AgentID     string `json:"agent_id"`
			State       string `json:"state"`
		} `json:"tasks"`
		Slaves []agentReservations `json:"slaves"`
		Agents []agentReservations `json:"agents"`
	}
	if err := s.getJSON(ctx, s.masterURL()+"/master/state", true, &ms); err != nil {
		return nil, err
	}
	s.mu.Lock()
	fid := s.frameworkID
	s.mu.Unlock()
	held := map[string]bool{}
	for _, f := range ms.Frameworks {
		if f.ID != fid {
			continue
		}
		for _, t := range f.Tasks {
			if !terminalState(t.State) {
				held["agent "+t.AgentID+" (task)"] = true
			}
		}
	}
	for _, t := range ms.Tasks {
		if t.FrameworkID == fid && !terminalState(t.State) {
			held["agent "+t.AgentID+" (task)"] = true
		}
	}
	for _, a := range append(ms.Slaves, ms.Agents...) {
		if a.holds(s.cfg.Role) {
			held["agent "+a.ID+" ("+a.Hostname+", reservations)"] = true
		}
	}
	return slices.Sorted(maps.Keys(held)), nil
}

// agentReservations is an agent's reserved_resources in a master's state.
type agentReservations struct {
	ID       string                                `json:"id"`
	Hostname string                                `json:"hostname"`
	Reserved map[string]map[string]json.RawMessage `json:"reserved_resources"`
}

// holds says whether the agent has a non-zero resource reserved for role.
func (a agentReservations) holds(role string) bool {
	for _, v := range a.Reserved[role] {
		var f float64
		if json.Unmarshal(v, &f) == nil && f == 0 {
			continue
		}
		var str string
		if json.Unmarshal(v, &str) == nil && (str == "" || str == "[]") {
			continue
		}
		return true
	}
	return false
}

func terminalState(st string) bool {
	switch st {
	case "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE":
		return true
	}
	return false
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
