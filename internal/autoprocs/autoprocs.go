// Package autoprocs sizes GOMAXPROCS to a process's load: one P while the
// process is light, every CPU while it is busy.
//
// For a proxy the choice matters both ways. At a sidecar's load each
// request wakes the process twice, and with a second P the Go scheduler
// also wakes and spins a second thread for most of them: one P costs
// 10-20% less CPU per request. At saturation one P caps the throughput
// (one thread does every system call while the cores are free), and
// every CPU gives 1.2-1.4 times as much. So Run starts with one P, and
// moves to Max when the process has used more than Up of a CPU for
// UpAfter samples in a row, back to one below Down for DownAfter.
package autoprocs

import (
	"context"
	"runtime"
	"time"
)

// Policy says when to change GOMAXPROCS. Zero fields take the defaults.
type Policy struct {
	// Max is GOMAXPROCS when busy (default: runtime.NumCPU()).
	Max int
	// Interval is the sampling period (default 250ms).
	Interval time.Duration
	// Up and Down are CPU use, in CPUs (1.0: one CPU all the time), above
	// which the process counts as busy and below which as light (default
	// 0.5 and 0.25: the gap keeps a load between them where it is).
	Up, Down float64
	// UpAfter and DownAfter are how many samples in a row must say so
	// (default 2 and 8: quick to add a P under load, slow to take it back).
	UpAfter, DownAfter int
}

// Defaults of Policy.
const (
	DefaultInterval  = 250 * time.Millisecond
	DefaultUp        = 0.5
	DefaultDown      = 0.25
	DefaultUpAfter   = 2
	DefaultDownAfter = 8
)

func (p Policy) withDefaults() Policy {
	if p.Max <= 0 {
		p.Max = runtime.NumCPU()
	}
	if p.Interval <= 0 {
		p.Interval = DefaultInterval
	}
	if p.Up <= 0 {
		p.Up = DefaultUp
	}
	if p.Down <= 0 || p.Down > p.Up {
		p.Down = min(DefaultDown, p.Up)
	}
	if p.UpAfter <= 0 {
		p.UpAfter = DefaultUpAfter
	}
	if p.DownAfter <= 0 {
		p.DownAfter = DefaultDownAfter
	}
	return p
}

// State is where the decision stands: the current GOMAXPROCS and how
// many samples in a row were busy or light.
type State struct {
	Procs       int
	Busy, Light int
}

// Next is the decision after one sample of CPU use (in CPUs): the new
// state, whose Procs is what GOMAXPROCS should be.
func (p Policy) Next(s State, use float64) State {
	switch {
	case use > p.Up:
		s.Busy, s.Light = s.Busy+1, 0
	case use < p.Down:
		s.Busy, s.Light = 0, s.Light+1
	default:
		s.Busy, s.Light = 0, 0
	}
	switch {
	case s.Procs < p.Max && s.Busy >= p.UpAfter:
		s.Procs, s.Busy = p.Max, 0
	case s.Procs > 1 && s.Light >= p.DownAfter:
		s.Procs, s.Light = 1, 0
	}
	return s
}

// Run sets GOMAXPROCS to 1, then to what Policy.Next says after each
// sample of the process's CPU time, until ctx ends; it then restores the
// GOMAXPROCS it found. onChange, if not nil, hears of each change.
func Run(ctx context.Context, p Policy, onChange func(procs int, use float64)) {
	if cpuTime() < 0 { // no CPU meter here: leave GOMAXPROCS alone
		return
	}
	run(ctx, p.withDefaults(), cpuTime, time.Now, runtime.GOMAXPROCS, onChange)
}

// run is Run with its clock, CPU meter and GOMAXPROCS setter given.
func run(ctx context.Context, p Policy, cpu func() time.Duration, now func() time.Time, set func(int) int, onChange func(int, float64)) {
	defer set(set(1))
	s := State{Procs: 1}
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	lastCPU, lastAt := cpu(), now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, at := cpu(), now()
		wall := at.Sub(lastAt)
		if wall <= 0 {
			continue
		}
		use := float64(c-lastCPU) / float64(wall)
		lastCPU, lastAt = c, at
		next := p.Next(s, use)
		if next.Procs != s.Procs {
			set(next.Procs)
			if onChange != nil {
				onChange(next.Procs, use)
			}
		}
		s = next
	}
}
