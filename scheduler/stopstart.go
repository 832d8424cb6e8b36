package scheduler

import (
	"net/http"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// stopNode stops a node and keeps its reservation and volume (desired
// state stopped): its task is killed, nothing is relaunched, and start
// brings it back on its data.
func (s *Scheduler) stopNode(r *http.Request) (int, any, error) {
	return s.setDesired(r, zkstate.DesiredStopped)
}

// startNode runs a stopped node again on its reservation and volume. An
// operator's start also clears a given-up relaunch backoff.
func (s *Scheduler) startNode(r *http.Request) (int, any, error) {
	return s.setDesired(r, zkstate.DesiredRunning)
}

func (s *Scheduler) setDesired(r *http.Request, want zkstate.DesiredState) (int, any, error) {
	n, err := s.nodeOf(r)
	if err != nil {
		return 0, nil, err
	}
	if n.DesiredState == zkstate.DesiredRemoved {
		return 0, nil, apiErr(http.StatusConflict, "node %s is being removed", n.Name)
	}
	rec, _, err := s.fw.ModifyNode(r.Context(), n.Cluster, n.Name, func(rec *zkstate.NodeRecord) error {
		if rec.DesiredState == zkstate.DesiredRemoved {
			return apiErr(http.StatusConflict, "node %s is being removed", rec.Name)
		}
		rec.DesiredState = want
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	if want == zkstate.DesiredRunning && s.view(rec).GaveUp {
		// As a restart of a node given up on: a fresh round of relaunches.
		if rec, err = s.retryGivenUp(r.Context(), rec); err != nil {
			return 0, nil, err
		}
	}
	s.Nudge()
	return http.StatusAccepted, s.view(rec), nil
}
