package bench

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
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

func TestProcParsing(t *testing.T) {
	stat := "1234 (rmf (x) y) S 1 1234 1234 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 9 0 100 1000000 500 18446744073709551615"
	if got := parseStatCPU(stat); got != 3 {
		t.Errorf("parseStatCPU = %v, want 3 (250+50 ticks)", got)
	}
	if got := parseVmHWM("Name:\trmf\nVmPeak:\t  9000 kB\nVmHWM:\t    20480 kB\nVmRSS:\t 100 kB\n"); got != 20480 {
		t.Errorf("parseVmHWM = %d", got)
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

func fakeComparison() *Comparison {
	mk := func(name string, ops ...float64) TargetResult {
		tr := TargetResult{Name: name}
		var o, p []float64
		for i, v := range ops {
			tr.Rounds = append(tr.Rounds, TargetRound{Round: i + 1, Order: i + 1, OpsPS: v, Count: int64(v * 10), P50: 500, P99: 2000 + v/10, P999: 5000, ProxyCPU: 1.5})
			o, p = append(o, v), append(p, 2000+v/10)
		}
		tr.Throughput, tr.P50, tr.P99, tr.P999 = spreadOf(o), spreadOf([]float64{500}), spreadOf(p), spreadOf([]float64{5000})
		if name != TargetDirect {
			s := spreadOf([]float64{0.02, 0.03})
			tr.ProxyCPUPer1k, tr.ProxyPeakRSSMB = &s, 20
		}
		return tr
	}
	c := &Comparison{Start: time.Now(), Nodes: 3, Backend: "memory", Rounds: 2, Machine: machineInfo(),
		Workload: WorkloadInfo{Driver: DriverRaw, Ops: "get:1", Concurrency: 32, Keys: 100, KeyDist: "uniform", ValueSize: "1024", DurationS: 10},
		Targets:  []TargetResult{mk(TargetDirect, 10000, 11000), mk(TargetDirector, 8000, 8200), mk(TargetHAProxy, 7000, 7400)}}
	res := map[string]*TargetResult{}
	for i := range c.Targets {
		res[c.Targets[i].Name] = &c.Targets[i]
	}
	c.Ratios = ratios(res)
	return c
}

func TestCompareReport(t *testing.T) {
	c := fakeComparison()
	var buf bytes.Buffer
	if err := WriteCompareTable(&buf, c); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"director/haproxy: throughput 1.125", "director/direct", "proxy CPU s/1k ops", "10500"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
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
	checkChromium(t, filepath.Join(dir, "compare.html"), map[string]bool{"compare-throughput": true, "compare-latency": true, "compare-rounds": true})
}
