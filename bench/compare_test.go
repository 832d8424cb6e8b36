package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseTargets(t *testing.T) {
	got, err := ParseTargets("direct, director,haproxy")
	if err != nil || strings.Join(got, ",") != "direct,director,haproxy" {
		t.Fatalf("ParseTargets = %v, %v", got, err)
	}
	for _, bad := range []string{"", "nginx", "direct,direct"} {
		if _, err := ParseTargets(bad); !errors.Is(err, ErrBadTarget) {
			t.Errorf("ParseTargets(%q) err = %v", bad, err)
		}
	}
}

func TestSpreadAndRatios(t *testing.T) {
	s := spreadOf([]float64{90, 100, 110})
	if s.Mean != 100 || s.Min != 90 || s.Max != 110 || s.SpreadPct != 20 {
		t.Errorf("spread = %+v", s)
	}
	res := map[string]*TargetResult{
		TargetDirect:   {Rounds: []TargetRound{{OpsPS: 1000, P99: 1000}, {OpsPS: 1000, P99: 1000}}},
		TargetDirector: {Rounds: []TargetRound{{OpsPS: 800, P99: 1500}, {OpsPS: 900, P99: 1500}}},
		TargetHAProxy:  {Rounds: []TargetRound{{OpsPS: 1000, P99: 1000}, {OpsPS: 900, P99: 2000}}},
	}
	rs := ratios(res)
	if len(rs) != 3 || rs[0].Name != "director/haproxy" || rs[1].Name != "director/direct" {
		t.Fatalf("ratios = %+v", rs)
	}
	if r := rs[0].Throughput; r.Min != 0.8 || r.Max != 1 || r.Mean != 0.9 {
		t.Errorf("director/haproxy throughput = %+v", r)
	}
	if r := rs[1].P99; r.Mean != 1.5 {
		t.Errorf("director/direct p99 = %+v", r)
	}
}

// TestRatioInterval checks the geometric mean and its 95% interval against
// figures worked out by hand (t quantiles 4.3027 for 2 degrees of freedom,
// 2.7764 for 4): noisy rounds give an interval that holds 1, steady ones
// one that does not, and one round gives no interval.
func TestRatioInterval(t *testing.T) {
	for _, c := range []struct {
		vs             []float64
		geo, low, high float64
		text           string
	}{
		{[]float64{0.9, 1.0, 1.1}, 0.9967, 0.7767, 1.2789, "0.997 [0.777-1.279]"},
		{[]float64{0.90, 0.92, 0.94, 0.91, 0.93}, 0.9199, 0.9005, 0.9397, "0.920 [0.900-0.940]"},
		{[]float64{1.2}, 1.2, 0, 0, "1.200"},
		{[]float64{0, 2, 2}, 2, 2, 2, "2.000 [2.000-2.000]"}, // a 0 (no figure) is left out
	} {
		r := ratioSpreadOf(c.vs)
		if r.GeoMean != c.geo || r.CI95Low != c.low || r.CI95High != c.high || r.Rounds != len(c.vs) {
			t.Errorf("ratioSpreadOf(%v) = %+v, want geomean %v [%v-%v]", c.vs, r, c.geo, c.low, c.high)
		}
		if got := r.String(); got != c.text {
			t.Errorf("ratioSpreadOf(%v).String() = %q, want %q", c.vs, got, c.text)
		}
	}
	// Printed tables of Student's t, two-sided 95%.
	for df, want := range map[float64]float64{1: 12.7062, 2: 4.3027, 4: 2.7764, 10: 2.2281, 30: 2.0423} {
		if got := studentT975(df); math.Abs(got-want) > 0.0001 {
			t.Errorf("studentT975(%v) = %.5f, want %.4f", df, got, want)
		}
	}
	if r := ratioSpreadOf(nil); r.GeoMean != 0 || r.String() != "0.000" {
		t.Errorf("ratioSpreadOf(nil) = %+v", r)
	}
}

func TestProcParsing(t *testing.T) {
	stat := "1234 (rmf (x) y) S 1 1234 1234 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 9 0 100 1000000 500 18446744073709551615"
	if got := parseStatCPU(stat); got != 3 {
		t.Errorf("parseStatCPU = %v, want 3 (250+50 ticks)", got)
	}
	if got := parseProcMemory("Name:\trmf\nVmPeak:\t  9000 kB\nVmHWM:\t    20480 kB\nVmRSS:\t 100 kB\nRssAnon:\t    4120 kB\n"); got != (procMemory{peakKB: 20480, anonKB: 4120}) {
		t.Errorf("parseProcMemory = %+v", got)
	}
	// Our own /proc/self/stat: spin until a clock tick is charged.
	x := 0
	for deadline := time.Now().Add(3 * time.Second); selfCPUSeconds() <= 0; x++ {
		if time.Now().After(deadline) {
			t.Fatal("own CPU time stays zero")
		}
	}
	_ = x
}

func TestHAProxyConfig(t *testing.T) {
	cfg := HAProxyConfig("127.0.0.1:9", []string{"127.0.0.1:1", "127.0.0.1:2"})
	for _, want := range []string{"mode tcp", "balance leastconn", "bind 127.0.0.1:9", "server n1 127.0.0.1:1", "server n2 127.0.0.1:2"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
}

func fakeTarget(name string, ops ...float64) TargetResult {
	tr := TargetResult{Name: name}
	var o, p []float64
	for i, v := range ops {
		r := TargetRound{Round: i + 1, Order: i + 1, OpsPS: v, Count: int64(v * 10), P50: 500, P99: 2000 + v/10, P999: 5000,
			Timeline: []float64{v - 100, v, v + 100}}
		if name == TargetDirector || name == TargetHAProxy {
			r.ProxyCPU = 1.5
		}
		tr.Rounds = append(tr.Rounds, r)
		o, p = append(o, v), append(p, 2000+v/10)
	}
	tr.Throughput, tr.P50, tr.P99, tr.P999 = spreadOf(o), spreadOf([]float64{500}), spreadOf(p), spreadOf([]float64{5000})
	if name == TargetDirector || name == TargetHAProxy {
		s := spreadOf([]float64{0.02, 0.03})
		tr.ProxyCPUPer1k, tr.ProxyPeakRSSMB = &s, 20
	}
	return tr
}

func fakeScenario(scenario string, targets ...TargetResult) *Comparison {
	c := &Comparison{Scenario: scenario, Start: time.Now(), Nodes: 3, Backend: "memory", Rounds: 2, Machine: machineInfo(),
		Workload: WorkloadInfo{Driver: DriverRaw, Ops: "get:1", Concurrency: 32, Keys: 100, KeyDist: "uniform", ValueSize: "1024", DurationS: 10},
		Targets:  targets}
	if scenario != ScenarioSteady {
		c.Fault = "devnode3 faulted"
	}
	res := map[string]*TargetResult{}
	for i := range c.Targets {
		res[c.Targets[i].Name] = &c.Targets[i]
		if scenario == ScenarioKill9 {
			c.Targets[i].Rounds[0].Fault = &FaultInfo{Kind: "kill9", Victim: "devnode3", KilledAtS: 2.5, BackAtS: 4.6}
		}
	}
	c.Ratios = ratios(res)
	return c
}

func fakeReport() *CompareReport {
	return &CompareReport{Start: time.Now(), Nodes: 3, Rounds: 2, Machine: machineInfo(),
		Workload: WorkloadInfo{Driver: DriverRaw, Ops: "get:1", Concurrency: 32, Keys: 100, KeyDist: "uniform", ValueSize: "1024", DurationS: 10, SingleConn: true},
		Scenarios: []*Comparison{
			fakeScenario(ScenarioSteady, fakeTarget(TargetDirect, 10000, 11000), fakeTarget(TargetDirector, 8000, 8200), fakeTarget(TargetHAProxy, 7000, 7400)),
			fakeScenario(ScenarioDegraded, fakeTarget(TargetDirect, 4000, 4000), fakeTarget(TargetDirectHealthy, 8000, 8000),
				fakeTarget(TargetDirector, 6000, 6000), fakeTarget(TargetHAProxy, 3000, 3000)),
			fakeScenario(ScenarioKill9, fakeTarget(TargetDirect, 5000, 5000), fakeTarget(TargetDirector, 7000, 7000), fakeTarget(TargetHAProxy, 3500, 3500)),
		}}
}

func TestRatiosCPU(t *testing.T) {
	res := map[string]*TargetResult{
		TargetDirect:   {Rounds: []TargetRound{{OpsPS: 1000, P99: 1000, Count: 1000}}},
		TargetDirector: {Rounds: []TargetRound{{OpsPS: 1000, P99: 1000, Count: 1000, ProxyCPU: 3}}},
		TargetHAProxy:  {Rounds: []TargetRound{{OpsPS: 500, P99: 2000, Count: 500, ProxyCPU: 1}}},
	}
	rs := ratios(res)
	if len(rs) != 3 {
		t.Fatalf("ratios = %+v", rs)
	}
	// director: 3 s / 1000 ops; haproxy: 1 s / 500 ops: 1.5x.
	if rs[0].Name != "director/haproxy" || rs[0].ProxyCPUPer1k == nil || rs[0].ProxyCPUPer1k.Mean != 1.5 {
		t.Errorf("director/haproxy = %+v", rs[0])
	}
	if rs[1].ProxyCPUPer1k != nil {
		t.Errorf("director/direct has a CPU ratio: %+v", rs[1])
	}
	res[TargetDirectHealthy] = &TargetResult{Rounds: []TargetRound{{OpsPS: 2000, P99: 500, Count: 2000}}}
	rs = ratios(res)
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, " "); got != "director/haproxy director/direct director/direct-healthy haproxy/direct haproxy/direct-healthy" {
		t.Errorf("ratio names = %s", got)
	}
	if rs[2].Throughput.Mean != 0.5 || rs[2].P99.Mean != 2 {
		t.Errorf("director/direct-healthy = %+v", rs[2])
	}
}

func TestCompareReport(t *testing.T) {
	c := fakeReport()
	var buf bytes.Buffer
	if err := WriteCompareTable(&buf, c); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"scenario", "failed", "proxy CPU s/1k ops",
		"steady director/haproxy: throughput 1.125", "steady director/direct",
		"degraded director/direct-healthy: throughput 0.750", "degraded: devnode3 faulted",
		"kill9 director/haproxy: throughput 2.000",
		"kill9: seconds into the window, killed/answering again: direct round 1 2.50/4.60, director round 1 2.50/4.60", "steady director/haproxy: throughput 1.125 (rounds 1.108-1.143), p99 latency 1.033 (rounds 1.029-1.037), proxy CPU/1k ops 0.889",
		"steady director/haproxy, geometric mean [95% CI] over 2 rounds: throughput 1.125 [0.925-1.369], p99 latency 1.033 [0.985-1.084], proxy CPU/1k ops 0.889 [0.730-1.081]",
		"10500",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// One row per scenario and target, in order.
	var rows []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && slices.Contains(Scenarios, f[0]) && !strings.HasSuffix(f[1], ":") && !strings.HasSuffix(f[1], ",") {
			rows = append(rows, f[0]+"/"+f[1])
		}
	}
	if got := strings.Join(rows, " "); got != "steady/direct steady/director steady/haproxy degraded/direct degraded/direct-healthy degraded/director degraded/haproxy kill9/direct kill9/director kill9/haproxy" {
		t.Errorf("rows = %s", got)
	}
	dir := t.TempDir()
	if err := WriteCompareReport(dir, c); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"compare.json", "compare.txt", "compare.html"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "compare.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back CompareReport
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Scenarios) != 3 || back.Scenarios[2].Targets[0].Rounds[0].Fault.BackAtS != 4.6 || !back.Workload.SingleConn {
		t.Errorf("compare.json round trip: %+v", back)
	}
	want := map[string]bool{}
	for _, sc := range Scenarios {
		for _, ch := range []string{"throughput", "latency", "timeline"} {
			want[sc+"-"+ch] = true
		}
	}
	dom := checkChromium(t, filepath.Join(dir, "compare.html"), want)
	// kill9's per-second chart marks the kill and the node back.
	if dom != "" && strings.Count(dom, `class="mark"`) != 2 {
		t.Errorf("compare.html has %d fault marks, want 2 (kill9: kill, back)", strings.Count(dom, `class="mark"`))
	}
	for _, sc := range Scenarios {
		if dom != "" && !strings.Contains(dom, `data-scenario="`+sc+`"`) {
			t.Errorf("compare.html lacks the %s section", sc)
		}
	}
	// The ratio table shows each ratio's geometric mean and interval.
	if dom != "" && !strings.Contains(dom, "1.125 [0.925-1.369]") {
		t.Errorf("compare.html lacks steady director/haproxy's throughput interval")
	}
}
