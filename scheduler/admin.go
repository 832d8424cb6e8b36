package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// How the scheduler asks a node's executor for riak admin's answers: a
// MESSAGE (nodetask.OpAdmin) repeated every adminResend (Mesos does not
// promise delivery) until the executor's MESSAGE with the reply comes,
// for at most adminWait.
const (
	adminResend = 3 * time.Second
	adminWait   = 75 * time.Second
)

// adminWaiters are the admin requests waiting for their reply, by id.
type adminWaiters struct {
	mu sync.Mutex
	m  map[string]chan nodetask.AdminReply
}

func (w *adminWaiters) add(id string) chan nodetask.AdminReply {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]chan nodetask.AdminReply{}
	}
	ch := make(chan nodetask.AdminReply, 1)
	w.m[id] = ch
	return ch
}

func (w *adminWaiters) drop(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, id)
}

// deliver hands a reply to its waiter (a late or unknown one is dropped).
func (w *adminWaiters) deliver(r nodetask.AdminReply) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.m[r.ID]
	if !ok {
		return false
	}
	delete(w.m, r.ID)
	ch <- r
	return true
}

// onExecutorMessage takes an executor's MESSAGE: an admin reply.
func (s *Scheduler) onExecutorMessage(data []byte) {
	r, err := nodetask.ParseAdminReply(data)
	if err != nil {
		s.log.Warn("executor MESSAGE ignored", "err", err, "bytes", len(data))
		return
	}
	if !s.admin.deliver(r) {
		s.log.Info("admin reply for no waiting request", "id", r.ID, "task", r.TaskID)
	}
}

// adminRun runs riak admin args on running node n through its executor
// and returns the reply. Errors are API errors: 409 when the node does
// not run, 503 when this scheduler is not connected to Mesos, 504 when
// the executor does not answer in time, 502 when the verb could not run.
func (s *Scheduler) adminRun(ctx context.Context, n zkstate.NodeRecord, args ...string) (nodetask.AdminReply, error) {
	if n.ObservedState != zkstate.ObservedRunning || n.TaskID == "" {
		return nodetask.AdminReply{}, apiErr(http.StatusConflict, "node %s is %s, not running", n.Name, apiState(n))
	}
	if err := nodetask.CheckAdminArgs(args); err != nil {
		return nodetask.AdminReply{}, apiErr(http.StatusBadRequest, "%v", err)
	}
	s.mu.Lock()
	connected := s.connected && s.caller != nil
	s.mu.Unlock()
	if !connected {
		return nodetask.AdminReply{}, apiErr(http.StatusServiceUnavailable, "this scheduler is not connected to Mesos (not the leader?): it cannot reach node %s", n.Name)
	}
	var idb [12]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	ch := s.admin.add(id)
	defer s.admin.drop(id)
	msg := nodetask.Message{Op: nodetask.OpAdmin, TaskID: n.TaskID, AdminID: id, AdminArgs: args}.Marshal()
	ctx, cancel := context.WithTimeout(ctx, adminWait)
	defer cancel()
	t := time.NewTicker(adminResend)
	defer t.Stop()
	for {
		_ = s.call(ctx, calls.Message(n.AgentID, executorID(n.TaskID), msg))
		select {
		case r := <-ch:
			if r.TaskID != n.TaskID {
				return r, apiErr(http.StatusBadGateway, "node %s: the reply came from task %s, not %s", n.Name, r.TaskID, n.TaskID)
			}
			if r.ExitCode < 0 {
				return r, apiErr(http.StatusBadGateway, "node %s: riak admin %s did not run: %s", n.Name, strings.Join(args, " "), r.Error)
			}
			return r, nil
		case <-t.C:
		case <-ctx.Done():
			return nodetask.AdminReply{}, apiErr(http.StatusGatewayTimeout, "node %s: no answer to riak admin %s from its executor within %v", n.Name, args[0], adminWait)
		}
	}
}

// adminText runs a read-only verb on the node of the request and returns
// riak admin's output as the answer (text/plain); a node that answers
// with a failure (exit code not 0) is a 502 with its output.
func (s *Scheduler) adminText(r *http.Request, args ...string) (int, any, error) {
	n, err := s.nodeOf(r)
	if err != nil {
		return 0, nil, err
	}
	rep, err := s.adminRun(r.Context(), n, args...)
	if err != nil {
		return 0, nil, err
	}
	if rep.ExitCode != 0 {
		return 0, nil, apiErr(http.StatusBadGateway, "node %s: riak admin %s exited %d: %s", n.Name, args[0], rep.ExitCode, oneLine(rep.Output))
	}
	return 200, rep.Output + "\n", nil
}

// oneLine joins riak admin's lines for an error message, without
// nodetool's closing "ok" or "error".
func oneLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if l := len(lines); l > 0 && rpcResult(lines[l-1]) != "" {
		lines = lines[:l-1]
	}
	var kept []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, " ")
}

// rpcResult is nodetool's last line of riak admin's output: ok, error
// (also for an {error,Reason} tuple), or "" when there is none.
func rpcResult(out string) string {
	out = strings.TrimSpace(out)
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	switch {
	case out == "ok" || out == "error":
		return out
	case strings.HasPrefix(out, "{error,"):
		return "error"
	}
	return ""
}

// firstRunning is the first running node of nodes, for cluster-wide verbs.
func firstRunning(nodes []zkstate.NodeRecord) (zkstate.NodeRecord, error) {
	for _, n := range nodes {
		if n.ObservedState == zkstate.ObservedRunning && n.TaskID != "" && n.DesiredState == zkstate.DesiredRunning {
			return n, nil
		}
	}
	return zkstate.NodeRecord{}, fmt.Errorf("no node of the cluster runs")
}
