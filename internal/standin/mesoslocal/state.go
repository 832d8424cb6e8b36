package mesoslocal

import (
	"sort"
	"strconv"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// State is a read-only snapshot in the spirit of Mesos' /state.
type State struct {
	ID             string           `json:"id"`
	Address        string           `json:"address"`
	Version        string           `json:"version"`
	Frameworks     []FrameworkState `json:"frameworks"`
	Agents         []AgentState     `json:"agents"`
	Tasks          []TaskState      `json:"tasks"`
	CompletedTasks []TaskState      `json:"completed_tasks"`
	Offers         int              `json:"outstanding_offers"`
}

// FrameworkState describes a framework.
type FrameworkState struct {
	ID              string  `json:"id"`
	Name            string  `json:"name"`
	Role            string  `json:"role"`
	Principal       string  `json:"principal,omitempty"`
	Connected       bool    `json:"connected"`
	Suppressed      bool    `json:"suppressed"`
	FailoverTimeout float64 `json:"failover_timeout"`
	Checkpoint      bool    `json:"checkpoint"`
	StreamID        string  `json:"stream_id,omitempty"`
}

// AgentState describes an agent. Resource maps are keyed by role ("*" for
// unreserved) and then by resource name; scalars are numbers, ranges
// strings like "[31000-31999]".
type AgentState struct {
	ID           string                    `json:"id"`
	Hostname     string                    `json:"hostname"` // its address (Config.AgentAddresses)
	Up           bool                      `json:"up"`
	ExecutorAPI  string                    `json:"executor_api"`
	Attributes   map[string]string         `json:"attributes"`
	Resources    map[string]map[string]any `json:"resources"`
	Free         map[string]map[string]any `json:"free_resources"`
	Reservations map[string]map[string]any `json:"reserved_resources"`
	Volumes      []VolumeState             `json:"volumes"`
	Executors    []ExecutorState           `json:"executors"`
	WorkDir      string                    `json:"work_dir"`
}

// VolumeState is a persistent volume.
type VolumeState struct {
	PersistenceID string  `json:"persistence_id"`
	Role          string  `json:"role"`
	ContainerPath string  `json:"container_path"`
	Path          string  `json:"path"`
	DiskMB        float64 `json:"disk_mb"`
}

// ExecutorState is a running executor.
type ExecutorState struct {
	FrameworkID string `json:"framework_id"`
	ID          string `json:"id"`
	ContainerID string `json:"container_id"`
	PID         int    `json:"pid"`
	Sandbox     string `json:"sandbox"`
	Subscribed  bool   `json:"subscribed"`
}

// TaskState is a task and its latest state.
type TaskState struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	FrameworkID string `json:"framework_id"`
	AgentID     string `json:"agent_id"`
	ExecutorID  string `json:"executor_id"`
	State       string `json:"state"`
	Message     string `json:"message,omitempty"`
	Unacked     int    `json:"unacknowledged_updates"`
}

// State returns a snapshot of the master, its agents and tasks.
func (m *Master) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := State{ID: m.id, Address: m.addr, Version: "1.11.0 (mesos-local)", Offers: len(m.offers),
		Frameworks: []FrameworkState{}, Agents: []AgentState{}, Tasks: []TaskState{}, CompletedTasks: []TaskState{}}
	for _, fw := range m.frameworks {
		fs := FrameworkState{ID: fw.id, Name: fw.info.Name, Role: fw.role, Principal: fw.info.GetPrincipal(), Connected: fw.connected,
			Suppressed: fw.suppressed, FailoverTimeout: fw.info.GetFailoverTimeout(), Checkpoint: fw.info.GetCheckpoint()}
		if fw.stream != nil {
			fs.StreamID = fw.stream.id
		}
		s.Frameworks = append(s.Frameworks, fs)
	}
	sort.Slice(s.Frameworks, func(i, j int) bool { return s.Frameworks[i].ID < s.Frameworks[j].ID })
	for _, a := range m.agents {
		as := AgentState{ID: a.id, Hostname: a.hostname, Up: a.up, ExecutorAPI: a.addr, WorkDir: a.dir,
			Attributes: map[string]string{}, Resources: byRole(a.total, nil), Free: byRole(a.freeLocked(), nil),
			Reservations: byRole(a.total, func(r mesos.Resource) bool { return r.IsReserved("") }), Volumes: []VolumeState{}, Executors: []ExecutorState{}}
		for _, at := range a.attrs {
			as.Attributes[at.Name] = attrValue(at)
		}
		for _, r := range a.total {
			if r.IsPersistentVolume() {
				as.Volumes = append(as.Volumes, VolumeState{PersistenceID: r.GetDisk().GetPersistence().GetID(), Role: r.ReservationRole(),
					ContainerPath: r.GetDisk().GetVolume().GetContainerPath(), Path: a.volumeDir(r), DiskMB: r.GetScalar().GetValue()})
			}
		}
		for _, e := range a.executors {
			as.Executors = append(as.Executors, ExecutorState{FrameworkID: e.fw, ID: e.info.ExecutorID.Value, ContainerID: e.containerID,
				PID: e.pid, Sandbox: e.dir, Subscribed: e.stream != nil})
		}
		sort.Slice(as.Executors, func(i, j int) bool { return as.Executors[i].ID < as.Executors[j].ID })
		s.Agents = append(s.Agents, as)
		for _, t := range a.tasks {
			s.Tasks = append(s.Tasks, taskState(t))
		}
	}
	sort.Slice(s.Tasks, func(i, j int) bool { return s.Tasks[i].ID < s.Tasks[j].ID })
	for _, t := range m.completed {
		s.CompletedTasks = append(s.CompletedTasks, taskState(t))
	}
	return s
}

// agent returns one agent's part of the state.
func (s State) agent(id string) any {
	for _, a := range s.Agents {
		if a.ID == id {
			return a
		}
	}
	return nil
}

func taskState(t *task) TaskState {
	ts := TaskState{ID: t.info.TaskID.Value, Name: t.info.Name, FrameworkID: t.fw, AgentID: t.a.id, State: t.state.String(),
		Message: t.latest.GetMessage(), Unacked: len(t.pending)}
	if t.exec != nil {
		ts.ExecutorID = t.exec.info.ExecutorID.Value
	}
	return ts
}

func byRole(rs mesos.Resources, keep func(mesos.Resource) bool) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, r := range rs {
		if keep != nil && !keep(r) {
			continue
		}
		role := "*"
		if r.IsReserved("") {
			role = r.ReservationRole()
		}
		if out[role] == nil {
			out[role] = map[string]any{}
		}
		switch r.GetType() {
		case mesos.SCALAR:
			prev, _ := out[role][r.Name].(float64)
			out[role][r.Name] = prev + r.GetScalar().GetValue()
		case mesos.RANGES:
			var parts []string
			for _, rg := range r.GetRanges().GetRange() {
				parts = append(parts, rangeString(rg))
			}
			if prev, ok := out[role][r.Name].(string); ok {
				parts = append([]string{strings.Trim(prev, "[]")}, parts...)
			}
			out[role][r.Name] = "[" + strings.Join(parts, ",") + "]"
		case mesos.SET:
			out[role][r.Name] = "{" + strings.Join(r.GetSet().GetItem(), ",") + "}"
		}
	}
	return out
}

func rangeString(rg mesos.Value_Range) string {
	return uitoa(rg.Begin) + "-" + uitoa(rg.End)
}

func uitoa(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b[i:])
}

func attrValue(a mesos.Attribute) string {
	switch a.Type {
	case mesos.TEXT:
		return a.GetText().GetValue()
	case mesos.SCALAR:
		return strconv.FormatFloat(a.GetScalar().GetValue(), 'f', -1, 64)
	case mesos.RANGES:
		var parts []string
		for _, rg := range a.GetRanges().GetRange() {
			parts = append(parts, rangeString(rg))
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	return ""
}
