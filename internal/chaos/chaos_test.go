package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.CleanupRMF()
	os.Exit(code)
}

// TestChaosShort is the short form of the fault suite (make chaos): kill9,
// sigstop and zookeeper for a few seconds each, with rmf processes. No
// acknowledged write may be lost and no read may fail.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rmf and runs devnode and director processes")
	}
	bin := testutil.RMF(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log strings.Builder
	// The framework scenario: ZooKeeper down 8 s with the default
	// volume fencing: no operation fails, the node processes stay the
	// same, none is relaunched, and a fourth node added afterwards runs.
	rs, err := Run(ctx, Config{Bin: bin, Scenarios: []string{ScenarioKill9, ScenarioSIGSTOP, ScenarioZooKeeper}, Duration: 12 * time.Second,
		StopFor: 4 * time.Second, ZKOutage: 8 * time.Second, Workers: 8, Log: &log, AgentResources: testutil.AgentResources(t)})
	if err != nil {
		t.Fatalf("chaos: %v\n%s", err, log.String())
	}
	var table strings.Builder
	if err := WriteTable(&table, rs); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", table.String())
	for _, r := range rs {
		if r.Writes == 0 || r.Reads == 0 {
			t.Errorf("%s: no load went through (%+v)", r.Scenario, r)
		}
		if !r.Passed() {
			t.Errorf("%s: %d lost acknowledged writes, %d failed reads, problems %q\n%s", r.Scenario, r.LostWrites, r.FailedReads, r.Problems, log.String())
		}
	}
}

func TestChaosTableAndDocs(t *testing.T) {
	rs := []Result{
		{Scenario: "kill9", Level: LevelNode, Seconds: 30, Writes: 100, Reads: 100, FailedWrites: 2},
		{Scenario: "sigstop", Level: LevelNode, Seconds: 30, Writes: 90, Reads: 80, FailedReads: 3, LostWrites: 1, RecoverySeconds: 7.25},
		{Scenario: "zookeeper", Level: LevelFramework, Seconds: 40, Writes: 50, Reads: 45, FailedReads: 5, ReadsMayFail: true, Notes: "down 20s"},
		{Scenario: "agent", Level: LevelFramework, Seconds: 30, Writes: 70, Reads: 70, Notes: "a|b", Problems: []string{"riak-c1-2 launched 3 times"}},
		{Scenario: "zookeeper", Level: LevelFramework, Seconds: 40, Writes: 50, Reads: 45, FailedReads: 5, ReadsMayFail: true, LostWrites: 1},
	}
	var b strings.Builder
	if err := WriteTable(&b, rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"| kill9 | node | 30 | 100 | 100 | 2 | 0 | 0 | 0.0 | 0 | pass |  |", "| sigstop | node | 30 | 90 | 80 | 0 | 3 | 1 | 7.2 | 0 | **FAIL** |",
		"| zookeeper | framework | 40 | 50 | 45 | 0 | 5 | 0 | 0.0 | 0 | pass (fenced) | down 20s |",
		"| agent | framework | 30 | 70 | 70 | 0 | 0 | 0 | 0.0 | 0 | **FAIL** | a/b; problems: riak-c1-2 launched 3 times |",
		"| zookeeper | framework | 40 | 50 | 45 | 0 | 5 | 1 | 0.0 | 0 | **FAIL** |"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	doc := filepath.Join(t.TempDir(), "r.md")
	if err := os.WriteFile(doc, []byte("intro\n"+TableBegin+"\nold table\n"+TableEnd+"\nafter\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ReplaceSection(doc, TableBegin, TableEnd, out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(doc)
	if strings.Contains(string(got), "old table") || !strings.Contains(string(got), "| kill9 |") || !strings.HasSuffix(string(got), TableEnd+"\nafter\n") {
		t.Errorf("section not replaced:\n%s", got)
	}
	if err := ReplaceSection(filepath.Join(t.TempDir(), "missing.md"), TableBegin, TableEnd, out); err == nil {
		t.Error("missing file accepted")
	}
	if errorKind("write k-1-2: ClientError|x|director: node a failed: raw-read tcp 1->2: i/o timeout") != "write: director: node a failed: read timeout" {
		t.Errorf("errorKind: %q", errorKind("write k-1-2: ClientError|x|director: node a failed: raw-read tcp 1->2: i/o timeout"))
	}
}

// TestChaosFailureRecord: a scenario's result keeps the first five and the
// last five failures and counts failures by second after the fault.
func TestChaosFailureRecord(t *testing.T) {
	l := newChaosLoad(nil, "x")
	faultAt := time.Now().Add(-3 * time.Second)
	for i := range 12 {
		l.fail(fmt.Sprintf("write k%d: timeout", i))
	}
	r := l.result("sigstop", 5*time.Second, faultAt)
	if len(r.Errors) != 10 || !strings.HasSuffix(r.Errors[0], "k0: timeout") || !strings.HasSuffix(r.Errors[4], "k4: timeout") ||
		!strings.HasSuffix(r.Errors[5], "k7: timeout") || !strings.HasSuffix(r.Errors[9], "k11: timeout") {
		t.Fatalf("errors kept: %q", r.Errors)
	}
	kinds := 0
	for _, n := range r.ErrorKinds {
		kinds += n
	}
	if kinds != 12 {
		t.Fatalf("error kinds %v count %d failures, want 12", r.ErrorKinds, kinds)
	}
	if r.FailuresBySecond[3] != 12 || len(r.FailuresBySecond) != 1 {
		t.Fatalf("failures by second %v, want 12 at 3 s", r.FailuresBySecond)
	}
	if got := formatBySecond(map[int]int{10: 1, 0: 5, -1: 2}); got != "-1s:2 0s:5 10s:1" {
		t.Fatalf("formatBySecond: %q", got)
	}
}

// TestScenarioTables: every node scenario has a fault, every framework
// scenario a table entry that injects a fault and tells when the framework
// recovered, and the tables have no entry the suite would not run.
func TestScenarioTables(t *testing.T) {
	for _, name := range NodeScenarios {
		if nodeFaults[name] == nil {
			t.Errorf("%s: no fault in nodeFaults", name)
		}
	}
	if len(nodeFaults) != len(NodeScenarios) {
		t.Errorf("%d node faults for %d node scenarios", len(nodeFaults), len(NodeScenarios))
	}
	for _, name := range FrameworkScenarios {
		sc, ok := frameworkScenarios[name]
		if !ok || sc.inject == nil || sc.recovered == nil {
			t.Errorf("%s: table entry %+v lacks inject or recovered", name, sc)
		}
	}
	if len(frameworkScenarios) != len(FrameworkScenarios) {
		t.Errorf("%d table entries for %d framework scenarios", len(frameworkScenarios), len(FrameworkScenarios))
	}
}

// TestLogWarnings: a failed framework run logs the processes' warnings.
func TestLogWarnings(t *testing.T) {
	dir := t.TempDir()
	stderr := filepath.Join(dir, "mesos", "agent-1", "runs", "c1")
	if err := os.MkdirAll(stderr, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		filepath.Join(dir, "director.log"):       "time=1 level=INFO msg=ok\ntime=2 level=WARN msg=\"node unhealthy\"\n",
		filepath.Join(stderr, "stderr"):          "time=3 level=ERROR msg=boom\n",
		filepath.Join(dir, "zookeeper", "z.log"): "level=WARN zk noise\n",
	}
	for p, data := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	logWarnings(func(f string, a ...any) { got = append(got, fmt.Sprintf(f, a...)) }, dir, 5)
	out := strings.Join(got, "\n")
	for _, want := range []string{"warnings in director.log (1, the last 1):", `msg="node unhealthy"`, "msg=boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("logWarnings output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "msg=ok") || strings.Contains(out, "zk noise") {
		t.Errorf("logWarnings logged an INFO line or ZooKeeper's own log:\n%s", out)
	}
}
