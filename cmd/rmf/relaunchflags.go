package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/rmf-go/rmf/scheduler"
)

// relaunchFlags are the scheduler's relaunch backoff and give-up
// (--relaunch-backoff-min, --relaunch-backoff-max, --relaunch-max-tries,
// as kafka-mesos has them).
type relaunchFlags struct {
	min, max time.Duration
	tries    int
}

func (r *relaunchFlags) register(f *pflag.FlagSet) {
	f.DurationVar(&r.min, "relaunch-backoff-min", scheduler.DefaultRelaunchDelay, "wait before relaunching a failed node; doubles with each failure in a row")
	f.DurationVar(&r.max, "relaunch-backoff-max", scheduler.DefaultMaxRelaunch, "longest wait before relaunching a failed node")
	f.IntVar(&r.tries, "relaunch-max-tries", scheduler.DefaultMaxRelaunches, "give up on a node (left failed until rmf node restart) after this many failures in a row; 0: never give up")
}

// apply checks the flags (usage errors) and sets them in cfg.
func (r *relaunchFlags) apply(cfg *scheduler.Config) error {
	switch {
	case r.min <= 0:
		return usageErrorf("--relaunch-backoff-min %v: want > 0", r.min)
	case r.max < r.min:
		return usageErrorf("--relaunch-backoff-max %v is below --relaunch-backoff-min %v", r.max, r.min)
	case r.tries < 0:
		return usageErrorf("--relaunch-max-tries %d: want >= 0 (0: never give up)", r.tries)
	}
	cfg.RelaunchDelay, cfg.MaxRelaunchDelay, cfg.MaxRelaunches = r.min, r.max, r.tries
	if r.tries == 0 {
		cfg.MaxRelaunches = scheduler.NoRelaunchLimit
	}
	return nil
}
