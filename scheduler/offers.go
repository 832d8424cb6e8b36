package scheduler

import (
	"context"
	"fmt"
	"strconv"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// portsPerNode: pb, http, handoff, disterl, erlpmd.
const portsPerNode = 5

// offerView is what is left of one offer while this round places nodes.
type offerView struct {
	offer      mesos.Offer
	host       Host
	cpus, mem  float64 // unreserved
	disk       float64
	ports      []PortRange
	used       map[uint64]bool
	reservedBy map[string]bool    // persistence IDs of our volumes in the offer
	volumeMB   map[string]float64 // their sizes
	hostIP     string             // the address a node placed here binds
	planned    []plannedOps       // what this round does with the offer, in order
}

func newOfferView(o mesos.Offer, role string) *offerView {
	v := &offerView{offer: o, used: map[uint64]bool{}, reservedBy: map[string]bool{}, volumeMB: map[string]float64{}}
	v.host = Host{AgentID: o.AgentID.Value, Hostname: o.Hostname, Attributes: map[string]string{}}
	for _, a := range o.Attributes {
		switch a.Type {
		case mesos.TEXT:
			v.host.Attributes[a.Name] = a.GetText().GetValue()
		case mesos.SCALAR:
			v.host.Attributes[a.Name] = strconv.FormatFloat(a.GetScalar().GetValue(), 'f', -1, 64)
		}
	}
	for _, r := range o.Resources {
		if r.IsPersistentVolume() && r.ReservationRole() == role {
			v.reservedBy[r.GetDisk().GetPersistence().GetID()] = true
			v.volumeMB[r.GetDisk().GetPersistence().GetID()] = r.GetScalar().GetValue()
		}
		if !r.IsUnreserved() {
			continue
		}
		switch r.Name {
		case "cpus":
			v.cpus += r.GetScalar().GetValue()
		case "mem":
			v.mem += r.GetScalar().GetValue()
		case "disk":
			if r.GetDisk() == nil {
				v.disk += r.GetScalar().GetValue()
			}
		case "ports":
			for _, rg := range r.GetRanges().GetRange() {
				v.ports = append(v.ports, PortRange{rg.Begin, rg.End})
			}
		}
	}
	return v
}

// onOffers acts on one round of offers: it reads a snapshot of the
// desired and observed state, lets planOffers decide, and applies the
// plan (applyOfferPlan).
func (s *Scheduler) onOffers(ctx context.Context, offers []mesos.Offer) {
	s.counters.offersReceived.Add(uint64(len(offers)))
	snap, err := s.offerSnapshot(ctx, offers)
	if err != nil {
		// Without the whole desired state, every reservation would look
		// orphaned and its volume be destroyed: place nothing, release
		// nothing, and look again soon.
		s.log.Warn("cannot read the desired state; declining offers until ZooKeeper answers", "offers", len(offers), "err", err)
		for _, o := range offers {
			s.decline(ctx, o.ID, 2*time.Second)
		}
		return
	}
	s.applyOfferPlan(ctx, s.planOffers(snap))
}

// offerSnapshot reads what planOffers decides from. An error means the
// desired state could not be read whole.
func (s *Scheduler) offerSnapshot(ctx context.Context, offers []mesos.Offer) (offerSnapshot, error) {
	nodes, err := s.readAllNodes(ctx)
	if err != nil {
		return offerSnapshot{}, err
	}
	snap := offerSnapshot{Now: time.Now(), Framework: s.fw.Name(), Nodes: nodes, Offers: offers,
		Clusters: map[string]zkstate.ClusterRecord{}, Facts: map[string]nodeFacts{}}
	for _, n := range nodes {
		if _, ok := snap.Clusters[n.Cluster]; ok {
			continue
		}
		if c, _, err := s.fw.GetCluster(ctx, n.Cluster); err == nil {
			snap.Clusters[n.Cluster] = c // unreadable: its nodes wait
		}
	}
	s.mu.Lock()
	for _, n := range nodes {
		r := s.rt(n)
		snap.Facts[key(n)] = nodeFacts{Hold: r.gaveUp || snap.Now.Before(r.nextTry) || r.killAsked, WaitingAgentSince: r.waitingAgentSince, ResizeSince: r.resizeSince}
	}
	s.mu.Unlock()
	for _, o := range offers {
		snap.HostIPs = append(snap.HostIPs, hostIP(ctx, o))
	}
	return snap, nil
}

// applyOfferPlan acts on a plan: it records each change in ZooKeeper, in
// the plan's order, then accepts every offer with the operations whose
// change was recorded (a launch goes out only once its placement is
// recorded) and declines the others.
func (s *Scheduler) applyOfferPlan(ctx context.Context, p offerPlan) {
	s.mu.Lock()
	for _, a := range p.Agents {
		s.agents[a.ID] = a
	}
	for k, why := range p.Why {
		s.rtKey(k).why = why
	}
	for k, since := range p.Waiting {
		s.rtKey(k).waitingAgentSince = since
	}
	for k, since := range p.ResizeWait {
		s.rtKey(k).resizeSince = since
	}
	s.mu.Unlock()
	recorded := make([]bool, len(p.Changes))
	for i, ch := range p.Changes {
		switch ch.Kind {
		case changeRelease:
			_ = s.deleteNode(ctx, ch.Node)
		case changeReplace:
			s.replace(ctx, ch.Node)
		case changePlace:
			if ch.JoinsChange >= 0 && !recorded[ch.JoinsChange] {
				s.log.Warn("not launching node: the node it joins was not placed", "node", ch.Node.Name, "join", ch.Join)
				continue
			}
			recorded[i] = s.recordPlacement(ctx, ch)
		}
	}
	pending := p.Pending
	accept := make([]calls.OfferOperations, len(p.Offers))
	launches := make([][]nodeChange, len(p.Offers)) // the placements each accept launches
	for i, d := range p.Offers {
		for _, g := range d.Ops {
			if g.Change >= 0 && !recorded[g.Change] {
				pending = true // its node waits for the next round
				continue
			}
			accept[i] = append(accept[i], g.Ops...)
			if g.Change >= 0 && p.Changes[g.Change].Kind == changePlace {
				launches[i] = append(launches[i], p.Changes[g.Change])
			}
		}
		if len(d.Ops) == 0 && len(d.Orphans) > 0 {
			s.log.Info("releasing reservations no node needs", "agent", d.Offer.Hostname, "operations", len(d.Orphans))
			accept[i] = d.Orphans
		}
	}
	for i, d := range p.Offers {
		if len(accept[i]) > 0 {
			if s.call(ctx, calls.Accept(accept[i].WithOffers(d.Offer.ID)).With(calls.RefuseSeconds(time.Second))) == nil {
				s.counters.countAccept(launches[i])
			}
			continue
		}
		refuse := time.Second // nodes wait (e.g. a relaunch backoff): look again soon
		if !pending {
			refuse = 30 * time.Second
			s.mu.Lock()
			s.suppressed = true // filters set: revive as soon as work appears
			s.mu.Unlock()
		}
		s.decline(ctx, d.Offer.ID, refuse)
	}
}

// decline declines an offer for refuse, counting it once the master
// took it.
func (s *Scheduler) decline(ctx context.Context, id mesos.OfferID, refuse time.Duration) {
	if s.call(ctx, calls.Decline(id).With(calls.RefuseSeconds(refuse))) == nil {
		s.counters.offersDeclined.Add(1)
	}
}

// recordPlacement writes a planned placement to the node's record unless
// the record changed meanwhile, and reports whether it did.
func (s *Scheduler) recordPlacement(ctx context.Context, ch nodeChange) bool {
	n := ch.Node
	if _, _, err := s.fw.ModifyNode(ctx, n.Cluster, n.Name, func(rec *zkstate.NodeRecord) error {
		if rec.DesiredState != zkstate.DesiredRunning || rec.TaskID != "" {
			return errStale
		}
		rec.AgentID, rec.Hostname, rec.Host, rec.Ports = n.AgentID, n.Hostname, n.Host, n.Ports
		rec.Reserved, rec.PersistenceID, rec.RiakNodeName = n.Reserved, n.PersistenceID, n.RiakNodeName
		rec.TaskID, rec.Generation, rec.ObservedState, rec.Message, rec.Status = n.TaskID, n.Generation, zkstate.ObservedLaunching, "", nil
		return nil
	}); err != nil {
		s.log.Warn("record placement", "node", n.Name, "err", err)
		return false
	}
	s.log.Info("launching node", "cluster", n.Cluster, "node", n.Name, "agent", n.Hostname, "task", n.TaskID, "fresh", ch.Fresh, "join", ch.Join)
	s.mu.Lock()
	s.rtKey(key(n)).why = ""
	s.indexTask(n)
	s.mu.Unlock()
	return true
}

// replace gives up a node's agent: the node is placed again elsewhere with
// a new volume (its data there is lost; the cluster's other replicas hold
// it). The old reservation is released if the agent ever comes back.
func (s *Scheduler) replace(ctx context.Context, n zkstate.NodeRecord) {
	s.log.Warn("agent gone: replacing node elsewhere", "cluster", n.Cluster, "node", n.Name, "agent", n.Hostname, "after", s.cfg.AgentTimeout)
	msg := fmt.Sprintf("agent %s gone for more than %v: placed again elsewhere", n.Hostname, s.cfg.AgentTimeout)
	if _, _, err := s.fw.ModifyNode(ctx, n.Cluster, n.Name, func(rec *zkstate.NodeRecord) error {
		if rec.TaskID != "" || rec.AgentID != n.AgentID {
			return errStale
		}
		forgetPlacement(rec, msg)
		return nil
	}); err != nil {
		s.log.Warn("replace node", "node", n.Name, "err", err)
		return
	}
	s.mu.Lock()
	if r := s.runtime[key(n)]; r != nil {
		r.waitingAgentSince, r.attempts, r.gaveUp, r.nextTry = time.Time{}, 0, false, time.Time{}
	}
	s.mu.Unlock()
}

// forgetPlacement clears a node's placement (its agent is gone) so that
// it is placed again elsewhere, remembering its Erlang node name for the
// next incarnation to replace in the ring.
func forgetPlacement(rec *zkstate.NodeRecord, msg string) {
	if rec.ReplacesRiakNodeName == "" {
		// A name kept from before stays: this incarnation never ran (the
		// name is cleared on TASK_RUNNING), so the older one is the
		// ring's member.
		rec.ReplacesRiakNodeName = rec.RiakNodeName
	}
	rec.AgentID, rec.Hostname, rec.Host, rec.PersistenceID, rec.RiakNodeName, rec.Status = "", "", "", "", "", nil
	rec.Ports, rec.Reserved = zkstate.Ports{}, zkstate.Resources{}
	rec.ObservedState, rec.Message = zkstate.ObservedPending, msg
}

// executorID is the ID of the executor that runs a node's task (one
// executor per task).
func executorID(taskID string) string { return "rmf-executor." + taskID }
