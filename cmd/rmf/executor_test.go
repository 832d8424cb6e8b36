package main

import (
	"bytes"
	"strings"
	"testing"
)

// Outside a Mesos agent (no MESOS_* environment) the executor refuses to
// start with a usage error naming what is missing.
func TestExecutorNeedsMesosEnvironment(t *testing.T) {
	for _, k := range []string{"MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID", "MESOS_DIRECTORY", "MESOS_SANDBOX", "MESOS_AGENT_ENDPOINT", "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"} {
		t.Setenv(k, "")
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"executor"}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("exit code %d, want %d (stderr %q)", code, exitUsage, stderr.String())
	}
	if !strings.Contains(stderr.String(), "MESOS_FRAMEWORK_ID") || !strings.Contains(stderr.String(), "Mesos agent") {
		t.Errorf("stderr %q", stderr.String())
	}
}
