package director

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
)

func getStatus(t *testing.T, url string) StatusDoc {
	t.Helper()
	resp, err := http.Get(url + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc StatusDoc
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func statusOf(doc StatusDoc, id string) string {
	for _, n := range doc.Nodes {
		if n.ID == id {
			return n.State
		}
	}
	return "absent"
}

func TestAdmin(t *testing.T) {
	checkGoroutines(t)
	nodes := startCluster(t, 3)
	p, addr := startProxy(t, Config{HealthInterval: 100 * time.Millisecond, HealthTimeout: 300 * time.Millisecond}, nodes)
	admin := httptest.NewServer(p.AdminHandler(nil))
	defer admin.Close()
	c := client(t, addr)
	for i := range 30 {
		if err := put(c, fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	// The director writes an answer before it books the request, so the
	// last put's counters and its busy connection settle just after the
	// client has its answer: wait for rest before looking.
	testutil.WaitFor(t, 5*time.Second, "the director at rest after 30 puts", func() bool {
		var reqs uint64
		busy := 0
		for _, n := range getStatus(t, admin.URL).Nodes {
			reqs += n.Requests
			busy += n.ConnsBusy
		}
		return reqs >= 30 && busy == 0
	})
	doc := getStatus(t, admin.URL)
	if len(doc.Nodes) != 3 || doc.Available != 3 || doc.Discovery.Source != "static" || !doc.Discovery.Connected {
		t.Fatalf("status %+v", doc)
	}
	var reqs uint64
	for _, n := range doc.Nodes {
		reqs += n.Requests
		if n.State != "up" || n.Breaker != "closed" {
			t.Errorf("node %+v", n)
		}
		if n.Requests > 0 && n.P99Ms <= 0 {
			t.Errorf("node %s: requests but no latency", n.ID)
		}
	}
	if reqs < 30 {
		t.Errorf("requests %d < 30", reqs)
	}
	if doc.ClientConns != len(p.Conns()) || doc.ClientConns == 0 || doc.BackendConns == 0 {
		t.Errorf("connections: client %d (Conns %d), backend %d", doc.ClientConns, len(p.Conns()), doc.BackendConns)
	}

	// Prometheus text that parses, with the series we promise.
	resp, err := http.Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	for _, name := range []string{"rmf_director_node_requests_total", "rmf_director_node_up", "rmf_director_node_breaker_state",
		"rmf_director_node_in_flight", "rmf_director_node_request_duration_seconds", "rmf_director_backend_connections",
		"rmf_director_client_connections", "rmf_director_events_total", "rmf_director_discovery_age_seconds",
		"rmf_director_node_errors_total", "rmf_director_pinned_connections", "rmf_director_discovery_connected",
		"process_resident_memory_bytes", "process_cpu_seconds_total", "go_goroutines", "go_memstats_heap_inuse_bytes"} {
		if fams[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	if f := fams["rmf_director_node_up"]; f != nil {
		for _, m := range f.Metric {
			if m.GetGauge().GetValue() != 1 {
				t.Errorf("node_up %v", labels(m))
			}
		}
	}
	sum := func(name string, label, value string) (total float64) {
		f := fams[name]
		if f == nil {
			return -1
		}
		for _, m := range f.Metric {
			if label != "" && !strings.Contains(labels(m), label+"="+value) {
				continue
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return total
	}
	if v := sum("rmf_director_node_requests_total", "", ""); v < 30 {
		t.Errorf("requests_total %v < 30", v)
	}
	if v := sum("rmf_director_client_connections", "", ""); v != float64(len(p.Conns())) {
		t.Errorf("client_connections %v, Conns %d", v, len(p.Conns()))
	}
	if v := sum("rmf_director_backend_connections", "state", "idle"); v < 1 {
		t.Errorf("idle backend connections %v", v)
	}
	for _, st := range []string{"busy", "pinned"} {
		if v := sum("rmf_director_backend_connections", "state", st); v != 0 {
			t.Errorf("%s backend connections %v, want 0 at rest", st, v)
		}
	}
	if v := sum("rmf_director_events_total", "event", "requests"); v < 30 {
		t.Errorf("events_total{requests} %v", v)
	}
	for _, ev := range []string{"retries", "failovers"} {
		if v := sum("rmf_director_events_total", "event", ev); v != 0 {
			t.Errorf("events_total{%s} %v, want 0 (no failure yet)", ev, v)
		}
	}
	if v := sum("rmf_director_discovery_connected", "", ""); v != 1 {
		t.Errorf("discovery_connected %v", v)
	}
	if f := fams["rmf_director_node_request_duration_seconds"]; f != nil {
		var count uint64
		for _, m := range f.Metric {
			count += m.GetHistogram().GetSampleCount()
		}
		if count < 30 {
			t.Errorf("latency histogram count %d", count)
		}
	}
	if code := httpCode(t, admin.URL+"/health"); code != 200 {
		t.Errorf("health %d", code)
	}
	if code := httpCode(t, admin.URL+"/nope"); code != 404 {
		t.Errorf("unknown page %d", code)
	}
	if resp, err := http.Post(admin.URL+"/status", "text/plain", nil); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /status: %d", resp.StatusCode)
		}
	}

	// A node that stops is reported down within 2 s.
	victim := nodes[2].PBAddr()
	_ = nodes[2].Shutdown(context.Background())
	start := time.Now()
	testutil.WaitFor(t, 3*time.Second, "node down in /status", func() bool { return statusOf(getStatus(t, admin.URL), victim) == "down" })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("down after %v", d)
	}
	for _, n := range getStatus(t, admin.URL).Nodes {
		if n.ID == victim && (n.Healthy || n.LastCheckOK || n.LastCheckErr == "") {
			t.Errorf("down node's health not visible: %+v", n)
		}
	}
	// Removed from the set: gone (its connections closed) or draining.
	p.SetNodes(specsOf(nodes[:2]))
	testutil.WaitFor(t, 3*time.Second, "removed node gone", func() bool { return statusOf(getStatus(t, admin.URL), victim) == "absent" })
	// Every node down: /health is 503.
	for _, n := range nodes[:2] {
		_ = n.Shutdown(context.Background())
	}
	testutil.WaitFor(t, 3*time.Second, "health 503", func() bool { return httpCode(t, admin.URL+"/health") == 503 })
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.Label {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

func httpCode(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// chromium finds Debian's chromium.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs chromium; skipped under -short")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatal("chromium not installed: run `make test` (it installs it)")
	return ""
}

// TestStatusPageInChromium: the admin page lists every node and a stopped
// node's row turns down within 3 s without a reload. Screenshots go to
// $RMF_ARTIFACTS (default: the test's temp dir).
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	nodes := startCluster(t, 3)
	p, _ := startProxy(t, Config{HealthInterval: 100 * time.Millisecond, HealthTimeout: 300 * time.Millisecond}, nodes)
	admin := httptest.NewServer(p.AdminHandler(nil))
	defer admin.Close()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-background-networking", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx, chromedp.Navigate(admin.URL+"/"), chromedp.WaitVisible("#nodes tbody tr")); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#nodes tbody tr[data-state="up"]').length`))
	if err != nil {
		t.Fatal(err)
	}
	if rows != 3 {
		t.Fatalf("page lists %d up nodes, want 3", rows)
	}
	// Once the script has refreshed the rows, each still shows the node's
	// addresses, and the hedging and ejection counters are there.
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.body.dataset.refreshed !== undefined`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatal(err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(
		`document.querySelector('#nodes tr[data-node=%q]').innerText + " | " + document.getElementById("hedging").textContent`, nodes[0].PBAddr())))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(shown, "pb "+nodes[0].PBAddr()) || !strings.Contains(shown, "http "+nodes[0].HTTPAddr()) ||
		!strings.Contains(shown, "hedged reads 0") || !strings.Contains(shown, "outlier ejections 0") {
		t.Errorf("refreshed page row and counters: %q", shown)
	}
	victim := nodes[1].PBAddr()
	_ = nodes[1].Shutdown(context.Background())
	start := time.Now()
	sel := fmt.Sprintf(`document.querySelector('#nodes tr[data-node=%q]')?.dataset.state`, victim)
	var state string
	for {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[*string](sel))
		if err != nil {
			t.Fatal(err)
		}
		if st != nil {
			state = *st
		}
		if state == "down" || time.Since(start) > 5*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if state != "down" || time.Since(start) > 3*time.Second {
		t.Errorf("victim row state %q after %v, want down within 3 s", state, time.Since(start))
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("RMF_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	_ = os.MkdirAll(dir, 0o755)
	shot := filepath.Join(dir, "director-status.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}

// TestAdminToken: with AdminToken, the page, /status and /metrics need the
// token (header, or ?token= for a browser), /health does not, and the page
// forwards its ?token= to the /status it polls.
func TestAdminToken(t *testing.T) {
	nodes := startCluster(t, 1)
	p, _ := startProxy(t, Config{AdminToken: "s3cret"}, nodes)
	admin := httptest.NewServer(p.AdminHandler(nil))
	defer admin.Close()
	get := func(path, auth string) (int, string) {
		req, _ := http.NewRequest("GET", admin.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/", "/status", "/metrics"} {
		if code, body := get(path, ""); code != http.StatusUnauthorized || !strings.Contains(body, "token") {
			t.Errorf("GET %s without the token: %d %q", path, code, body)
		}
		if code, _ := get(path, "Bearer nope"); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d", path, code)
		}
		if code, _ := get(path, "Bearer s3cret"); code != http.StatusOK {
			t.Errorf("GET %s with the token: %d", path, code)
		}
		if code, _ := get(path+"?token=s3cret", ""); code != http.StatusOK {
			t.Errorf("GET %s?token=: %d", path, code)
		}
	}
	testutil.WaitFor(t, 5*time.Second, "node available", func() bool {
		code, _ := get("/health", "")
		return code == http.StatusOK
	})
	if _, page := get("/?token=s3cret", ""); !strings.Contains(page, `fetch("status"+location.search`) {
		t.Error("the status page does not pass its ?token= on to /status")
	}
}
