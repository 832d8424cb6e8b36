package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/rmf-go/rmf/protocol"
)

// fakeNode is a minimal Riak PB server: ping, get (answers a vclock for
// keys it has seen, notfound otherwise), put, delete; keys starting with
// "err" get RpbErrorResp.
type fakeNode struct {
	ln    net.Listener
	mu    sync.Mutex
	conns int // connections accepted
	keys  map[string]bool
	reqs  map[protocol.Code]int
}

func startFakeNode(t testing.TB) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{ln: ln, keys: map[string]bool{}, reqs: map[protocol.Code]int{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeNode) addr() string { return f.ln.Addr().String() }

func field2(body []byte) string {
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			return ""
		}
		body = body[n:]
		if num == 2 && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(body)
			return string(v)
		}
		m := protowire.ConsumeFieldValue(num, typ, body)
		if m < 0 {
			return ""
		}
		body = body[m:]
	}
	return ""
}

func (f *fakeNode) serve(c net.Conn) {
	defer c.Close()
	f.mu.Lock()
	f.conns++
	f.mu.Unlock()
	rd := protocol.NewReader(c, 0)
	var out []byte
	for {
		fr, err := rd.ReadFrame()
		if err != nil {
			return
		}
		key := field2(fr.Body)
		f.mu.Lock()
		f.reqs[fr.Code]++
		out = out[:0]
		switch {
		case fr.Code == protocol.CodePingReq:
			out = protocol.AppendFrame(out, protocol.CodePingResp, nil)
		case strings.HasPrefix(key, "err"):
			out = protocol.AppendErrorResp(out, "boom", 1)
		case fr.Code == protocol.CodeGetReq:
			var body []byte
			if f.keys[key] {
				body = protowire.AppendTag(body, 2, protowire.BytesType)
				body = protowire.AppendBytes(body, []byte("vclock"))
			}
			out = protocol.AppendFrame(out, protocol.CodeGetResp, body)
		case fr.Code == protocol.CodePutReq:
			f.keys[key] = true
			out = protocol.AppendFrame(out, protocol.CodePutResp, nil)
		case fr.Code == protocol.CodeDelReq:
			delete(f.keys, key)
			out = protocol.AppendFrame(out, protocol.CodeDelResp, nil)
		default:
			out = protocol.AppendErrorResp(out, "unsupported", 0)
		}
		f.mu.Unlock()
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func TestRawWorkerOps(t *testing.T) {
	f := startFakeNode(t)
	drv, err := NewDriver(DriverRaw, DriverConfig{PBAddrs: []string{f.addr()}, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := drv.NewWorker(0)
	defer w.Close()
	for _, op := range Ops() {
		if err := w.Do(op, []byte("k1"), []byte("v")); err != nil {
			t.Fatalf("%v: %v", op, err)
		}
	}
	err = w.Do(OpGet, []byte("err1"), nil)
	var pe *protocol.Error
	if !errors.As(err, &pe) || Classify(err) != KindRiak {
		t.Fatalf("error key: err = %v (kind %s), want a riak error", err, Classify(err))
	}
	// The connection survives an RpbErrorResp.
	if err := w.Do(OpGet, []byte("k1"), nil); err != nil {
		t.Fatal(err)
	}
	f.ln.Close()
	rw := w.(*rawWorker)
	rw.drop(nil)
	if err := w.Do(OpGet, []byte("k1"), nil); err == nil || Classify(err) != KindRefused {
		t.Fatalf("dead target: err = %v (kind %s), want refused", err, Classify(err))
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&protocol.Error{Msg: "x"}, KindRiak},
		{os.ErrDeadlineExceeded, KindTimeout},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, KindTimeout},
		{errors.New("dial tcp: connection refused"), KindRefused},
		{errors.New("read: connection reset by peer"), KindClosed},
		{&httpStatusError{code: 503}, KindHTTP},
		{errors.New("odd"), KindOther},
	}
	for _, tc := range tests {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// runFake runs a short load against a fake node.
func runFake(t *testing.T, driver string, d time.Duration) *Result {
	t.Helper()
	f := startFakeNode(t)
	mix, _ := ParseMix("get:4,put:4,update:1,delete:1")
	var started, ended bool
	res, err := Run(context.Background(), Config{
		Driver: driver, PBAddrs: []string{f.addr()}, Duration: d, Warmup: 200 * time.Millisecond,
		Concurrency: 4, Mix: mix, Keys: 50, KeyDist: KeyPareto, ValueSize: ValueSize{10, 100}, Seed: 1,
		OnMeasureStart: func() { started = true }, OnMeasureEnd: func() { ended = true },
	})
	if err != nil {
		t.Fatal(err)
	}
	if !started || !ended {
		t.Errorf("measure hooks: start %v end %v", started, ended)
	}
	return res
}

func TestRunDrivers(t *testing.T) {
	for _, driver := range []string{DriverRaw, DriverRiakGoClient} {
		t.Run(driver, func(t *testing.T) {
			res := runFake(t, driver, 1500*time.Millisecond)
			if res.All.Count == 0 || res.All.Errors != 0 {
				t.Fatalf("ok %d errors %d (%v)", res.All.Count, res.All.Errors, res.ErrorSamples)
			}
			if len(res.Ops) != 4 {
				t.Fatalf("per-op summaries: %d", len(res.Ops))
			}
			if len(res.Series) != 2 {
				t.Errorf("series has %d windows, want 2 (1 s and 0.5 s)", len(res.Series))
			}
			var sum int64
			for _, w := range res.Series {
				sum += w.Successful
			}
			if sum != res.All.Count {
				t.Errorf("series sums to %d, total %d", sum, res.All.Count)
			}
			l := res.All.Latency
			if !(l.Min <= l.Median && l.Median <= l.P95 && l.P95 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) || l.Max == 0 {
				t.Errorf("latency percentiles out of order: %+v", l)
			}
		})
	}
}

func TestRunErrorsByKind(t *testing.T) {
	f := startFakeNode(t)
	mix, _ := ParseMix("get:1")
	// Half the workers point at a closed port.
	res, err := Run(context.Background(), Config{Driver: DriverRaw, PBAddrs: []string{f.addr(), "127.0.0.1:1"}, Duration: 500 * time.Millisecond,
		Concurrency: 2, Mix: mix, Keys: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors[KindRefused] == 0 || res.All.Count == 0 {
		t.Fatalf("errors %v ok %d: want refused errors from the dead address and successes from the live one", res.Errors, res.All.Count)
	}
	if res.ErrorSamples[KindRefused] == "" {
		t.Error("no error sample")
	}
}

func TestRunReportFiles(t *testing.T) {
	res := runFake(t, DriverRaw, 1200*time.Millisecond)
	dir := t.TempDir()
	if err := WriteRunReport(dir, res); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, filepath.Join(dir, "summary.csv"))
	if got := strings.Join(rows[0], ","); got != "elapsed,window,total,successful,failed" {
		t.Errorf("summary.csv header %q", got)
	}
	if len(rows) != 1+len(res.Series) {
		t.Errorf("summary.csv has %d rows, want %d", len(rows)-1, len(res.Series))
	}
	var total int64
	for _, r := range rows[1:] {
		n, _ := strconv.ParseInt(r[3], 10, 64)
		total += n
	}
	if total != res.All.Count {
		t.Errorf("summary.csv successful sums to %d, want %d", total, res.All.Count)
	}
	for _, op := range []string{"get", "put", "update", "delete"} {
		rows := readCSV(t, filepath.Join(dir, op+"_latencies.csv"))
		if got := strings.Join(rows[0], ","); got != "elapsed,window,n,min,mean,median,95th,99th,99_9th,max,errors" {
			t.Errorf("%s_latencies.csv header %q", op, got)
		}
		if len(rows) < 2 || len(rows[1]) != 11 {
			t.Errorf("%s_latencies.csv rows %v", op, rows)
		}
	}
	var back Result
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.All.Count != res.All.Count || len(back.Series) != len(res.Series) || back.Mix != "get:4,put:4,update:1,delete:1" {
		t.Errorf("summary.json round trip: %+v", back.All)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "report.html"))
	if bytes.Contains(html, []byte(dataMarker)) || !bytes.Contains(html, []byte(`"kind":"run"`)) {
		t.Error("report.html lacks its data")
	}
	if bytes.Contains(html, []byte("http://")) && bytes.Contains(html, []byte("<script src")) {
		t.Error("report.html loads a script from the network")
	}
	checkChromium(t, filepath.Join(dir, "report.html"), map[string]bool{"throughput": true, "latency-p99": true, "percentiles": true})
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

var chartRE = regexp.MustCompile(`<svg[^>]*data-chart="([^"]+)"[^>]*data-points="(\d+)"`)

// checkChromium loads the report in headless Chromium and checks that the
// page's script drew every chart in want with data points.
func checkChromium(t *testing.T, path string, want map[string]bool) (dom string) {
	t.Helper()
	if testing.Short() {
		t.Log("-short: not checking the report in Chromium")
		return ""
	}
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom = string(out)
	if strings.Contains(dom, "data-error=") {
		t.Fatalf("report script failed: %s", regexp.MustCompile(`data-error="[^"]*"`).FindString(dom))
	}
	if m := regexp.MustCompile(`data-rendered="(\d+)"`).FindStringSubmatch(dom); m == nil || m[1] != strconv.Itoa(len(want)) {
		t.Errorf("data-rendered = %v, want %d charts", m, len(want))
	}
	got := map[string]bool{}
	for _, m := range chartRE.FindAllStringSubmatch(dom, -1) {
		n, _ := strconv.Atoi(m[2])
		if n == 0 {
			t.Errorf("chart %s has no data points", m[1])
		}
		got[m[1]] = true
	}
	for name := range want {
		if !got[name] {
			t.Errorf("chart %s missing from the DOM", name)
		}
	}
	if n := strings.Count(dom, `class="point"`); n == 0 {
		t.Error("no point elements in the DOM")
	}
	return dom
}
