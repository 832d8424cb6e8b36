package scheduler

import (
	"context"
	"slices"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// tickSnapshot is everything planTick decides from.
type tickSnapshot struct {
	// Now is taken after every read, so a wait that starts at a read
	// (LockSeen) has lasted a moment by Now.
	Now      time.Time
	Nodes    []zkstate.NodeRecord // every node record, sorted by key
	Clusters map[string]zkstate.ClusterRecord
	Runtime  map[string]nodeRuntime // by key(n): a copy
	// Locks are the node lock holders of removed nodes that are still
	// starting, by key(n), and when they were read.
	Locks map[string]lockSeen
}

// lockSeen is a node lock holder as read (Err: it could not be read).
type lockSeen struct {
	Holder *zkstate.LockHolder
	Err    error
	At     time.Time
}

// tickActionKind is what a tickAction does.
type tickActionKind int

const (
	tickKill        tickActionKind = iota // kill the task (once), recording Next
	tickLeave                             // ask the node to leave its cluster (again)
	tickDelete                            // delete the record of a removed node that holds nothing
	tickWaitJoined                        // let a removed node that may have joined start, from Since
	tickCheckConfig                       // ask a running node to check a configuration (again)
)

// tickAction is one step of a tick's plan.
type tickAction struct {
	Kind tickActionKind
	Node zkstate.NodeRecord
	// Next (kill) is the observed state recorded for the node; Why, if
	// set, is logged as a warning.
	Next zkstate.ObservedState
	Why  string
	// First (leave, check): the first request; Since (wait): when the
	// wait began.
	First bool
	Since time.Time
	// Check (check) is the message asking for the check.
	Check nodetask.Message
}

// tickPlan is what planTick decided; applyTick acts on it.
type tickPlan struct {
	Actions []tickAction
	// Waiting: some node needs an offer (to be placed, or to release its
	// reservation): revive offers if they are suppressed.
	Waiting bool
}

// tick acts on desired state that needs no offer: kills of nodes to
// remove, stop or restart, leaves of removed nodes, and REVIVE when nodes
// wait for offers. It reads a snapshot, lets planTick decide and applies
// the plan.
func (s *Scheduler) tick(ctx context.Context) {
	s.mu.Lock()
	connected := s.connected
	s.mu.Unlock()
	if !connected {
		return
	}
	snap, err := s.tickSnapshot(ctx)
	if err != nil {
		s.log.Warn("cannot read the desired state; doing nothing until ZooKeeper answers", "err", err)
		return
	}
	s.applyTick(ctx, s.planTick(snap))
}

// tickSnapshot reads what planTick decides from. An error means the node
// records could not be read whole.
func (s *Scheduler) tickSnapshot(ctx context.Context) (tickSnapshot, error) {
	nodes, err := s.readAllNodes(ctx)
	if err != nil {
		return tickSnapshot{}, err
	}
	snap := tickSnapshot{Nodes: nodes, Clusters: map[string]zkstate.ClusterRecord{}, Runtime: map[string]nodeRuntime{}, Locks: map[string]lockSeen{}}
	s.mu.Lock()
	for _, n := range nodes {
		snap.Runtime[key(n)] = *s.rt(n)
	}
	s.mu.Unlock()
	for _, n := range nodes {
		if _, ok := snap.Clusters[n.Cluster]; !ok {
			c, _, _ := s.fw.GetCluster(ctx, n.Cluster) // unreadable: generation 0, no restart
			snap.Clusters[n.Cluster] = c
		}
		if r := snap.Runtime[key(n)]; mayWaitForStart(n, r, nodes) {
			h, err := s.fw.NodeLockHolder(ctx, n.Cluster, n.Name)
			if err != nil {
				s.log.Warn("read the node lock of a removed node; waiting", "node", n.Name, "err", err)
			}
			snap.Locks[key(n)] = lockSeen{Holder: h, Err: err, At: time.Now()}
		}
	}
	snap.Now = time.Now()
	return snap, nil
}

// planTick decides a tick: it reads nothing but snap and the
// configuration, and changes nothing.
func (s *Scheduler) planTick(snap tickSnapshot) tickPlan {
	var p tickPlan
	for _, n := range snap.Nodes {
		r := snap.Runtime[key(n)]
		live := n.TaskID != "" && (n.ObservedState == zkstate.ObservedRunning || n.ObservedState == zkstate.ObservedStarting || n.ObservedState == zkstate.ObservedLaunching)
		switch {
		case n.DesiredState == zkstate.DesiredRemoved && n.TaskID != "" && (live || n.ObservedState == zkstate.ObservedLeaving):
			p.Actions = append(p.Actions, s.planRemoval(snap, n, r)...)
		case n.DesiredState == zkstate.DesiredRemoved && n.AgentID == "":
			p.Actions = append(p.Actions, tickAction{Kind: tickDelete, Node: n})
		case n.DesiredState == zkstate.DesiredRemoved:
			p.Waiting = true // needs an offer to release its reservation
		case n.DesiredState == zkstate.DesiredStopped && live:
			p.Actions = append(p.Actions, tickAction{Kind: tickKill, Node: n, Next: zkstate.ObservedStopping})
		case n.DesiredState == zkstate.DesiredRunning && !live && !r.gaveUp:
			p.Waiting = true
		}
	}
	names := make([]string, 0, len(snap.Clusters))
	for name := range snap.Clusters {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p.Actions = append(p.Actions, s.planRestart(snap, snap.Clusters[name])...)
	}
	return p
}

// planRestart is the next step of cluster c's rolling restart
// (planRollout): the next node is asked to check the generation's
// configuration, the check resent every leaveResend until it answers,
// and the node restarted once the check passed. A node whose executor
// does not answer within ConfigCheckTimeout (one from before config
// checks, whose TASK_RUNNING carries no status, never does) is restarted
// anyway, with a warning.
func (s *Scheduler) planRestart(snap tickSnapshot, c zkstate.ClusterRecord) []tickAction {
	st := planRollout(c, snap.Nodes)
	if st.Next == nil {
		return nil
	}
	n := *st.Next
	r := snap.Runtime[key(n)]
	kill := tickAction{Kind: tickKill, Node: n, Next: zkstate.ObservedStopping}
	asked := r.checkFor == n.TaskID && r.checkGen == c.Generation
	switch {
	case r.killSentFor == n.TaskID:
		return nil
	case st.Checked:
		return []tickAction{kill}
	case asked && snap.Now.Sub(r.checkStarted) > s.cfg.ConfigCheckTimeout:
		kill.Why = "executor did not answer the config check: restarting the node anyway"
		if n.Status == nil {
			kill.Why += " (its executor reports no status: one from before config checks)"
		}
		return []tickAction{kill}
	case asked && snap.Now.Sub(r.checkSent) < leaveResend:
		return nil
	}
	msg := nodetask.Message{Op: nodetask.OpCheckConfig, TaskID: n.TaskID, Generation: c.Generation, RiakConf: c.RiakConf, AdvancedConfig: c.AdvancedConfig}
	return []tickAction{{Kind: tickCheckConfig, Node: n, First: !asked, Check: msg}}
}

// planRemoval takes a removed node that has a task out of its cluster:
// a running node leaves first (its executor hands its data to the other
// members, then the task ends TASK_FINISHED), asked again every
// leaveResend until it is gone, and killed if it takes longer than
// LeaveTimeout. A node still starting whose executor holds the node lock
// may have joined already: it is let run first (within LeaveTimeout), so
// that it leaves instead of staying in the ring as a dead member. A node
// not started yet, or whose cluster has no other running node to take its
// data (the last node, a destroyed cluster), is killed at once.
func (s *Scheduler) planRemoval(snap tickSnapshot, n zkstate.NodeRecord, r nodeRuntime) []tickAction {
	killing := r.killSentFor == n.TaskID
	leaving := r.leaveFor == n.TaskID
	others := othersRunning(snap.Nodes, n)
	canLeave := n.ObservedState == zkstate.ObservedRunning || n.ObservedState == zkstate.ObservedLeaving
	kill := tickAction{Kind: tickKill, Node: n, Next: zkstate.ObservedLeaving}
	switch {
	case killing:
		return nil
	case mayWaitForStart(n, r, snap.Nodes):
		var acts []tickAction
		started, since, wait := s.mayHaveJoined(snap, n, r)
		if started {
			acts = append(acts, tickAction{Kind: tickWaitJoined, Node: n, Since: since})
		}
		if !wait {
			acts = append(acts, kill)
		}
		return acts
	case !leaving && (!canLeave || !others):
		return []tickAction{kill}
	case leaving && snap.Now.Sub(r.leaveStarted) > s.cfg.LeaveTimeout:
		kill.Why = "node did not leave in time; killing it"
		return []tickAction{kill}
	case leaving && snap.Now.Sub(r.leaveSent) < leaveResend:
		return nil
	}
	return []tickAction{{Kind: tickLeave, Node: n, First: !leaving}}
}

// mayWaitForStart says whether removed node n is one planRemoval may let
// start before it leaves: not killed, not asked to leave, not running
// yet, and with another running node in its cluster to take its data.
// Only for such a node is its lock holder read.
func mayWaitForStart(n zkstate.NodeRecord, r nodeRuntime, nodes []zkstate.NodeRecord) bool {
	starting := n.ObservedState == zkstate.ObservedStarting || n.ObservedState == zkstate.ObservedLaunching
	return n.DesiredState == zkstate.DesiredRemoved && n.TaskID != "" && starting &&
		r.killSentFor != n.TaskID && r.leaveFor != n.TaskID && othersRunning(nodes, n)
}

// othersRunning says whether another node of n's cluster runs.
func othersRunning(nodes []zkstate.NodeRecord, n zkstate.NodeRecord) bool {
	return slices.ContainsFunc(nodes, func(o zkstate.NodeRecord) bool {
		return o.Cluster == n.Cluster && o.Name != n.Name && o.DesiredState == zkstate.DesiredRunning && o.ObservedState == zkstate.ObservedRunning
	})
}

// mayHaveJoined says whether a removed node that is not running yet
// should be let start so that it can leave (wait): its executor holds the
// node lock (so the node may be up and joined) and it has been waited for
// less than LeaveTimeout. started says its wait starts with this tick,
// at since. A lock that could not be read is waited on.
func (s *Scheduler) mayHaveJoined(snap tickSnapshot, n zkstate.NodeRecord, r nodeRuntime) (started bool, since time.Time, wait bool) {
	l := snap.Locks[key(n)]
	if l.Err != nil {
		return false, time.Time{}, true
	}
	if l.Holder == nil || l.Holder.TaskID != n.TaskID {
		return false, time.Time{}, false // its node has not started: nothing to leave
	}
	since, started = r.removedSince, r.removedFor != n.TaskID
	if started {
		since = l.At
	}
	return started, since, snap.Now.Sub(since) < s.cfg.LeaveTimeout
}

// applyTick acts on a tick's plan, in its order.
func (s *Scheduler) applyTick(ctx context.Context, p tickPlan) {
	for _, a := range p.Actions {
		n := a.Node
		switch a.Kind {
		case tickKill:
			if a.Why != "" {
				s.log.Warn(a.Why, "cluster", n.Cluster, "node", n.Name, "leave_timeout", s.cfg.LeaveTimeout, "config_check_timeout", s.cfg.ConfigCheckTimeout)
			}
			s.kill(ctx, n, s.runtimeOf(n), a.Next)
		case tickDelete:
			_ = s.deleteNode(ctx, n)
		case tickWaitJoined:
			s.mu.Lock()
			r := s.rt(n)
			r.removedFor, r.removedSince = n.TaskID, a.Since
			s.mu.Unlock()
			s.log.Info("removed node is still starting; it leaves its cluster once it runs", "cluster", n.Cluster, "node", n.Name, "task", n.TaskID)
		case tickLeave:
			s.askLeave(ctx, n, a.First)
		case tickCheckConfig:
			s.askCheck(ctx, n, a.Check, a.First)
		}
	}
	s.mu.Lock()
	revive := p.Waiting && s.suppressed
	if revive {
		s.suppressed = false
	}
	s.mu.Unlock()
	if revive {
		s.call(ctx, calls.Revive())
	}
}

// askLeave sends a removed node's executor the leave MESSAGE (again),
// recording the node as leaving.
func (s *Scheduler) askLeave(ctx context.Context, n zkstate.NodeRecord, first bool) {
	now := time.Now()
	s.mu.Lock()
	r := s.rt(n)
	if first {
		r.leaveFor, r.leaveStarted = n.TaskID, now
	}
	r.leaveSent = now
	s.mu.Unlock()
	if n.ObservedState != zkstate.ObservedLeaving {
		_, _, _ = s.fw.ModifyNode(ctx, n.Cluster, n.Name, func(rec *zkstate.NodeRecord) error {
			if rec.TaskID != n.TaskID {
				return errStale
			}
			rec.ObservedState = zkstate.ObservedLeaving
			return nil
		})
	}
	if first {
		s.log.Info("asking node to leave its cluster", "cluster", n.Cluster, "node", n.Name, "task", n.TaskID)
	}
	msg := nodetask.Message{Op: nodetask.OpLeave, TaskID: n.TaskID}
	s.call(ctx, calls.Message(n.AgentID, executorID(n.TaskID), msg.Marshal()))
}

// askCheck sends a running node's executor the check-config MESSAGE
// (again), recording the check as asked.
func (s *Scheduler) askCheck(ctx context.Context, n zkstate.NodeRecord, msg nodetask.Message, first bool) {
	now := time.Now()
	s.mu.Lock()
	r := s.rt(n)
	if first {
		r.checkFor, r.checkGen, r.checkStarted = n.TaskID, msg.Generation, now
	}
	r.checkSent = now
	s.mu.Unlock()
	if first {
		s.log.Info("rolling restart: asking node to check the new configuration", "cluster", n.Cluster, "node", n.Name, "task", n.TaskID, "generation", msg.Generation)
	}
	s.call(ctx, calls.Message(n.AgentID, executorID(n.TaskID), msg.Marshal()))
}
