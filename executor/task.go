package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/rmf-go/rmf/erlpmd"
	"github.com/rmf-go/rmf/internal/nodetask"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// RunningInfo is the JSON in the data of TASK_RUNNING updates.
type RunningInfo = nodetask.Status

// runner runs the one node task of the executor.
type runner struct {
	e    *Executor
	info mesos.TaskInfo
	log  *slog.Logger
	done chan struct{} // closed after the terminal update is queued

	killCtx    context.Context // cancelled by the first kill
	cancelKill context.CancelFunc
	mu         sync.Mutex
	killed     bool
	grace      time.Duration         // grace of the first kill
	shorter    chan time.Duration    // later kills (newer kill policies)
	leaveReq   chan struct{}         // the scheduler asked the node to leave its cluster
	checkReq   chan nodetask.Message // the scheduler asked for a check of a new configuration

	// resources to release, set as they are acquired
	store   *zkstate.Store
	fw      *zkstate.Framework
	cluster string
	epmd    *erlpmd.Server
	epmdEnd context.CancelFunc // ends erlpmd's Serve calls
	live    *zkstate.Registration
	liveRec zkstate.LiveRecord // what live holds
	lock    *zkstate.NodeLock  // held from before the node starts until it is gone
	proc    *process
	ended   bool

	plan Plan
	// adminPlan is plan once prepared, for admin messages (read from the
	// event loop while run writes plan).
	adminPlan atomic.Pointer[Plan]
	opts      RiakOptions
	sandbox   string
	status    nodetask.Status // of the last TASK_RUNNING update

	fenceDone chan struct{} // closed when fence has returned
	fenceMu   sync.Mutex
	fenceMsg  string // why the node was stopped for losing the lock
}

func newRunner(e *Executor, t mesos.TaskInfo) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	return &runner{e: e, info: t, log: e.log.With("task", t.TaskID.Value), done: make(chan struct{}),
		killCtx: ctx, cancelKill: cancel, shorter: make(chan time.Duration, 4), leaveReq: make(chan struct{}, 1),
		checkReq: make(chan nodetask.Message, 1)}
}

// requestCheck asks the running node's executor to check a new
// configuration (see checkConfig); a request while one waits replaces it.
func (r *runner) requestCheck(m nodetask.Message) {
	for {
		select {
		case r.checkReq <- m:
			return
		default:
		}
		select {
		case <-r.checkReq:
		default:
		}
	}
}

// requestLeave asks the running node to leave its cluster (see leave); a
// request while one is pending or under way is dropped.
func (r *runner) requestLeave() {
	select {
	case r.leaveReq <- struct{}{}:
	default:
	}
}

// kill asks the runner to stop the node, allowing it grace after SIGTERM.
// A later kill can only shorten the grace.
func (r *runner) kill(grace time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.killed {
		r.killed, r.grace = true, grace
		r.cancelKill()
		return
	}
	select {
	case r.shorter <- grace:
	default:
	}
}

func (r *runner) killGrace() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.grace
}

// finish releases everything (live record first) and queues the terminal
// update.
func (r *runner) finish(state mesos.TaskState, reason *mesos.TaskStatus_Reason, msg string) {
	if r.ended {
		return
	}
	r.ended = true
	r.deregister()
	if r.epmd != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = r.epmd.Shutdown(ctx)
		cancel()
		r.epmdEnd()
	}
	if r.lock != nil {
		// The lock outlives the node process: never let another executor
		// start the node while this one may still be running.
		if r.proc != nil && !r.proc.exited() {
			select {
			case <-r.proc.done:
			case <-time.After(10 * time.Second):
				r.log.Error("node process still there; releasing the node lock with the ZooKeeper session", "pid", r.proc.pid())
			}
		}
		if err := r.lock.Close(); err != nil {
			r.log.Warn("release the node lock", "err", err)
		}
	}
	if r.store != nil {
		r.store.Close()
	}
	r.e.queueUpdate(r.info.TaskID, state, reason, msg, nil, true)
}

// leavingNotice is how long a deliberately stopped node's live record
// says "leaving" before it is deleted: directors see the mark and drain the
// node before it stops (one that only saw the record vanish would keep
// serving the node while it answers, see zkstate.LiveRecord.Leaving).
const leavingNotice = 500 * time.Millisecond

// deregister takes the live record away because the node is being stopped
// or is gone: marked leaving first, so that directors drain it now.
func (r *runner) deregister() { r.dropLive(true) }

// withdraw takes the live record away without the leaving mark: the node
// stopped answering the executor's pings, and each director's own checks
// decide whether it still serves.
func (r *runner) withdraw() { r.dropLive(false) }

func (r *runner) dropLive(leaving bool) {
	if r.live == nil {
		return
	}
	if r.fenced() != "" {
		// ZooKeeper is out of reach: the record goes with the session,
		// which finish closes.
		r.live = nil
		return
	}
	if leaving {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := r.fw.MarkLiveLeaving(ctx, r.live, r.liveRec)
		cancel()
		if err != nil {
			r.log.Warn("mark the live record leaving", "err", err)
		} else {
			time.Sleep(leavingNotice)
		}
	}
	if err := r.live.Close(); err != nil {
		r.log.Warn("deregister live record", "err", err)
	}
	r.live = nil
}

func (r *runner) isKilled() bool { return r.killCtx.Err() != nil }

func (r *runner) killedBeforeStart() {
	r.finish(mesos.TASK_KILLED, mesos.REASON_TASK_KILLED_DURING_LAUNCH.Enum(), "killed before the node started")
}

func (r *runner) run() {
	defer close(r.done)
	defer r.cancelKill()
	t, err := nodetask.Unmarshal(r.info.Data)
	if err != nil {
		r.finish(mesos.TASK_FAILED, mesos.REASON_TASK_INVALID.Enum(), "bad task data: "+err.Error())
		return
	}
	r.log = r.log.With("node", t.NodeName)
	sandbox, err := filepath.Abs(r.e.cfg.Mesos.Sandbox)
	if err != nil {
		r.finish(mesos.TASK_FAILED, mesos.REASON_TASK_INVALID.Enum(), "sandbox: "+err.Error())
		return
	}
	plan, err := r.prepare(t, sandbox)
	if err != nil {
		r.finish(mesos.TASK_FAILED, mesos.REASON_TASK_INVALID.Enum(), err.Error())
		return
	}
	r.plan, r.sandbox = plan, sandbox
	r.adminPlan.Store(&plan)
	if err := r.runCommands(plan.Check, "config check", 1); err != nil {
		if r.isKilled() {
			r.killedBeforeStart()
			return
		}
		r.finish(mesos.TASK_FAILED, mesos.REASON_TASK_INVALID.Enum(), "the release refuses the configuration: "+r.explain(plan.Explain, err))
		return
	}
	if r.isKilled() {
		r.killedBeforeStart()
		return
	}
	if err := r.connectZK(t); err != nil {
		r.finish(mesos.TASK_FAILED, nil, err.Error())
		return
	}
	if !r.acquireLock(t) {
		return
	}
	if err := r.startErlpmd(t); err != nil {
		r.finish(mesos.TASK_FAILED, nil, err.Error())
		return
	}
	if r.isKilled() {
		r.killedBeforeStart()
		return
	}
	select {
	case <-r.lock.Lost():
		r.finish(mesos.TASK_FAILED, nil, fmt.Sprintf("lost the ZooKeeper lock of node %s before starting it: %v", t.NodeName, r.lock.Err()))
		return
	default:
	}
	proc, err := startProcess(plan.Start, sandbox)
	if err != nil {
		r.finish(mesos.TASK_FAILED, nil, err.Error())
		return
	}
	r.proc = proc
	r.fenceDone = make(chan struct{})
	go r.fence(t, proc)
	pb := hostPort(t.Host, t.Ports.PB)
	r.log.Info("node started", "pid", proc.pid(), "cmd", strings.Join(plan.Start.Args, " "))
	r.e.update(r.info.TaskID, mesos.TASK_STARTING, nil,
		fmt.Sprintf("starting %s (%s, pid %d): pb %s http %s", t.NodeName, t.Flavor, proc.pid(), pb, hostPort(t.Host, t.Ports.HTTP)), nil)

	started := time.Now()
	if !r.waitReady(t, proc, pb) {
		return
	}
	if err := r.runCommands(plan.Join, "join", commandAttempts); err != nil {
		if r.isKilled() {
			r.stopAndReportKilled(proc)
			return
		}
		r.stopNode(proc, 10*time.Second)
		r.finish(mesos.TASK_FAILED, nil, r.failMsg(err.Error()))
		return
	}
	if !r.waitServing(t, plan, proc, started) {
		return
	}
	rec := zkstate.LiveRecord{Name: t.Node, Host: t.Host, PBPort: t.Ports.PB, HTTPPort: t.Ports.HTTP}
	if err := r.register(rec); err != nil {
		if r.isKilled() {
			r.stopAndReportKilled(proc)
			return
		}
		r.stopNode(proc, 10*time.Second)
		r.finish(mesos.TASK_FAILED, nil, r.failMsg("register the live endpoint in ZooKeeper: "+err.Error()))
		return
	}
	r.status = nodetask.Status{NodeName: t.NodeName, Node: t.Node, Cluster: t.Cluster, Flavor: t.Flavor, Host: t.Host,
		Ports: t.Ports, PID: proc.pid(), Generation: t.Generation, Ready: r.ringReady(r.e.cfg.RingReadyWait)}
	how := "ready"
	if !r.status.Ready {
		how = "serving, but the members do not agree on the ring yet"
	}
	r.e.update(r.info.TaskID, mesos.TASK_RUNNING, nil,
		fmt.Sprintf("%s %s: pb %s http %s handoff %d disterl %d erlpmd %d", t.NodeName, how, pb, hostPort(t.Host, t.Ports.HTTP),
			t.Ports.Handoff, t.Ports.Disterl, t.Ports.Erlpmd), nodetask.MarshalStatus(r.status))
	r.monitor(t, plan, proc, pb, rec)
}

// prepare creates the node directory on the volume, computes the plan and
// writes its directories and files.
func (r *runner) prepare(t nodetask.Task, sandbox string) (Plan, error) {
	vol := filepath.Join(sandbox, nodetask.VolumePath)
	// The agent links the persistent volume here; without one (tests, or a
	// task launched without a volume) a plain directory stands in.
	if err := os.MkdirAll(vol, 0o755); err != nil {
		return Plan{}, fmt.Errorf("node directory %s: %w", vol, err)
	}
	var opts RiakOptions
	if t.Flavor == nodetask.FlavorRiak {
		var err error
		if opts, err = inspectRiak(sandbox); err != nil {
			return Plan{}, err
		}
		ctx, cancel := context.WithTimeout(r.killCtx, time.Minute)
		erlc := riakErlc(filepath.Join(sandbox, RiakDir))
		if erlc != "" {
			opts.ERTSBin = filepath.Dir(erlc)
		}
		opts.ErlFlags, err = erlpmd.ErlFlags(ctx, erlc, filepath.Join(sandbox, "erlpmd"), t.Ports.Erlpmd)
		cancel()
		if err != nil {
			return Plan{}, err
		}
	}
	r.opts = opts
	plan, err := NewPlan(t, sandbox, r.e.cfg.Executable, opts)
	if err != nil {
		return Plan{}, err
	}
	for _, w := range plan.Warnings {
		r.log.Warn("template setting replaced", "warning", w)
	}
	for _, d := range plan.Dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return Plan{}, fmt.Errorf("prepare %s: %w", d, err)
		}
	}
	for _, f := range plan.Files {
		if err := os.WriteFile(f.Path, []byte(f.Data), 0o644); err != nil {
			return Plan{}, fmt.Errorf("write %s: %w", f.Path, err)
		}
	}
	return plan, nil
}

// inspectRiak makes sure the Riak release the agent extracted is at
// sandbox/riak (renaming a single riak*/ directory with bin/riak, as
// tarballs named riak-3.0.16/ have) and reads what the plan needs of it:
// whether it has the pre-3.0 bin/riak-admin, and its vm.args
// (releases/<version>/vm.args, the version from releases/start_erl.data).
func inspectRiak(sandbox string) (RiakOptions, error) {
	var opts RiakOptions
	root := filepath.Join(sandbox, RiakDir)
	if _, err := os.Stat(filepath.Join(root, "bin", "riak")); err != nil {
		matches, _ := filepath.Glob(filepath.Join(sandbox, "riak*", "bin", "riak"))
		var found []string
		for _, m := range matches {
			if d := filepath.Dir(filepath.Dir(m)); d != root {
				found = append(found, d)
			}
		}
		if len(found) != 1 {
			return opts, fmt.Errorf("riak release not found: want %s/bin/riak (the tarball extracted into the sandbox), found %v", root, found)
		}
		if err := os.Rename(found[0], root); err != nil {
			return opts, fmt.Errorf("riak release: %w", err)
		}
	}
	// Riak KV 3.x has bin/riak-admin too, as the target of `riak admin`
	// (a relx extension named in bin/riak); before 3.0 it is the only way.
	_, err := os.Stat(filepath.Join(root, "bin", "riak-admin"))
	script, _ := os.ReadFile(filepath.Join(root, "bin", "riak"))
	opts.LegacyAdmin = err == nil && !bytes.Contains(script, []byte("admin_extension="))
	if b, err := os.ReadFile(filepath.Join(root, "releases", "start_erl.data")); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 && filepath.IsLocal(f[1]) {
			rel := filepath.Join("releases", f[1], "vm.args")
			if vm, err := os.ReadFile(filepath.Join(root, rel)); err == nil {
				opts.VMArgsPath, opts.VMArgs = rel, string(vm)
			}
		}
	}
	return opts, nil
}

// riakErlc is the release's own erlc (so rmf_epmd compiles for the Erlang
// that loads it), or "" for the one in $PATH.
func riakErlc(root string) string {
	m, _ := filepath.Glob(filepath.Join(root, "erts-*", "bin", "erlc"))
	if len(m) == 1 {
		return m[0]
	}
	return ""
}

// connectZK opens the executor's ZooKeeper session (the node lock, the
// live record and erlpmd's registry all live in it).
func (r *runner) connectZK(t nodetask.Task) error {
	ctx, cancel := context.WithTimeout(r.killCtx, 30*time.Second)
	defer cancel()
	opts := []zkstate.Option{zkstate.WithLogger(r.log), zkstate.WithSessionTimeout(r.e.cfg.ZKSessionTimeout)}
	if r.e.cfg.ZKAuth != "" {
		opts = append(opts, zkstate.WithDigestAuth(r.e.cfg.ZKAuth))
	}
	store, err := zkstate.Connect(ctx, strings.Split(t.ZooKeeper, ","), opts...)
	if err != nil {
		return fmt.Errorf("connect to ZooKeeper %s: %w", t.ZooKeeper, err)
	}
	r.store = store
	if got, asked := store.SessionTimeout(), r.e.cfg.ZKSessionTimeout; got < asked {
		r.log.Warn("ZooKeeper granted a shorter session than asked: raise maxSessionTimeout in zoo.cfg", "asked", asked, "granted", got)
	}
	fw, err := store.Framework(t.Framework)
	if err != nil {
		return err
	}
	r.fw, r.cluster = fw, t.Cluster
	return nil
}

// acquireLock takes the node's ZooKeeper lock, so that the node never runs
// twice: while another executor holds it, it reports TASK_STARTING naming
// the holder, and fails the task after LockTimeout. It reports the
// terminal update and returns false when it does not get the lock.
func (r *runner) acquireLock(t nodetask.Task) bool {
	ctx, cancel := context.WithTimeout(r.killCtx, r.e.cfg.LockTimeout)
	defer cancel()
	holder := "another executor"
	lock, err := r.fw.LockNode(ctx, t.Cluster, t.Node, zkstate.LockRecord{
		TaskID: r.info.TaskID.Value, ExecutorID: r.e.cfg.Mesos.ExecutorID, AgentID: r.info.AgentID.Value,
		Host: t.Host, PID: os.Getpid(),
	}, zkstate.WithLossFraction(r.e.cfg.LockLossFraction), zkstate.WithLockMode(lockMode(t.Fencing)),
		zkstate.WithLockRetaken(func(znode string) {
			r.log.Warn("ZooKeeper session expired while the node ran; its lock was free and is held again", "znode", znode)
		}),
		zkstate.WithLockWait(func(h zkstate.LockHolder) {
			holder = h.String()
			r.e.update(r.info.TaskID, mesos.TASK_STARTING, nil, "waiting for the node lock held by "+holder, nil)
		}))
	switch {
	case err == nil:
		r.lock = lock
		r.log.Info("node lock held", "znode", lock.Path(), "session_timeout", r.store.SessionTimeout(), "fencing", fencingMode(t.Fencing))
		return true
	case r.isKilled():
		r.killedBeforeStart()
	case errors.Is(err, context.DeadlineExceeded):
		r.finish(mesos.TASK_FAILED, nil, fmt.Sprintf("gave up after %v waiting for the node lock of %s held by %s (--lock-timeout)",
			r.e.cfg.LockTimeout, t.NodeName, holder))
	default:
		r.finish(mesos.TASK_FAILED, nil, "take the node lock in ZooKeeper: "+err.Error())
	}
	return false
}

// fencingMode is the task's fencing mode (empty: volume).
func fencingMode(m string) string {
	if m == "" {
		return nodetask.FencingVolume
	}
	return m
}

// lockMode is the node lock's mode for a fencing mode: strict fencing
// gives the lock up (and stops the node) on silence; volume fencing keeps
// it through silence and decides when ZooKeeper answers again.
func lockMode(fencing string) zkstate.LockMode {
	if fencingMode(fencing) == nodetask.FencingStrict {
		return zkstate.LockStrict
	}
	return zkstate.LockRetake
}

// fence stops the node as soon as the node lock is lost, whatever the
// runner is doing. With strict fencing that is past the loss fraction of
// the session timeout, when the session may expire and another executor
// take the lock: by then this node must be gone, so SIGKILL follows
// SIGTERM after a grace that ends well before the session can expire.
// With volume fencing the lock is lost only when another executor holds
// it (or its znode was deleted): the node stops at once, with the same
// short grace.
func (r *runner) fence(t nodetask.Task, proc *process) {
	defer close(r.fenceDone)
	select {
	case <-proc.done:
		return
	case <-r.lock.Lost():
	}
	lost := r.lock.Err()
	if lost == nil {
		return // released, which happens only after the node is gone
	}
	grace := min(r.e.cfg.FenceGrace, time.Duration((1-r.e.cfg.LockLossFraction)*float64(r.store.SessionTimeout())/2))
	r.log.Error("lost the node lock: stopping the node before another executor can start it", "err", lost, "grace", grace)
	r.fenceMu.Lock()
	r.fenceMsg = fmt.Sprintf("lost the ZooKeeper lock of node %s (%v)", t.NodeName, lost)
	r.fenceMu.Unlock()
	how := "stopped gracefully"
	if !proc.stop(context.Background(), grace, nil) {
		how = fmt.Sprintf("killed (SIGKILL) after a grace period of %v", grace)
	}
	r.fenceMu.Lock()
	r.fenceMsg += "; node " + how + " so that it never runs twice"
	r.fenceMu.Unlock()
}

// fenced returns the message of a node stopped for losing its lock ("" if
// it was not).
func (r *runner) fenced() string {
	r.fenceMu.Lock()
	defer r.fenceMu.Unlock()
	return r.fenceMsg
}

// failMsg is msg, or the fencing message when the node was stopped for
// losing its lock (the real cause of whatever failed next).
func (r *runner) failMsg(msg string) string {
	if r.fenced() == "" {
		return msg
	}
	<-r.fenceDone // the message is complete once the node is stopped
	return r.fenced()
}

// startErlpmd serves EPMD on Host:erlpmd and also on 127.0.0.1:erlpmd
// unless Host is 127.0.0.1 (or localhost) itself: the node's erlpmd module
// (erlpmd/rmf_epmd.erl) sends every lookup to 127.0.0.1 at the node's EPMD
// port, and Host may be another address, loopback or not (mesos-local's
// agents are 127.0.0.2, 127.0.0.3, ...).
func (r *runner) startErlpmd(t nodetask.Task) error {
	fw := r.fw
	addrs := erlpmdAddrs(t.Host, t.Ports.Erlpmd)
	srv := &erlpmd.Server{Registry: fw, Host: t.Host, Logger: r.log.With("component", "erlpmd")}
	serveCtx, end := context.WithCancel(context.Background())
	r.epmdEnd = end
	for i, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			if i == 0 {
				end()
				return fmt.Errorf("erlpmd: %w", err)
			}
			r.log.Warn("erlpmd loopback listener", "err", err)
			continue
		}
		go func() {
			if err := srv.Serve(serveCtx, ln); err != nil {
				r.log.Warn("erlpmd", "err", err)
			}
		}()
	}
	r.epmd = srv
	return nil
}

// erlpmdAddrs are startErlpmd's listen addresses: host:port first, then
// 127.0.0.1:port unless host is that already.
func erlpmdAddrs(host string, port int) []string {
	addrs := []string{hostPort(host, port)}
	if host != "127.0.0.1" && host != "localhost" {
		addrs = append(addrs, hostPort("127.0.0.1", port))
	}
	return addrs
}

// waitReady pings the node until it answers. On failure it reports the
// terminal update and returns false.
func (r *runner) waitReady(t nodetask.Task, proc *process, pb string) bool {
	deadline := time.NewTimer(r.e.cfg.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-proc.done:
			r.finish(mesos.TASK_FAILED, nil, r.failMsg(failure(t, proc, "before answering a PB ping")))
			return false
		case <-r.killCtx.Done():
			r.stopAndReportKilled(proc)
			return false
		case <-deadline.C:
			r.stopNode(proc, 10*time.Second)
			r.finish(mesos.TASK_FAILED, nil,
				fmt.Sprintf("node %s did not answer a PB ping on %s within %v; last output:\n%s", t.NodeName, pb, r.e.cfg.StartTimeout, proc.tail))
			return false
		case <-tick.C:
			if err := Ping(r.killCtx, pb, time.Second); err == nil {
				return true
			}
		}
	}
}

// failure is the message of a node that exited on its own.
func failure(t nodetask.Task, proc *process, when string) string {
	msg := fmt.Sprintf("node %s %s %s", t.NodeName, proc.exitReason(), when)
	if tail := proc.tail.String(); tail != "" {
		msg += "; last output:\n" + tail
	}
	return msg
}

// runCommands runs a sequence of commands (a config check, the riak
// flavor's join, a leave) up to attempts times, 2 s apart, from the start
// each time, while the node settles: each command of the sequence must
// be one whose repetition is harmless (see RiakCommands).
// Command.Succeeded says whether a run succeeded.
func (r *runner) runCommands(cmds []Command, what string, attempts int) error {
	var err error
	for attempt := 0; attempt < attempts && len(cmds) > 0; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(2 * time.Second):
			case <-r.killCtx.Done():
			}
		}
		if err = r.runSequence(cmds, what); err == nil || r.isKilled() {
			return err
		}
		r.log.Warn(what+" failed", "attempt", attempt+1, "err", err)
	}
	return err
}

// runSequence runs cmds once, in order, until one fails.
func (r *runner) runSequence(cmds []Command, what string) error {
	for _, c := range cmds {
		if r.isKilled() {
			return fmt.Errorf("killed during the %s", what)
		}
		out, err := r.runOne(c, clusterCommandTimeout)
		if !c.Succeeded(out, err) {
			if err == nil {
				err = fmt.Errorf("output lacks %q", c.Expect)
			}
			return fmt.Errorf("%s: %v: %s", strings.Join(c.Args, " "), err, out)
		}
		r.log.Info(what+" command", "cmd", strings.Join(c.Args, " "), "output", out)
	}
	return nil
}

// runOne runs c once, within timeout (and the task's life), and returns
// its combined output, trimmed.
func (r *runner) runOne(c Command, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(r.killCtx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Dir, cmd.Env = c.Dir, append(os.Environ(), c.Env...)
	cmd.WaitDelay = 5 * time.Second // a script's children may keep the output open
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// commandAttempts is how often a join or leave command is tried.
const commandAttempts = 5

// waitServing runs the plan's readiness commands in order, each until it
// succeeds, within the start timeout counted from started: the node is
// ready only when all have. On failure it stops the node, reports the
// terminal update and returns false.
func (r *runner) waitServing(t nodetask.Task, plan Plan, proc *process, started time.Time) bool {
	deadline := started.Add(r.e.cfg.StartTimeout)
	for _, c := range plan.Ready {
		var out string
		var err error
		for {
			left := time.Until(deadline)
			if left <= 0 {
				if err == nil {
					err = fmt.Errorf("output lacks %q", c.Expect)
				}
				r.stopNode(proc, 10*time.Second)
				r.finish(mesos.TASK_FAILED, nil, r.failMsg(fmt.Sprintf("node %s not ready within %v: %s: %v: %s",
					t.NodeName, r.e.cfg.StartTimeout, strings.Join(c.Args, " "), err, out)))
				return false
			}
			out, err = r.runOne(c, left)
			if c.Succeeded(out, err) {
				r.log.Info("ready check", "cmd", strings.Join(c.Args, " "), "output", out)
				break
			}
			select {
			case <-proc.done:
				r.finish(mesos.TASK_FAILED, nil, r.failMsg(failure(t, proc, "before it was ready")))
				return false
			case <-r.killCtx.Done():
				r.stopAndReportKilled(proc)
				return false
			case <-time.After(time.Second):
			}
		}
	}
	return true
}

// explain adds to a failed config check the words of the check's reason:
// `riak chkconfig` prints only "Cuttlefish failed! Oh no!:", while
// cuttlefish run by itself says which setting it refused and why.
func (r *runner) explain(c *Command, err error) string {
	if c == nil {
		return err.Error()
	}
	out, _ := r.runOne(*c, time.Minute)
	if out == "" {
		return err.Error()
	}
	return err.Error() + "\ncuttlefish says:\n" + out
}

// ringReady runs the plan's ringready until it passes, for up to wait
// (once with wait 0), and says whether it did.
func (r *runner) ringReady(wait time.Duration) bool {
	c := r.plan.RingReady
	if c == nil {
		return true
	}
	deadline := time.Now().Add(wait)
	for {
		out, err := r.runOne(*c, time.Minute)
		if c.Succeeded(out, err) {
			return true
		}
		if time.Now().After(deadline) || r.isKilled() {
			r.log.Info("ring not ready", "output", out, "err", err)
			return false
		}
		select {
		case <-time.After(time.Second):
		case <-r.killCtx.Done():
			return false
		}
	}
}

// watchTransfers checks the ring of a node not yet ready and runs the
// plan's transfers command, and reports a change of either in a
// TASK_RUNNING update.
func (r *runner) watchTransfers() {
	if !r.status.Ready && r.ringReady(0) {
		r.status.Ready = true
		r.e.update(r.info.TaskID, mesos.TASK_RUNNING, nil, "ready: every member agrees on the ring", nodetask.MarshalStatus(r.status))
	}
	c := r.plan.Transfers
	if c == nil {
		return
	}
	out, err := r.runOne(*c, time.Minute)
	if err != nil {
		if !r.isKilled() {
			r.log.Warn("transfers", "err", err, "output", out)
		}
		return
	}
	pending := !TransfersIdle(out)
	text := ""
	if pending {
		text = out
	}
	if pending == r.status.TransfersPending && text == r.status.Transfers {
		return
	}
	r.status.TransfersPending, r.status.Transfers = pending, text
	msg := "no transfers pending"
	if pending {
		msg = "transfers pending: " + firstLine(out)
	}
	r.e.update(r.info.TaskID, mesos.TASK_RUNNING, nil, msg, nodetask.MarshalStatus(r.status))
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// checkConfig checks the configuration of message m for this node
// without touching the running node: it renders the templates into a
// directory of their own and runs the release's check there, then
// reports the result as the ConfigCheck of a TASK_RUNNING update.
func (r *runner) checkConfig(t nodetask.Task, sandbox string, m nodetask.Message) {
	res := nodetask.ConfigCheck{Generation: m.Generation, OK: true}
	fail := func(err error) { res.OK, res.Error = false, err.Error() }
	dir := filepath.Join(sandbox, fmt.Sprintf("config-check-%d", m.Generation))
	t.Generation = m.Generation
	files, cmds, err := ConfigCheck(t, m.RiakConf, m.AdvancedConfig, sandbox, dir, r.opts)
	if err == nil {
		err = os.RemoveAll(dir)
	}
	for _, f := range files {
		if err == nil {
			err = os.MkdirAll(filepath.Dir(f.Path), 0o755)
		}
		if err == nil {
			err = os.WriteFile(f.Path, []byte(f.Data), 0o644)
		}
	}
	if err == nil {
		if err = r.runCommands(cmds, "config check", 1); err != nil {
			err = errors.New(r.explain(explainIn(cmds, r.opts, dir), err))
		}
	}
	if err != nil {
		fail(err)
	}
	r.log.Info("configuration checked", "generation", m.Generation, "ok", res.OK, "error", res.Error)
	r.status.ConfigCheck = &res
	msg := fmt.Sprintf("configuration generation %d accepted", m.Generation)
	if !res.OK {
		msg = fmt.Sprintf("configuration generation %d refused: %s", m.Generation, firstLine(res.Error))
	}
	r.e.update(r.info.TaskID, mesos.TASK_RUNNING, nil, msg, nodetask.MarshalStatus(r.status))
}

// clusterCommandTimeout bounds one cluster command; a devnode leave, which
// returns after the handoff, has DevnodeLeaveTimeout of its own.
const clusterCommandTimeout = DevnodeLeaveTimeout + time.Minute

// leave makes the running node leave its cluster: the live record goes
// first (directors drain the node), then the plan's leave commands run;
// the node hands off its data and exits by itself, and the task ends
// TASK_FINISHED. If the commands fail, the node keeps running as a member
// (the live record comes back with the next good health check) and the
// scheduler asks again. It reports whether the node left and stopped.
func (r *runner) leave(plan Plan, proc *process) bool {
	r.log.Info("leaving the cluster")
	r.deregister()
	r.e.update(r.info.TaskID, mesos.TASK_RUNNING, nil, "leaving the cluster: handing off data", nil)
	if err := r.runCommands(plan.Leave, "leave", commandAttempts); err != nil {
		if r.isKilled() {
			return false
		}
		r.log.Warn("leave failed", "err", err)
		r.e.update(r.info.TaskID, mesos.TASK_RUNNING, nil, "leave failed, still a member: "+err.Error(), nil)
		return false
	}
	r.e.update(r.info.TaskID, mesos.TASK_RUNNING, nil, "left the cluster; waiting for the node to stop", nil)
	select {
	case <-proc.done:
		r.finish(mesos.TASK_FINISHED, nil, "left the cluster; the node stopped")
	case <-r.killCtx.Done():
		r.stopAndReportKilled(proc)
	}
	return true
}

// register writes the live record (ephemeral, kept across ZooKeeper
// sessions until deregister).
func (r *runner) register(rec zkstate.LiveRecord) error {
	ctx, cancel := context.WithTimeout(r.killCtx, 30*time.Second)
	defer cancel()
	if r.lock != nil { // a lost lock ends the attempt too: the node is being stopped
		go func() {
			select {
			case <-r.lock.Lost():
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	reg, err := r.fw.RegisterLive(ctx, r.cluster, rec)
	if err != nil {
		return err
	}
	r.live, r.liveRec = reg, rec
	r.log.Info("live record registered", "path", reg.Path())
	return nil
}

// stopNode stops the node with grace after SIGTERM.
func (r *runner) stopNode(proc *process, grace time.Duration) bool {
	return proc.stop(context.Background(), grace, r.shorter)
}

// stopAndReportKilled deregisters, stops the node with the kill's grace and
// reports TASK_KILLED.
func (r *runner) stopAndReportKilled(proc *process) {
	r.deregister()
	grace := r.killGrace()
	how := "stopped gracefully"
	if !r.stopNode(proc, grace) {
		how = fmt.Sprintf("killed (SIGKILL) after a grace period of %v", grace)
	}
	r.finish(mesos.TASK_KILLED, nil, "node "+how)
}

// monitor watches the running node until it exits or is killed; failed
// pings take the live record away until the node answers again.
func (r *runner) monitor(t nodetask.Task, plan Plan, proc *process, pb string, rec zkstate.LiveRecord) {
	tick := time.NewTicker(r.e.cfg.HealthInterval)
	defer tick.Stop()
	transfers := time.NewTicker(r.e.cfg.TransfersInterval)
	defer transfers.Stop()
	r.watchTransfers()
	failures := 0
	for {
		select {
		case <-transfers.C:
			r.watchTransfers()
		case m := <-r.checkReq:
			r.checkConfig(t, r.sandbox, m)
		case <-proc.done:
			r.deregister()
			r.finish(mesos.TASK_FAILED, nil, r.failMsg(failure(t, proc, "while running")))
			return
		case <-r.killCtx.Done():
			r.stopAndReportKilled(proc)
			return
		case <-r.leaveReq:
			if r.leave(plan, proc) || r.isKilled() {
				if !r.ended {
					r.stopAndReportKilled(proc)
				}
				return
			}
		case <-tick.C:
			if err := Ping(r.killCtx, pb, 2*time.Second); err != nil {
				if r.isKilled() || proc.exited() {
					continue
				}
				failures++
				r.log.Warn("health ping failed", "err", err, "failures", failures)
				if failures == healthFailures && r.live != nil {
					r.log.Warn("node stopped answering; live record withdrawn")
					r.withdraw()
				}
				continue
			}
			failures = 0
			if r.live == nil {
				if err := r.register(rec); err != nil {
					r.log.Warn("re-register live record", "err", err)
				} else {
					r.log.Info("node answers again; live record registered")
				}
			}
		}
	}
}
