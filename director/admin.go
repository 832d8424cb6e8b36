package director

import (
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rmf-go/rmf/internal/httpauth"
)

// NodeStatus is one node in GET /status.
type NodeStatus struct {
	ID           string  `json:"id"`
	PBAddr       string  `json:"pb"`
	HTTPAddr     string  `json:"http"`
	State        string  `json:"state"` // up, down or draining
	Breaker      string  `json:"breaker"`
	Healthy      bool    `json:"healthy"`
	InFlight     int64   `json:"in_flight"`
	Requests     uint64  `json:"requests"`
	Errors       uint64  `json:"errors"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	ConnsOpen    int     `json:"backend_conns_open"`
	ConnsIdle    int     `json:"backend_conns_idle"`
	ConnsBusy    int     `json:"backend_conns_busy"`
	Pinned       int     `json:"pinned_conns"` // client connections pinned to the node (each holds one backend connection)
	LastCheckOK  bool    `json:"last_check_ok"`
	LastCheckErr string  `json:"last_check_error,omitempty"`
	LastCheckAge float64 `json:"last_check_age_seconds"`
}

// StatusDoc is GET /status.
type StatusDoc struct {
	Time         time.Time    `json:"time"`
	Nodes        []NodeStatus `json:"nodes"`
	Available    int          `json:"available_nodes"`
	ClientConns  int          `json:"client_connections"`
	BackendConns int          `json:"backend_connections"`
	PinnedConns  int64        `json:"pinned_connections"`
	Tunnels      int64        `json:"tls_tunnels"`
	Stats        Stats        `json:"totals"`
	Discovery    struct {
		Source     string  `json:"source"`
		Connected  bool    `json:"connected"` // the last read succeeded (always true for static nodes)
		Updated    string  `json:"updated,omitempty"`
		AgeSeconds float64 `json:"age_seconds"`
		Error      string  `json:"error,omitempty"`
	} `json:"discovery"`
}

// Status builds the admin status document; d may be nil (static nodes).
func (p *Proxy) Status(d *Discovery) StatusDoc {
	st := p.Stats()
	doc := StatusDoc{Time: time.Now(), Nodes: []NodeStatus{}, PinnedConns: st.PinnedConns, Tunnels: st.Tunnels, Stats: st}
	doc.Stats.Nodes = nil
	p.mu.Lock()
	lat := make(map[string]*latencyHist, len(p.lat))
	for k, v := range p.lat {
		lat[k] = v
	}
	p.mu.Unlock()
	pinned := p.pinnedByNode()
	tbl := p.Table()
	for _, n := range st.Nodes {
		ns := NodeStatus{ID: n.ID, PBAddr: n.PBAddr, HTTPAddr: n.HTTPAddr, State: "down", Breaker: string(n.Breaker), Healthy: n.Healthy,
			InFlight: n.Outstanding, Requests: n.Requests, Errors: n.Failures, ConnsOpen: n.ConnsOpen, ConnsIdle: n.ConnsIdle,
			LastCheckOK: n.LastCheckOK, LastCheckErr: n.LastCheckErr, Pinned: pinned[n.ID]}
		ns.ConnsBusy = max(0, n.ConnsOpen-n.ConnsIdle-ns.Pinned)
		if n.Available {
			ns.State = "up"
			doc.Available++
		}
		if !n.LastCheck.IsZero() {
			ns.LastCheckAge = time.Since(n.LastCheck).Seconds()
		}
		if h := lat[n.ID]; h != nil {
			ns.P50Ms = float64(h.quantile(0.50)) / float64(time.Millisecond)
			ns.P99Ms = float64(h.quantile(0.99)) / float64(time.Millisecond)
		}
		doc.Nodes = append(doc.Nodes, ns)
	}
	for _, r := range tbl.NodesInState(NodeDraining) {
		ns := NodeStatus{ID: r.ID, PBAddr: r.PBAddr, HTTPAddr: r.HTTPAddr, State: NodeDraining, Breaker: "-",
			ConnsOpen: len(tbl.BackendConnsByNode(r.ID)), Pinned: pinned[r.ID]}
		ns.ConnsBusy = ns.ConnsOpen - ns.Pinned
		doc.Nodes = append(doc.Nodes, ns)
	}
	sort.Slice(doc.Nodes, func(i, j int) bool { return doc.Nodes[i].ID < doc.Nodes[j].ID })
	if tbl != nil {
		doc.ClientConns, doc.BackendConns = tbl.Counts()
	} else {
		doc.ClientConns = st.ClientConns
		for _, n := range st.Nodes {
			doc.BackendConns += n.ConnsOpen
		}
	}
	doc.Discovery.Source, doc.Discovery.Connected = "static", true
	if d != nil {
		ds := d.Status()
		if ds.Source != "" {
			doc.Discovery.Source, doc.Discovery.Connected = ds.Source, ds.Connected
		}
		doc.Discovery.Error = ds.Err
		if !ds.Updated.IsZero() {
			doc.Discovery.Updated = ds.Updated.Format(time.RFC3339Nano)
			doc.Discovery.AgeSeconds = time.Since(ds.Updated).Seconds()
		}
	}
	return doc
}

// pinnedByNode counts the client connections pinned to each node.
func (p *Proxy) pinnedByNode() map[string]int {
	m := map[string]int{}
	for _, c := range p.Conns() {
		if c.Pinned != "" {
			m[c.Pinned]++
		}
	}
	return m
}

//go:embed ui/status.html
var adminUI embed.FS

var adminPage = template.Must(template.ParseFS(adminUI, "ui/status.html"))

// AdminHandler serves the admin listener: GET / (status page), GET
// /status (JSON), GET /metrics (Prometheus text) and GET /health (200 when
// at least one node is available, else 503). d may be nil (static nodes).
// With Config.AdminToken, all but /health need the token.
func (p *Proxy) AdminHandler(d *Discovery) http.Handler {
	guard := httpauth.New(p.cfg.AdminToken)
	guard.AllowQuery = true
	return guard.Wrap(p.adminMux(d), func(r *http.Request) bool { return r.URL.Path != "/health" },
		func(w http.ResponseWriter, msg string) {
			http.Error(w, "director admin: "+msg, http.StatusUnauthorized)
		})
}

func (p *Proxy) adminMux(d *Discovery) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&proxyCollector{p: p, d: d})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = adminPage.Execute(w, p.Status(d))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(p.Status(d))
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		for _, n := range p.Nodes() {
			if n.Available() {
				_, _ = w.Write([]byte("ok\n"))
				return
			}
		}
		http.Error(w, "director: no available Riak node", http.StatusServiceUnavailable)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET")
			http.Error(w, "director admin: only GET", http.StatusMethodNotAllowed)
			return
		}
		http.Error(w, "director admin: no such page (try /, /status, /metrics, /health)", http.StatusNotFound)
	})
	return mux
}

// proxyCollector exports the proxy's counters at scrape time: nothing is
// recorded through Prometheus on the request path.
type proxyCollector struct {
	p *Proxy
	d *Discovery
}

var (
	descRequests   = prometheus.NewDesc("rmf_director_node_requests_total", "Requests finished by a node.", []string{"node"}, nil)
	descErrors     = prometheus.NewDesc("rmf_director_node_errors_total", "Transport failures of a node (breaker input).", []string{"node"}, nil)
	descInFlight   = prometheus.NewDesc("rmf_director_node_in_flight", "Requests in flight to a node.", []string{"node"}, nil)
	descUp         = prometheus.NewDesc("rmf_director_node_up", "1 when the node is available (healthy, breaker not open).", []string{"node"}, nil)
	descBreaker    = prometheus.NewDesc("rmf_director_node_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.", []string{"node"}, nil)
	descLatency    = prometheus.NewDesc("rmf_director_node_request_duration_seconds", "Request latency through a node.", []string{"node"}, nil)
	descBackend    = prometheus.NewDesc("rmf_director_backend_connections", "Backend connections by state.", []string{"node", "state"}, nil)
	descClients    = prometheus.NewDesc("rmf_director_client_connections", "Open client connections.", nil, nil)
	descPinned     = prometheus.NewDesc("rmf_director_pinned_connections", "Client connections pinned to a backend connection.", nil, nil)
	descTotals     = prometheus.NewDesc("rmf_director_events_total", "Proxy-wide events.", []string{"event"}, nil)
	descZKUp       = prometheus.NewDesc("rmf_director_discovery_connected", "1 when the last read of the node set succeeded (1 for static nodes).", nil, nil)
	descDiscovered = prometheus.NewDesc("rmf_director_discovery_age_seconds", "Seconds since the node set was last read from ZooKeeper (0 for static nodes).", nil, nil)
)

func (c *proxyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descErrors, descInFlight, descUp, descBreaker, descLatency, descBackend, descClients, descPinned, descTotals, descDiscovered, descZKUp} {
		ch <- d
	}
}

func (c *proxyCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.p.Stats()
	c.p.mu.Lock()
	lat := make(map[string]*latencyHist, len(c.p.lat))
	for k, v := range c.p.lat {
		lat[k] = v
	}
	c.p.mu.Unlock()
	pinned := c.p.pinnedByNode()
	for _, n := range st.Nodes {
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n.Requests), n.ID)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(n.Failures), n.ID)
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(n.Outstanding), n.ID)
		up := 0.0
		if n.Available {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, n.ID)
		bs := 0.0
		switch n.Breaker {
		case "half-open":
			bs = 1
		case "open":
			bs = 2
		}
		ch <- prometheus.MustNewConstMetric(descBreaker, prometheus.GaugeValue, bs, n.ID)
		ch <- prometheus.MustNewConstMetric(descBackend, prometheus.GaugeValue, float64(n.ConnsIdle), n.ID, "idle")
		ch <- prometheus.MustNewConstMetric(descBackend, prometheus.GaugeValue, float64(max(0, n.ConnsOpen-n.ConnsIdle-pinned[n.ID])), n.ID, "busy")
		ch <- prometheus.MustNewConstMetric(descBackend, prometheus.GaugeValue, float64(pinned[n.ID]), n.ID, "pinned")
		if h := lat[n.ID]; h != nil {
			counts, total := h.snapshot()
			buckets := map[float64]uint64{}
			var cum uint64
			var sum float64
			for i, cnt := range counts {
				cum += cnt
				upper := float64(uint64(1)<<i) / 1e6
				buckets[upper] = cum
				sum += float64(cnt) * upper * 0.75 // bucket midpoint estimate
			}
			ch <- prometheus.MustNewConstHistogram(descLatency, total, sum, buckets, n.ID)
		}
	}
	ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(st.ClientConns))
	ch <- prometheus.MustNewConstMetric(descPinned, prometheus.GaugeValue, float64(st.PinnedConns))
	for name, v := range map[string]uint64{"requests": st.Requests, "retries": st.Retries, "failovers": st.Failovers,
		"errors_sent": st.ErrorsSent, "no_node": st.NoNode, "timeouts": st.Timeouts, "protocol_errors": st.ProtocolErrors,
		"client_aborts": st.ClientAborts, "mid_stream_closes": st.MidStreamCloses, "http_requests": st.HTTPRequests,
		"http_retries": st.HTTPRetries, "http_failovers": st.HTTPFailovers, "http_errors": st.HTTPErrors, "http_no_node": st.HTTPNoNode} {
		ch <- prometheus.MustNewConstMetric(descTotals, prometheus.CounterValue, float64(v), name)
	}
	age, connected := 0.0, 1.0
	if c.d != nil {
		ds := c.d.Status()
		if !ds.Updated.IsZero() {
			age = time.Since(ds.Updated).Seconds()
		}
		if ds.Source != "" && !ds.Connected {
			connected = 0
		}
	}
	ch <- prometheus.MustNewConstMetric(descDiscovered, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(descZKUp, prometheus.GaugeValue, connected)
}
