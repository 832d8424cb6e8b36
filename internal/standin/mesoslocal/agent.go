package mesoslocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	execapi "github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// agent is one local Mesos agent: its resources (with the reservations
// and volumes applied to them), its executors and their tasks, and its
// own executor API listener.
type agent struct {
	m        *Master
	index    int
	id       string
	hostname string // its own loopback address (Config.AgentAddresses), also its IP
	dir      string
	total    mesos.Resources
	attrs    []mesos.Attribute
	up       bool

	addr      string // kept across restarts
	srv       *http.Server
	executors map[string]*executor // framework/executor ID
	tasks     map[string]*task     // framework/task ID
	procs     sync.WaitGroup
}

// executor is an executor process run by an agent.
type executor struct {
	a           *agent
	fw          string
	info        mesos.ExecutorInfo
	containerID string
	dir         string
	resources   mesos.Resources
	pid         int
	started     bool
	stream      *stream
	queued      []*task // launched before the executor subscribed
	exited      bool
	shutdown    bool // SHUTDOWN sent (or the framework went away)
	agentLost   bool // the agent stopped under it
	killTimer   *time.Timer
	done        chan struct{}
	lastExit    string
}

// task is a task an agent holds, with its status update stream.
type task struct {
	a         *agent
	fw        string
	info      mesos.TaskInfo
	exec      *executor
	state     mesos.TaskState
	latest    mesos.TaskStatus
	resources mesos.Resources
	pending   []mesos.TaskStatus // unacknowledged updates, oldest first
	sent      time.Time
	seen      map[string]bool // update UUIDs already taken
	killAsked bool
	launched  bool // LAUNCH delivered to the executor
}

func taskKey(fw, id string) string { return fw + "/" + id }

func newAgent(m *Master, i int) (*agent, error) {
	rs, err := agentResources(m.cfg.AgentResources, i)
	if err != nil {
		return nil, err
	}
	var attrs []mesos.Attribute
	switch len(m.cfg.AgentAttributes) {
	case 0:
	case 1:
		attrs, err = ParseAttributes(m.cfg.AgentAttributes[0])
	default:
		attrs, err = ParseAttributes(m.cfg.AgentAttributes[i-1])
	}
	if err != nil {
		return nil, err
	}
	a := &agent{
		m: m, index: i, id: fmt.Sprintf("%s-S%d", m.id, i), hostname: m.cfg.AgentAddresses[i-1],
		dir: filepath.Join(m.cfg.WorkDir, fmt.Sprintf("agent-%d", i)), total: rs, attrs: attrs,
		executors: map[string]*executor{}, tasks: map[string]*task{},
	}
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		return nil, fmt.Errorf("mesoslocal: agent dir: %w", err)
	}
	if saved, err := a.loadResources(); err != nil {
		return nil, err
	} else if saved != nil {
		a.total = saved
	}
	return a, nil
}

// resourcesFile keeps the agent's resources with their reservations and
// volumes (Mesos checkpoints them the same way), so they survive a
// restart of mesos-local.
func (a *agent) resourcesFile() string { return filepath.Join(a.dir, "resources.json") }

func (a *agent) loadResources() (mesos.Resources, error) {
	b, err := os.ReadFile(a.resourcesFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rs mesos.Resources
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("mesoslocal: %s: %w", a.resourcesFile(), err)
	}
	return rs, nil
}

// saveResourcesLocked checkpoints the agent's resources.
func (a *agent) saveResourcesLocked() {
	b, err := json.Marshal(a.total)
	if err == nil {
		tmp := a.resourcesFile() + ".tmp"
		if err = os.WriteFile(tmp, b, 0o644); err == nil {
			err = os.Rename(tmp, a.resourcesFile())
		}
	}
	if err != nil {
		a.m.log.Warn("checkpoint agent resources", "agent", a.id, "err", err)
	}
}

func (a *agent) address() string { return a.addr }

// startLocked opens the agent's executor API on the agent's address (on
// its previous port when it restarts) and puts it into the offer cycle.
func (a *agent) startLocked() error {
	if a.up {
		return nil
	}
	addr := a.addr
	if addr == "" {
		addr = net.JoinHostPort(a.hostname, "0")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mesoslocal: agent %d: %w", a.index, err)
	}
	a.addr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/executor", a.serveExecutorAPI)
	mux.HandleFunc("/state", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, a.m.State().agent(a.id)) })
	mux.HandleFunc("GET /files/read", a.serveFilesRead)
	mux.HandleFunc("GET /files/browse", a.serveFilesBrowse)
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slogErrorLog(a.m.log)}
	srv := a.srv
	go func() { _ = srv.Serve(ln) }()
	a.up = true
	a.m.log.Info("agent up", "agent", a.id, "hostname", a.hostname, "executor_api", a.addr)
	a.m.triggerAllocation()
	return nil
}

// stop kills the agent's executors (their process groups) and closes its
// API. With lost, their tasks become TASK_LOST, as when Mesos loses an
// agent; volumes and reservations stay.
func (a *agent) stop(lost bool) {
	a.m.mu.Lock()
	srv := a.srv
	a.srv = nil
	a.up = false
	for _, e := range a.executors {
		e.agentLost = lost
		e.stream.close()
		e.kill()
	}
	a.m.rescindLocked(func(o *offer) bool { return o.agent == a })
	a.m.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
	a.procs.Wait()
	a.m.mu.Lock()
	defer a.m.mu.Unlock()
	// Tasks still waiting for an executor process that never started.
	for _, t := range a.tasks {
		if !isTerminal(t.state) && (t.exec == nil || !t.exec.started) {
			a.agentUpdateLocked(t, mesos.TASK_LOST, mesos.REASON_AGENT_RESTARTED, "agent stopped")
		}
	}
}

// usedLocked is what the agent's executors and live tasks hold.
func (a *agent) usedLocked() mesos.Resources {
	var used mesos.Resources
	for _, e := range a.executors {
		if !e.exited {
			used.Add(e.resources...)
		}
	}
	for _, t := range a.tasks {
		if !isTerminal(t.state) {
			used.Add(t.resources...)
		}
	}
	return used
}

// freeLocked is what can be offered: total minus used minus offered.
func (a *agent) freeLocked() mesos.Resources {
	free := a.total.Clone()
	free.Subtract(a.usedLocked()...)
	for _, o := range a.m.offers {
		if o.agent == a {
			free.Subtract(o.resources...)
		}
	}
	return free
}

// agentUpdateLocked records a status update the agent itself generates.
func (a *agent) agentUpdateLocked(t *task, state mesos.TaskState, reason mesos.TaskStatus_Reason, msg string) {
	st := mesos.TaskStatus{
		TaskID: t.info.TaskID, State: state.Enum(), Message: &msg, Source: mesos.SOURCE_AGENT.Enum(),
		Reason: reason.Enum(), UUID: newUUID(),
	}
	if t.exec != nil {
		st.ExecutorID = &t.exec.info.ExecutorID
	}
	a.applyUpdateLocked(t, st)
}

// applyUpdateLocked takes a task status update into the task's stream.
func (a *agent) applyUpdateLocked(t *task, st mesos.TaskStatus) {
	st.AgentID = &mesos.AgentID{Value: a.id}
	if st.Timestamp == nil {
		ts := float64(time.Now().UnixNano()) / 1e9
		st.Timestamp = &ts
	}
	if t.seen == nil {
		t.seen = map[string]bool{}
	}
	t.seen[string(st.UUID)] = true
	t.state = st.GetState()
	t.latest = st
	t.pending = append(t.pending, st)
	if len(t.pending) == 1 {
		t.sent = time.Time{}
		a.m.retryUpdatesLocked(false)
	}
	if isTerminal(t.state) {
		a.m.triggerAllocation()
	}
}

// acknowledgeLocked handles a scheduler's ACKNOWLEDGE of a task update.
func (a *agent) acknowledgeLocked(t *task, uuid []byte) {
	if len(t.pending) == 0 || string(t.pending[0].UUID) != string(uuid) {
		return // stale or duplicate: Mesos ignores it too
	}
	st := t.pending[0]
	t.pending = t.pending[1:]
	t.sent = time.Time{}
	if e := t.exec; e != nil && e.stream != nil && st.GetSource() == mesos.SOURCE_EXECUTOR {
		e.stream.send(&execapi.Event{Type: execapi.Event_ACKNOWLEDGED, Acknowledged: &execapi.Event_Acknowledged{TaskID: t.info.TaskID, UUID: uuid}})
	}
	if len(t.pending) > 0 {
		a.m.retryUpdatesLocked(false)
		return
	}
	if isTerminal(t.state) {
		delete(a.tasks, taskKey(t.fw, t.info.TaskID.Value))
		a.m.completed = append(a.m.completed, t)
		if len(a.m.completed) > 200 {
			a.m.completed = a.m.completed[len(a.m.completed)-200:]
		}
	}
}

// launchLocked starts a validated task: on its running executor, or on a
// new executor process.
func (a *agent) launchLocked(fw *framework, ti mesos.TaskInfo, taskRes, execRes mesos.Resources) {
	ei := *ti.Executor
	ei.FrameworkID = &mesos.FrameworkID{Value: fw.id}
	key := taskKey(fw.id, ei.ExecutorID.Value)
	e := a.executors[key]
	if e == nil || e.exited {
		e = &executor{a: a, fw: fw.id, info: ei, containerID: newID("container"), resources: execRes, done: make(chan struct{})}
		e.dir = filepath.Join(a.dir, "frameworks", fw.id, "executors", ei.ExecutorID.Value, "runs", e.containerID)
		a.executors[key] = e
	}
	t := &task{a: a, fw: fw.id, info: ti, exec: e, state: mesos.TASK_STAGING, resources: taskRes}
	t.latest = mesos.TaskStatus{TaskID: ti.TaskID, State: mesos.TASK_STAGING.Enum(), AgentID: &mesos.AgentID{Value: a.id}, ExecutorID: &ei.ExecutorID}
	a.tasks[taskKey(fw.id, ti.TaskID.Value)] = t
	if e.stream != nil {
		a.linkVolumes(e, taskRes)
		t.launched = true
		e.stream.send(&execapi.Event{Type: execapi.Event_LAUNCH, Launch: &execapi.Event_Launch{Task: ti}})
		return
	}
	e.queued = append(e.queued, t)
	if !e.started && len(e.queued) == 1 {
		e.started = true
		vols := append(execRes.Clone(), taskRes...)
		a.procs.Add(1)
		go a.runExecutor(e, fw.info, vols)
	}
}

// runExecutor prepares the sandbox, fetches the URIs, starts the executor
// process and waits for it.
func (a *agent) runExecutor(e *executor, fwInfo mesos.FrameworkInfo, vols mesos.Resources) {
	defer a.procs.Done()
	defer close(e.done)
	cmd, err := a.prepareExecutor(e, fwInfo, vols)
	if err == nil {
		a.m.mu.Lock()
		if !a.up || e.agentLost || e.shutdown || a.m.closed {
			err = errors.New("agent stopped or executor shut down before it started")
		} else if err = cmd.Start(); err == nil {
			e.pid = cmd.Process.Pid
		}
		a.m.mu.Unlock()
	}
	if err != nil {
		a.m.log.Warn("executor failed to start", "agent", a.id, "executor", e.info.ExecutorID.Value, "err", err)
		a.m.mu.Lock()
		a.executorExitedLocked(e, "failed to start: "+err.Error(), -1, mesos.REASON_CONTAINER_LAUNCH_FAILED)
		a.m.mu.Unlock()
		return
	}
	a.m.log.Info("executor started", "agent", a.id, "executor", e.info.ExecutorID.Value, "pid", e.pid, "sandbox", e.dir)
	werr := cmd.Wait()
	code := -1
	if cmd.ProcessState != nil {
		code = cmd.ProcessState.ExitCode()
	}
	desc := "exited with status 0"
	if werr != nil {
		desc = werr.Error()
	}
	// The executor's children live in its process group: take them too.
	_ = syscall.Kill(-e.pid, syscall.SIGKILL)
	a.m.mu.Lock()
	a.executorExitedLocked(e, desc, code, mesos.REASON_EXECUTOR_TERMINATED)
	a.m.mu.Unlock()
}

func (a *agent) prepareExecutor(e *executor, fwInfo mesos.FrameworkInfo, vols mesos.Resources) (*exec.Cmd, error) {
	ci := e.info.Command
	if ci == nil || (ci.GetValue() == "" && len(ci.Arguments) == 0) {
		return nil, errors.New("executor has no command")
	}
	if err := os.MkdirAll(e.dir, 0o755); err != nil {
		return nil, err
	}
	for _, u := range ci.URIs {
		if err := fetchURI(a.m.ctx, u, e.dir); err != nil {
			return nil, fmt.Errorf("fetch %s: %w", u.Value, err)
		}
	}
	a.m.mu.Lock()
	a.linkVolumes(e, vols)
	a.m.mu.Unlock()
	var cmd *exec.Cmd
	if ci.Shell == nil || ci.GetShell() {
		cmd = exec.Command("/bin/sh", "-c", ci.GetValue())
	} else {
		cmd = exec.Command(ci.GetValue())
		if len(ci.Arguments) > 0 {
			cmd.Args = ci.Arguments
		}
	}
	cmd.Dir = e.dir
	checkpoint := "0"
	if fwInfo.GetCheckpoint() {
		checkpoint = "1"
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MESOS_") && !strings.HasPrefix(kv, "LIBPROCESS_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"MESOS_FRAMEWORK_ID="+e.fw,
		"MESOS_EXECUTOR_ID="+e.info.ExecutorID.Value,
		"MESOS_AGENT_ID="+a.id,
		"MESOS_CONTAINER_ID="+e.containerID,
		"MESOS_DIRECTORY="+e.dir,
		"MESOS_SANDBOX="+e.dir,
		"MESOS_AGENT_ENDPOINT="+a.addr,
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD="+mesosDuration(a.m.cfg.ExecutorShutdownGrace),
		"MESOS_CHECKPOINT="+checkpoint,
		"MESOS_RECOVERY_TIMEOUT=15mins",
		"MESOS_SUBSCRIPTION_BACKOFF_MAX=2secs",
		"MESOS_HTTP_COMMAND_EXECUTOR=0",
		"LIBPROCESS_IP="+a.hostname,
	)
	if ev := ci.Environment; ev != nil {
		for _, v := range ev.Variables {
			if v.GetType() == mesos.Environment_Variable_VALUE || v.Type == nil {
				env = append(env, v.Name+"="+v.GetValue())
			}
		}
	}
	cmd.Env = env
	stdout, err := os.OpenFile(filepath.Join(e.dir, "stdout"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	stderr, err := os.OpenFile(filepath.Join(e.dir, "stderr"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		stdout.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = procAttr()
	// The files are inherited by the child; the parent's copies close
	// once it has started (or failed to).
	go func() { <-e.done; stdout.Close(); stderr.Close() }()
	return cmd, nil
}

// linkVolumes makes each persistent volume in rs visible in the executor's
// sandbox at its container path (a symlink, as Mesos does without a
// filesystem isolator).
func (a *agent) linkVolumes(e *executor, rs mesos.Resources) {
	for _, r := range rs {
		if !r.IsPersistentVolume() || r.GetDisk().GetVolume() == nil {
			continue
		}
		target := a.volumeDir(r)
		link := filepath.Join(e.dir, r.GetDisk().GetVolume().GetContainerPath())
		if cur, err := os.Readlink(link); err == nil && cur == target {
			continue
		}
		_ = os.MkdirAll(filepath.Dir(link), 0o755)
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			a.m.log.Warn("volume link", "agent", a.id, "link", link, "err", err)
		}
	}
}

// volumeDir is where a persistent volume lives on the agent.
func (a *agent) volumeDir(r mesos.Resource) string {
	role := r.ReservationRole()
	if role == "" {
		role = "*"
	}
	return filepath.Join(a.dir, "volumes", "roles", strings.ReplaceAll(role, "/", "%2F"), r.GetDisk().GetPersistence().GetID())
}

// executorExitedLocked handles the end of an executor process: its
// unfinished tasks fail (or are lost, when the agent stopped under them)
// and the framework hears of it with FAILURE.
func (a *agent) executorExitedLocked(e *executor, desc string, code int, reason mesos.TaskStatus_Reason) {
	if e.exited {
		return
	}
	e.exited = true
	e.lastExit = desc
	if e.killTimer != nil {
		e.killTimer.Stop()
	}
	e.stream.close()
	e.stream = nil
	if a.executors[taskKey(e.fw, e.info.ExecutorID.Value)] == e {
		delete(a.executors, taskKey(e.fw, e.info.ExecutorID.Value))
	}
	if a.m.closed {
		return
	}
	for _, t := range a.tasks {
		if t.exec != e || isTerminal(t.state) {
			continue
		}
		switch {
		case e.agentLost:
			a.agentUpdateLocked(t, mesos.TASK_LOST, mesos.REASON_AGENT_RESTARTED, "agent stopped; executor "+desc)
		case t.killAsked || e.shutdown:
			a.agentUpdateLocked(t, mesos.TASK_KILLED, reason, "executor "+desc)
		default:
			a.agentUpdateLocked(t, mesos.TASK_FAILED, reason, "executor "+desc)
		}
	}
	if fw := a.m.frameworks[e.fw]; fw != nil && fw.connected {
		status := int32(code)
		fw.stream.send(&scheduler.Event{Type: scheduler.Event_FAILURE, Failure: &scheduler.Event_Failure{
			AgentID: &mesos.AgentID{Value: a.id}, ExecutorID: &e.info.ExecutorID, Status: &status}})
	}
	a.m.log.Info("executor exited", "agent", a.id, "executor", e.info.ExecutorID.Value, "status", desc)
	a.m.triggerAllocation()
}

// shutdownExecutorLocked asks an executor to stop and kills it after the
// grace period.
func (a *agent) shutdownExecutorLocked(e *executor, why string) {
	if e.exited || e.shutdown {
		return
	}
	e.shutdown = true
	a.m.log.Info("shutting down executor", "agent", a.id, "executor", e.info.ExecutorID.Value, "why", why)
	if e.stream != nil {
		e.stream.send(&execapi.Event{Type: execapi.Event_SHUTDOWN})
	}
	for _, t := range e.queued {
		if !isTerminal(t.state) {
			a.agentUpdateLocked(t, mesos.TASK_KILLED, mesos.REASON_EXECUTOR_TERMINATED, why)
		}
	}
	e.queued = nil
	e.killTimer = time.AfterFunc(a.m.cfg.ExecutorShutdownGrace, e.kill)
}

// kill ends the executor's process group at once.
func (e *executor) kill() {
	if e.pid > 0 {
		_ = syscall.Kill(-e.pid, syscall.SIGKILL)
	}
}

// killTaskLocked asks a task's executor to kill it (or kills it at once if
// the executor has not received it yet).
func (a *agent) killTaskLocked(t *task) {
	t.killAsked = true
	e := t.exec
	if !t.launched {
		for i, q := range e.queued {
			if q == t {
				e.queued = append(e.queued[:i], e.queued[i+1:]...)
				break
			}
		}
		a.agentUpdateLocked(t, mesos.TASK_KILLED, mesos.REASON_TASK_KILLED_DURING_LAUNCH, "killed before the executor received it")
		return
	}
	if e.stream != nil {
		e.stream.send(&execapi.Event{Type: execapi.Event_KILL, Kill: &execapi.Event_Kill{TaskID: t.info.TaskID}})
	}
}

// mesosDuration formats d the way Mesos' Duration parser (and mesos-go's
// executor config) reads it.
func mesosDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%dsecs", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// serveExecutorAPI is the agent's POST /api/v1/executor.
func (a *agent) serveExecutorAPI(w http.ResponseWriter, r *http.Request) {
	codec, ok := requestCodec(w, r)
	if !ok {
		return
	}
	var call execapi.Call
	if !decodeCall(w, r, codec, &call) {
		return
	}
	fwID, execID := call.FrameworkID.Value, call.ExecutorID.Value
	if fwID == "" || execID == "" {
		httpError(w, http.StatusBadRequest, "Expecting 'framework_id' and 'executor_id' to be present")
		return
	}
	m := a.m
	m.mu.Lock()
	e := a.executors[taskKey(fwID, execID)]
	if e == nil || e.exited || !a.up {
		m.mu.Unlock()
		httpError(w, http.StatusBadRequest, fmt.Sprintf("Executor %s of framework %s is not known to agent %s", execID, fwID, a.id))
		return
	}
	switch call.Type {
	case execapi.Call_SUBSCRIBE:
		sub := call.Subscribe
		if sub == nil {
			m.mu.Unlock()
			httpError(w, http.StatusBadRequest, "Expecting 'subscribe' to be present")
			return
		}
		s := newStream("")
		e.stream.close()
		e.stream = s
		fw := m.frameworks[fwID]
		var fwInfo mesos.FrameworkInfo
		if fw != nil {
			fwInfo = fw.info
		}
		ai := mesos.AgentInfo{Hostname: a.hostname, ID: &mesos.AgentID{Value: a.id}, Resources: a.total.Clone(), Attributes: a.attrs}
		s.send(&execapi.Event{Type: execapi.Event_SUBSCRIBED, Subscribed: &execapi.Event_Subscribed{
			ExecutorInfo: e.info, FrameworkInfo: fwInfo, AgentInfo: ai, ContainerID: &mesos.ContainerID{Value: e.containerID}}})
		for _, u := range sub.UnacknowledgedUpdates {
			if t := a.tasks[taskKey(fwID, u.Status.TaskID.Value)]; t != nil && t.exec == e && !t.seen[string(u.Status.UUID)] && len(u.Status.UUID) > 0 {
				a.applyUpdateLocked(t, u.Status)
			}
		}
		known := map[string]bool{}
		for _, ti := range sub.UnacknowledgedTasks {
			known[ti.TaskID.Value] = true
		}
		for _, t := range e.queued {
			if !isTerminal(t.state) && !known[t.info.TaskID.Value] {
				a.linkVolumes(e, t.resources)
				t.launched = true
				s.send(&execapi.Event{Type: execapi.Event_LAUNCH, Launch: &execapi.Event_Launch{Task: t.info}})
			}
		}
		e.queued = nil
		if e.shutdown {
			s.send(&execapi.Event{Type: execapi.Event_SHUTDOWN})
		}
		m.mu.Unlock()
		startStream(w, codec, "")
		_ = s.serve(r.Context(), w, codec, m.cfg.HeartbeatInterval, func() encodingMarshaler { return &execapi.Event{Type: execapi.Event_HEARTBEAT} })
		m.mu.Lock()
		if e.stream == s {
			e.stream = nil
		}
		m.mu.Unlock()
		return
	case execapi.Call_UPDATE:
		defer m.mu.Unlock()
		if e.stream == nil {
			httpError(w, http.StatusForbidden, "Executor is not subscribed")
			return
		}
		if call.Update == nil {
			httpError(w, http.StatusBadRequest, "Expecting 'update' to be present")
			return
		}
		st := call.Update.Status
		t := a.tasks[taskKey(fwID, st.TaskID.Value)]
		switch {
		case t == nil || t.exec != e:
			httpError(w, http.StatusBadRequest, fmt.Sprintf("Task %q is not a task of this executor", st.TaskID.Value))
		case st.State == nil || st.GetState() == mesos.TASK_STAGING:
			httpError(w, http.StatusBadRequest, "Expecting a task state other than TASK_STAGING")
		case len(st.UUID) != 16:
			httpError(w, http.StatusBadRequest, "Expecting 'uuid' to be a 16-byte UUID")
		case st.GetSource() != mesos.SOURCE_EXECUTOR:
			httpError(w, http.StatusBadRequest, "Expecting 'source' to be SOURCE_EXECUTOR")
		default:
			if !t.seen[string(st.UUID)] && !isTerminal(t.state) {
				st.ExecutorID = &e.info.ExecutorID
				a.applyUpdateLocked(t, st)
			}
			w.WriteHeader(http.StatusAccepted)
		}
		return
	case execapi.Call_MESSAGE:
		defer m.mu.Unlock()
		if call.Message == nil {
			httpError(w, http.StatusBadRequest, "Expecting 'message' to be present")
			return
		}
		if fw := m.frameworks[fwID]; fw != nil && fw.connected {
			fw.stream.send(&scheduler.Event{Type: scheduler.Event_MESSAGE, Message: &scheduler.Event_Message{
				AgentID: mesos.AgentID{Value: a.id}, ExecutorID: e.info.ExecutorID, Data: call.Message.Data}})
		}
		w.WriteHeader(http.StatusAccepted)
		return
	default:
		m.mu.Unlock()
		httpError(w, http.StatusBadRequest, fmt.Sprintf("Unsupported executor call type %v", call.Type))
	}
}

var _ = context.Background
