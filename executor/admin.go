package executor

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"

	"github.com/rmf-go/rmf/internal/nodetask"
)

// adminTimeout bounds one admin verb (bucket-type create waits for the
// cluster's claimant; the rest answer in a second).
const adminTimeout = 60 * time.Second

// adminCache keeps the replies to the last few admin requests: MESSAGE
// is not delivered reliably, so the scheduler repeats a request until it
// has the reply, and a repeated one is answered again, not run again.
type adminCache struct {
	mu      sync.Mutex
	order   []string
	replies map[string]*nodetask.AdminReply // nil: running
}

const adminCacheSize = 32

// start says whether id is new (and marks it running); otherwise it
// returns the known reply (nil while the first run goes on).
func (c *adminCache) start(id string) (bool, *nodetask.AdminReply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.replies == nil {
		c.replies = map[string]*nodetask.AdminReply{}
	}
	if r, ok := c.replies[id]; ok {
		return false, r
	}
	c.replies[id] = nil
	c.order = append(c.order, id)
	if len(c.order) > adminCacheSize {
		delete(c.replies, c.order[0])
		c.order = c.order[1:]
	}
	return true, nil
}

func (c *adminCache) done(r nodetask.AdminReply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.replies[r.ID]; ok {
		c.replies[r.ID] = &r
	}
}

// AdminCommand is the command that runs admin verb args (checked by
// nodetask.CheckAdminArgs) with the plan's `riak admin`.
func AdminCommand(p Plan, args []string) (Command, error) {
	if len(p.Admin.Args) == 0 {
		return Command{}, errors.New("executor: this node has no riak admin")
	}
	if err := nodetask.CheckAdminArgs(args); err != nil {
		return Command{}, err
	}
	c := p.Admin
	c.Args = append(slices.Clone(c.Args), args...)
	return c, nil
}

// admin runs the admin verb of message m for runner r, in the background,
// and sends the reply to the scheduler.
func (e *Executor) admin(r *runner, m nodetask.Message) {
	fresh, known := e.adminReplies.start(m.AdminID)
	if !fresh {
		if known != nil {
			go e.sendAdminReply(*known)
		}
		return
	}
	go func() {
		reply := nodetask.AdminReply{ID: m.AdminID, TaskID: m.TaskID, ExitCode: -1}
		p := r.adminPlan.Load()
		var c Command
		var err error
		switch {
		case p == nil:
			err = errors.New("the node is still being prepared")
		default:
			c, err = AdminCommand(*p, m.AdminArgs)
		}
		if err != nil {
			reply.Error = err.Error()
		} else {
			out, rerr := r.runOne(c, adminTimeout)
			reply.Output, reply.ExitCode = out, 0
			var ee *exec.ExitError
			switch {
			case errors.As(rerr, &ee):
				reply.ExitCode = ee.ExitCode()
			case rerr != nil:
				reply.ExitCode, reply.Error = -1, rerr.Error()
			}
		}
		r.log.Info("admin", "args", m.AdminArgs, "exit", reply.ExitCode, "error", reply.Error)
		e.adminReplies.done(reply)
		e.sendAdminReply(reply)
	}()
}

// sendAdminReply sends reply as an executor MESSAGE (once: the scheduler
// asks again if it is lost).
func (e *Executor) sendAdminReply(reply nodetask.AdminReply) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := e.sender.Send(ctx, calls.NonStreaming(calls.Message(reply.Marshal())))
	if resp != nil {
		resp.Close()
	}
	if err != nil {
		e.log.Warn("send admin reply", "id", reply.ID, "err", err)
	}
}
