package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/scheduler"
)

// TestRelaunchFlags: bad relaunch backoff settings, as flags or RMF_*
// variables, are usage errors (exit 2, one line) before anything is
// dialled; good ones reach the scheduler's Config, 0 tries meaning never
// give up.
func TestRelaunchFlags(t *testing.T) {
	base := []string{"scheduler", "--zk", "127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"zero min", []string{"--relaunch-backoff-min", "0s"}, nil, "--relaunch-backoff-min 0s: want > 0"},
		{"negative min", []string{"--relaunch-backoff-min", "-1s"}, nil, "want > 0"},
		{"max below min", []string{"--relaunch-backoff-min", "2m", "--relaunch-backoff-max", "1m"}, nil, "--relaunch-backoff-max 1m0s is below --relaunch-backoff-min 2m0s"},
		{"min above the default max", []string{"--relaunch-backoff-min", "5m"}, nil, "is below --relaunch-backoff-min"},
		{"negative tries", []string{"--relaunch-max-tries", "-1"}, nil, "--relaunch-max-tries -1: want >= 0"},
		{"not a duration", []string{"--relaunch-backoff-max", "soon"}, nil, `invalid argument "soon" for "--relaunch-backoff-max"`},
		{"negative tries from the environment", nil, map[string]string{"RMF_RELAUNCH_MAX_TRIES": "-3"}, "--relaunch-max-tries -3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			code := run(append(append([]string{}, base...), tc.args...), &out, &errb)
			if code != exitUsage || !strings.Contains(errb.String(), tc.want) || strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want %d with %q on one line", code, errb.String(), exitUsage, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		name  string
		flags relaunchFlags
		want  scheduler.Config
	}{
		{"defaults", relaunchFlags{time.Second, time.Minute, 10}, scheduler.Config{RelaunchDelay: time.Second, MaxRelaunchDelay: time.Minute, MaxRelaunches: 10}},
		{"never give up", relaunchFlags{time.Second, time.Second, 0}, scheduler.Config{RelaunchDelay: time.Second, MaxRelaunchDelay: time.Second, MaxRelaunches: scheduler.NoRelaunchLimit}},
	} {
		var cfg scheduler.Config
		if err := tc.flags.apply(&cfg); err != nil || cfg.RelaunchDelay != tc.want.RelaunchDelay || cfg.MaxRelaunchDelay != tc.want.MaxRelaunchDelay || cfg.MaxRelaunches != tc.want.MaxRelaunches {
			t.Errorf("%s: %v, config %+v", tc.name, err, cfg)
		}
	}
}
