package mesoslocal

import (
	"fmt"
	"net/http"
	"strconv"
	"syscall"
)

// Fault injection, for tests and for trying failure handling by hand. The
// same operations are served over HTTP:
//
//	POST /faults/agents/{agent}/stop       StopAgent
//	POST /faults/agents/{agent}/restart    RestartAgent
//	POST /faults/frameworks/{id}/drop      DropFramework
//	POST /faults/executors/{framework}/{executor}/kill   KillExecutor
//
// {agent} is an agent ID, its hostname (which is its address, e.g.
// 127.0.0.3) or its 1-based number.

// StopAgent stops an agent as if its host went down: its executor
// processes are killed, their tasks become TASK_LOST, its offers are
// rescinded. Its reservations and volumes stay for RestartAgent.
func (m *Master) StopAgent(agent string) error {
	m.mu.Lock()
	a := m.findAgentLocked(agent)
	m.mu.Unlock()
	if a == nil {
		return fmt.Errorf("mesoslocal: no agent %q", agent)
	}
	m.log.Info("fault: stopping agent", "agent", a.id)
	a.stop(true)
	return nil
}

// RestartAgent brings a stopped agent back with the same ID, executor API
// address, reservations and volumes.
func (m *Master) RestartAgent(agent string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.findAgentLocked(agent)
	if a == nil {
		return fmt.Errorf("mesoslocal: no agent %q", agent)
	}
	if m.closed {
		return ErrClosed
	}
	return a.startLocked()
}

// DropFramework ends a framework's event stream, as a broken connection
// would; the framework fails over (its tasks keep running) unless it
// re-subscribes within its failover timeout.
func (m *Master) DropFramework(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fw := m.frameworks[id]
	if fw == nil || !fw.connected {
		return fmt.Errorf("mesoslocal: framework %q is not connected", id)
	}
	m.log.Info("fault: dropping framework stream", "framework", id)
	fw.stream.close()
	return nil
}

// KillExecutor kills an executor's process group with SIGKILL; its
// unfinished tasks become TASK_FAILED and the framework gets FAILURE.
func (m *Master) KillExecutor(frameworkID, executorID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.agents {
		if e := a.executors[taskKey(frameworkID, executorID)]; e != nil && e.pid > 0 && !e.exited {
			m.log.Info("fault: killing executor", "agent", a.id, "executor", executorID, "pid", e.pid)
			return syscall.Kill(-e.pid, syscall.SIGKILL)
		}
	}
	return fmt.Errorf("mesoslocal: no running executor %q of framework %q", executorID, frameworkID)
}

// AgentIDs lists the agents' IDs in order.
func (m *Master) AgentIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for _, a := range m.agents {
		ids = append(ids, a.id)
	}
	return ids
}

func (m *Master) findAgentLocked(s string) *agent {
	if a := m.agentByID[s]; a != nil {
		return a
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(m.agents) {
		return m.agents[n-1]
	}
	for _, a := range m.agents {
		if a.hostname == s {
			return a
		}
	}
	return nil
}

func (m *Master) faultRoutes(mux *http.ServeMux) {
	reply := func(w http.ResponseWriter, err error) {
		if err != nil {
			httpError(w, http.StatusNotFound, err.Error())
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
	m.leaderRoutes(mux)
	mux.HandleFunc("POST /faults/agents/{agent}/stop", func(w http.ResponseWriter, r *http.Request) { reply(w, m.StopAgent(r.PathValue("agent"))) })
	mux.HandleFunc("POST /faults/agents/{agent}/restart", func(w http.ResponseWriter, r *http.Request) { reply(w, m.RestartAgent(r.PathValue("agent"))) })
	mux.HandleFunc("POST /faults/frameworks/{id}/drop", func(w http.ResponseWriter, r *http.Request) { reply(w, m.DropFramework(r.PathValue("id"))) })
	mux.HandleFunc("POST /faults/executors/{fw}/{exec}/kill", func(w http.ResponseWriter, r *http.Request) {
		reply(w, m.KillExecutor(r.PathValue("fw"), r.PathValue("exec")))
	})
}
