package scheduler

import (
	"fmt"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// Rollout states: how far a cluster's rolling restart to its
// configuration generation is.
const (
	RolloutWaiting    = "waiting"    // a node is not running, not ready, or transfers are pending
	RolloutChecking   = "checking"   // the next node checks the generation's configuration
	RolloutRestarting = "restarting" // a node restarts with the generation
	RolloutStopped    = "stopped"    // a node's check refused the configuration: nothing restarts
	RolloutDone       = "done"       // every node runs the generation
)

// Rollout is a cluster's rolling restart to its generation, as the API
// shows it: computed from the node records by planRollout.
type Rollout struct {
	Generation int64  `json:"generation"`
	State      string `json:"state"`
	// Node is the node the rollout is at (the one waited for, checked,
	// restarted, or whose check failed).
	Node string `json:"node,omitempty"`
	// Error is the failed check's message (state stopped).
	Error string `json:"error,omitempty"`
	// Message says what the rollout waits for.
	Message    string `json:"message,omitempty"`
	NodesDone  int    `json:"nodes_done"`
	NodesTotal int    `json:"nodes_total"`
}

// rolloutStep is the rollout's view and its next step.
type rolloutStep struct {
	Rollout
	// Next is the node to check and then restart (states checking and,
	// with Checked, restarting); nil: none now.
	Next *zkstate.NodeRecord
	// Checked: Next's check of the generation passed.
	Checked bool
}

// steady says whether running node n lets a rolling restart move on:
// ready, with no transfers pending ("" if so, else why not). A node whose
// executor reports no status counts as ready without transfers.
func steady(n zkstate.NodeRecord) string {
	switch {
	case n.ObservedState != zkstate.ObservedRunning:
		return n.Name + " is " + apiState(n)
	case n.Status == nil:
		return ""
	case !n.Status.Ready:
		return n.Name + " is not ready (riak_kv or ringready)"
	case n.Status.TransfersPending:
		return n.Name + " reports transfers pending"
	}
	return ""
}

// planRollout decides a cluster's rolling restart from its records
// (nodes: any, sorted by key; those of other clusters are skipped): one
// node at a time, the next only while every node of the cluster runs,
// is ready and no transfers are pending; each node checks the new
// configuration before it restarts, and a refusal stops the rollout at
// that node until a newer generation comes.
func planRollout(c zkstate.ClusterRecord, nodes []zkstate.NodeRecord) rolloutStep {
	st := rolloutStep{Rollout: Rollout{Generation: c.Generation}}
	var members []zkstate.NodeRecord
	for _, n := range nodes {
		if n.Cluster == c.Name && n.DesiredState == zkstate.DesiredRunning {
			members = append(members, n)
		}
	}
	st.NodesTotal = len(members)
	var old []zkstate.NodeRecord // still on an older generation
	for _, n := range members {
		if n.Generation >= c.Generation {
			st.NodesDone++
		} else {
			old = append(old, n)
		}
	}
	if len(old) == 0 {
		st.State = RolloutDone
		return st
	}
	for _, n := range old {
		if ch := checkOf(n, c.Generation); ch != nil && !ch.OK {
			st.State, st.Node, st.Error = RolloutStopped, n.Name, ch.Error
			st.Message = fmt.Sprintf("%s refused generation %d; a new configuration (generation) starts a new check", n.Name, c.Generation)
			return st
		}
	}
	for _, n := range members {
		if why := steady(n); why != "" {
			st.State, st.Node, st.Message = RolloutWaiting, n.Name, "waiting: "+why
			// A node of the generation coming back, or one being
			// killed for it (reserved: killed, to be relaunched): the
			// restart is under way.
			if n.ObservedState == zkstate.ObservedStopping || n.ObservedState == zkstate.ObservedReserved || n.Generation >= c.Generation {
				st.State = RolloutRestarting
			}
			return st
		}
	}
	next := old[0] // steady: running, so it has a task
	st.Next, st.Node = &next, next.Name
	if ch := checkOf(next, c.Generation); ch != nil && ch.OK {
		st.State, st.Checked = RolloutRestarting, true
		return st
	}
	st.State = RolloutChecking
	return st
}

// checkOf is node n's answer to the check of generation gen (nil: none).
func checkOf(n zkstate.NodeRecord, gen int64) *zkstate.ConfigCheck {
	if n.Status == nil || n.Status.ConfigCheck == nil || n.Status.ConfigCheck.Generation != gen {
		return nil
	}
	return n.Status.ConfigCheck
}
