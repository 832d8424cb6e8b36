package director

import (
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	// LatencyMs is the node's peak-sensitive latency average, what the
	// peak-ewma policy and the hedge delay read.
	LatencyMs float64 `json:"latency_ewma_ms"`
	// Ejected: taken out as an outlier until EjectedUntil; Weight is 1
	// normally and ramps from 0.1 after an ejection (slow start).
	Ejected      bool    `json:"ejected"`
	EjectedUntil string  `json:"ejected_until,omitempty"`
	Ejections    uint64  `json:"ejections"`
	Weight       float64 `json:"weight"`
}

// SlowStartPercent is Weight as a whole percentage (the status page).
func (n NodeStatus) SlowStartPercent() int { return int(n.Weight*100 + 0.5) }

// StatusDoc is GET /status.
type StatusDoc struct {
	Time         time.Time       `json:"time"`
	Nodes        []NodeStatus    `json:"nodes"`
	Available    int             `json:"available_nodes"`
	ClientConns  int             `json:"client_connections"`
	BackendConns int             `json:"backend_connections"`
	PinnedConns  int64           `json:"pinned_connections"`
	Tunnels      int64           `json:"tls_tunnels"`
	Stats        Stats           `json:"totals"`
	Discovery    StatusDiscovery `json:"discovery"`
}

// StatusDiscovery is the discovery part of GET /status.
type StatusDiscovery struct {
	Source     string  `json:"source"`
	Connected  bool    `json:"connected"` // the last read succeeded (always true for static nodes)
	Updated    string  `json:"updated,omitempty"`
	AgeSeconds float64 `json:"age_seconds"`
	Error      string  `json:"error,omitempty"`
	// Unlisted: served nodes whose live record vanished without the
	// leaving mark; they serve while they pass health checks.
	Unlisted []string `json:"unlisted,omitempty"`
}

// Status builds the admin status document; d may be nil (static nodes).
func (p *Proxy) Status(d *Discovery) StatusDoc { return p.snapshot(d).doc }

// adminSnapshot is what the admin views show, read once per page, status
// request or scrape: the proxy's counters (Stats) joined by node ID with
// the connection table (node states, backend connections by state,
// connection counts), the latency histograms and the discovery status.
type adminSnapshot struct {
	doc StatusDoc
	// nodes holds what the document leaves out, by node ID, for the
	// current (not draining) nodes.
	nodes map[string]nodeExtra
}

type nodeExtra struct {
	stats   NodeStats
	lat     histSnapshot
	pinned  int // backend connections pinned to a client
	hasHist bool
}

// snapshot reads the admin views' snapshot. With the connection table on
// (the default) the table is the source of truth for node states and
// connections; without it they come from Stats and the pools.
func (p *Proxy) snapshot(d *Discovery) adminSnapshot {
	st := p.Stats()
	byID := make(map[string]NodeStats, len(st.Nodes))
	for _, n := range st.Nodes {
		byID[n.ID] = n
	}
	lat := p.latencies()
	cv := p.connView(st)
	snap := adminSnapshot{nodes: make(map[string]nodeExtra, len(st.Nodes))}
	doc := StatusDoc{Time: time.Now(), Nodes: []NodeStatus{}, PinnedConns: st.PinnedConns, Tunnels: st.Tunnels, Stats: st,
		ClientConns: cv.clients, BackendConns: cv.backends}
	doc.Stats.Nodes = nil
	for _, nc := range cv.nodes {
		ns := NodeStatus{ID: nc.row.ID, PBAddr: nc.row.PBAddr, HTTPAddr: nc.row.HTTPAddr, State: nc.row.State, Breaker: "-",
			ConnsOpen: nc.idle + nc.busy + nc.pinned, ConnsIdle: nc.idle, ConnsBusy: nc.busy, Pinned: nc.clients}
		if nc.row.State != NodeDraining {
			n, ok := byID[nc.row.ID]
			if !ok { // removed between Stats and the table read
				continue
			}
			ns.Breaker, ns.Healthy, ns.InFlight, ns.Requests, ns.Errors = n.Breaker.String(), n.Healthy, n.Outstanding, n.Requests, n.Failures
			ns.LastCheckOK, ns.LastCheckErr = n.LastCheckOK, n.LastCheckErr
			ns.LatencyMs = float64(n.LatencyEWMA) / float64(time.Millisecond)
			ns.Ejected, ns.Ejections, ns.Weight = n.Ejected, n.Ejections, n.Weight
			if n.Ejected {
				ns.EjectedUntil = n.EjectedUntil.Format(time.RFC3339Nano)
			}
			if !n.LastCheck.IsZero() {
				ns.LastCheckAge = time.Since(n.LastCheck).Seconds()
			}
			x := nodeExtra{stats: n, pinned: nc.pinned}
			if h := lat[n.ID]; h != nil {
				x.lat, x.hasHist = h.snapshot(), true
				ns.P50Ms = float64(x.lat.quantile(0.50)) / float64(time.Millisecond)
				ns.P99Ms = float64(x.lat.quantile(0.99)) / float64(time.Millisecond)
			}
			snap.nodes[n.ID] = x
			if ns.State == NodeUp {
				doc.Available++
			}
		}
		doc.Nodes = append(doc.Nodes, ns)
	}
	sort.Slice(doc.Nodes, func(i, j int) bool { return doc.Nodes[i].ID < doc.Nodes[j].ID })
	doc.Discovery = discoveryDoc(d)
	snap.doc = doc
	return snap
}

func discoveryDoc(d *Discovery) StatusDiscovery {
	dd := StatusDiscovery{Source: SourceStatic, Connected: true}
	if d == nil {
		return dd
	}
	ds := d.Status()
	if ds.Source != "" {
		dd.Source, dd.Connected = ds.Source, ds.Connected
	}
	dd.Error, dd.Unlisted = ds.Err, ds.Unlisted
	if !ds.Updated.IsZero() {
		dd.Updated = ds.Updated.Format(time.RFC3339Nano)
		dd.AgeSeconds = time.Since(ds.Updated).Seconds()
	}
	return dd
}

// timedLatencySum is the sum of the nodes' histograms of timed requests
// (nodeLatency), what the hedge delay and the stall threshold come from.
func (p *Proxy) timedLatencySum() (sum histSnapshot) {
	for _, h := range p.latencies() {
		s := h.timed.snapshot()
		sum.add(&s)
	}
	return sum
}

// latencies copies the map of the nodes' latency histograms.
func (p *Proxy) latencies() map[string]*nodeLatency {
	p.mu.Lock()
	defer p.mu.Unlock()
	lat := make(map[string]*nodeLatency, len(p.lat))
	for k, v := range p.lat {
		lat[k] = v
	}
	return lat
}

// connView is the connection side of the admin views.
type connView struct {
	nodes             []nodeConns // current and draining nodes
	clients, backends int
}

// nodeConns is a node's row and its connections.
type nodeConns struct {
	row                NodeRow
	idle, busy, pinned int // backend connections by state
	clients            int // client connections pinned to the node
}

// connView reads the connection table, or without it (DisableConnTable)
// makes the same view from st and the client connections (draining
// nodes are then not listed).
func (p *Proxy) connView(st Stats) connView {
	var cv connView
	tbl := p.Table()
	if tbl == nil {
		pinned := p.pinnedByNode()
		cv.clients = st.ClientConns
		for _, n := range st.Nodes {
			nc := nodeConns{row: NodeRow{ID: n.ID, PBAddr: n.PBAddr, HTTPAddr: n.HTTPAddr, State: tableNodeState(n.Available)},
				idle: n.ConnsIdle, pinned: pinned[n.ID], clients: pinned[n.ID]}
			nc.busy = max(0, n.ConnsOpen-n.ConnsIdle-nc.pinned)
			cv.backends += n.ConnsOpen
			cv.nodes = append(cv.nodes, nc)
		}
		return cv
	}
	cv.clients, cv.backends = tbl.Counts()
	for _, row := range tbl.Nodes() {
		nc := nodeConns{row: row, clients: len(tbl.ClientConnsByNode(row.ID))}
		for _, b := range tbl.BackendConnsByNode(row.ID) {
			switch b.State {
			case BackendIdle:
				nc.idle++
			case BackendPinned:
				nc.pinned++
			default:
				nc.busy++
			}
		}
		cv.nodes = append(cv.nodes, nc)
	}
	return cv
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
	// The process's own memory, CPU and file descriptors, and the Go
	// runtime's, as an operator of a sidecar expects next to its figures.
	reg.MustRegister(&proxyCollector{p: p, d: d}, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
		http.Error(w, msgNoNode, http.StatusServiceUnavailable)
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
	descUp         = prometheus.NewDesc("rmf_director_node_up", "1 when the node is available (healthy, breaker not open, not ejected).", []string{"node"}, nil)
	descEjected    = prometheus.NewDesc("rmf_director_node_ejected", "1 while the node is ejected as an outlier.", []string{"node"}, nil)
	descTransition = prometheus.NewDesc("rmf_director_node_in_transition", "1 while the node may lack data handoff will bring (restarted, failing checks, transfers pending): its \"not found\" answers are confirmed.", []string{"node"}, nil)
	descWeight     = prometheus.NewDesc("rmf_director_node_weight", "The node's selection weight: 1 normally, 0 ejected, rising during slow start.", []string{"node"}, nil)
	descEWMA       = prometheus.NewDesc("rmf_director_node_latency_ewma_seconds", "The node's peak-sensitive latency average.", []string{"node"}, nil)
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
	for _, d := range []*prometheus.Desc{descRequests, descErrors, descInFlight, descUp, descEjected, descTransition, descWeight, descEWMA, descBreaker, descLatency, descBackend, descClients, descPinned, descTotals, descDiscovered, descZKUp} {
		ch <- d
	}
}

func (c *proxyCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.p.snapshot(c.d)
	doc := &snap.doc
	for _, ns := range doc.Nodes {
		x, ok := snap.nodes[ns.ID]
		if !ok { // draining: no node counters any more
			continue
		}
		n := x.stats
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n.Requests), n.ID)
		ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(n.Failures), n.ID)
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(n.Outstanding), n.ID)
		up := 0.0
		if ns.State == NodeUp {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, n.ID)
		ejected := 0.0
		if n.Ejected {
			ejected = 1
		}
		ch <- prometheus.MustNewConstMetric(descEjected, prometheus.GaugeValue, ejected, n.ID)
		moving := 0.0
		if n.InTransition {
			moving = 1
		}
		ch <- prometheus.MustNewConstMetric(descTransition, prometheus.GaugeValue, moving, n.ID)
		ch <- prometheus.MustNewConstMetric(descWeight, prometheus.GaugeValue, n.Weight, n.ID)
		ch <- prometheus.MustNewConstMetric(descEWMA, prometheus.GaugeValue, n.LatencyEWMA.Seconds(), n.ID)
		// The enum's values are the metric's: 0 closed, 1 half-open, 2 open.
		ch <- prometheus.MustNewConstMetric(descBreaker, prometheus.GaugeValue, float64(n.Breaker), n.ID)
		ch <- prometheus.MustNewConstMetric(descBackend, prometheus.GaugeValue, float64(ns.ConnsIdle), n.ID, BackendIdle)
		ch <- prometheus.MustNewConstMetric(descBackend, prometheus.GaugeValue, float64(ns.ConnsBusy), n.ID, BackendBusy)
		ch <- prometheus.MustNewConstMetric(descBackend, prometheus.GaugeValue, float64(x.pinned), n.ID, BackendPinned)
		if x.hasHist {
			buckets, sum := x.lat.promBuckets()
			ch <- prometheus.MustNewConstHistogram(descLatency, x.lat.total, sum, buckets, n.ID)
		}
	}
	st := &doc.Stats
	ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(doc.ClientConns))
	ch <- prometheus.MustNewConstMetric(descPinned, prometheus.GaugeValue, float64(doc.PinnedConns))
	for name, v := range map[string]uint64{"requests": st.Requests, "retries": st.Retries, "failovers": st.Failovers, "write_repeats": st.WriteRepeats,
		"type_settle_waits": st.TypeSettleWaits, "type_unsettled": st.TypeUnsettled,
		"errors_sent": st.ErrorsSent, "no_node": st.NoNode, "timeouts": st.Timeouts, "protocol_errors": st.ProtocolErrors,
		"client_aborts": st.ClientAborts, "mid_stream_closes": st.MidStreamCloses, "http_requests": st.HTTPRequests,
		"http_retries": st.HTTPRetries, "http_failovers": st.HTTPFailovers, "http_write_repeats": st.HTTPWriteRepeats, "http_errors": st.HTTPErrors, "http_no_node": st.HTTPNoNode,
		"hedges": st.HedgesSent, "hedge_wins": st.HedgeWins, "hedges_denied": st.HedgesDenied, "ejections": st.Ejections,
		"notfound_confirms": st.Confirms, "notfound_confirms_found": st.ConfirmsFound, "notfound_confirms_denied": st.ConfirmsDenied} {
		ch <- prometheus.MustNewConstMetric(descTotals, prometheus.CounterValue, float64(v), name)
	}
	connected := 0.0
	if doc.Discovery.Connected {
		connected = 1
	}
	ch <- prometheus.MustNewConstMetric(descDiscovered, prometheus.GaugeValue, doc.Discovery.AgeSeconds)
	ch <- prometheus.MustNewConstMetric(descZKUp, prometheus.GaugeValue, connected)
}
