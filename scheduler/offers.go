package scheduler

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/nodetask"
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
	ops        calls.OfferOperations
	reservedBy map[string]bool // persistence IDs of our volumes in the offer
}

func newOfferView(o mesos.Offer, role string) *offerView {
	v := &offerView{offer: o, used: map[uint64]bool{}, reservedBy: map[string]bool{}}
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

// onOffers places pending nodes: relaunches on the agent holding a node's
// volume first, then new nodes (filters: resources and constraints; rank:
// fewest nodes of the cluster), and declines the rest with reasons.
func (s *Scheduler) onOffers(ctx context.Context, offers []mesos.Offer) {
	nodes, err := s.readAllNodes(ctx)
	if err != nil {
		// Without the whole desired state, every reservation would look
		// orphaned and its volume be destroyed: place nothing, release
		// nothing, and look again soon.
		s.log.Warn("cannot read the desired state; declining offers until ZooKeeper answers", "offers", len(offers), "err", err)
		for _, o := range offers {
			s.call(ctx, calls.Decline(o.ID).With(calls.RefuseSeconds(2*time.Second)))
		}
		return
	}
	views := make([]*offerView, 0, len(offers))
	for _, o := range offers {
		v := newOfferView(o, s.cfg.Role)
		views = append(views, v)
		av := AgentView{ID: v.host.AgentID, Hostname: o.Hostname, Attributes: v.host.Attributes, FreeCPUs: v.cpus,
			FreeMemMB: v.mem, FreeDiskMB: v.disk, LastOffer: time.Now()}
		for _, pr := range v.ports {
			av.FreePorts += int(pr.End - pr.Begin + 1)
		}
		for _, r := range o.Resources {
			if r.Name == "cpus" && r.ReservationRole() == s.cfg.Role && !r.IsUnreserved() {
				av.ReservedCPUs += r.GetScalar().GetValue()
			}
		}
		s.mu.Lock()
		s.agents[av.ID] = av
		s.mu.Unlock()
	}
	byAgent := map[string]*offerView{}
	for _, v := range views {
		if byAgent[v.host.AgentID] == nil {
			byAgent[v.host.AgentID] = v
		}
	}
	clusters := map[string]zkstate.ClusterRecord{}
	cluster := func(name string) (zkstate.ClusterRecord, bool) {
		c, ok := clusters[name]
		if !ok {
			var err error
			c, _, err = s.fw.GetCluster(ctx, name)
			if err != nil {
				return c, false
			}
			clusters[name] = c
		}
		return c, true
	}
	// Hosts each cluster's nodes are on (for constraints and spreading).
	placed := map[string][]Host{}
	hostOf := map[string]Host{}
	for _, v := range views {
		hostOf[v.host.AgentID] = v.host
	}
	for _, n := range nodes {
		if n.AgentID != "" && n.DesiredState != zkstate.DesiredRemoved {
			h, ok := hostOf[n.AgentID]
			if !ok {
				h = Host{AgentID: n.AgentID, Hostname: n.Hostname}
			}
			placed[n.Cluster] = append(placed[n.Cluster], h)
		}
	}
	now := time.Now()
	for _, n := range nodes {
		s.mu.Lock()
		r := s.rt(n)
		wait := r.gaveUp || now.Before(r.nextTry) || r.killAsked
		s.mu.Unlock()
		c, ok := cluster(n.Cluster)
		if !ok {
			continue
		}
		switch {
		case n.DesiredState == zkstate.DesiredRemoved && n.AgentID != "" && n.TaskID == "":
			if v := byAgent[n.AgentID]; v != nil && v.reservedBy[n.PersistenceID] {
				v.ops = append(v.ops, s.releaseOps(v.offer, n)...)
				delete(v.reservedBy, n.PersistenceID)
				_ = s.deleteNode(ctx, n)
			}
		case n.DesiredState != zkstate.DesiredRunning || wait || n.TaskID != "":
		case n.AgentID != "":
			v := byAgent[n.AgentID]
			if v == nil || !v.reservedBy[n.PersistenceID] {
				s.mu.Lock()
				if r.waitingAgentSince.IsZero() {
					r.waitingAgentSince = now
				}
				gone := now.Sub(r.waitingAgentSince) > s.cfg.AgentTimeout
				s.mu.Unlock()
				if gone {
					s.replace(ctx, n)
					continue
				}
				s.setWhy(n, "waiting for an offer from its agent "+n.Hostname+" with its reserved resources and volume")
				continue
			}
			s.mu.Lock()
			r.waitingAgentSince = time.Time{}
			s.mu.Unlock()
			delete(v.reservedBy, n.PersistenceID)
			if rec, ok := s.launch(ctx, v, n, c, nodes, false); ok {
				setNode(nodes, rec) // later nodes of this round may join it
			}
		default:
			var reasons []string
			var chosen *offerView
			hosts := make([]Host, 0, len(views))
			for _, v := range views {
				hosts = append(hosts, v.host)
			}
			for _, h := range Rank(hosts, placed[n.Cluster]) {
				v := byAgent[h.AgentID]
				if why := v.fits(c.NodeResources); why != "" {
					reasons = append(reasons, h.Hostname+": "+why)
					continue
				}
				if ok, why := CheckConstraints(c.Constraints, h, placed[n.Cluster]); !ok {
					reasons = append(reasons, h.Hostname+": "+why)
					continue
				}
				chosen = v
				break
			}
			if chosen == nil {
				if len(reasons) == 0 {
					reasons = []string{"no offers"}
				}
				s.setWhy(n, strings.Join(reasons, "; "))
				continue
			}
			if rec, ok := s.launch(ctx, chosen, n, c, nodes, true); ok {
				placed[n.Cluster] = append(placed[n.Cluster], chosen.host)
				setNode(nodes, rec) // later nodes of this round may join it
			}
		}
	}
	// Reservations of this role that no node needs any more (a node
	// replaced elsewhere while its agent was gone): release them. What
	// every node placed on the agent reserves is subtracted first, whatever
	// its task's state: a task the records call running may be gone (a
	// resumed mesos-local offers its reservation before reconciliation
	// says so), and its volume must survive.
	needed := map[string]mesos.Resources{}
	for _, n := range nodes {
		if n.AgentID != "" && n.PersistenceID != "" {
			plain, vol := s.nodeResources(n)
			needed[n.AgentID] = append(needed[n.AgentID], append(plain, vol...)...)
		}
	}
	for _, v := range views {
		if len(v.ops) == 0 {
			v.ops = append(v.ops, s.orphanOps(v.offer, needed[v.host.AgentID])...)
		}
	}
	pending := false
	for _, n := range nodes {
		if n.DesiredState == zkstate.DesiredRunning && n.TaskID == "" {
			pending = true
		}
	}
	for _, v := range views {
		if len(v.ops) > 0 {
			s.call(ctx, calls.Accept(v.ops.WithOffers(v.offer.ID)).With(calls.RefuseSeconds(time.Second)))
			continue
		}
		refuse := time.Second // nodes wait (e.g. a relaunch backoff): look again soon
		if !pending {
			refuse = 30 * time.Second
			s.mu.Lock()
			s.suppressed = true // filters set: revive as soon as work appears
			s.mu.Unlock()
		}
		s.call(ctx, calls.Decline(v.offer.ID).With(calls.RefuseSeconds(refuse)))
	}
}

func (s *Scheduler) setWhy(n zkstate.NodeRecord, why string) {
	s.mu.Lock()
	s.rt(n).why = why
	s.mu.Unlock()
}

// fits says why a new node does not fit the unreserved resources ("" if it does).
func (v *offerView) fits(need zkstate.Resources) string {
	var miss []string
	if v.cpus < need.CPUs {
		miss = append(miss, fmt.Sprintf("cpus %.2f < %.2f", v.cpus, need.CPUs))
	}
	if v.mem < need.MemMB {
		miss = append(miss, fmt.Sprintf("mem %.0f < %.0f", v.mem, need.MemMB))
	}
	if v.disk < need.DiskMB {
		miss = append(miss, fmt.Sprintf("disk %.0f < %.0f", v.disk, need.DiskMB))
	}
	if _, ok := PickPorts(v.ports, portsPerNode, v.used); !ok {
		miss = append(miss, "fewer than 5 free ports")
	}
	if len(miss) > 0 {
		return "not enough resources: " + strings.Join(miss, ", ")
	}
	return ""
}

func (s *Scheduler) reservation() mesos.Resource_ReservationInfo {
	return mesos.Resource_ReservationInfo{Type: mesos.Resource_ReservationInfo_DYNAMIC.Enum(), Role: &s.cfg.Role, Principal: &s.cfg.Principal}
}

// nodeResources are the reserved resources of a node: cpus, mem, its
// ports and (separately) its volume.
func (s *Scheduler) nodeResources(n zkstate.NodeRecord) (plain, volume mesos.Resources) {
	ports := []uint64{uint64(n.Ports.PB), uint64(n.Ports.HTTP), uint64(n.Ports.Handoff), uint64(n.Ports.Disterl), uint64(n.Ports.Erlpmd)}
	rb := resources.BuildRanges()
	for _, p := range ports {
		rb.Span(p, p)
	}
	plain = mesos.Resources{
		resources.NewCPUs(n.Reserved.CPUs).Resource,
		resources.NewMemory(n.Reserved.MemMB).Resource,
		resources.Build().Name(resources.NamePorts).Ranges(rb.Ranges).Resource,
	}.PushReservation(s.reservation())
	vol := mesos.Resources{resources.NewDisk(n.Reserved.DiskMB).Resource}.PushReservation(s.reservation())
	if len(vol) == 0 {
		return plain, nil // no disk: zkstate refuses such a placed record
	}
	vol[0].Disk = &mesos.Resource_DiskInfo{
		Persistence: &mesos.Resource_DiskInfo_Persistence{ID: n.PersistenceID, Principal: &s.cfg.Principal},
		Volume:      &mesos.Volume{ContainerPath: nodetask.VolumePath, Mode: mesos.RW.Enum()},
	}
	return plain, vol
}

// launch builds the operations that (reserve, create and) launch node n on
// offer v, after recording the placement in ZooKeeper so a crash cannot
// launch it twice.
func (s *Scheduler) launch(ctx context.Context, v *offerView, n zkstate.NodeRecord, c zkstate.ClusterRecord, nodes []zkstate.NodeRecord, fresh bool) (zkstate.NodeRecord, bool) {
	if fresh {
		ports, _ := PickPorts(v.ports, portsPerNode, v.used)
		for _, p := range ports {
			v.used[p] = true
		}
		n.AgentID, n.Hostname, n.Host = v.host.AgentID, v.offer.Hostname, hostIP(ctx, v.offer)
		n.Ports = zkstate.Ports{PB: int(ports[0]), HTTP: int(ports[1]), Handoff: int(ports[2]), Disterl: int(ports[3]), Erlpmd: int(ports[4])}
		n.Reserved = c.NodeResources
		n.PersistenceID = fmt.Sprintf("%s-%s-%d", n.Cluster, n.Name, time.Now().UnixNano())
		n.RiakNodeName = n.Name + "@" + n.Host
		v.cpus -= c.NodeResources.CPUs
		v.mem -= c.NodeResources.MemMB
		v.disk -= c.NodeResources.DiskMB
	}
	n.TaskID = fmt.Sprintf("%s.%s.%d", n.Cluster, n.Name, time.Now().UnixNano())
	n.Generation = c.Generation
	td := nodetask.Task{Framework: s.fw.Name(), Cluster: n.Cluster, Node: n.Name, NodeName: n.RiakNodeName, Flavor: s.cfg.Flavor,
		ZooKeeper: s.cfg.ZooKeeper, Host: n.Host, Ports: n.Ports, RiakConf: c.RiakConf, AdvancedConfig: c.AdvancedConfig,
		RiakTarball: s.cfg.RiakTarball, Generation: c.Generation, Join: s.joinTarget(n, nodes), Fencing: s.cfg.Fencing}
	data, err := nodetask.Marshal(td)
	if err != nil {
		s.setWhy(n, "bad task data: "+err.Error())
		return n, false
	}
	placement := n
	if _, _, err := s.fw.ModifyNode(ctx, n.Cluster, n.Name, func(rec *zkstate.NodeRecord) error {
		if rec.DesiredState != zkstate.DesiredRunning || rec.TaskID != "" {
			return errStale
		}
		rec.AgentID, rec.Hostname, rec.Host, rec.Ports = placement.AgentID, placement.Hostname, placement.Host, placement.Ports
		rec.Reserved, rec.PersistenceID, rec.RiakNodeName = placement.Reserved, placement.PersistenceID, placement.RiakNodeName
		rec.TaskID, rec.Generation, rec.ObservedState, rec.Message = placement.TaskID, placement.Generation, zkstate.ObservedLaunching, ""
		return nil
	}); err != nil {
		s.log.Warn("record placement", "node", n.Name, "err", err)
		return n, false
	}
	plain, vol := s.nodeResources(n)
	if fresh {
		disk := mesos.Resources{resources.NewDisk(n.Reserved.DiskMB).Resource}.PushReservation(s.reservation())
		v.ops = append(v.ops, calls.OpReserve(append(plain.Clone(), disk...)...), calls.OpCreate(vol...))
	}
	// No shell: the executor is exec'd with an argument vector.
	argv := strings.Fields(s.cfg.ExecutorCommand)
	if s.cfg.ExecutorZKAuthFile != "" {
		argv = append(argv, "--zk-auth-file", s.cfg.ExecutorZKAuthFile)
	}
	cmd := &mesos.CommandInfo{Value: &argv[0], Arguments: argv, Shell: ptr(false)}
	if s.cfg.ZKAuth != "" && s.cfg.ExecutorZKAuthFile == "" {
		cmd.Environment = &mesos.Environment{Variables: []mesos.Environment_Variable{
			{Name: "RMF_ZK_AUTH", Type: mesos.Environment_Variable_VALUE.Enum(), Value: ptr(s.cfg.ZKAuth)},
		}}
	}
	if s.cfg.ExecutorURI != "" {
		cmd.URIs = append(cmd.URIs, mesos.CommandInfo_URI{Value: s.cfg.ExecutorURI, Executable: ptr(true), OutputFile: ptr("rmf")})
	}
	if s.cfg.Flavor == nodetask.FlavorRiak {
		cmd.URIs = append(cmd.URIs, mesos.CommandInfo_URI{Value: s.cfg.RiakTarball, Extract: ptr(true)})
	}
	task := mesos.TaskInfo{
		Name: n.Cluster + "/" + n.Name, TaskID: mesos.TaskID{Value: n.TaskID}, AgentID: mesos.AgentID{Value: n.AgentID},
		Resources: append(plain, vol...), Data: data,
		Executor: &mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: executorID(n.TaskID)}, Name: ptr("rmf executor"), Command: cmd},
	}
	v.ops = append(v.ops, calls.OpLaunch(task))
	s.log.Info("launching node", "cluster", n.Cluster, "node", n.Name, "agent", n.Hostname, "task", n.TaskID, "fresh", fresh, "join", td.Join)
	s.mu.Lock()
	s.rt(n).why = ""
	s.mu.Unlock()
	n.ObservedState = zkstate.ObservedLaunching
	return n, true
}

// setNode replaces rec's entry in nodes.
func setNode(nodes []zkstate.NodeRecord, rec zkstate.NodeRecord) {
	for i := range nodes {
		if key(nodes[i]) == key(rec) {
			nodes[i] = rec
		}
	}
}

// joinTarget picks the node a launching node joins: a running node of the
// same cluster if there is one, else the first placed one (nodes placed in
// the same round start together; the devnode retries its join until the
// seed answers). The first node of a cluster joins nobody. The target is
// a PB address for the devnode and an Erlang node name for Riak.
func (s *Scheduler) joinTarget(n zkstate.NodeRecord, nodes []zkstate.NodeRecord) string {
	var running, placed []zkstate.NodeRecord
	for _, o := range nodes {
		if o.Cluster != n.Cluster || o.Name == n.Name || o.Host == "" || o.Ports.PB == 0 || o.DesiredState != zkstate.DesiredRunning {
			continue
		}
		if o.ObservedState == zkstate.ObservedRunning {
			running = append(running, o)
		} else if o.TaskID != "" {
			placed = append(placed, o)
		}
	}
	cands := running
	if len(cands) == 0 {
		cands = placed
	}
	if len(cands) == 0 {
		return ""
	}
	sort.Slice(cands, func(i, j int) bool { return nodeLess(cands[i].Name, cands[j].Name) })
	if s.cfg.Flavor == nodetask.FlavorRiak {
		return cands[0].RiakNodeName
	}
	return fmt.Sprintf("%s:%d", cands[0].Host, cands[0].Ports.PB)
}

// releaseOps destroys a removed node's volume and unreserves its resources.
func (s *Scheduler) releaseOps(o mesos.Offer, n zkstate.NodeRecord) calls.OfferOperations {
	plain, vol := s.nodeResources(n)
	if len(vol) == 0 {
		return calls.OfferOperations{calls.OpUnreserve(plain...)}
	}
	plainVol := vol.Clone()
	plainVol[0].Disk = nil
	return calls.OfferOperations{calls.OpDestroy(vol...), calls.OpUnreserve(append(plain, plainVol...)...)}
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
		rec.AgentID, rec.Hostname, rec.Host, rec.PersistenceID, rec.RiakNodeName = "", "", "", "", ""
		rec.Ports, rec.Reserved = zkstate.Ports{}, zkstate.Resources{}
		rec.ObservedState, rec.Message = zkstate.ObservedPending, msg
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

// orphanOps destroys the volumes and unreserves the resources of this
// role in an offer that no node needs.
func (s *Scheduler) orphanOps(o mesos.Offer, needed mesos.Resources) calls.OfferOperations {
	var mine mesos.Resources
	for _, r := range o.Resources {
		if r.IsUnreserved() || r.ReservationRole() != s.cfg.Role || !r.IsDynamicallyReserved() {
			continue
		}
		r.AllocationInfo = nil
		mine = append(mine, r)
	}
	if len(mine) == 0 {
		return nil
	}
	orphan := mesos.Resources(mine).Minus(needed...)
	var vols, reserved mesos.Resources
	for _, r := range orphan {
		if r.IsEmpty() {
			continue
		}
		if r.IsPersistentVolume() {
			vols = append(vols, r)
			plain := r
			plain.Disk = nil
			reserved = append(reserved, plain)
			continue
		}
		reserved = append(reserved, r)
	}
	var ops calls.OfferOperations
	if len(vols) > 0 {
		ops = append(ops, calls.OpDestroy(vols...))
	}
	if len(reserved) > 0 {
		s.log.Info("releasing reservations no node needs", "agent", o.Hostname, "volumes", len(vols), "resources", len(reserved))
		ops = append(ops, calls.OpUnreserve(reserved...))
	}
	return ops
}

// executorID is the ID of the executor that runs a node's task (one
// executor per task).
func executorID(taskID string) string { return "rmf-executor." + taskID }
