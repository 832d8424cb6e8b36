package chaos

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/rmf-go/rmf/internal/zkstate"
	"github.com/rmf-go/rmf/scheduler"
)

// frameworkScenario is one framework-level scenario: the stack it runs on,
// how to inject its fault, how to tell that the framework recovered, which
// relaunches it allows and what else it checks.
type frameworkScenario struct {
	// strict runs the schedulers with --fencing strict (default volume).
	strict bool
	// executorSession is the executors' ZooKeeper session timeout (0: their
	// default, zkstate.DefaultSessionTimeout).
	executorSession time.Duration
	// partition puts a testutil.Proxy between the executors and ZooKeeper.
	partition bool

	// inject brings the fault about and ends it where the scenario does
	// (the agent back, ZooKeeper started again, the partition healed). An
	// error ends the scenario.
	inject func(r *fwRun) error
	// recovered waits for the scenario's end state and notes how long it
	// took; false when it did not come (a problem is noted). An error ends
	// the scenario.
	recovered func(r *fwRun) (bool, error)
	// checks run once the framework has recovered, in order.
	checks []func(r *fwRun) error
	// invariants are checked after recovered, whatever its outcome.
	invariants []func(r *fwRun)
	// relaunches are the relaunches each node may have (nil: none).
	relaunches func(r *fwRun) map[string]int
	// quietDataPlane: no operation may fail (volume fencing keeps ZooKeeper
	// out of the data plane).
	quietDataPlane bool
	// readsMayFail reports whether the scenario stops every node by design
	// (nil: never).
	readsMayFail func(r *fwRun) bool
}

// frameworkScenarios is the table of framework-level scenarios; each is
// documented at its name.
var frameworkScenarios = map[string]frameworkScenario{
	ScenarioAgent: {inject: stopAgent, recovered: victimRunningAgain, checks: checks(onItsOwnAgent),
		relaunches: victimOnce},
	ScenarioScheduler: {inject: killLeader, recovered: standbyLeads, checks: checks(restartKilledScheduler)},
	ScenarioZooKeeper: {inject: zooKeeperOutage, recovered: zooKeeperBack, checks: checks(sameNodeProcesses, fourthNodeRuns),
		quietDataPlane: true},
	ScenarioZooKeeperStrict: {strict: true, inject: zooKeeperOutage, recovered: zooKeeperBack,
		relaunches: everyNodeOnceIfFenced, readsMayFail: fencedThrough},
	ScenarioZooKeeperLongSession: {strict: true, executorSession: longExecutorSession, inject: zooKeeperOutage, recovered: zooKeeperBack,
		relaunches: everyNodeOnceIfFenced, readsMayFail: fencedThrough},
	ScenarioPartition: {partition: true, inject: partitionExecutor, recovered: executorHoldsLockAgain,
		invariants: []func(*fwRun){victimProcessKept}, quietDataPlane: true},
	ScenarioPartitionStrict: {partition: true, strict: true, inject: partitionExecutor, recovered: victimRelaunchedHoldingLock,
		relaunches: victimOnce},
	ScenarioRolling: {inject: rollingRestart, recovered: everyNodeRestarted, relaunches: everyNodeOnce},
	ScenarioScale:   {inject: addFourthNode, recovered: scaledOutAndIn},
}

func checks(fs ...func(r *fwRun) error) []func(r *fwRun) error { return fs }

// fourthNode is the node the zookeeper and scale scenarios add.
const fourthNode = "riak-" + chaosClusterName + "-4"

// ---- agent ----

// stopAgent stops the victim's agent for AgentDown, then starts it again.
func stopAgent(r *fwRun) error {
	idx := strconv.Itoa(slices.Index(r.s.m.AgentIDs(), r.victim.Agent) + 1)
	r.logf("stopping agent %s (%s), which runs %s, for %v", idx, r.victim.Agent, r.victim.Name, r.cfg.AgentDown)
	if err := r.s.m.StopAgent(idx); err != nil {
		return err
	}
	sleepCtx(r.ctx, r.cfg.AgentDown)
	if err := r.s.m.RestartAgent(idx); err != nil {
		return err
	}
	r.logf("agent %s back after %s", idx, r.since())
	return nil
}

func victimRunningAgain(r *fwRun) (bool, error) {
	if !r.await(90*time.Second, r.victim.Name+" running again", func() bool {
		n, ok := r.node(r.victim.Name)
		return ok && n.State == "running" && n.TaskID != r.victim.TaskID && r.s.serving(3)
	}) {
		return false, nil
	}
	r.note("agent down %v; %s running again on the same agent and volume %s after the stop", r.cfg.AgentDown, r.victim.Name, r.since())
	return true, nil
}

func onItsOwnAgent(r *fwRun) error {
	if n, _ := r.node(r.victim.Name); n.Agent != r.victim.Agent {
		r.problem("%s came back on agent %s, not on its own %s (and volume)", r.victim.Name, n.Agent, r.victim.Agent)
	}
	return nil
}

// ---- scheduler ----

func killLeader(r *fwRun) error {
	l := r.s.leader()
	r.logf("SIGKILL the leading scheduler %s (pid %d)", l.p.Name(), l.p.PID())
	_ = l.p.Signal(syscall.SIGKILL)
	<-l.p.Done()
	return nil
}

func standbyLeads(r *fwRun) (bool, error) {
	if !r.await(60*time.Second, "the standby to lead", func() bool { return r.s.leader() != nil }) {
		return false, nil
	}
	r.note("standby led after %s", r.since())
	return true, nil
}

// restartKilledScheduler starts the killed scheduler again, as the new
// standby.
func restartKilledScheduler(r *fwRun) error {
	for _, in := range r.s.scheds {
		select {
		case <-in.p.Done():
			if _, err := r.s.startScheduler(r.ctx, in.p.Name()+"-again"); err != nil {
				r.problem("restart the killed scheduler as a standby: %v", err)
			}
			return nil
		default:
		}
	}
	return nil
}

// ---- zookeeper, zookeeper-strict, zookeeper-long-session ----

// session is the executors' ZooKeeper session timeout.
func (r *fwRun) session() time.Duration {
	if r.sc.executorSession > 0 {
		return r.sc.executorSession
	}
	return zkstate.DefaultSessionTimeout
}

// fencedThrough reports whether strict executors stop their nodes during
// the outage: ZooKeeper stays silent for half their session or longer.
func fencedThrough(r *fwRun) bool { return r.sc.strict && r.cfg.ZKOutage >= r.session()/2 }

// zooKeeperOutage kill -9s ZooKeeper for ZKOutage and starts it again on
// its data.
func zooKeeperOutage(r *fwRun) error {
	r.logf("SIGKILL ZooKeeper (pid %d) for %v; fencing %s, the executors' session timeout is %v", r.s.zk.PID(), r.cfg.ZKOutage, r.s.fencing, r.session())
	r.s.zk.Stop()
	sleepCtx(r.ctx, r.cfg.ZKOutage)
	if err := r.s.zk.Start(); err != nil {
		return fmt.Errorf("zookeeper again: %w", err)
	}
	r.logf("ZooKeeper back after %s", r.since())
	return nil
}

func zooKeeperBack(r *fwRun) (bool, error) {
	if !r.await(120*time.Second, "3 nodes answering and their 3 live records", func() bool { return r.s.serving(3) && r.s.live(r.ctx) == 3 }) {
		return false, nil
	}
	r.note("ZooKeeper down %v, fencing %s, executors' session %v; 3 nodes answering and registered %s after the kill", r.cfg.ZKOutage, r.s.fencing, r.session(), r.since())
	return true, nil
}

// everyNodeOnceIfFenced: fenced executors fail; each node is relaunched at
// most once.
func everyNodeOnceIfFenced(r *fwRun) map[string]int {
	if !fencedThrough(r) {
		return nil
	}
	return everyNodeOnce(r)
}

// sameNodeProcesses: with volume fencing no node process restarts through
// the outage.
func sameNodeProcesses(r *fwRun) error {
	if after := devnodeProcs(r.s.dir); !maps.EqualFunc(r.pids, after, slices.Equal) {
		r.problem("node processes restarted through the outage: before %v, after %v", r.pids, after)
	} else {
		r.note("the same node processes before and after (%v)", after)
	}
	return nil
}

// fourthNodeRuns: the framework works again, a fourth node joins.
func fourthNodeRuns(r *fwRun) error {
	if err := r.s.clusterCall("POST", "/nodes"); err != nil {
		r.problem("add a fourth node after the outage: %v", err)
		return nil
	}
	addAt := time.Now()
	if r.await(90*time.Second, "a fourth node added after the outage answering", func() bool { return r.s.serving(4) && r.s.live(r.ctx) == 4 }) {
		r.note("a fourth node added after the outage ran %s later", time.Since(addAt).Round(100*time.Millisecond))
	}
	return nil
}

// ---- partition, partition-strict ----

// partitionExecutor cuts the victim's executor off from ZooKeeper for
// PartitionFor.
func partitionExecutor(r *fwRun) error {
	pids := r.pids[r.victim.Name]
	if len(pids) != 1 {
		return fmt.Errorf("%s: node processes %v, want one", r.victim.Name, pids)
	}
	exe, err := parentPID(pids[0])
	if err != nil {
		return err
	}
	r.logf("cutting the executor of %s (pid %d, node pid %d) off from ZooKeeper for %v; fencing %s", r.victim.Name, exe, pids[0], r.cfg.PartitionFor, r.s.fencing)
	r.s.part.BlockClients(ownedBy(exe))
	sleepCtx(r.ctx, r.cfg.PartitionFor)
	r.s.part.Unblock()
	r.logf("partition healed after %s", r.since())
	return nil
}

// holdsLock reports whether task holds the victim's node lock.
func (r *fwRun) holdsLock(task string) bool {
	ctx, cancel := context.WithTimeout(r.ctx, 2*time.Second)
	defer cancel()
	h, err := r.s.fw.NodeLockHolder(ctx, chaosClusterName, r.victim.Name)
	return err == nil && h != nil && h.TaskID == task
}

func executorHoldsLockAgain(r *fwRun) (bool, error) {
	if !r.await(60*time.Second, r.victim.Name+"'s executor holding its lock again, 3 live records", func() bool {
		return r.holdsLock(r.victim.TaskID) && r.s.live(r.ctx) == 3 && r.s.serving(3)
	}) {
		return false, nil
	}
	r.note("%s cut off from ZooKeeper for %v; its executor holds the lock again %s after the cut", r.victim.Name, r.cfg.PartitionFor, r.since())
	return true, nil
}

// victimProcessKept: with volume fencing the cut-off node keeps running.
func victimProcessKept(r *fwRun) {
	pids := r.pids[r.victim.Name]
	if after := devnodeProcs(r.s.dir)[r.victim.Name]; !slices.Equal(after, pids) {
		r.problem("%s's node process changed through the partition: %v, then %v", r.victim.Name, pids, after)
	}
}

func victimRelaunchedHoldingLock(r *fwRun) (bool, error) {
	if !r.await(90*time.Second, r.victim.Name+" relaunched, holding the lock", func() bool {
		n, ok := r.node(r.victim.Name)
		return ok && n.TaskID != r.victim.TaskID && n.State == "running" && r.holdsLock(n.TaskID) && r.s.serving(3)
	}) {
		return false, nil
	}
	r.note("%s cut off from ZooKeeper for %v: stopped, relaunched and holding the lock %s after the cut", r.victim.Name, r.cfg.PartitionFor, r.since())
	return true, nil
}

// ---- rolling ----

func rollingRestart(r *fwRun) error {
	r.logf("rolling restart")
	return r.s.clusterCall("POST", "/restart")
}

func everyNodeRestarted(r *fwRun) (bool, error) {
	if !r.await(180*time.Second, "every node restarted", func() bool {
		ns := r.s.nodes()
		return len(ns) == 3 && !slices.ContainsFunc(ns, func(n scheduler.NodeView) bool { return n.State != "running" || n.Generation != 1 }) && r.s.serving(3)
	}) {
		return false, nil
	}
	r.note("3 nodes restarted one at a time in %s", r.since())
	return true, nil
}

// ---- scale ----

func addFourthNode(r *fwRun) error {
	r.logf("adding a fourth node")
	return r.s.clusterCall("POST", "/nodes")
}

// scaledOutAndIn waits for the fourth node to answer, removes it and waits
// until it has left.
func scaledOutAndIn(r *fwRun) (bool, error) {
	if !r.await(90*time.Second, "4 nodes answering", func() bool { return r.s.serving(4) }) {
		return false, nil
	}
	added := r.since()
	sleepCtx(r.ctx, 2*time.Second) // some load on four
	r.logf("removing %s", fourthNode)
	if err := r.s.clusterCall("DELETE", "/nodes/"+fourthNode); err != nil {
		return false, err
	}
	if !r.await(120*time.Second, fourthNode+" left and removed", func() bool { return r.s.serving(3) }) {
		return false, nil
	}
	r.note("4th node running %s after the add; left (data handed off) and removed %s after the add", added, r.since())
	return true, nil
}

// ---- relaunches ----

func victimOnce(r *fwRun) map[string]int { return map[string]int{r.victim.Name: 1} }

// everyNodeOnce allows each node of the cluster before the fault one
// relaunch.
func everyNodeOnce(r *fwRun) map[string]int {
	m := map[string]int{}
	for _, n := range r.before {
		m[n.Name] = 1
	}
	return m
}
