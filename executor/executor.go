package executor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"

	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// Defaults of Config's zero values.
const (
	DefaultStartTimeout   = 2 * time.Minute
	DefaultHealthInterval = 5 * time.Second
	// DefaultTransfersInterval is how often a running node's transfers
	// (`riak admin transfers`) are looked at.
	DefaultTransfersInterval = 10 * time.Second
	// DefaultRingReadyWait is how long a starting node waits for its
	// members to agree on the ring before it reports TASK_RUNNING, not
	// ready.
	DefaultRingReadyWait = 30 * time.Second
	DefaultAckWait       = 5 * time.Second
	DefaultHTTPTimeout   = 10 * time.Second
	DefaultLockTimeout   = 5 * time.Minute
	DefaultFenceGrace    = 2 * time.Second
	// healthFailures consecutive failed pings deregister the live record
	// (it is registered again when the node answers).
	healthFailures = 3
)

// Config configures Run. Mesos is required (config.FromEnv); other zero
// values are documented defaults.
type Config struct {
	Mesos config.Config
	// Executable runs `devnode` for the devnode flavor. Default: this
	// binary (os.Executable).
	Executable string
	// StartTimeout bounds how long the node may take to answer a PB ping
	// after it starts. Default DefaultStartTimeout.
	StartTimeout time.Duration
	// HealthInterval is the period of PB pings once the node runs.
	// Default DefaultHealthInterval.
	HealthInterval time.Duration
	// TransfersInterval is the period of the transfers check of a running
	// node. Default DefaultTransfersInterval.
	TransfersInterval time.Duration
	// RingReadyWait: see DefaultRingReadyWait.
	RingReadyWait time.Duration
	// AckWait is how long the executor waits for the acknowledgement of
	// the task's terminal update before it exits. Default DefaultAckWait.
	AckWait time.Duration
	// HTTPTimeout bounds connecting to the agent and its response headers.
	// Default DefaultHTTPTimeout.
	HTTPTimeout time.Duration
	// ZKAuth is the ZooKeeper digest credential ("user:password") the
	// framework runs with (zkstate.WithDigestAuth); empty: none.
	ZKAuth string
	// LockTimeout bounds the wait for the node's ZooKeeper lock while
	// another executor holds it; past it the task fails. Default
	// DefaultLockTimeout.
	LockTimeout time.Duration
	// ZKSessionTimeout is the ZooKeeper session timeout asked for (the
	// server clamps it to its limits). Default zkstate.DefaultSessionTimeout.
	ZKSessionTimeout time.Duration
	// LockLossFraction: the node is stopped once ZooKeeper has not
	// confirmed the node lock for this fraction (0 < f < 1) of the
	// negotiated session timeout, so that it is gone before the session
	// can expire and another executor take the lock. Default
	// zkstate.DefaultLockLossFraction.
	LockLossFraction float64
	// FenceGrace is the SIGTERM-to-SIGKILL grace when the lock is lost,
	// capped at half of what the loss fraction leaves of the session
	// timeout. Default DefaultFenceGrace.
	FenceGrace time.Duration
	// Logger defaults to a text logger on stderr.
	Logger *slog.Logger
}

// Validate checks what Run needs from the Mesos environment.
func (c Config) Validate() error {
	var errs []error
	if c.Mesos.AgentEndpoint == "" {
		errs = append(errs, errors.New("executor: MESOS_AGENT_ENDPOINT is empty"))
	}
	if c.Mesos.FrameworkID == "" || c.Mesos.ExecutorID == "" {
		errs = append(errs, errors.New("executor: MESOS_FRAMEWORK_ID and MESOS_EXECUTOR_ID are required"))
	}
	if c.Mesos.Sandbox == "" {
		errs = append(errs, errors.New("executor: MESOS_SANDBOX is empty"))
	}
	if f := c.LockLossFraction; f != 0 && !(f > 0 && f < 1) {
		errs = append(errs, fmt.Errorf("executor: lock loss fraction %v: want 0 < f < 1", f))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() error {
	if c.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("executor: own executable: %w", err)
		}
		c.Executable = exe
	}
	if c.RingReadyWait == 0 {
		c.RingReadyWait = DefaultRingReadyWait
	}
	if c.TransfersInterval == 0 {
		c.TransfersInterval = DefaultTransfersInterval
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.HTTPTimeout == 0 {
		c.HTTPTimeout = DefaultHTTPTimeout
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = DefaultLockTimeout
	}
	if c.ZKSessionTimeout == 0 {
		c.ZKSessionTimeout = zkstate.DefaultSessionTimeout
	}
	if c.LockLossFraction == 0 {
		c.LockLossFraction = zkstate.DefaultLockLossFraction
	}
	if c.FenceGrace == 0 {
		c.FenceGrace = DefaultFenceGrace
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return nil
}

// Run is the executor: it subscribes to the agent, runs the one node task
// it is given and returns once that task is terminal and its last update
// acknowledged (or AckWait has passed), after SHUTDOWN, or when it cannot
// reach the agent within the recovery timeout. Cancelling ctx (SIGTERM)
// stops the node as SHUTDOWN does.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	e := newExecutor(cfg)
	err := e.run(ctx)
	e.log.Info("executor exiting", "err", err)
	return err
}

// pendingUpdate is an update not acknowledged yet.
type pendingUpdate struct {
	upd  executor.Call_Update
	sent bool // accepted by the agent (sent or carried by SUBSCRIBE)
}

// Executor is the state of one executor process.
type Executor struct {
	cfg    Config
	log    *slog.Logger
	sender calls.Sender
	// adminReplies are the last admin requests' replies (admin.go).
	adminReplies adminCache
	subscriber   calls.Sender

	kick chan struct{} // wakes the update sender

	mu           sync.Mutex
	subscribed   bool
	unackedTasks map[string]mesos.TaskInfo
	updates      []*pendingUpdate // unacknowledged, in order
	task         *runner          // the node task, once launched
	shuttingDown bool
	terminalUUID string        // UUID of the node task's terminal update
	terminalAck  chan struct{} // closed when it is acknowledged
	quit         chan struct{} // closed when the executor should exit
	quitOnce     sync.Once
}

func newExecutor(cfg Config) *Executor {
	api := url.URL{Scheme: "http", Host: cfg.Mesos.AgentEndpoint, Path: "/api/v1/executor"}
	cli := httpcli.New(
		httpcli.Endpoint(api.String()),
		httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
		httpcli.Do(httpcli.With(httpcli.Timeout(cfg.HTTPTimeout))),
	)
	opts := executor.CallOptions{calls.Framework(cfg.Mesos.FrameworkID), calls.Executor(cfg.Mesos.ExecutorID)}
	return &Executor{
		cfg:          cfg,
		log:          cfg.Logger.With("executor", cfg.Mesos.ExecutorID),
		sender:       calls.SenderWith(httpexec.NewSender(cli.Send), opts...),
		subscriber:   calls.SenderWith(httpexec.NewSender(cli.Send, httpcli.Close(true)), opts...),
		kick:         make(chan struct{}, 1),
		unackedTasks: map[string]mesos.TaskInfo{},
		terminalAck:  make(chan struct{}),
		quit:         make(chan struct{}),
	}
}

func (e *Executor) run(ctx context.Context) error {
	sendCtx, stopSend := context.WithCancel(context.Background())
	defer stopSend()
	go e.sendLoop(sendCtx)

	var backoff time.Duration
	disconnected := time.Now()
	for {
		err := e.session(ctx)
		if e.quitting() {
			return nil
		}
		if err != nil {
			e.log.Warn("agent connection", "err", err)
		} else {
			e.log.Info("disconnected from the agent")
		}
		if ctx.Err() != nil {
			e.abort("executor terminated while disconnected from the agent")
			return nil
		}
		if !e.cfg.Mesos.Checkpoint {
			e.abort("disconnected from the agent (framework checkpointing is off)")
			return fmt.Errorf("executor: disconnected from the agent: %v", err)
		}
		if time.Since(disconnected) > e.cfg.Mesos.RecoveryTimeout {
			e.abort("agent unreachable for the recovery timeout")
			return fmt.Errorf("executor: agent unreachable for %v: %v", e.cfg.Mesos.RecoveryTimeout, err)
		}
		backoff = min(max(2*backoff, 250*time.Millisecond), max(e.cfg.Mesos.SubscriptionBackoffMax, time.Second))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		case <-e.quit:
			return nil
		}
	}
}

// abort stops the node without reporting (the agent is out of reach).
func (e *Executor) abort(why string) {
	e.log.Warn("stopping", "why", why)
	e.mu.Lock()
	r := e.task
	e.shuttingDown = true
	e.mu.Unlock()
	if r != nil {
		r.kill(e.shutdownGrace())
		<-r.done
	}
}

func (e *Executor) quitting() bool {
	select {
	case <-e.quit:
		return true
	default:
		return false
	}
}

func (e *Executor) exit() { e.quitOnce.Do(func() { close(e.quit) }) }

// session subscribes (carrying unacknowledged tasks and updates) and
// handles events until the stream ends or the executor is done.
func (e *Executor) session(ctx context.Context) error {
	e.mu.Lock()
	tasks := make([]mesos.TaskInfo, 0, len(e.unackedTasks))
	for _, t := range e.unackedTasks {
		tasks = append(tasks, t)
	}
	included := append([]*pendingUpdate{}, e.updates...)
	ups := make([]executor.Call_Update, 0, len(included))
	for _, u := range included {
		ups = append(ups, u.upd)
	}
	e.mu.Unlock()

	resp, err := e.subscriber.Send(context.Background(), calls.NonStreaming(calls.Subscribe(tasks, ups)))
	if err != nil {
		if resp != nil {
			resp.Close()
		}
		return fmt.Errorf("subscribe: %w", err)
	}
	defer resp.Close()
	e.mu.Lock()
	for _, u := range included {
		u.sent = true
	}
	e.mu.Unlock()
	defer e.setSubscribed(false)

	events := make(chan *executor.Event)
	errc := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			var ev executor.Event
			if err := resp.Decode(&ev); err != nil {
				errc <- err
				return
			}
			select {
			case events <- &ev:
			case <-stop:
				return
			}
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	done := ctx.Done()
	for {
		select {
		case ev := <-events:
			if err := e.handle(ev); err != nil {
				return err
			}
		case err := <-errc:
			return err
		case <-done:
			done = nil
			e.shutdown("executor terminated (SIGTERM)")
		case <-e.quit:
			return nil
		case <-tick.C:
			e.wake() // retry updates whose send failed
		}
	}
}

func (e *Executor) setSubscribed(v bool) {
	e.mu.Lock()
	e.subscribed = v
	e.mu.Unlock()
	if v {
		e.wake()
	}
}

func (e *Executor) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

func (e *Executor) handle(ev *executor.Event) error {
	switch ev.Type {
	case executor.Event_SUBSCRIBED:
		e.log.Info("subscribed", "agent", ev.Subscribed.AgentInfo.GetHostname())
		e.setSubscribed(true)
	case executor.Event_LAUNCH:
		e.launch(ev.Launch.Task)
	case executor.Event_LAUNCH_GROUP:
		for _, t := range ev.LaunchGroup.TaskGroup.Tasks {
			e.update(t.TaskID, mesos.TASK_FAILED, mesos.REASON_TASK_INVALID.Enum(), "the rmf executor does not run task groups", nil)
		}
	case executor.Event_KILL:
		e.mu.Lock()
		r := e.task
		e.mu.Unlock()
		if r == nil || r.info.TaskID != ev.Kill.TaskID {
			e.log.Warn("KILL of an unknown task", "task", ev.Kill.TaskID.Value)
			return nil
		}
		grace := e.cfg.Mesos.ExecutorShutdownGracePeriod
		if kp := r.info.KillPolicy; kp != nil && kp.GracePeriod != nil {
			grace = time.Duration(kp.GracePeriod.Nanoseconds)
		}
		if kp := ev.Kill.KillPolicy; kp != nil && kp.GracePeriod != nil {
			grace = time.Duration(kp.GracePeriod.Nanoseconds)
		}
		e.log.Info("KILL", "task", ev.Kill.TaskID.Value, "grace", grace)
		r.kill(grace)
	case executor.Event_ACKNOWLEDGED:
		uuid := string(ev.Acknowledged.UUID)
		e.mu.Lock()
		delete(e.unackedTasks, ev.Acknowledged.TaskID.Value)
		for i, u := range e.updates {
			if string(u.upd.Status.UUID) == uuid {
				e.updates = append(e.updates[:i], e.updates[i+1:]...)
				break
			}
		}
		if uuid != "" && uuid == e.terminalUUID {
			close(e.terminalAck)
			e.terminalUUID = ""
		}
		e.mu.Unlock()
	case executor.Event_MESSAGE:
		e.message(ev.Message.Data)
	case executor.Event_SHUTDOWN:
		e.shutdown("SHUTDOWN from the agent")
	case executor.Event_ERROR:
		return fmt.Errorf("ERROR from the agent: %s", ev.Error.GetMessage())
	case executor.Event_HEARTBEAT:
	default:
		e.log.Warn("unexpected event", "type", ev.Type.String())
	}
	return nil
}

// message acts on a scheduler's MESSAGE (nodetask.Message): a leave or a
// configuration check for the running task. Anything else is logged and dropped; the scheduler
// repeats what it still wants.
func (e *Executor) message(data []byte) {
	m, err := nodetask.ParseMessage(data)
	if err != nil {
		e.log.Warn("MESSAGE ignored", "err", err, "bytes", len(data))
		return
	}
	e.mu.Lock()
	r := e.task
	e.mu.Unlock()
	if r == nil || r.info.TaskID.Value != m.TaskID {
		e.log.Warn("MESSAGE for another task ignored", "op", m.Op, "task", m.TaskID)
		return
	}
	e.log.Info("MESSAGE", "op", m.Op, "task", m.TaskID, "generation", m.Generation)
	switch m.Op {
	case nodetask.OpCheckConfig:
		r.requestCheck(m)
	case nodetask.OpAdmin:
		e.admin(r, m)
	default:
		r.requestLeave()
	}
}

func (e *Executor) launch(t mesos.TaskInfo) {
	e.mu.Lock()
	cur, shutting := e.task, e.shuttingDown
	if cur == nil && !shutting {
		e.unackedTasks[t.TaskID.Value] = t
		r := newRunner(e, t)
		e.task = r
		e.mu.Unlock()
		e.log.Info("LAUNCH", "task", t.TaskID.Value)
		go r.run()
		go e.finishAfter(r)
		return
	}
	e.mu.Unlock()
	switch {
	case cur != nil && cur.info.TaskID == t.TaskID:
		e.log.Info("duplicate LAUNCH ignored", "task", t.TaskID.Value)
	case shutting:
		e.update(t.TaskID, mesos.TASK_KILLED, mesos.REASON_EXECUTOR_TERMINATED.Enum(), "executor is shutting down", nil)
	default:
		e.update(t.TaskID, mesos.TASK_FAILED, mesos.REASON_TASK_INVALID.Enum(),
			"the rmf executor runs one node task; it already runs "+cur.info.TaskID.Value, nil)
	}
}

// finishAfter ends the executor once r is done and its terminal update is
// acknowledged, or AckWait after r is done.
func (e *Executor) finishAfter(r *runner) {
	<-r.done
	select {
	case <-e.terminalAck:
	case <-time.After(e.cfg.AckWait):
		e.log.Warn("terminal update not acknowledged in time; exiting", "wait", e.cfg.AckWait)
	}
	e.exit()
}

// shutdown stops the node (if any) within the agent's grace period.
func (e *Executor) shutdown(why string) {
	e.log.Info("shutting down", "why", why)
	e.mu.Lock()
	r := e.task
	e.shuttingDown = true
	e.mu.Unlock()
	if r == nil {
		e.exit()
		return
	}
	r.kill(e.shutdownGrace())
}

// shutdownGrace is the node's share of the executor's shutdown grace
// period: the agent kills the executor when the period ends, and the
// executor must still send TASK_KILLED.
func (e *Executor) shutdownGrace() time.Duration {
	g := e.cfg.Mesos.ExecutorShutdownGracePeriod
	if g <= 0 {
		return 3 * time.Second
	}
	return g * 3 / 4
}

// update queues a status update of task id for sending (in order) and
// keeps it until the agent acknowledges it.
func (e *Executor) update(id mesos.TaskID, state mesos.TaskState, reason *mesos.TaskStatus_Reason, msg string, data []byte) {
	e.queueUpdate(id, state, reason, msg, data, false)
}

// queueUpdate is update; terminal marks the node task's last update, whose
// acknowledgement lets the executor exit.
func (e *Executor) queueUpdate(id mesos.TaskID, state mesos.TaskState, reason *mesos.TaskStatus_Reason, msg string, data []byte, terminal bool) {
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	st := mesos.TaskStatus{
		TaskID:     id,
		State:      state.Enum(),
		Source:     mesos.SOURCE_EXECUTOR.Enum(),
		ExecutorID: &mesos.ExecutorID{Value: e.cfg.Mesos.ExecutorID},
		UUID:       uuid,
		Data:       data,
		Timestamp:  proto(float64(time.Now().UnixNano()) / 1e9),
	}
	if msg != "" {
		st.Message = &msg
	}
	st.Reason = reason
	upd := calls.Update(st)
	e.mu.Lock()
	e.updates = append(e.updates, &pendingUpdate{upd: *upd.Update})
	if terminal {
		e.terminalUUID = string(uuid)
	}
	e.mu.Unlock()
	e.log.Info("status update", "task", id.Value, "state", state.String(), "message", msg)
	e.wake()
}

// sendLoop sends queued updates in order while subscribed; a failed send is
// retried on the next wake-up (every second while subscribed) or carried
// by the next SUBSCRIBE.
func (e *Executor) sendLoop(ctx context.Context) {
	for {
		select {
		case <-e.kick:
		case <-ctx.Done():
			return
		}
		for {
			e.mu.Lock()
			var next *pendingUpdate
			if e.subscribed {
				for _, u := range e.updates {
					if !u.sent {
						next = u
						break
					}
				}
			}
			var upd executor.Call_Update
			if next != nil {
				upd = next.upd
			}
			e.mu.Unlock()
			if next == nil {
				break
			}
			resp, err := e.sender.Send(ctx, calls.NonStreaming(calls.Update(upd.Status)))
			if resp != nil {
				resp.Close()
			}
			if err != nil {
				e.log.Warn("send update", "task", upd.Status.TaskID.Value, "err", err)
				break
			}
			e.mu.Lock()
			next.sent = true
			e.mu.Unlock()
		}
	}
}

func proto[T any](v T) *T { return &v }
