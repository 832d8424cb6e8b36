package mesoslocal

import (
	"errors"
	"fmt"
	"os"
	"path"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	execapi "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

func executorMessage(data []byte) *execapi.Event {
	return &execapi.Event{Type: execapi.Event_MESSAGE, Message: &execapi.Event_Message{Data: data}}
}

// acceptLocked handles ACCEPT (and DECLINE, with no operations): the
// offers are used up, the operations applied in order, and what is left
// goes back to the agent with the filter's refusal time. As in Mesos, an
// operation that does not apply is dropped (and logged), and a task that
// cannot launch gets TASK_ERROR or TASK_DROPPED.
func (m *Master) acceptLocked(fw *framework, ids []mesos.OfferID, ops []mesos.Offer_Operation, filters *mesos.Filters) {
	refuse := DefaultRefuseSeconds
	if filters != nil && filters.RefuseSeconds != nil {
		refuse = time.Duration(filters.GetRefuseSeconds() * float64(time.Second))
	}
	var a *agent
	var avail mesos.Resources
	valid := len(ids) > 0
	for _, id := range ids {
		o := m.offers[id.Value]
		if o == nil || o.fw != fw || (a != nil && o.agent != a) {
			valid = false
			continue
		}
		a = o.agent
	}
	if valid {
		for _, id := range ids {
			avail.Add(m.offers[id.Value].resources...)
			delete(m.offers, id.Value)
		}
	}
	if !valid {
		m.log.Warn("accept with invalid offers", "framework", fw.id, "offers", ids)
		for _, op := range ops {
			if op.Launch != nil {
				for _, ti := range op.Launch.TaskInfos {
					m.masterUpdateLocked(fw, ti.TaskID, mesos.TASK_DROPPED, mesos.REASON_INVALID_OFFERS, "Task launched with invalid offers")
				}
			}
		}
		// Valid offers among them go back to the agent.
		for _, id := range ids {
			if o := m.offers[id.Value]; o != nil && o.fw == fw {
				delete(m.offers, id.Value)
			}
		}
		m.triggerAllocation()
		return
	}
	for _, op := range ops {
		if err := m.applyOperationLocked(fw, a, &avail, op); err != nil {
			m.log.Warn("operation dropped", "framework", fw.id, "agent", a.id, "type", op.Type.String(), "err", err)
		}
	}
	if refuse > 0 {
		fw.refused[a.id] = time.Now().Add(refuse)
	}
	m.triggerAllocation()
}

// masterUpdateLocked sends a status update the master generates (no UUID,
// nothing to acknowledge).
func (m *Master) masterUpdateLocked(fw *framework, id mesos.TaskID, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
	fw.stream.send(&scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: mesos.TaskStatus{
		TaskID: id, State: state.Enum(), Reason: reason.Enum(), Source: mesos.SOURCE_MASTER.Enum(), Message: &msg}}})
}

// applyOperationLocked applies one offer operation to the offered
// resources (avail) and to the agent's resources.
func (m *Master) applyOperationLocked(fw *framework, a *agent, avail *mesos.Resources, op mesos.Offer_Operation) (err error) {
	defer func() {
		if p := recover(); p != nil { // mesos-go's resource math panics on some invalid input
			err = fmt.Errorf("invalid resources: %v", p)
		}
	}()
	switch op.Type {
	case mesos.Offer_Operation_RESERVE:
		if op.Reserve == nil {
			return errors.New("missing reserve")
		}
		rs := unallocated(op.Reserve.Resources)
		var src mesos.Resources
		for _, r := range rs {
			if !r.IsDynamicallyReserved() || r.ReservationRole() != fw.role {
				return fmt.Errorf("RESERVE of %v: want a dynamic reservation for role %q", r, fw.role)
			}
			src.Add1(popReservation(r))
		}
		return a.transformLocked(avail, src, rs)
	case mesos.Offer_Operation_UNRESERVE:
		if op.Unreserve == nil {
			return errors.New("missing unreserve")
		}
		rs := unallocated(op.Unreserve.Resources)
		var dst mesos.Resources
		for _, r := range rs {
			if !r.IsDynamicallyReserved() || r.IsPersistentVolume() {
				return fmt.Errorf("UNRESERVE of %v: want dynamically reserved resources that are not a volume", r)
			}
			dst.Add1(popReservation(r))
		}
		return a.transformLocked(avail, rs, dst)
	case mesos.Offer_Operation_CREATE:
		if op.Create == nil {
			return errors.New("missing create")
		}
		vols := unallocated(op.Create.Volumes)
		var src mesos.Resources
		for _, v := range vols {
			if err := a.checkNewVolumeLocked(v); err != nil {
				return err
			}
			plain := v
			plain.Disk = nil
			src.Add1(plain)
		}
		if err := a.transformLocked(avail, src, vols); err != nil {
			return err
		}
		for _, v := range vols {
			if err := os.MkdirAll(a.volumeDir(v), 0o755); err != nil {
				return err
			}
		}
		return nil
	case mesos.Offer_Operation_DESTROY:
		if op.Destroy == nil {
			return errors.New("missing destroy")
		}
		vols := unallocated(op.Destroy.Volumes)
		var dst mesos.Resources
		for _, v := range vols {
			if !v.IsPersistentVolume() {
				return fmt.Errorf("DESTROY of %v: not a persistent volume", v)
			}
			plain := v
			plain.Disk = nil
			dst.Add1(plain)
		}
		if err := a.transformLocked(avail, vols, dst); err != nil {
			return err
		}
		for _, v := range vols {
			_ = os.RemoveAll(a.volumeDir(v))
		}
		return nil
	case mesos.Offer_Operation_GROW_VOLUME:
		if op.GrowVolume == nil {
			return errors.New("missing grow_volume")
		}
		vol, err := a.resizedVolumeLocked("GROW_VOLUME", op.GrowVolume.Volume)
		if err != nil {
			return err
		}
		addition := unallocated([]mesos.Resource{op.GrowVolume.Addition})[0]
		if err := checkAddition(vol, addition); err != nil {
			return err
		}
		grown := vol
		grown.Scalar = &mesos.Value_Scalar{Value: vol.GetScalar().GetValue() + addition.GetScalar().GetValue()}
		return a.transformLocked(avail, mesos.Resources{vol, addition}, mesos.Resources{grown})
	case mesos.Offer_Operation_SHRINK_VOLUME:
		if op.ShrinkVolume == nil {
			return errors.New("missing shrink_volume")
		}
		vol, err := a.resizedVolumeLocked("SHRINK_VOLUME", op.ShrinkVolume.Volume)
		if err != nil {
			return err
		}
		sub, size := op.ShrinkVolume.Subtract.GetValue(), vol.GetScalar().GetValue()
		if !(sub > 0) || !(sub < size) { // !(x) also refuses NaN
			return fmt.Errorf("invalid SHRINK_VOLUME operation: subtract %v must be positive and less than the volume's %v", sub, size)
		}
		shrunk, freed := vol, plainDisk(vol)
		shrunk.Scalar = &mesos.Value_Scalar{Value: size - sub}
		freed.Scalar = &mesos.Value_Scalar{Value: sub}
		return a.transformLocked(avail, mesos.Resources{vol}, mesos.Resources{shrunk, freed})
	case mesos.Offer_Operation_LAUNCH:
		if op.Launch == nil {
			return errors.New("missing launch")
		}
		for _, ti := range op.Launch.TaskInfos {
			if err := m.launchTaskLocked(fw, a, avail, ti); err != nil {
				m.masterUpdateLocked(fw, ti.TaskID, mesos.TASK_ERROR, mesos.REASON_TASK_INVALID, err.Error())
			}
		}
		return nil
	default:
		for _, ti := range launchGroupTasks(op) {
			m.masterUpdateLocked(fw, ti.TaskID, mesos.TASK_ERROR, mesos.REASON_TASK_INVALID, "mesos-local does not support "+op.Type.String())
		}
		return fmt.Errorf("unsupported operation %v", op.Type)
	}
}

func launchGroupTasks(op mesos.Offer_Operation) []mesos.TaskInfo {
	if op.LaunchGroup != nil {
		return op.LaunchGroup.TaskGroup.Tasks
	}
	return nil
}

// transformLocked replaces from by to in both the offered resources and
// the agent's total, after checking the offer holds from.
func (a *agent) transformLocked(avail *mesos.Resources, from, to mesos.Resources) error {
	for _, r := range from {
		if !rsContains(*avail, r) {
			return fmt.Errorf("offer does not hold %v", r)
		}
	}
	avail.Subtract(from...)
	avail.Add(to...)
	a.total.Subtract(from...)
	a.total.Add(to...)
	a.saveResourcesLocked()
	return nil
}

// checkNewVolumeLocked validates a CREATE'd volume.
func (a *agent) checkNewVolumeLocked(v mesos.Resource) error {
	d := v.GetDisk()
	if v.Name != "disk" || d.GetPersistence() == nil || d.GetVolume() == nil {
		return fmt.Errorf("CREATE of %v: want a disk with persistence and volume", v)
	}
	id := d.GetPersistence().GetID()
	if !validName(id) || len(id) > 64 {
		return fmt.Errorf("CREATE: invalid persistence ID %q", id)
	}
	if err := checkContainerPath(d.GetVolume().GetContainerPath()); err != nil {
		return err
	}
	if !v.IsReserved("") {
		return fmt.Errorf("CREATE of %v: persistent volumes need reserved disk", v)
	}
	for _, r := range a.total {
		if r.IsPersistentVolume() && r.GetDisk().GetPersistence().GetID() == id {
			return fmt.Errorf("CREATE: persistence ID %q already exists on agent %s", id, a.id)
		}
	}
	return nil
}

// resizedVolumeLocked validates the volume of a GROW_VOLUME or
// SHRINK_VOLUME (what, as Mesos names it): a persistent, unshared volume
// on agent a with that persistence ID. Whether the offer holds it (not in
// use, same size) transformLocked checks.
func (a *agent) resizedVolumeLocked(what string, v mesos.Resource) (mesos.Resource, error) {
	v = unallocated([]mesos.Resource{v})[0]
	if v.Name != "disk" || !v.IsPersistentVolume() {
		return v, fmt.Errorf("invalid %s operation: %v is not a persistent volume", what, v)
	}
	if v.Shared != nil {
		return v, fmt.Errorf("invalid %s operation: shared persistent volume %v cannot be resized", what, v)
	}
	id := v.GetDisk().GetPersistence().GetID()
	for _, r := range a.total {
		if r.IsPersistentVolume() && r.GetDisk().GetPersistence().GetID() == id {
			return v, nil
		}
	}
	return v, fmt.Errorf("invalid %s operation: persistent volume %q does not exist on agent %s", what, id, a.id)
}

// checkAddition validates a GROW_VOLUME's addition to vol: positive,
// non-persistent disk with the volume's reservations and disk source.
func checkAddition(vol, add mesos.Resource) error {
	if add.Name != "disk" || add.GetScalar() == nil || !(add.GetScalar().GetValue() > 0) {
		return fmt.Errorf("invalid GROW_VOLUME operation: addition %v must be a positive disk resource", add)
	}
	if add.IsPersistentVolume() || add.GetDisk().GetVolume() != nil || add.Shared != nil {
		return fmt.Errorf("invalid GROW_VOLUME operation: addition %v must not be a volume", add)
	}
	want := plainDisk(vol)
	want.Scalar = add.Scalar
	if !want.Equivalent(add) {
		return fmt.Errorf("invalid GROW_VOLUME operation: addition %v must have the reservations and disk source of volume %v", add, vol)
	}
	return nil
}

// plainDisk is the reserved disk under volume v (no persistence, no
// volume, same source and reservations).
func plainDisk(v mesos.Resource) mesos.Resource {
	out := v
	out.Disk = nil
	if src := v.GetDisk().GetSource(); src != nil {
		out.Disk = &mesos.Resource_DiskInfo{Source: src}
	}
	return out
}

func checkContainerPath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || len(p) > 2 && p[:3] == "../" {
		return fmt.Errorf("invalid volume container path %q: want a relative path inside the sandbox", p)
	}
	return nil
}

// launchTaskLocked validates a task against the offer and starts it.
func (m *Master) launchTaskLocked(fw *framework, a *agent, avail *mesos.Resources, ti mesos.TaskInfo) error {
	if !validName(ti.TaskID.Value) {
		return fmt.Errorf("invalid task ID %q", ti.TaskID.Value)
	}
	if ti.AgentID.Value != a.id {
		return fmt.Errorf("task's agent %q is not the offer's agent %q", ti.AgentID.Value, a.id)
	}
	if m.taskLocked(fw.id, ti.TaskID.Value) != nil {
		return fmt.Errorf("task ID %q is already in use", ti.TaskID.Value)
	}
	if ti.Executor == nil {
		return errors.New("mesos-local runs custom executors only: set TaskInfo.executor (command tasks are not supported)")
	}
	if !validName(ti.Executor.ExecutorID.Value) {
		return fmt.Errorf("invalid executor ID %q", ti.Executor.ExecutorID.Value)
	}
	taskRes := unallocated(ti.Resources)
	need := taskRes.Clone()
	var execRes mesos.Resources
	if e := a.executors[taskKey(fw.id, ti.Executor.ExecutorID.Value)]; e == nil || e.exited {
		execRes = unallocated(ti.Executor.Resources)
		need.Add(execRes...)
	}
	for _, r := range need {
		if r.IsPersistentVolume() {
			if err := checkContainerPath(r.GetDisk().GetVolume().GetContainerPath()); err != nil {
				return err
			}
		}
		if !rsContains(*avail, r) {
			return fmt.Errorf("task uses resources the offer does not hold: %v", r)
		}
	}
	avail.Subtract(need...)
	a.launchLocked(fw, ti, taskRes, execRes)
	return nil
}

// unallocated copies rs without allocation info (offers to MULTI_ROLE
// frameworks carry it; the agent's books do not).
func unallocated(rs []mesos.Resource) mesos.Resources {
	out := mesos.Resources(rs).Clone()
	return out.Unallocate()
}

// popReservation removes the last reservation of r (refined or legacy).
func popReservation(r mesos.Resource) mesos.Resource {
	if n := len(r.Reservations); n > 0 {
		r.Reservations = append([]mesos.Resource_ReservationInfo(nil), r.Reservations[:n-1]...)
		if len(r.Reservations) == 0 {
			r.Reservations = nil
		}
		return r
	}
	r.Role, r.Reservation = nil, nil
	return r
}

func rsContains(rs mesos.Resources, r mesos.Resource) bool { return resources.Contains(rs, r) }
