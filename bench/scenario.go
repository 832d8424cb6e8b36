package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Compare scenarios: the condition of the cluster while a target is
// measured.
const (
	// ScenarioSteady: every node healthy.
	ScenarioSteady = "steady"
	// ScenarioDegraded: the last node is frozen DutyStop of every
	// DutyPeriod (SIGSTOP, then SIGCONT) for the whole measured window.
	ScenarioDegraded = "degraded"
	// ScenarioKill9: a quarter into the measured window the last node is
	// killed (SIGKILL) and started again on its data RestartAfter later.
	ScenarioKill9 = "kill9"
)

// Scenarios lists the compare scenarios in report order.
var Scenarios = []string{ScenarioSteady, ScenarioDegraded, ScenarioKill9}

// TargetDirectHealthy is the degraded scenario's floor: workers spread
// over the nodes that are not degraded, what a perfect balancer could
// reach. Compare adds it next to direct in that scenario.
const TargetDirectHealthy = "direct-healthy"

// Defaults of the fault scenarios.
const (
	DefaultDutyPeriod   = 100 * time.Millisecond
	DefaultDutyStop     = 50 * time.Millisecond
	DefaultRestartAfter = 2 * time.Second
)

// ErrBadScenario is returned for an unknown compare scenario.
var ErrBadScenario = errors.New("bench: bad scenario")

// ParseScenarios parses scenario names, each value possibly a
// comma-separated list (--scenario given several times); none means
// steady. The result keeps the order given, without repeats.
func ParseScenarios(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if !slices.Contains(Scenarios, s) {
				return nil, fmt.Errorf("%w: %q (want %s)", ErrBadScenario, s, strings.Join(Scenarios, ", "))
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		out = []string{ScenarioSteady}
	}
	return out, nil
}

// FaultInfo is what a fault injector did during one measurement.
type FaultInfo struct {
	// Kind is the scenario's fault: "duty-cycle" or "kill9".
	Kind string `json:"kind"`
	// Victim is the faulted node's process name.
	Victim string `json:"victim"`
	// Cycles counts the SIGSTOPs of a duty cycle.
	Cycles int `json:"cycles,omitempty"`
	// KilledAtS and BackAtS are seconds since the measured window began:
	// the SIGKILL, and the restarted node answering a ping.
	KilledAtS float64 `json:"killed_at_s,omitempty"`
	BackAtS   float64 `json:"back_at_s,omitempty"`
}

// dutyCycle freezes a process stop of every period: SIGSTOP at the start
// of each period, SIGCONT stop later. Stop ends it and always leaves the
// process running.
type dutyCycle struct {
	pid    int
	halt   chan struct{}
	done   chan struct{}
	once   sync.Once
	cycles int
}

// startDutyCycle starts freezing pid; call Stop (it is safe to call more
// than once).
func startDutyCycle(pid int, period, stop time.Duration) *dutyCycle {
	d := &dutyCycle{pid: pid, halt: make(chan struct{}), done: make(chan struct{})}
	go d.loop(period, stop)
	return d
}

// loop is the duty cycle's goroutine: deadlines are absolute (start +
// k*period), so a late wakeup does not stretch the cycle.
func (d *dutyCycle) loop(period, stop time.Duration) {
	defer close(d.done)
	defer func() { _ = syscall.Kill(d.pid, syscall.SIGCONT) }()
	t := time.NewTimer(0)
	defer t.Stop()
	wait := func(until time.Time) bool {
		t.Reset(time.Until(until))
		select {
		case <-d.halt:
			return false
		case <-t.C:
			return true
		}
	}
	start := time.Now()
	for k := 0; ; k++ {
		begin := start.Add(time.Duration(k) * period)
		if !wait(begin) {
			return
		}
		if err := syscall.Kill(d.pid, syscall.SIGSTOP); err != nil {
			return // the process is gone
		}
		d.cycles++
		if !wait(begin.Add(stop)) {
			return
		}
		_ = syscall.Kill(d.pid, syscall.SIGCONT)
	}
}

// Stop ends the duty cycle, sends the process a last SIGCONT and returns
// the number of SIGSTOPs sent.
func (d *dutyCycle) Stop() int {
	d.once.Do(func() { close(d.halt) })
	<-d.done
	_ = syscall.Kill(d.pid, syscall.SIGCONT)
	return d.cycles
}

// killRestart is the kill9 fault: after at, SIGKILL the victim, and
// after a further restartAfter start it again (restart waits until the
// new process answers). Wait returns once it is over.
type killRestart struct {
	halt     chan struct{}
	done     chan struct{}
	once     sync.Once
	err      error
	start    time.Time
	killedAt time.Duration
	backAt   time.Duration
}

// killRestartHooks are what killRestart acts on.
type killRestartHooks struct {
	// victim is the process to kill.
	victim *Proc
	// beforeKill is called just before the SIGKILL (to read its CPU
	// time), exited once the victim has exited (to drop it from its
	// ProcSet); either may be nil.
	beforeKill, exited func(p *Proc)
	// restart starts the node again and waits until it answers.
	restart func(ctx context.Context) (*Proc, error)
}

func startKillRestart(ctx context.Context, at, restartAfter time.Duration, h killRestartHooks) *killRestart {
	k := &killRestart{halt: make(chan struct{}), done: make(chan struct{}), start: time.Now()}
	go k.run(ctx, at, restartAfter, h)
	return k
}

func (k *killRestart) run(ctx context.Context, at, restartAfter time.Duration, h killRestartHooks) {
	defer close(k.done)
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-k.halt:
			return false
		case <-t.C:
			return true
		}
	}
	if !sleep(at) {
		return // stopped before the fault: nothing to undo
	}
	k.killedAt = time.Since(k.start)
	if h.beforeKill != nil {
		h.beforeKill(h.victim)
	}
	_ = h.victim.Signal(syscall.SIGKILL)
	<-h.victim.Done()
	if h.exited != nil {
		h.exited(h.victim)
	}
	// Past the kill the node must come back, even if the measurement has
	// ended: only ctx (SIGINT) cuts the delay short.
	t := time.NewTimer(restartAfter)
	select {
	case <-ctx.Done():
		t.Stop()
		k.err = ctx.Err()
		return
	case <-t.C:
	}
	if _, err := h.restart(ctx); err != nil {
		k.err = fmt.Errorf("bench: kill9: restart %s: %w", h.victim.Name(), err)
		return
	}
	k.backAt = time.Since(k.start)
}

// Wait stops a fault that has not happened yet, waits for one under way
// to finish (the node restarted) and returns its error.
func (k *killRestart) Wait() error {
	k.once.Do(func() { close(k.halt) })
	<-k.done
	return k.err
}
