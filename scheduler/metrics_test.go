package scheduler

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rmf-go/rmf/internal/devenv/testutil"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal"
	"github.com/rmf-go/rmf/internal/standin/mesoslocal/mesoslocaltest"
	"github.com/rmf-go/rmf/internal/zkstate"
)

// scrape is one GET /metrics, parsed.
type scrape map[string]*dto.MetricFamily

// getMetrics scrapes base+/metrics (with token, if set) and parses it.
func getMetrics(t *testing.T, base, token string) scrape {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	return fams
}

// value is the one series of name whose labels include want (name=value
// pairs); ok false if there is none.
func (s scrape) value(name string, want ...string) (float64, bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if have[want[i]] != want[i+1] {
				continue next
			}
		}
		return m.GetCounter().GetValue() + m.GetGauge().GetValue(), true
	}
	return 0, false
}

// check fails t unless series name (labels) exists and ok(value).
func (s scrape) check(t *testing.T, what string, ok func(float64) bool, name string, labels ...string) {
	t.Helper()
	v, found := s.value(name, labels...)
	if !found {
		t.Errorf("%s: series %s%v missing", what, name, labels)
		return
	}
	if !ok(v) {
		t.Errorf("%s: %s%v = %v", what, name, labels, v)
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
func atLeast(want float64) func(float64) bool {
	return func(v float64) bool { return v >= want }
}

// everySeries are the series /metrics promises whatever happened (the
// node gauges need a cluster with nodes).
var everySeries = []string{"rmf_scheduler_offers_received_total", "rmf_scheduler_offers_declined_total", "rmf_scheduler_offers_used_total",
	"rmf_scheduler_launches_total", "rmf_scheduler_relaunches_total", "rmf_scheduler_reconcile_requests_total",
	"rmf_scheduler_last_reconcile_timestamp_seconds", "rmf_scheduler_leader", "rmf_scheduler_mesos_connected",
	"rmf_scheduler_node_records_readable", "rmf_scheduler_api_requests_total"}

var nodeSeries = []string{"rmf_scheduler_nodes", "rmf_scheduler_nodes_desired", "rmf_scheduler_nodes_given_up",
	"rmf_scheduler_reservations", "rmf_scheduler_persistent_volumes"}

// TestMetricsStandby: a scheduler that does not lead (no Mesos) reports
// the nodes as recorded in ZooKeeper, a node given up on (its record
// says so) in the API and /metrics until it is restarted, and counts API
// requests by route pattern and status. With an API token, /metrics
// needs it (a refused scrape is counted too).
func TestMetricsStandby(t *testing.T) {
	z := testutil.StartZooKeeper(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store, err := zkstate.Connect(ctx, z.Servers(), zkstate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	fw, _ := store.Framework("riak")
	s, err := New(Config{Master: "http://127.0.0.1:1", Framework: fw, ZooKeeper: z.Addr})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler(""))
	t.Cleanup(srv.Close)

	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"PUT", "/api/v1/clusters/c1", 201}, {"POST", "/api/v1/clusters/c1/nodes?count=2", 201},
		{"GET", "/api/v1/clusters/c1/nodes/riak-c1-1", 200}, {"GET", "/api/v1/clusters/c1/nodes/riak-c1-9", 404}, {"GET", "/nope", 404},
	} {
		if code, body := call(t, srv, c.method, c.path, ""); code != c.want {
			t.Fatalf("%s %s: %d %s", c.method, c.path, code, body)
		}
	}
	// riak-c1-2 failed the relaunch limit in a row under an earlier leader,
	// on its reservation and volume.
	if _, _, err := fw.ModifyNode(ctx, "c1", "riak-c1-2", func(n *zkstate.NodeRecord) error {
		n.AgentID, n.Hostname, n.Host, n.PersistenceID = "a1", "agent-1", "127.0.0.2", "c1-riak-c1-2-1"
		n.Reserved = zkstate.Resources{CPUs: 1, MemMB: 256, DiskMB: 100}
		n.Ports = zkstate.Ports{PB: 31000, HTTP: 31001, Handoff: 31002, Disterl: 31003, Erlpmd: 31004}
		n.ObservedState, n.Message = zkstate.ObservedFailed, gaveUpMessage(10, "exit status 1")
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	m := getMetrics(t, srv.URL, "")
	for _, name := range append(everySeries, nodeSeries...) {
		if m[name] == nil {
			t.Errorf("series %s missing", name)
		}
	}
	for _, name := range []string{"rmf_scheduler_offers_received_total", "rmf_scheduler_launches_total", "rmf_scheduler_reconcile_requests_total",
		"rmf_scheduler_last_reconcile_timestamp_seconds", "rmf_scheduler_leader", "rmf_scheduler_mesos_connected"} {
		m.check(t, "standby", eq(0), name)
	}
	m.check(t, "records read", eq(1), "rmf_scheduler_node_records_readable")
	m.check(t, "pending node", eq(1), "rmf_scheduler_nodes", "cluster", "c1", "state", "pending")
	m.check(t, "failed node", eq(1), "rmf_scheduler_nodes", "cluster", "c1", "state", "failed")
	m.check(t, "no running node (zero reported)", eq(0), "rmf_scheduler_nodes", "cluster", "c1", "state", "running")
	m.check(t, "desired", eq(2), "rmf_scheduler_nodes_desired", "cluster", "c1", "desired", "running")
	m.check(t, "given up", eq(1), "rmf_scheduler_nodes_given_up", "cluster", "c1")
	m.check(t, "reservations", eq(1), "rmf_scheduler_reservations", "cluster", "c1")
	m.check(t, "volumes", eq(1), "rmf_scheduler_persistent_volumes", "cluster", "c1")
	m.check(t, "add nodes counted by pattern", eq(1), "rmf_scheduler_api_requests_total", "route", "POST /api/v1/clusters/{c}/nodes", "code", "201")
	m.check(t, "404 by pattern", eq(1), "rmf_scheduler_api_requests_total", "route", "GET /api/v1/clusters/{c}/nodes/{n}", "code", "404")
	m.check(t, "no route", eq(1), "rmf_scheduler_api_requests_total", "route", "unmatched", "code", "404")
	for _, f := range m["rmf_scheduler_api_requests_total"].Metric {
		for _, l := range f.Label {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), "riak-c1") {
				t.Errorf("route label is a raw path: %q", l.GetValue())
			}
		}
	}

	// The API says so, and a restart gives it another round.
	var v NodeView
	_, body := call(t, srv, "GET", "/api/v1/clusters/c1/nodes/riak-c1-2", "")
	if err := json.Unmarshal([]byte(body), &v); err != nil || !v.GaveUp || v.State != "failed" ||
		!strings.HasPrefix(v.Message, "gave up relaunching: 10 failures in a row") || !strings.Contains(v.NotPlacedWhy, "restart the node") {
		t.Fatalf("node given up on: %v %s", err, body)
	}
	if code, body := call(t, srv, "POST", "/api/v1/clusters/c1/nodes/riak-c1-2/restart", ""); code != 202 || !strings.Contains(body, `"gave_up": false`) {
		t.Fatalf("restart of a node given up on: %d %s", code, body)
	}
	if n, _, _ := fw.GetNode(ctx, "c1", "riak-c1-2"); gaveUpRecorded(n) || n.ObservedState != zkstate.ObservedFailed {
		t.Errorf("record after the restart: %+v", n)
	}
	getMetrics(t, srv.URL, "").check(t, "given up after restart", eq(0), "rmf_scheduler_nodes_given_up", "cluster", "c1")

	// With a token, /metrics needs it, like the director's admin.
	st, err := New(Config{Master: "http://127.0.0.1:1", Framework: fw, ZooKeeper: z.Addr, APIToken: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	tsrv := httptest.NewServer(st.Handler(""))
	t.Cleanup(tsrv.Close)
	if code, body := call(t, tsrv, "GET", "/metrics", ""); code != 401 || !strings.Contains(body, "API token") {
		t.Errorf("/metrics without the token: %d %s", code, body)
	}
	if code, _ := call(t, tsrv, "GET", "/api/v1/clusters", ""); code != 200 {
		t.Errorf("reads stay open: %d", code)
	}
	getMetrics(t, tsrv.URL, "s3cret").check(t, "refused scrape counted", eq(1), "rmf_scheduler_api_requests_total", "route", "GET /metrics", "code", "401")
}

// TestMetricsLeading: a leading scheduler on mesos-local reports what it
// did: offers received and used, the launch of a node and, after its
// executor is killed, its relaunch on its volume; one reservation and one
// volume; leadership, the connection and a completed reconciliation. Its
// SUBSCRIBE carries Config.WebUIURL as webui_url.
func TestMetricsLeading(t *testing.T) {
	if testing.Short() {
		t.Skip("builds rmf and runs ZooKeeper and mesos-local")
	}
	bin := testutil.RMF(t)
	z := testutil.StartZooKeeper(t)
	m, master := mesoslocaltest.Start(t, mesoslocal.Config{Agents: 1, WorkDir: t.TempDir(), AgentResources: testutil.AgentResources(t),
		AllocationInterval: 200 * time.Millisecond, StatusRetryInterval: 500 * time.Millisecond, ExecutorShutdownGrace: 3 * time.Second})
	sub := &subscribeSpy{}
	spy := httptest.NewServer(sub.proxy(t, master))
	t.Cleanup(spy.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	store, err := zkstate.Connect(ctx, z.Servers(), zkstate.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	fw, _ := store.Framework("riak")
	logs := &testutil.SyncBuffer{}
	s, err := New(Config{Master: spy.URL, Framework: fw, ZooKeeper: z.Addr, ExecutorCommand: bin + " executor",
		RelaunchDelay: 100 * time.Millisecond, WebUIURL: "http://sched.example:9090/", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(s.Handler(""))
	defer api.Close()
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { _ = s.Run(runCtx); close(ran) }()
	defer func() { stop(); <-ran }()
	defer func() {
		if t.Failed() {
			t.Logf("scheduler log:\n%s", logs.String()[max(0, len(logs.String())-8000):])
		}
	}()
	testutil.WaitFor(t, 30*time.Second, "the scheduler to lead", func() bool { st := s.Status(ctx); return st.IsLeader && st.Connected })
	if got := sub.webUIURL(); got != "http://sched.example:9090/" {
		t.Errorf("SUBSCRIBE webui_url %q", got)
	}
	mustCall(t, api, "PUT", "/api/v1/clusters/c1", `{"node_resources":{"cpus":0.5,"mem_mb":256,"disk_mb":100}}`)
	mustCall(t, api, "POST", "/api/v1/clusters/c1/nodes", "")
	node := func() NodeView {
		var v NodeView
		_, body := call(t, api, "GET", "/api/v1/clusters/c1/nodes/riak-c1-1", "")
		_ = json.Unmarshal([]byte(body), &v)
		return v
	}
	testutil.WaitFor(t, 60*time.Second, "the node running", func() bool { return node().State == "running" })
	first := node()

	sc := getMetrics(t, api.URL, "")
	for _, name := range append(everySeries, nodeSeries...) {
		if sc[name] == nil {
			t.Errorf("series %s missing", name)
		}
	}
	sc.check(t, "offers received", atLeast(1), "rmf_scheduler_offers_received_total")
	sc.check(t, "offers used", atLeast(1), "rmf_scheduler_offers_used_total")
	sc.check(t, "launches", eq(1), "rmf_scheduler_launches_total")
	sc.check(t, "relaunches", eq(0), "rmf_scheduler_relaunches_total")
	sc.check(t, "leader", eq(1), "rmf_scheduler_leader")
	sc.check(t, "connected", eq(1), "rmf_scheduler_mesos_connected")
	sc.check(t, "reconcile requests", atLeast(1), "rmf_scheduler_reconcile_requests_total")
	sc.check(t, "last reconcile", func(v float64) bool {
		return v > float64(time.Now().Add(-5*time.Minute).Unix()) && v <= float64(time.Now().Unix()+1)
	},
		"rmf_scheduler_last_reconcile_timestamp_seconds")
	sc.check(t, "running node", eq(1), "rmf_scheduler_nodes", "cluster", "c1", "state", "running")
	sc.check(t, "reservations", eq(1), "rmf_scheduler_reservations", "cluster", "c1")
	sc.check(t, "volumes", eq(1), "rmf_scheduler_persistent_volumes", "cluster", "c1")
	sc.check(t, "given up", eq(0), "rmf_scheduler_nodes_given_up", "cluster", "c1")
	sc.check(t, "cluster created", eq(1), "rmf_scheduler_api_requests_total", "route", "PUT /api/v1/clusters/{c}", "code", "201")

	// The node's executor dies: it is relaunched on its volume.
	execs := m.State().Agents[0].Executors
	if len(execs) != 1 {
		t.Fatalf("executors %+v, want 1", execs)
	}
	if err := m.KillExecutor(s.Status(ctx).FrameworkID, execs[0].ID); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, "the node relaunched", func() bool { n := node(); return n.State == "running" && n.TaskID != first.TaskID })
	sc = getMetrics(t, api.URL, "")
	sc.check(t, "launches after the relaunch", atLeast(2), "rmf_scheduler_launches_total")
	sc.check(t, "relaunches", atLeast(1), "rmf_scheduler_relaunches_total")
	sc.check(t, "volumes after the relaunch", eq(1), "rmf_scheduler_persistent_volumes", "cluster", "c1")
}

func mustCall(t *testing.T, srv *httptest.Server, method, path, body string) {
	t.Helper()
	if code, b := call(t, srv, method, path, body); code/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
}

// subscribeSpy is a reverse proxy to the master that keeps the
// FrameworkInfo of the last SUBSCRIBE.
type subscribeSpy struct {
	mu   sync.Mutex
	info *mesos.FrameworkInfo
}

func (p *subscribeSpy) proxy(t *testing.T, master string) http.Handler {
	u, err := url.Parse(master)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // the event stream
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var c scheduler.Call
		if strings.Contains(r.Header.Get("Content-Type"), "protobuf") && c.Unmarshal(body) == nil && c.GetType() == scheduler.Call_SUBSCRIBE {
			p.mu.Lock()
			p.info = c.GetSubscribe().GetFrameworkInfo()
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	})
}

func (p *subscribeSpy) webUIURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info.GetWebUiURL()
}
