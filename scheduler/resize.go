package scheduler

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// Resizing a node where it is (rmf cluster update --cpus/--mem/--disk):
// when a node relaunches on its reservation (a rolling restart to the
// cluster's generation) and the cluster's node resources differ from what
// it reserved, the difference in cpus and memory is reserved from (or
// unreserved to) its agent's offer in the same ACCEPT as its launch, and
// so is the difference in disk, which resizes its volume in place (Mesos
// >= 1.6: RESERVE then GROW_VOLUME, or SHRINK_VOLUME then UNRESERVE). It
// runs again on the same volume, its data kept, with the new resources.

// resizeWait bounds how long a relaunching node waits for its agent to
// offer the room to grow it before it runs again as it was.
const resizeWait = 20 * time.Second

// resizeStep is what relaunching a node with want instead of have takes
// on an offer with free unreserved cpus, mem and disk: the resources it
// will hold, the cpus, mem and disk to reserve (positive) or unreserve
// (negative; disk grows or shrinks its volume), and why not when the
// agent cannot fit the growth ("" if it can).
type resizeStep struct {
	Reserved        zkstate.Resources
	CPUs, Mem, Disk float64
	CannotGrow      string
}

// needsResize reports whether a node holding have is to be resized to want.
func needsResize(have, want zkstate.Resources) bool {
	return have.CPUs != want.CPUs || have.MemMB != want.MemMB || have.DiskMB != want.DiskMB
}

// planResize decides a node's resize from its reservation, the cluster's
// resources and what its agent offers unreserved (a pure function).
func planResize(have, want zkstate.Resources, freeCPUs, freeMem, freeDisk float64, agent string) resizeStep {
	st := resizeStep{Reserved: have}
	dc, dm, dd := want.CPUs-have.CPUs, want.MemMB-have.MemMB, want.DiskMB-have.DiskMB
	if dc == 0 && dm == 0 && dd == 0 {
		return st
	}
	if (dc > 0 && freeCPUs < dc) || (dm > 0 && freeMem < dm) || (dd > 0 && freeDisk < dd) {
		st.CannotGrow = fmt.Sprintf("cannot grow where its data is: it needs %+g cpus, %+g MB mem and %+g MB disk more, agent %s offers %g cpus, %g MB mem and %g MB disk free; it keeps %g cpus, %g MB mem and %g MB disk",
			dc, dm, dd, agent, freeCPUs, freeMem, freeDisk, have.CPUs, have.MemMB, have.DiskMB)
		return st
	}
	st.Reserved = want
	st.CPUs, st.Mem, st.Disk = dc, dm, dd
	return st
}

// resizeOps are the operations of step on a node whose volume is vol
// (before the step): RESERVE the growth, GROW_VOLUME or SHRINK_VOLUME the
// volume by the disk difference, UNRESERVE the surplus.
func (s *Scheduler) resizeOps(step resizeStep, vol mesos.Resource) calls.OfferOperations {
	var grow, shrink mesos.Resources
	add := func(d float64, r mesos.Resource) {
		if d > 0 {
			grow = append(grow, r)
		} else if d < 0 {
			shrink = append(shrink, r)
		}
	}
	abs := func(f float64) float64 { return max(f, -f) }
	add(step.CPUs, resources.NewCPUs(abs(step.CPUs)).Resource)
	add(step.Mem, resources.NewMemory(abs(step.Mem)).Resource)
	var disk mesos.Resource
	if step.Disk != 0 {
		disk = mesos.Resources{resources.NewDisk(abs(step.Disk)).Resource}.PushReservation(s.reservation())[0]
		add(step.Disk, resources.NewDisk(abs(step.Disk)).Resource)
	}
	var ops calls.OfferOperations
	if len(grow) > 0 {
		ops = append(ops, calls.OpReserve(grow.PushReservation(s.reservation())...))
	}
	if step.Disk > 0 {
		ops = append(ops, mesos.Offer_Operation{Type: mesos.Offer_Operation_GROW_VOLUME,
			GrowVolume: &mesos.Offer_Operation_GrowVolume{Volume: vol, Addition: disk}})
	} else if step.Disk < 0 {
		ops = append(ops, mesos.Offer_Operation{Type: mesos.Offer_Operation_SHRINK_VOLUME,
			ShrinkVolume: &mesos.Offer_Operation_ShrinkVolume{Volume: vol, Subtract: mesos.Value_Scalar{Value: -step.Disk}}})
	}
	if len(shrink) > 0 {
		ops = append(ops, calls.OpUnreserve(shrink.PushReservation(s.reservation())...))
	}
	return ops
}

// ClusterUpdate is the body of PATCH /api/v1/clusters/{c}: new node
// resources and/or placement constraints (absent: unchanged).
type ClusterUpdate struct {
	NodeResources *zkstate.Resources    `json:"node_resources,omitempty"`
	Constraints   *[]zkstate.Constraint `json:"constraints,omitempty"`
}

// updateCluster changes a cluster's node resources and constraints. New
// cpus, mem or disk bump the generation: the rolling restart relaunches
// one node at a time on its volume with the new resources (its volume
// resized in place), each only once every node is ready with no
// transfers pending. The answer's warnings say what does not apply to the
// nodes already placed (new constraints: a node stays where its data is). A node whose agent's
// last offer had too little free to grow it refuses the update (409,
// saying why).
func (s *Scheduler) updateCluster(r *http.Request) (int, any, error) {
	name, err := clusterName(r)
	if err != nil {
		return 0, nil, err
	}
	var u ClusterUpdate
	if err := decodeJSON(r, &u); err != nil {
		return 0, nil, err
	}
	if u.NodeResources == nil && u.Constraints == nil {
		return 0, nil, apiErr(http.StatusBadRequest, "nothing to update: give node_resources and/or constraints")
	}
	if nr := u.NodeResources; nr != nil && (nr.CPUs <= 0 || nr.MemMB <= 0 || nr.DiskMB <= 0) {
		return 0, nil, apiErr(http.StatusBadRequest, "node_resources: cpus, mem_mb and disk_mb must be positive")
	}
	if u.Constraints != nil {
		for _, c := range *u.Constraints {
			if err := ValidateConstraint(c); err != nil {
				return 0, nil, apiErr(http.StatusBadRequest, "%v", err)
			}
		}
	}
	var warnings []string
	nodes := s.nodesOf(r.Context(), name)
	if u.NodeResources != nil {
		// A node whose agent cannot fit its growth would be restarted for
		// nothing: refuse, saying which and why (from the agents' last
		// offers; one that still cannot grow when it relaunches keeps its
		// resources).
		if why := s.growWarnings(zkstate.ClusterRecord{NodeResources: *u.NodeResources}, nodes); len(why) > 0 {
			return 0, nil, apiErr(http.StatusConflict, "cluster %s not updated: %s", name, strings.Join(why, "; "))
		}
	}
	c, _, err := s.fw.ModifyCluster(r.Context(), name, func(c *zkstate.ClusterRecord) error {
		warnings = nil
		restart := false
		if nr := u.NodeResources; nr != nil {
			restart = needsResize(c.NodeResources, *nr)
			c.NodeResources = *nr
		}
		if u.Constraints != nil {
			c.Constraints = *u.Constraints
			if len(nodes) > 0 {
				warnings = append(warnings, "constraints apply to nodes placed from now on: a placed node stays where its data is (replace it to move it)")
			}
		}
		if restart && len(nodes) > 0 {
			c.Generation++
		}
		if err := c.Validate(); err != nil {
			return apiErr(http.StatusBadRequest, "%v", err)
		}
		return nil
	})
	if err != nil {
		return 0, nil, notFound(err, "cluster %s", name)
	}
	s.Nudge()
	v := s.clusterView(r.Context(), c)
	v.Warnings = warnings
	return 200, v, nil
}

// growWarnings name the nodes whose agents' last offers had too little
// free to grow them to c's resources (advisory: offers change; such a
// node keeps its resources when it relaunches, and says why).
func (s *Scheduler) growWarnings(c zkstate.ClusterRecord, nodes []zkstate.NodeRecord) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range nodes {
		a, ok := s.agents[n.AgentID]
		if !ok || n.DesiredState != zkstate.DesiredRunning {
			continue
		}
		if st := planResize(n.Reserved, c.NodeResources, a.FreeCPUs, a.FreeMemMB, a.FreeDiskMB, n.Hostname); st.CannotGrow != "" {
			out = append(out, n.Name+": "+st.CannotGrow)
		}
	}
	return out
}
