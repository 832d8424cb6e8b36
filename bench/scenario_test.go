package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rmf-go/rmf/protocol"
)

// fakeRMFEnv makes the test binary act as a stand-in rmf for Compare:
// "devnode" and "director" serve the fake PB node on --pb until SIGTERM.
const fakeRMFEnv = "RMF_BENCH_TEST_FAKE_RMF"

func TestMain(m *testing.M) {
	if os.Getenv(fakeRMFEnv) != "" && len(os.Args) > 1 && (os.Args[1] == "devnode" || os.Args[1] == "director") {
		os.Exit(fakeRMF(os.Args[2:]))
	}
	os.Exit(m.Run())
}

func fakeRMF(args []string) int {
	fs := flag.NewFlagSet("fake-rmf", flag.ContinueOnError)
	pb := fs.String("pb", "", "")
	fs.String("http", "", "")
	fs.String("admin", "", "")
	fs.String("name", "", "")
	fs.String("data", "", "")
	fs.String("backend", "", "")
	fs.String("join", "", "")
	fs.Bool("sync", true, "")
	fs.Func("node", "", func(string) error { return nil })
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *pb)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f := &fakeNode{ln: ln, keys: map[string]bool{}, reqs: map[protocol.Code]int{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return 0
}

// procState is the state letter of /proc/PID/stat: R, S, T (stopped), ...
func procState(t *testing.T, pid int) byte {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndexByte(b, ')')
	return b[i+2]
}

func startSleep(t *testing.T, ps *ProcSet, name string) *Proc {
	t.Helper()
	p, err := ps.StartWith(context.Background(), name, "node", "sleep", []string{"60"}, "", func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseScenarios(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want string
	}{
		{"none is steady", nil, "steady"},
		{"comma-separated", []string{"steady,degraded,kill9"}, "steady,degraded,kill9"},
		{"repeated flag", []string{"kill9", "steady"}, "kill9,steady"},
		{"both, with a repeat", []string{"degraded, kill9", "degraded"}, "degraded,kill9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseScenarios(tc.in)
			if err != nil || strings.Join(got, ",") != tc.want {
				t.Fatalf("ParseScenarios(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
	for _, bad := range [][]string{{"chaos"}, {"steady,"}, {""}} {
		if _, err := ParseScenarios(bad); !errors.Is(err, ErrBadScenario) {
			t.Errorf("ParseScenarios(%q) err = %v, want ErrBadScenario", bad, err)
		}
	}
}

// TestDutyCycle freezes a real process and checks that it is stopped
// part of the time, running the rest, and running once the cycle ends.
func TestDutyCycle(t *testing.T) {
	ps := &ProcSet{Dir: t.TempDir()}
	defer ps.StopAll(t.Logf)
	p := startSleep(t, ps, "sleeper")
	dc := startDutyCycle(p.PID(), 40*time.Millisecond, 20*time.Millisecond)
	var stopped, running int
	for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); time.Sleep(3 * time.Millisecond) {
		if procState(t, p.PID()) == 'T' {
			stopped++
		} else {
			running++
		}
	}
	cycles := dc.Stop()
	if stopped == 0 || running == 0 {
		t.Fatalf("states seen: %d stopped, %d running; want both", stopped, running)
	}
	if cycles < 8 || cycles > 17 {
		t.Errorf("%d SIGSTOPs in 600ms of a 40ms cycle", cycles)
	}
	if st := procState(t, p.PID()); st == 'T' {
		t.Fatalf("process left stopped after Stop (state %c)", st)
	}
	if dc.Stop() != cycles {
		t.Error("a second Stop changed the count")
	}
}

// TestDutyCycleStopWhileFrozen ends the cycle inside its stopped half:
// the process must be continued all the same.
func TestDutyCycleStopWhileFrozen(t *testing.T) {
	ps := &ProcSet{Dir: t.TempDir()}
	defer ps.StopAll(t.Logf)
	p := startSleep(t, ps, "sleeper")
	dc := startDutyCycle(p.PID(), time.Hour, 30*time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for procState(t, p.PID()) != 'T' {
		if time.Now().After(deadline) {
			t.Fatal("never stopped")
		}
		time.Sleep(time.Millisecond)
	}
	if n := dc.Stop(); n != 1 {
		t.Errorf("cycles = %d, want 1", n)
	}
	if st := procState(t, p.PID()); st == 'T' {
		t.Fatal("process left stopped")
	}
}

// TestKillRestart kills a real process and restarts it, the way kill9
// does a devnode.
func TestKillRestart(t *testing.T) {
	ps := &ProcSet{Dir: t.TempDir()}
	defer ps.StopAll(t.Logf)
	victim := startSleep(t, ps, "node1")
	var mu sync.Mutex
	var restarted *Proc
	var before bool
	kr := startKillRestart(context.Background(), 50*time.Millisecond, 200*time.Millisecond, killRestartHooks{
		victim:     victim,
		beforeKill: func(p *Proc) { before = p == victim },
		exited:     ps.Remove,
		restart: func(ctx context.Context) (*Proc, error) {
			p, err := ps.StartWith(ctx, "node1-again", "node", "sleep", []string{"60"}, "", func() error { return nil })
			mu.Lock()
			restarted = p
			mu.Unlock()
			return p, err
		},
	})
	select {
	case <-victim.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("victim still running")
	}
	// Wait after the kill lets the restart happen.
	if err := kr.Wait(); err != nil {
		t.Fatal(err)
	}
	if !before {
		t.Error("beforeKill not called with the victim")
	}
	if restarted == nil || restarted.PID() == victim.PID() {
		t.Fatalf("restarted = %v", restarted)
	}
	if kr.killedAt < 50*time.Millisecond || kr.backAt-kr.killedAt < 200*time.Millisecond {
		t.Errorf("killed at %v, back at %v: want ≥50ms and ≥200ms later", kr.killedAt, kr.backAt)
	}
	if dead := ps.Dead(); dead != "" {
		t.Errorf("ProcSet still lists the killed process: Dead() = %q", dead)
	}
	if nodes := ps.ByRole("node"); len(nodes) != 1 || nodes[0] != restarted {
		t.Errorf("ByRole(node) = %v", nodes)
	}
}

// TestKillRestartStoppedEarly: Wait before the fault time cancels it;
// nothing is killed.
func TestKillRestartStoppedEarly(t *testing.T) {
	ps := &ProcSet{Dir: t.TempDir()}
	defer ps.StopAll(t.Logf)
	victim := startSleep(t, ps, "node1")
	kr := startKillRestart(context.Background(), time.Hour, time.Second, killRestartHooks{victim: victim,
		restart: func(context.Context) (*Proc, error) { return nil, errors.New("must not restart") }})
	if err := kr.Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-victim.Done():
		t.Fatal("victim killed")
	default:
	}
}

// TestCompareFaultScenarios runs Compare's degraded and kill9 scenarios
// end to end with this test binary standing in for rmf (fake PB nodes as
// devnode and director processes) and the real haproxy if installed.
func TestCompareFaultScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts processes")
	}
	t.Setenv(fakeRMFEnv, "1")
	targets := []string{TargetDirect, TargetDirector}
	if _, err := exec.LookPath("haproxy"); err == nil {
		targets = append(targets, TargetHAProxy)
	}
	var log bytes.Buffer
	var logMu sync.Mutex
	dir := t.TempDir()
	rep, err := Compare(context.Background(), CompareConfig{
		Bin: os.Args[0], Nodes: 3, Rounds: 1, Targets: targets, Scenarios: []string{ScenarioDegraded, ScenarioKill9},
		RestartAfter: 300 * time.Millisecond, Dir: dir, Log: lockedWriter{&logMu, &log},
		Workload: Config{Driver: DriverRaw, Duration: 1200 * time.Millisecond, Warmup: 100 * time.Millisecond, Concurrency: 6, Keys: 100,
			Timeout: time.Second},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if strings.Contains(log.String(), "did not stop") {
		t.Errorf("a process had to be killed at the end:\n%s", log.String())
	}
	if len(rep.Scenarios) != 2 {
		t.Fatalf("scenarios = %d", len(rep.Scenarios))
	}
	deg, k9 := rep.Scenarios[0], rep.Scenarios[1]
	byName := func(c *Comparison, name string) TargetResult {
		for _, tr := range c.Targets {
			if tr.Name == name {
				return tr
			}
		}
		t.Fatalf("%s: no target %s in %+v", c.Scenario, name, c.Targets)
		return TargetResult{}
	}

	// degraded: direct-healthy is added after direct, on nodes 1 and 2.
	var names []string
	for _, tr := range deg.Targets {
		names = append(names, tr.Name)
	}
	if want := slices.Insert(slices.Clone(targets), 1, TargetDirectHealthy); !slices.Equal(names, want) {
		t.Errorf("degraded targets = %v, want %v", names, want)
	}
	direct, healthy := byName(deg, TargetDirect), byName(deg, TargetDirectHealthy)
	if len(healthy.PBAddrs) != 2 || slices.Contains(healthy.PBAddrs, direct.PBAddrs[2]) {
		t.Errorf("direct-healthy on %v, direct on %v", healthy.PBAddrs, direct.PBAddrs)
	}
	for _, tr := range deg.Targets {
		f := tr.Rounds[0].Fault
		if f == nil || f.Kind != "duty-cycle" || f.Victim != "devnode3" || f.Cycles < 6 {
			t.Errorf("degraded %s: fault %+v, want about 12 cycles on devnode3", tr.Name, f)
		}
	}
	// Workers on the frozen node wait up to 50ms (few operations: the
	// fake node answers at once otherwise, so only the maximum shows it).
	// direct-healthy avoids that node (its addresses, above); its own
	// maximum is not compared: on a loaded machine a scheduling stall of
	// its own can exceed 50 ms (seen in make test: 192 ms against 120).
	if dmax := direct.Rounds[0].Result.All.Latency.Max; dmax < 30_000 {
		t.Errorf("degraded direct max latency %.0fus: the frozen node did not slow it", dmax)
	}

	// kill9: the last node dies a quarter in and comes back; direct's
	// workers on it fail meanwhile.
	if k9.Backend != "disk, no fsync" {
		t.Errorf("kill9 backend %q", k9.Backend)
	}
	for _, tr := range k9.Targets {
		f := tr.Rounds[0].Fault
		if f == nil || f.Kind != "kill9" || f.KilledAtS < 0.29 || f.BackAtS-f.KilledAtS < 0.3 {
			t.Errorf("kill9 %s: fault %+v, want a kill at 0.3s and 0.3s down", tr.Name, f)
		}
	}
	if d := byName(k9, TargetDirect); d.Errors == 0 {
		t.Errorf("kill9 direct: no failed operation while a node was down")
	}
	for i := range len(k9.Targets) {
		if _, err := os.Stat(filepath.Join(dir, ScenarioKill9, fmt.Sprintf("devnode3-restart%d.log", i+1))); err != nil {
			t.Errorf("restart %d: %v", i+1, err)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestCompareCancelled cancels Compare inside a degraded window (SIGINT):
// it returns at once, and no process is left stopped (StopAll would have
// to kill it).
func TestCompareCancelled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts processes")
	}
	t.Setenv(fakeRMFEnv, "1")
	var log bytes.Buffer
	var logMu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := lockedWriter{&logMu, &log}
	go func() {
		// Cancel once the first window has run a little.
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			logMu.Lock()
			started := strings.Contains(log.String(), "degraded round 1/1")
			logMu.Unlock()
			if started {
				time.Sleep(500 * time.Millisecond)
				cancel()
				return
			}
		}
	}()
	start := time.Now()
	_, err := Compare(ctx, CompareConfig{Bin: os.Args[0], Nodes: 2, Rounds: 1, Targets: []string{TargetDirect}, Scenarios: []string{ScenarioDegraded},
		Dir: t.TempDir(), Log: w, Workload: Config{Driver: DriverRaw, Duration: time.Minute, Concurrency: 2, Keys: 10, Timeout: time.Second}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Compare took %v after the cancel", d)
	}
	if strings.Contains(log.String(), "did not stop") {
		t.Errorf("a process had to be killed:\n%s", log.String())
	}
}
