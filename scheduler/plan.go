package scheduler

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// offerSnapshot is everything planOffers decides from: the desired and
// observed state as read from ZooKeeper, what only the leader knows of
// each node, and one round of offers.
type offerSnapshot struct {
	Now       time.Time
	Framework string                           // the framework's name, for task data
	Nodes     []zkstate.NodeRecord             // every node record, sorted by key
	Clusters  map[string]zkstate.ClusterRecord // the readable clusters of those nodes
	Facts     map[string]nodeFacts             // by key(n)
	Offers    []mesos.Offer
	HostIPs   []string // per offer: the address a node placed there binds
}

// nodeFacts is what planning needs of a node's nodeRuntime.
type nodeFacts struct {
	// Hold: given up on, backing off after a failure, or being killed;
	// not launched now.
	Hold bool
	// WaitingAgentSince is when it started waiting for an offer from its
	// agent (zero: not waiting).
	WaitingAgentSince time.Time
	// ResizeSince is when it started waiting for its agent to offer room
	// to grow it (zero: not waiting; resize.go).
	ResizeSince time.Time
}

// changeKind is what a nodeChange does to a node record.
type changeKind int

const (
	// changePlace records a placement (agent, ports, volume, task); the
	// operations that launch it are sent only once it is recorded, so a
	// crash cannot launch a node twice.
	changePlace changeKind = iota
	// changeRelease deletes the record of a removed node whose
	// reservation and volume are released in this round.
	changeRelease
	// changeReplace forgets the agent of a node that waited too long for
	// it: the node is placed again elsewhere.
	changeReplace
)

// nodeChange is one ZooKeeper change of a plan.
type nodeChange struct {
	Kind changeKind
	// Node is the record as read (release, replace) or as placed (place).
	Node zkstate.NodeRecord
	// Fresh (place): a new placement, not a relaunch on its volume.
	Fresh bool
	// Join (place) is the join target in its task data; JoinsChange the
	// index of the change that places that target in this round (-1: the
	// target was placed before). A node is not launched to join one
	// whose placement could not be recorded.
	Join        string
	JoinsChange int
}

// plannedOps are operations on one offer; Change is the index of the
// change they need recorded first (-1: none).
type plannedOps struct {
	Ops    calls.OfferOperations
	Change int
}

// offerDecision is what becomes of one offer: accepted with Ops (in
// order), or, with none, accepted with Orphans (the release of
// reservations no node needs), or declined.
type offerDecision struct {
	Offer   mesos.Offer
	Ops     []plannedOps
	Orphans calls.OfferOperations
}

// offerPlan is what planOffers decided; applyOfferPlan acts on it.
type offerPlan struct {
	Agents  []AgentView
	Changes []nodeChange
	Offers  []offerDecision
	// Why says, by key(n), why a node was not placed.
	Why map[string]string
	// Waiting is, by key(n), since when a node waits for an offer from its
	// agent (zero: no longer waiting).
	Waiting map[string]time.Time
	// ResizeWait is, by key(n), since when a node waits for room to grow
	// on its agent (zero: no longer waiting).
	ResizeWait map[string]time.Time
	// Pending: nodes still wait to be placed, so declined offers are
	// refused only briefly.
	Pending bool
}

// planOffers places pending nodes on one round of offers: relaunches on
// the agent holding a node's volume first, then new nodes (filters:
// resources and constraints; rank: fewest nodes of the cluster), releases
// the reservations of removed nodes and those no node needs, and says why
// a node was not placed. It reads nothing but snap and the configuration,
// and changes nothing: applyOfferPlan acts on what it returns.
func (s *Scheduler) planOffers(snap offerSnapshot) offerPlan {
	p := offerPlan{Why: map[string]string{}, Waiting: map[string]time.Time{}, ResizeWait: map[string]time.Time{}}
	nodes := slices.Clone(snap.Nodes) // updated as nodes are placed: later ones may join them
	views := make([]*offerView, 0, len(snap.Offers))
	for i, o := range snap.Offers {
		v := newOfferView(o, s.cfg.Role)
		if i < len(snap.HostIPs) {
			v.hostIP = snap.HostIPs[i]
		}
		views = append(views, v)
		p.Agents = append(p.Agents, s.agentView(v, snap.Now))
	}
	byAgent := map[string]*offerView{}
	for _, v := range views {
		if byAgent[v.host.AgentID] == nil {
			byAgent[v.host.AgentID] = v
		}
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
	placedNow := map[string]int{} // key → its change, for nodes placed in this round
	ps := patterns{}              // compiled once per round
	for _, n := range nodes {
		f := snap.Facts[key(n)]
		c, ok := snap.Clusters[n.Cluster]
		if !ok {
			continue
		}
		switch {
		case n.DesiredState == zkstate.DesiredRemoved && n.AgentID != "" && n.TaskID == "":
			if v := byAgent[n.AgentID]; v != nil && v.reservedBy[n.PersistenceID] {
				n.Reserved.DiskMB = v.volumeMB[n.PersistenceID] // destroy the volume as the agent has it
				v.planned = append(v.planned, plannedOps{Ops: s.releaseOps(v.offer, n), Change: -1})
				delete(v.reservedBy, n.PersistenceID)
				p.Changes = append(p.Changes, nodeChange{Kind: changeRelease, Node: n, JoinsChange: -1})
			}
		case n.DesiredState != zkstate.DesiredRunning || f.Hold || n.TaskID != "":
		case n.AgentID != "":
			v := byAgent[n.AgentID]
			if v == nil || !v.reservedBy[n.PersistenceID] {
				since := f.WaitingAgentSince
				if since.IsZero() {
					since = snap.Now
				}
				p.Waiting[key(n)] = since
				if snap.Now.Sub(since) > s.cfg.AgentTimeout {
					p.Changes = append(p.Changes, nodeChange{Kind: changeReplace, Node: n, JoinsChange: -1})
					continue
				}
				p.Why[key(n)] = "waiting for an offer from its agent " + n.Hostname + " with its reserved resources and volume"
				continue
			}
			p.Waiting[key(n)] = time.Time{}
			delete(v.reservedBy, n.PersistenceID)
			s.planLaunch(&p, snap, v, n, c, nodes, placedNow, false)
		default:
			checkers := append([]checker{resourceChecker{c.NodeResources}}, constraintCheckers(c.Constraints, ps)...)
			chosen, reasons := selectOffer(views, byAgent, checkers, placed[n.Cluster])
			if chosen == nil {
				p.Why[key(n)] = strings.Join(reasons, "; ")
				continue
			}
			if s.planLaunch(&p, snap, chosen, n, c, nodes, placedNow, true) {
				placed[n.Cluster] = append(placed[n.Cluster], chosen.host)
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
		d := offerDecision{Offer: v.offer, Ops: v.planned}
		if len(v.planned) == 0 {
			d.Orphans = s.orphanOps(v.offer, needed[v.host.AgentID])
		}
		p.Offers = append(p.Offers, d)
	}
	for _, n := range nodes {
		if n.DesiredState == zkstate.DesiredRunning && n.TaskID == "" {
			p.Pending = true
		}
	}
	return p
}

// selectOffer is placement's stack for one new node: the hosts of the
// offers in rank order (Rank), each passed through the checkers (resource
// fit, then each constraint); the first host none refuses is chosen. The
// reasons say why each host before it was refused.
func selectOffer(views []*offerView, byAgent map[string]*offerView, checkers []checker, placed []Host) (*offerView, []string) {
	var reasons []string
	hosts := make([]Host, 0, len(views))
	for _, v := range views {
		hosts = append(hosts, v.host)
	}
	for _, h := range Rank(hosts, placed) {
		v := byAgent[h.AgentID]
		if why := feasible(checkers, candidate{host: h, offer: v}, placed); why != "" {
			reasons = append(reasons, h.Hostname+": "+why)
			continue
		}
		return v, nil
	}
	if len(reasons) == 0 {
		reasons = []string{"no offers"}
	}
	return nil, reasons
}

// agentView is what the API shows of the agent of offer v.
func (s *Scheduler) agentView(v *offerView, now time.Time) AgentView {
	av := AgentView{ID: v.host.AgentID, Hostname: v.offer.Hostname, Attributes: v.host.Attributes, FreeCPUs: v.cpus,
		FreeMemMB: v.mem, FreeDiskMB: v.disk, LastOffer: now}
	for _, pr := range v.ports {
		av.FreePorts += int(pr.End - pr.Begin + 1)
	}
	for _, r := range v.offer.Resources {
		if r.Name == "cpus" && r.ReservationRole() == s.cfg.Role && !r.IsUnreserved() {
			av.ReservedCPUs += r.GetScalar().GetValue()
		}
	}
	return av
}

// planLaunch plans the recording of node n's placement on offer v and the
// operations that (reserve, create and) launch it there once it is
// recorded. It updates nodes, so that later nodes of the round may join
// n, and reports whether n is launched.
func (s *Scheduler) planLaunch(p *offerPlan, snap offerSnapshot, v *offerView, n zkstate.NodeRecord, c zkstate.ClusterRecord,
	nodes []zkstate.NodeRecord, placedNow map[string]int, fresh bool) bool {
	if fresh {
		ports, _ := PickPorts(v.ports, portsPerNode, v.used)
		for _, p := range ports {
			v.used[p] = true
		}
		n.AgentID, n.Hostname, n.Host = v.host.AgentID, v.offer.Hostname, v.hostIP
		n.Ports = zkstate.Ports{PB: int(ports[0]), HTTP: int(ports[1]), Handoff: int(ports[2]), Disterl: int(ports[3]), Erlpmd: int(ports[4])}
		n.Reserved = c.NodeResources
		n.PersistenceID = fmt.Sprintf("%s-%s-%d", n.Cluster, n.Name, snap.Now.UnixNano())
		n.RiakNodeName = n.Name + "@" + n.Host
		v.cpus -= c.NodeResources.CPUs
		v.mem -= c.NodeResources.MemMB
		v.disk -= c.NodeResources.DiskMB
	}
	n.TaskID = fmt.Sprintf("%s.%s.%d", n.Cluster, n.Name, snap.Now.UnixNano())
	n.Generation = c.Generation
	join, target := s.joinTarget(n, nodes)
	joins := -1
	if i, ok := placedNow[target]; ok {
		joins = i
	}
	td := nodetask.Task{Framework: snap.Framework, Cluster: n.Cluster, Node: n.Name, NodeName: n.RiakNodeName, Flavor: s.cfg.Flavor,
		ZooKeeper: s.cfg.ZooKeeper, Host: n.Host, Ports: n.Ports, RiakConf: c.RiakConf, AdvancedConfig: c.AdvancedConfig,
		RiakTarball: s.cfg.RiakTarball, Generation: c.Generation, Join: join, Fencing: s.cfg.Fencing}
	if n.ReplacesRiakNodeName != n.RiakNodeName {
		td.Replaces = n.ReplacesRiakNodeName
	}
	data, err := nodetask.Marshal(td)
	if err != nil {
		p.Why[key(n)] = "bad task data: " + err.Error()
		return false
	}
	var ops calls.OfferOperations
	if mb, ok := v.volumeMB[n.PersistenceID]; ok && !fresh {
		// The agent's volume is the truth (a resize that did not apply
		// leaves the record saying otherwise): the task uses it as it is.
		n.Reserved.DiskMB = mb
	}
	if !fresh && needsResize(n.Reserved, c.NodeResources) {
		step := planResize(n.Reserved, c.NodeResources, v.cpus, v.mem, v.disk, v.offer.Hostname)
		if step.CannotGrow != "" {
			// The offer may hold only the node's freed reservation (the
			// agent's free resources filtered for a while): wait a little
			// for an offer with room, then run as it was.
			since := snap.Facts[key(n)].ResizeSince
			if since.IsZero() {
				since = snap.Now
			}
			if snap.Now.Sub(since) < resizeWait {
				p.ResizeWait[key(n)] = since
				p.Why[key(n)] = "waiting for its agent to offer room to grow: " + step.CannotGrow
				return false
			}
			p.Why[key(n)] = step.CannotGrow
		}
		if _, vol := s.nodeResources(n); len(vol) > 0 {
			ops = append(ops, s.resizeOps(step, vol[0])...)
		}
		v.cpus, v.mem, v.disk = v.cpus-step.CPUs, v.mem-step.Mem, v.disk-step.Disk
		n.Reserved = step.Reserved
	}
	p.ResizeWait[key(n)] = time.Time{}
	plain, vol := s.nodeResources(n)
	if fresh {
		disk := mesos.Resources{resources.NewDisk(n.Reserved.DiskMB).Resource}.PushReservation(s.reservation())
		ops = append(ops, calls.OpReserve(append(plain.Clone(), disk...)...), calls.OpCreate(vol...))
	}
	ops = append(ops, calls.OpLaunch(s.taskInfo(n, plain, vol, data)))
	n.ObservedState, n.Message = zkstate.ObservedLaunching, ""
	change := len(p.Changes)
	p.Changes = append(p.Changes, nodeChange{Kind: changePlace, Node: n, Fresh: fresh, Join: join, JoinsChange: joins})
	v.planned = append(v.planned, plannedOps{Ops: ops, Change: change})
	placedNow[key(n)] = change
	setNode(nodes, n)
	return true
}

// taskInfo is the task that runs node n's executor.
func (s *Scheduler) taskInfo(n zkstate.NodeRecord, plain, vol mesos.Resources, data []byte) mesos.TaskInfo {
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
	return mesos.TaskInfo{
		Name: n.Cluster + "/" + n.Name, TaskID: mesos.TaskID{Value: n.TaskID}, AgentID: mesos.AgentID{Value: n.AgentID},
		Resources: append(plain, vol...), Data: data,
		Executor: &mesos.ExecutorInfo{ExecutorID: mesos.ExecutorID{Value: executorID(n.TaskID)}, Name: ptr("rmf executor"), Command: cmd},
	}
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
// a PB address for the devnode and an Erlang node name for Riak; of is
// the key of the node it names ("" for none).
func (s *Scheduler) joinTarget(n zkstate.NodeRecord, nodes []zkstate.NodeRecord) (target, of string) {
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
		return "", ""
	}
	sort.Slice(cands, func(i, j int) bool { return nodeLess(cands[i].Name, cands[j].Name) })
	if s.cfg.Flavor == nodetask.FlavorRiak {
		return cands[0].RiakNodeName, key(cands[0])
	}
	return fmt.Sprintf("%s:%d", cands[0].Host, cands[0].Ports.PB), key(cands[0])
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

// orphanOps destroys the volumes and unreserves the resources of this
// role in an offer that no node needs. A volume whose persistence ID a
// needed volume has is never destroyed, whatever its size (a resize that
// did not apply leaves the record and the agent disagreeing on it).
func (s *Scheduler) orphanOps(o mesos.Offer, needed mesos.Resources) calls.OfferOperations {
	held := map[string]bool{}
	for _, r := range needed {
		if r.IsPersistentVolume() {
			held[r.GetDisk().GetPersistence().GetID()] = true
		}
	}
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
			if held[r.GetDisk().GetPersistence().GetID()] {
				continue
			}
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
		ops = append(ops, calls.OpUnreserve(reserved...))
	}
	return ops
}
