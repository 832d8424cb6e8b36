package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rmf-go/rmf/internal/zkstate"
)

// NoRelaunchLimit as Config.MaxRelaunches: a failing node is relaunched
// forever (with backoff), never given up on.
const NoRelaunchLimit = -1

// gaveUpPrefix starts the message recorded on a node given up on: the
// record says so, and a new leader keeps holding the node.
const gaveUpPrefix = "gave up relaunching: "

// retryAsked replaces the message of a node given up on when a restart is
// asked (on any instance): the leader reads it as the end of the hold.
const retryAsked = "relaunch asked after the scheduler gave up"

// validateRelaunch checks the relaunch backoff (after defaults).
func (c *Config) validateRelaunch() error {
	switch {
	case c.RelaunchDelay <= 0:
		return fmt.Errorf("scheduler: relaunch delay %v: want > 0", c.RelaunchDelay)
	case c.MaxRelaunchDelay < c.RelaunchDelay:
		return fmt.Errorf("scheduler: maximum relaunch delay %v is below the first delay %v", c.MaxRelaunchDelay, c.RelaunchDelay)
	case c.MaxRelaunches < NoRelaunchLimit:
		return fmt.Errorf("scheduler: max relaunches %d: want > 0, or NoRelaunchLimit", c.MaxRelaunches)
	}
	return nil
}

// relaunchDelay is the wait before the relaunch that follows the
// attempts-th failure in a row: RelaunchDelay doubling to MaxRelaunchDelay
// (saturating, never overflowing).
func (c *Config) relaunchDelay(attempts int) time.Duration {
	d := c.RelaunchDelay
	for i := 1; i < attempts && d < c.MaxRelaunchDelay; i++ {
		if d > c.MaxRelaunchDelay/2 {
			return c.MaxRelaunchDelay
		}
		d *= 2
	}
	return min(d, c.MaxRelaunchDelay)
}

// givesUp says whether the attempts-th failure in a row is the last one
// relaunched for.
func (c *Config) givesUp(attempts int) bool {
	return c.MaxRelaunches != NoRelaunchLimit && attempts >= c.MaxRelaunches
}

// gaveUpRecorded says whether n's record says it was given up on.
func gaveUpRecorded(n zkstate.NodeRecord) bool {
	return n.ObservedState == zkstate.ObservedFailed && n.TaskID == "" && strings.HasPrefix(n.Message, gaveUpPrefix)
}

// gaveUpMessage is the message recorded on a node given up on after
// attempts failures in a row (last: the last task's message).
func gaveUpMessage(attempts int, last string) string {
	msg := fmt.Sprintf("%s%d failures in a row (the relaunch limit); restart the node to try again", gaveUpPrefix, attempts)
	if last != "" {
		msg += "; last: " + last
	}
	return clip(msg, maxEventText)
}

// recordGaveUp writes on node n's record that it was given up on, unless
// the record moved on meanwhile (another task, another state).
func (s *Scheduler) recordGaveUp(ctx context.Context, n zkstate.NodeRecord, attempts int) {
	_, _, err := s.fw.ModifyNode(ctx, n.Cluster, n.Name, func(rec *zkstate.NodeRecord) error {
		if rec.TaskID != "" || rec.ObservedState != zkstate.ObservedFailed {
			return errStale
		}
		rec.Message = gaveUpMessage(attempts, rec.Message)
		return nil
	})
	if err != nil && !errors.Is(err, errStale) {
		s.log.Warn("record that a node was given up on", "cluster", n.Cluster, "node", n.Name, "err", err)
	}
}

// retryGivenUp gives a node that was given up on a new round of
// relaunches (POST .../restart): its backoff is reset and its record's
// message set to retryAsked, which the leader, if this is a standby,
// reads as the end of the hold (rt).
func (s *Scheduler) retryGivenUp(ctx context.Context, n zkstate.NodeRecord) (zkstate.NodeRecord, error) {
	s.mu.Lock()
	r := s.rt(n)
	r.attempts, r.gaveUp, r.nextTry = 0, false, time.Time{}
	s.mu.Unlock()
	rec, _, err := s.fw.ModifyNode(ctx, n.Cluster, n.Name, func(rec *zkstate.NodeRecord) error {
		if strings.HasPrefix(rec.Message, gaveUpPrefix) {
			rec.Message = retryAsked
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	s.log.Info("relaunching a node given up on, as asked", "cluster", n.Cluster, "node", n.Name)
	s.Nudge()
	return rec, nil
}
